/**
 * Backup and restore of the control database and the users' data on this host
 * (DATA_DIR/users: the local driver's instance homes).
 *
 * A backup is taken while the platform runs: SQLite with `VACUUM INTO` (a consistent
 * copy of a live WAL database), PostgreSQL with pg_dump; then users/ is copied as it is
 * (stop instances first for a copy that no write can straddle). A restore needs the
 * control service stopped: what it replaces is moved aside under DATA_DIR/archive,
 * never deleted. Volumes of Nomad instances live on the Nomad client: snapshot its
 * disk (docs/deployment.md).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Database } from './db/database.ts';
import { ConflictError, UnavailableError, ValidationError } from './errors.ts';

export const BACKUP_FORMAT = 1;

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  createdAt: string;
  dialect: 'sqlite' | 'postgres';
  /** The database file in the backup: platform.sqlite or platform.pgdump. */
  database: string;
  /** Handles whose data is in users/. */
  users: string[];
  bytes: number;
}

const MANIFEST = 'manifest.json';

function stamp(now: Date): string {
  return now.toISOString().replace(/[:.]/g, '-');
}

function sqliteFileOf(databaseUrl: string): string | null {
  return databaseUrl.startsWith('sqlite:') ? databaseUrl.slice('sqlite:'.length) : null;
}

async function sizeOf(target: string): Promise<number> {
  const stat = await fs.promises.lstat(target);
  if (!stat.isDirectory()) return stat.size;
  let total = 0;
  for (const entry of await fs.promises.readdir(target)) total += await sizeOf(path.join(target, entry));
  return total;
}

/** Runs a PostgreSQL client tool; a missing tool is a clear 503, a failure names its output. */
function runTool(tool: 'pg_dump' | 'pg_restore', args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new UnavailableError('backup_tool_missing', `${tool} is not installed where the control service runs: install postgresql-client.`)
          : err,
      ),
    );
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new UnavailableError('backup_failed', `${tool} failed (exit ${code}): ${stderr.trim().slice(0, 500)}`)),
    );
  });
}

/** Writes DATA_DIR/backups/<time>/: the database, users/ and a manifest. */
export async function createBackup(deps: {
  db: Database;
  dataDir: string;
  databaseUrl: string;
  now?: Date;
}): Promise<{ path: string; manifest: BackupManifest }> {
  const now = deps.now ?? new Date();
  const target = path.join(deps.dataDir, 'backups', stamp(now));
  await fs.promises.mkdir(target, { recursive: true });
  let database: string;
  if (deps.db.dialect === 'sqlite') {
    database = 'platform.sqlite';
    await deps.db.sequelize.query('VACUUM INTO :file', { replacements: { file: path.join(target, database) } });
  } else {
    database = 'platform.pgdump';
    await runTool('pg_dump', ['--format=custom', `--file=${path.join(target, database)}`, deps.databaseUrl]);
  }
  const usersDir = path.join(deps.dataDir, 'users');
  const users = fs.existsSync(usersDir) ? (await fs.promises.readdir(usersDir)).sort() : [];
  if (users.length > 0) await fs.promises.cp(usersDir, path.join(target, 'users'), { recursive: true, preserveTimestamps: true });
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    createdAt: now.toISOString(),
    dialect: deps.db.dialect,
    database,
    users,
    bytes: await sizeOf(target),
  };
  await fs.promises.writeFile(path.join(target, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  return { path: target, manifest };
}

/** The running control service's pid, in DATA_DIR: a restore refuses while it is alive. */
export const CONTROL_PID_FILE = 'control.pid';

export function writeControlPid(dataDir: string): () => void {
  const file = path.join(dataDir, CONTROL_PID_FILE);
  fs.writeFileSync(file, `${process.pid}\n`);
  return () => {
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.rmSync(file, { force: true });
  };
}

/** The pid of a control service still running on this DATA_DIR, or null. */
export function runningControlPid(dataDir: string): number | null {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(dataDir, CONTROL_PID_FILE), 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    // EPERM: alive, someone else's.
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
  }
}

/** Reads and checks a backup's manifest. */
export async function readBackup(from: string): Promise<BackupManifest> {
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(await fs.promises.readFile(path.join(from, MANIFEST), 'utf8')) as BackupManifest;
  } catch {
    throw new ValidationError(`${from} is not a backup: it has no readable ${MANIFEST} (make one with: mxos backup).`);
  }
  if (manifest.format !== BACKUP_FORMAT)
    throw new ValidationError(`${from} is a backup of format ${manifest.format}; this version reads format ${BACKUP_FORMAT}.`);
  if (!fs.existsSync(path.join(from, manifest.database))) throw new ValidationError(`${from} is incomplete: ${manifest.database} is missing.`);
  return manifest;
}

/**
 * Puts a backup back, with the control service stopped. What it replaces (the SQLite
 * file and users/) is moved to DATA_DIR/archive/pre-restore-<time>. Returns that path
 * (null when there was nothing to move, e.g. PostgreSQL on a fresh host).
 */
export async function restoreBackup(opts: {
  from: string;
  dataDir: string;
  databaseUrl: string;
  now?: Date;
}): Promise<{ manifest: BackupManifest; previous: string | null }> {
  const manifest = await readBackup(opts.from);
  const running = runningControlPid(opts.dataDir);
  if (running !== null)
    throw new ConflictError('platform_running', `The control service (pid ${running}) is running on ${opts.dataDir}: stop it (and its instances) first.`);
  const sqliteFile = sqliteFileOf(opts.databaseUrl);
  const dialect = sqliteFile === null ? 'postgres' : 'sqlite';
  if (manifest.dialect !== dialect) throw new ValidationError(`This backup is of a ${manifest.dialect} database; DATABASE_URL points at ${dialect}.`);
  const previous = path.join(opts.dataDir, 'archive', `pre-restore-${stamp(opts.now ?? new Date())}`);
  let moved = false;
  const moveAside = async (source: string) => {
    if (!fs.existsSync(source)) return;
    await fs.promises.mkdir(previous, { recursive: true });
    await fs.promises.rename(source, path.join(previous, path.basename(source)));
    moved = true;
  };
  if (sqliteFile !== null) {
    for (const file of [sqliteFile, `${sqliteFile}-wal`, `${sqliteFile}-shm`]) await moveAside(file);
    await fs.promises.mkdir(path.dirname(sqliteFile), { recursive: true });
    await fs.promises.copyFile(path.join(opts.from, manifest.database), sqliteFile);
  } else {
    await runTool('pg_restore', ['--clean', '--if-exists', '--no-owner', `--dbname=${opts.databaseUrl}`, path.join(opts.from, manifest.database)]);
  }
  const usersDir = path.join(opts.dataDir, 'users');
  await moveAside(usersDir);
  if (fs.existsSync(path.join(opts.from, 'users')))
    await fs.promises.cp(path.join(opts.from, 'users'), usersDir, { recursive: true, preserveTimestamps: true });
  return { manifest, previous: moved ? previous : null };
}
