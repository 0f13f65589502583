#!/bin/sh
# mxos: runs scripts/mxos.ts with the repository's tsx, from any working directory.
set -e
self=$0
# Follow symlinks (e.g. an npm bin link) to the real script.
while [ -L "$self" ]; do
  target=$(readlink "$self")
  case $target in
    /*) self=$target ;;
    *) self=$(dirname "$self")/$target ;;
  esac
done
REPO=$(CDPATH='' cd -- "$(dirname -- "$self")/.." && pwd -P)
exec node --import "$REPO/node_modules/tsx/dist/loader.mjs" "$REPO/scripts/mxos.ts" "$@"
