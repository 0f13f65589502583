/**
 * The control service as its own process (control/main.ts), for tests that kill it
 * with SIGKILL and start it again on the same data directory and port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { createOrchestrator } from '../../control/main.ts';
import { makeDataDir, TEST_KEY, TEST_SECRET, testConfig } from './platform.ts';
import { freePort } from './postgres.ts';
import { waitUntil } from './wait.ts';

const repo = path.resolve(import.meta.dirname, '../..');

export interface Control {
  url: string;
  child: ChildProcess;
}

/** Starts control/main.ts and resolves once its API answers /health. */
export async function startControl(dataDir: string, port: number, env: Record<string, string> = {}): Promise<Control> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'control/main.ts')], {
    cwd: repo,
    env: {
      PATH: process.env.PATH,
      DATA_DIR: dataDir,
      API_PORT: String(port),
      METER_PORT: '0',
      PUBLIC_PORT: '0',
      DEV_IDP_PORT: '0',
      PLATFORM_SECRET: TEST_SECRET,
      SECRET_KEY: TEST_KEY,
      WORKER_POLL_INTERVAL: '50ms',
      REPLICA_ID: 'replica-a',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += String(chunk)));
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    async () => {
      if (child.exitCode !== null) throw new Error(`control exited: ${stderr}`);
      return fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      );
    },
    { timeoutMs: 30_000, intervalMs: 100, message: () => `control healthy (stderr: ${stderr})` },
  );
  return { url, child };
}

export function kill9(control: Control): Promise<void> {
  return new Promise((resolve) => {
    if (control.child.exitCode !== null || control.child.signalCode !== null) return resolve();
    control.child.once('exit', () => resolve());
    control.child.kill('SIGKILL');
  });
}

/** The platform API of a control process, with the test platform secret. */
export const controlApi = (control: Control, pathname: string, init: RequestInit = {}) =>
  fetch(control.url + pathname, { ...init, headers: { authorization: `Bearer ${TEST_SECRET}`, 'content-type': 'application/json', ...init.headers } });

/** A data dir and port for a control process; its instances are stopped when the test ends. */
export async function controlFixture(t: ExecutionContext): Promise<{ dataDir: string; port: number }> {
  const dataDir = await makeDataDir();
  t.teardown(async () => {
    const orchestrator = createOrchestrator(testConfig(dataDir));
    for (const instance of await orchestrator.list()) await orchestrator.stop(instance.handle);
    await fs.promises.rm(dataDir, { recursive: true, force: true });
  });
  return { dataDir, port: await freePort() };
}
