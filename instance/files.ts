/**
 * The file store behind /api/files: files live under {dataDir}/files. Every path a
 * client sends is validated, resolved and checked (through realpath, so symlinks
 * cannot point out) to stay inside that root. Writes go to {dataDir}/.tmp first and
 * are renamed into place, so a crash never leaves a half-written file behind.
 */
import { randomUUID } from 'node:crypto';
import type { Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { lstat, mkdir, open, readdir, realpath, rename, rm, unlink } from 'node:fs/promises';
import path from 'node:path';

export const MAX_FILE_BYTES = 10 * 1024 * 1024;
export const MAX_LISTED_FILES = 10_000;
const MAX_PATH_LENGTH = 1024;
const MAX_SEGMENT_BYTES = 255;

export type FileErrorCode = 'invalid_path' | 'not_found' | 'conflict' | 'payload_too_large';

export class FileError extends Error {
  constructor(
    readonly code: FileErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'FileError';
  }
}

export interface FileEntry {
  path: string;
  size: number;
  modified: string;
}

export interface OpenedFile extends FileEntry {
  contentType: string;
  handle: FileHandle;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.xml': 'application/xml',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.pdf': 'application/pdf',
  '.wasm': 'application/wasm',
  '.zip': 'application/zip',
  '.mp3': 'audio/mpeg',
  '.mp4': 'video/mp4',
};

export function contentTypeFor(filePath: string): string {
  return CONTENT_TYPES[path.extname(filePath).toLowerCase()] ?? 'application/octet-stream';
}

/** Decodes and validates a client path (the URL part after /api/files/); returns it normalised. */
export function parseFilePath(encoded: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(encoded);
  } catch {
    throw new FileError('invalid_path', 'path is not valid percent-encoding');
  }
  const problem =
    decoded === ''
      ? 'path is empty: name a file, e.g. /api/files/notes/today.md'
      : decoded.includes('\0')
        ? 'path must not contain NUL bytes'
        : decoded.includes('\\')
          ? 'path must not contain backslashes: separate directories with /'
          : decoded.startsWith('/')
            ? 'path must be relative to the files root, not absolute'
            : decoded.length > MAX_PATH_LENGTH
              ? `path must be at most ${MAX_PATH_LENGTH} characters`
              : undefined;
  if (problem) throw new FileError('invalid_path', problem);
  const segments = decoded.split('/');
  if (segments.includes('..')) throw new FileError('invalid_path', 'path must not contain ".." segments');
  if (segments.some((s) => s === '' || s === '.')) throw new FileError('invalid_path', 'path must not contain empty or "." segments');
  if (segments.some((s) => Buffer.byteLength(s) > MAX_SEGMENT_BYTES)) {
    throw new FileError('invalid_path', `each path segment must be at most ${MAX_SEGMENT_BYTES} bytes`);
  }
  return segments.join('/');
}

export class FileStore {
  private constructor(
    private readonly root: string,
    private readonly tmpDir: string,
  ) {}

  static async open(dataDir: string): Promise<FileStore> {
    const tmpDir = path.join(dataDir, '.tmp');
    await mkdir(path.join(dataDir, 'files'), { recursive: true });
    // Leftovers are uploads interrupted by a crash; they were never visible, so drop them.
    await rm(tmpDir, { recursive: true, force: true });
    await mkdir(tmpDir, { recursive: true });
    return new FileStore(await realpath(path.join(dataDir, 'files')), tmpDir);
  }

  async list(limit = MAX_LISTED_FILES): Promise<{ files: FileEntry[]; truncated: boolean }> {
    const files: FileEntry[] = [];
    for await (const entry of walkTree(this.root)) {
      if (!entry.stats.isFile()) continue;
      if (files.length === limit) return { files: sortByPath(files), truncated: true };
      files.push(toEntry(entry.path, entry.stats));
    }
    return { files: sortByPath(files), truncated: false };
  }

  /** The caller owns the returned handle and must close it (or let a read stream do so). */
  async open(relPath: string): Promise<OpenedFile> {
    const real = await realpath(this.resolve(relPath)).catch(notFoundOr(relPath));
    this.assertInside(real);
    const handle = await open(real, 'r');
    const stats = await handle.stat();
    if (!stats.isFile()) {
      await handle.close();
      throw new FileError('conflict', `${relPath} is a directory, not a file`);
    }
    return { ...toEntry(relPath, stats), contentType: contentTypeFor(relPath), handle };
  }

