// Throwaway PostgreSQL clusters for tests.
//
// The test runner (scripts/run-tests.ts) starts one cluster for the whole run
// and hands its admin URL to ava as TEST_PG_ADMIN_URL. Test files call
// createTestDatabase() to get a fresh database on that cluster; when a test
// file is run without the runner, one cluster is started lazily per process.

import { execFile, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

export interface PostgresCluster {
  /** Superuser URL, e.g. postgres://postgres@127.0.0.1:54321/postgres */
  adminUrl: string;
  /** Stops the server and deletes the cluster directory. Idempotent. */
  stop(): Promise<void>;
  /** Synchronous variant for process 'exit' handlers. Idempotent. */
  stopSync(): void;
  /** Restarts the server (fast shutdown: open connections are cut), same port and data. */
  restart(): Promise<void>;
  /** Directory holding data/, the unix socket and postgres.log. */
  dir: string;
}

export interface TestDatabase {
  url: string;
  /** Drops the database (terminating open connections). Idempotent. */
  drop(): Promise<void>;
}

export type PostgresAvailability = { ok: true } | { ok: false; reason: string };

const BINARIES = ['initdb', 'pg_ctl', 'postgres'] as const;
const PG_OS_USER = 'postgres';

interface RunAs {
  uid: number;
  gid: number;
}

interface Setup {
  binDir: string;
  /** Set when we are root and must drop to the postgres OS user. */
  runAs: RunAs | null;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function hasAllBinaries(dir: string): boolean {
  return BINARIES.every((name) => isExecutable(path.join(dir, name)));
}

/** Directory holding initdb, pg_ctl and postgres (symlinks resolved), or null. */
export function findPostgresBinDir(): string | null {
  // On PATH: resolve symlinks (e.g. /usr/local/bin/initdb ->
  // /usr/lib/postgresql/15/bin/initdb) so all three come from one install.
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const initdb = path.join(dir, 'initdb');
    if (!isExecutable(initdb)) continue;
    const realDir = path.dirname(fs.realpathSync(initdb));
    if (hasAllBinaries(realDir)) return realDir;
    if (hasAllBinaries(dir)) return dir;
  }
  // Debian layout: /usr/lib/postgresql/<version>/bin, newest version first.
  const root = '/usr/lib/postgresql';
  let versions: string[] = [];
  try {
    versions = fs.readdirSync(root);
  } catch {
    return null;
  }
  versions.sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  for (const version of versions) {
    const dir = path.join(root, version, 'bin');
    if (hasAllBinaries(dir)) return dir;
  }
  return null;
}

function lookupOsUser(name: string): RunAs | null {
  let passwd: string;
  try {
    passwd = fs.readFileSync('/etc/passwd', 'utf8');
  } catch {
    return null;
  }
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid && gid) return { uid: Number(uid), gid: Number(gid) };
  }
  return null;
}

function setup(): Setup | { reason: string } {
  const binDir = findPostgresBinDir();
  if (!binDir) {
    return { reason: `${BINARIES.join('/')} not found on PATH or in /usr/lib/postgresql/*/bin` };
  }
  if (process.getuid?.() !== 0) return { binDir, runAs: null };
  // PostgreSQL refuses to run as root: run it as the postgres OS user.
  const runAs = lookupOsUser(PG_OS_USER);
  if (!runAs) {
    return { reason: `running as root and there is no '${PG_OS_USER}' OS user to run PostgreSQL as` };
  }
  return { binDir, runAs };
}

/** Whether a throwaway cluster can be started on this machine. */
export function postgresAvailable(): PostgresAvailability {
  const s = setup();
  return 'reason' in s ? { ok: false, reason: s.reason } : { ok: true };
}

/** Command (and args) to run a PostgreSQL binary, via runuser when root. */
function command(s: Setup, name: string, args: string[]): [string, string[]] {
  const bin = path.join(s.binDir, name);
  if (s.runAs && isExecutable('/usr/sbin/runuser')) {
    return ['/usr/sbin/runuser', ['-u', PG_OS_USER, '--', bin, ...args]];
  }
  return [bin, args];
}

function spawnOptions(s: Setup, cwd: string) {
  // Without runuser, drop privileges through spawn's uid/gid (libuv also
  // clears supplementary groups).
  const useIds = s.runAs && !isExecutable('/usr/sbin/runuser');
  return {
    cwd, // a directory the postgres user can enter
    env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
    ...(useIds && s.runAs ? { uid: s.runAs.uid, gid: s.runAs.gid } : {}),
  };
}

