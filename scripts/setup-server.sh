#!/usr/bin/env bash
# Single user: installs Matrix OS on this server as a systemd service, from this checkout.
# Idempotent: run it again to upgrade (a new checkout) or repair; the token is kept.
#   sudo scripts/setup-server.sh            install or upgrade
#   scripts/setup-server.sh --dry-run       print the plan, change nothing
# Settings: /etc/matrixos/matrixos.env (created once with a random MATRIX_AUTH_TOKEN).
set -euo pipefail

PREFIX=${MATRIXOS_PREFIX:-/opt/matrixos}
CONFIG_DIR=${MATRIXOS_CONFIG_DIR:-/etc/matrixos}
UNIT_DIR=${MATRIXOS_UNIT_DIR:-/etc/systemd/system}
SERVICE_USER=matrixos
NODE_MAJOR=22
SOURCE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

DRY_RUN=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=1 ;;
    -h | --help)
      sed -n '2,7p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *)
      echo "setup-server.sh: unknown option $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

# Runs a command, or prints it in a dry run.
run() {
  if [ "$DRY_RUN" -eq 1 ]; then
    printf '  would run: %s\n' "$*"
  else
    "$@"
  fi
}

step() { printf '%s\n' "- $*"; }

if [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
  echo "setup-server.sh: run it as root (sudo), or with --dry-run to see the plan" >&2
  exit 1
fi

node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'
}

step "Node.js ${NODE_MAJOR} (20.19 or newer is enough)"
if node_ok; then
  printf '  have node %s\n' "$(node --version)"
else
  run apt-get update
  run apt-get install -y --no-install-recommends ca-certificates curl gnupg
  run sh -c "curl -fsSL https://deb.nodesource.com/setup_${NODE_MAJOR}.x | bash -"
  run apt-get install -y nodejs
fi

step "the ${SERVICE_USER} system user"
if id "$SERVICE_USER" >/dev/null 2>&1; then
  printf '  exists\n'
else
  run useradd --system --home-dir /var/lib/matrixos --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
fi

step "the project in ${PREFIX} (from ${SOURCE_DIR}): tracked files only, never local data or secrets"
run mkdir -p "$PREFIX"
if [ -d "${SOURCE_DIR}/.git" ] && command -v git >/dev/null 2>&1; then
  run sh -c "git -C '${SOURCE_DIR}' archive --format=tar HEAD | tar -C '${PREFIX}' -xf -"
else
  # No git: everything but what may hold data or secrets.
  run sh -c "tar -C '${SOURCE_DIR}' --exclude=./.git --exclude=./node_modules --exclude=./.data --exclude='./.env*' --exclude='*.tfstate*' --exclude='*.tfvars' --exclude=./cdktf.out -cf - . | tar -C '${PREFIX}' -xf -"
fi

step "dependencies (npm ci, production only, no install scripts as root)"
run npm --prefix "$PREFIX" ci --omit=dev --ignore-scripts --no-audit --no-fund
run chown -R root:root "$PREFIX"

step "settings in ${CONFIG_DIR}/matrixos.env"
if [ -f "${CONFIG_DIR}/matrixos.env" ]; then
  printf '  kept (the token stays the same)\n'
  run chmod 0600 "${CONFIG_DIR}/matrixos.env"
elif [ "$DRY_RUN" -eq 1 ]; then
  printf '  would write it with a new random MATRIX_AUTH_TOKEN (mode 0600)\n'
else
  mkdir -p "$CONFIG_DIR"
  umask 077
  {
    echo "# Matrix OS settings (docs/instance.md). Restart after a change: systemctl restart matrixos"
    echo "MATRIX_AUTH_TOKEN=$(openssl rand -hex 32)"
    echo "HOST=127.0.0.1"
    echo "PORT=4000"
    echo "SHELL_PORT=3000"
    echo "# ANTHROPIC_API_KEY="
  } >"${CONFIG_DIR}/matrixos.env"
fi

step "the systemd unit"
run install -m 0644 "${SOURCE_DIR}/scripts/matrixos.service" "${UNIT_DIR}/matrixos.service"
run systemctl daemon-reload
run systemctl enable matrixos
run systemctl restart matrixos

if [ "$DRY_RUN" -eq 1 ]; then
  echo "Dry run: nothing was changed."
else
  echo "Matrix OS is running: curl -s http://127.0.0.1:4000/health"
  echo "Its token is MATRIX_AUTH_TOKEN in ${CONFIG_DIR}/matrixos.env; reach it through a tunnel (docs/deployment.md)."
fi