  async write(relPath: string, body: AsyncIterable<Uint8Array>, maxBytes = MAX_FILE_BYTES): Promise<FileEntry & { created: boolean }> {
    const target = this.resolve(relPath);
    await this.ensureParent(relPath, path.dirname(target));
    const temp = path.join(this.tmpDir, `${randomUUID()}.part`);
    try {
      const handle = await open(temp, 'wx');
      try {
        let size = 0;
        for await (const chunk of body) {
          size += chunk.byteLength;
          if (size > maxBytes) throw new FileError('payload_too_large', `file is larger than ${maxBytes} bytes: upload a smaller file`);
          await handle.write(chunk);
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      const existed = await lstat(target).then(
        () => true,
        () => false,
      );
      await rename(temp, target).catch((err: unknown) => {
        throw isCode(err, 'EISDIR', 'ENOTEMPTY', 'EEXIST') ? new FileError('conflict', `${relPath} is a directory, not a file`) : err;
      });
      return { ...toEntry(relPath, await lstat(target)), created: !existed };
    } finally {
      await rm(temp, { force: true });
    }
  }

  async remove(relPath: string): Promise<void> {
    const target = this.resolve(relPath);
    this.assertInsideOrRoot(await realpath(path.dirname(target)).catch(notFoundOr(relPath)));
    const stats = await lstat(target).catch(notFoundOr(relPath));
    if (stats.isDirectory()) throw new FileError('conflict', `${relPath} is a directory, not a file`);
    await unlink(target).catch(notFoundOr(relPath));
  }

  private resolve(relPath: string): string {
    const full = path.resolve(this.root, ...relPath.split('/'));
    this.assertInside(full);
    return full;
  }

  private assertInside(realPath: string): void {
    if (!realPath.startsWith(this.root + path.sep)) {
      throw new FileError('invalid_path', 'path resolves outside the files root');
    }
  }

  private assertInsideOrRoot(realPath: string): void {
    if (realPath !== this.root) this.assertInside(realPath);
  }

  /** Checks the deepest existing ancestor through realpath before creating directories, so a symlinked directory cannot redirect mkdir. */
  private async ensureParent(relPath: string, parent: string): Promise<void> {
    const parentIsFile = (err: unknown): never => {
      throw isCode(err, 'ENOTDIR', 'EEXIST') ? new FileError('conflict', `a parent of ${relPath} is a file, not a directory`) : err;
    };
    let existing = parent;
    for (;;) {
      const real = await realpath(existing).catch((err: unknown) => (isCode(err, 'ENOENT') ? undefined : parentIsFile(err)));
      if (real !== undefined) {
        this.assertInsideOrRoot(real);
        break;
      }
      existing = path.dirname(existing);
    }
    await mkdir(parent, { recursive: true }).catch(parentIsFile);
    this.assertInsideOrRoot(await realpath(parent));
  }
}

export interface TreeEntry {
  /** Relative to the walked root, with / separators. */
  path: string;
  stats: Stats;
}

/** Depth-first walk using lstat, so symlinks are reported but never followed. Stop early by breaking out of the loop. */
export async function* walkTree(root: string): AsyncGenerator<TreeEntry> {
  const pending = [''];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    const names = await readdir(path.join(root, dir)).catch((err: unknown) => (isCode(err, 'ENOENT', 'ENOTDIR', 'EACCES') ? [] : Promise.reject(err)));
    for (const name of names) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      const stats = await lstat(path.join(root, rel)).catch((err: unknown) => (isCode(err, 'ENOENT') ? undefined : Promise.reject(err)));
      if (stats === undefined) continue;
      yield { path: rel, stats };
      if (stats.isDirectory()) pending.push(rel);
    }
  }
}

function toEntry(relPath: string, stats: Stats): FileEntry {
  return { path: relPath, size: stats.size, modified: stats.mtime.toISOString() };
}

function sortByPath(files: FileEntry[]): FileEntry[] {
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function notFoundOr(relPath: string): (err: unknown) => never {
  return (err) => {
    throw isCode(err, 'ENOENT', 'ENOTDIR') ? new FileError('not_found', `no file at ${relPath}`) : err;
  };
}

function isCode(err: unknown, ...codes: string[]): boolean {
  return err instanceof Error && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}
