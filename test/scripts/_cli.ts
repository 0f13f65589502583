/**
 * Test support for the mxos CLI tests: a real control service in-process (local
 * driver, reference instance) in a temp dir, and the CLI run as a child process.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { type Platform, startPlatform } from '../../control/compose.ts';
import { loadConfig } from '../../control/config.ts';
import { createLogger } from '../../control/logger.ts';
import { createOrchestrator } from '../../control/main.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SECRET = 'x'.repeat(32);

export interface TestPlatform {
  platform: Platform;
  dir: string;
  /** Closes the platform, stops every instance process it left and removes the temp dir. */
  close(): Promise<void>;
}

/** A control service on `dir` (local driver, reference instance); close() stops it and every instance it left, and keeps `dir`. */
export async function startPlatformIn(dir: string, env: Record<string, string> = {}): Promise<{ platform: Platform; close(): Promise<void> }> {
  const config = loadConfig(
    {
      DATA_DIR: dir,
      API_PORT: '0',
      METER_PORT: '0',
      PUBLIC_PORT: '0',
      DEV_IDP_PORT: '0',
      PLATFORM_SECRET: SECRET,
      SECRET_KEY: 'y'.repeat(32),
      WORKER_POLL_INTERVAL: '50ms',
      LOG_LEVEL: 'silent',
      ...env,
    },
    dir,
  );
  const orchestrator = createOrchestrator(config);
  const platform = await startPlatform(config, orchestrator, createLogger('silent'));
  return {
    platform,
    async close() {
      await platform.close();
      // After close the worker is stopped, so nothing restarts what we stop here.
      for (const s of await orchestrator.list()) await orchestrator.stop(s.handle);
    },
  };
}

export async function startTestPlatform(name: string, env: Record<string, string> = {}): Promise<TestPlatform> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `mxos-${name}-`));
  const { platform, close } = await startPlatformIn(dir, env);
  return {
    platform,
    dir,
    async close() {
      await close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  argv?: string[];
  cwd?: string;
  timeoutMs?: number;
}

/** Starts `argv` (default: node --import tsx scripts/mxos.ts) with a clean platform environment. */
export function spawnCli(
  args: readonly string[],
  env: Record<string, string | undefined>,
  opts: CliOptions = {},
): ChildProcessByStdio<null, Readable, Readable> {
  const base = { ...process.env };
  for (const name of ['PLATFORM_URL', 'PLATFORM_SECRET', 'DATA_DIR']) delete base[name];
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...base, ...env })) if (v !== undefined) merged[k] = v;
  const argv = opts.argv ?? [process.execPath, '--import', 'tsx', path.join(REPO, 'scripts/mxos.ts')];
  return spawn(argv[0]!, [...argv.slice(1), ...args], { cwd: opts.cwd ?? REPO, env: merged, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs the CLI to completion (killed after timeoutMs, default 90 s). */
export function runCli(args: readonly string[], env: Record<string, string | undefined>, opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env, opts);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 90_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A local port nothing listens on. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