function run(s: Setup, cwd: string, name: string, args: string[], timeoutMs = 120_000): Promise<string> {
  const [cmd, cmdArgs] = command(s, name, args);
  return new Promise((resolve, reject) => {
    execFile(cmd, cmdArgs, { ...spawnOptions(s, cwd), timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${name} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`.trim()));
      } else {
        resolve(`${stdout}${stderr}`);
      }
    });
  });
}

function runSync(s: Setup, cwd: string, name: string, args: string[]): boolean {
  const [cmd, cmdArgs] = command(s, name, args);
  const result = spawnSync(cmd, cmdArgs, { ...spawnOptions(s, cwd), timeout: 60_000, stdio: 'ignore' });
  return result.status === 0;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not find a free port'))));
    });
  });
}

function readLogTail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '';
  }
}

/** Last resort when pg_ctl stop fails: signal the postmaster by its pid. */
function killPostmaster(dataDir: string): void {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGQUIT');
  } catch {
    // not running, or already gone
  }
}

/**
 * Starts a throwaway PostgreSQL cluster on a free port of 127.0.0.1, in a
 * fresh directory under os.tmpdir(), with durability turned off for speed.
 */
export async function startPostgresCluster(): Promise<PostgresCluster> {
  const s = setup();
  if ('reason' in s) throw new Error(`PostgreSQL unavailable: ${s.reason}`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-test-'));
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  let started = false;
  let stopped = false;

  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    if (started && !runSync(s, dir, 'pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop'])) {
      killPostmaster(dataDir);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (started) {
      try {
        await run(s, dir, 'pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], 60_000);
      } catch {
        killPostmaster(dataDir);
      }
    }
    await fs.promises.rm(dir, { recursive: true, force: true });
  };

  try {
    if (s.runAs) fs.chownSync(dir, s.runAs.uid, s.runAs.gid);
    await run(s, dir, 'initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);

    // The port can be taken between probing and binding: retry a few times.
    let lastError: unknown;
    for (let attempt = 0; attempt < 3 && !started; attempt++) {
      const port = await freePort();
      const serverOptions = ['-F', '-c fsync=off', '-c full_page_writes=off', '-c synchronous_commit=off', `-p ${port}`, '-h 127.0.0.1', `-k '${dir}'`].join(
        ' ',
      );
      try {
        started = true; // from here on, stop() must try pg_ctl stop
        await run(s, dir, 'pg_ctl', ['-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions, 'start']);
        const restart = async () => {
          await run(s, dir, 'pg_ctl', ['-D', dataDir, '-l', logFile, '-m', 'fast', '-w', '-t', '60', '-o', serverOptions, 'restart'], 90_000);
        };
        return { adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`, stop, stopSync, restart, dir };
      } catch (err) {
        started = runSync(s, dir, 'pg_ctl', ['-D', dataDir, 'status']);
        lastError = new Error(`${(err as Error).message}\n--- postgres.log ---\n${readLogTail(logFile)}`);
        if (started) break;
      }
    }
    throw lastError;
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------
// Per-test databases

let lazyCluster: Promise<PostgresCluster> | null = null;

/** Cluster for test files run outside the runner: one per process, stopped on exit. */
function lazyAdminUrl(): Promise<string> {
  lazyCluster ??= startPostgresCluster().then((cluster) => {
    process.once('exit', () => cluster.stopSync());
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        cluster.stopSync();
        process.kill(process.pid, signal); // re-raise with the default handler
      });
    }
    return cluster;
  });
  return lazyCluster.then((cluster) => cluster.adminUrl);
}

/** Admin URL of the cluster tests should use, or the reason there is none. */
export async function postgresAdminUrl(): Promise<{ url: string } | { url: null; reason: string }> {
  const fromEnv = process.env.TEST_PG_ADMIN_URL;
  if (fromEnv) return { url: fromEnv };
  const available = postgresAvailable();
  if (!available.ok) return { url: null, reason: available.reason };
  return { url: await lazyAdminUrl() };
}

async function withAdminClient<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 15_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates a fresh, uniquely named database (t_<random>) and returns its URL,
 * or null when PostgreSQL is unavailable (callers then skip with a reason,
 * see postgresAvailable()).
 */
export async function createTestDatabase(): Promise<TestDatabase | null> {
  const admin = await postgresAdminUrl();
  if (admin.url === null) return null;
  const adminUrl = admin.url;

  const name = `t_${crypto.randomBytes(8).toString('hex')}`;
  await withAdminClient(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));

  const url = new URL(adminUrl);
  url.pathname = `/${name}`;

  let dropped = false;
  return {
    url: url.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      await withAdminClient(adminUrl, async (client) => {
        await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        await client.query(`DROP DATABASE IF EXISTS ${name}`);
      });
    },
  };
}
