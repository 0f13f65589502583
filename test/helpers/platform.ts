/**
 * Starts a real control service in-process for a test: real database (SQLite by
 * default, or the URL given), real HTTP on port 0, and the local driver running the
 * reference instance unless an orchestrator is passed. Everything is torn down,
 * instance processes included, when the test ends.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { type Platform, startPlatform } from '../../control/compose.ts';
import { type Config, loadConfig } from '../../control/config.ts';
import { createLogger, type Logger } from '../../control/logger.ts';
import { createOrchestrator } from '../../control/main.ts';
import type { Orchestrator } from '../../control/orchestrator/types.ts';
import type { Edge } from '../../control/router/edge.ts';

export const TEST_SECRET = 'test-platform-secret-0123456789abcdef';
export const TEST_KEY = 'test-secret-key-0123456789abcdef012345';

/** Tests run the router in-process (ROUTER_PROCESSES=1), so `edge` is always there. */
export interface TestPlatform extends Omit<Platform, 'edge'> {
  edge: Edge;
  dataDir: string;
  /** fetch against the platform API with the bearer secret. */
  api(pathname: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  /** Polls GET /containers/:handle until `status` (or failed/timeout). */
  waitFor(handle: string, status: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export async function makeDataDir(prefix = 'mxos-test-'): Promise<string> {
  return fs.promises.mkdtemp(path.join(os.tmpdir(), prefix));
}

export function testConfig(dataDir: string, env: Record<string, string> = {}): Config {
  return loadConfig(
    {
      DATA_DIR: dataDir,
      API_PORT: '0',
      METER_PORT: '0',
      PUBLIC_PORT: '0',
      DEV_IDP_PORT: '0',
      PLATFORM_SECRET: TEST_SECRET,
      SECRET_KEY: TEST_KEY,
      WORKER_POLL_INTERVAL: '50ms',
      PROVISION_BACKOFF_BASE: '50ms',
      PROVISION_BACKOFF_MAX: '200ms',
      INSTANCE_START_TIMEOUT: '30s',
      LOG_LEVEL: 'silent',
      ...env,
    },
    dataDir,
  );
}

export async function startTestPlatform(
  t: ExecutionContext,
  options: { env?: Record<string, string>; orchestrator?: (config: Config) => Orchestrator; dataDir?: string; keepDataDir?: boolean; logger?: Logger } = {},
): Promise<TestPlatform> {
  const dataDir = options.dataDir ?? (await makeDataDir());
  const config = testConfig(dataDir, options.env);
  const orchestrator = options.orchestrator ? options.orchestrator(config) : createOrchestrator(config);
  const platform = await startPlatform(config, orchestrator, options.logger ?? createLogger('silent'));
  t.teardown(async () => {
    await platform.close();
    // Instances outlive the control service by design: stop them explicitly.
    const cleanup = options.orchestrator ? orchestrator : createOrchestrator(config);
    // Some tests leave the orchestrator unreachable on purpose.
    for (const instance of await cleanup.list().catch(() => [])) await cleanup.stop(instance.handle).catch(() => undefined);
    if (!options.keepDataDir) await fs.promises.rm(dataDir, { recursive: true, force: true });
  });
  const api: TestPlatform['api'] = (pathname, init = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${platform.platformSecret}`);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(init.json);
    }
    return fetch(platform.apiUrl + pathname, { ...init, headers, body });
  };
  const waitFor: TestPlatform['waitFor'] = async (handle, status, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    let last: Record<string, unknown> = {};
    while (Date.now() < deadline) {
      const response = await api(`/containers/${handle}`);
      if (response.status === 200) {
        last = ((await response.json()) as { instance: Record<string, unknown> }).instance;
        if (last.status === status) return last;
        if (last.status === 'failed' && status !== 'failed') throw new Error(`${handle} failed: ${String(last.lastError)}`);
      } else {
        await response.body?.cancel();
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${handle} did not reach ${status} within ${timeoutMs} ms (last: ${String(last.status)})`);
  };
  if (!platform.edge) throw new Error('startTestPlatform runs the router in-process: do not set ROUTER_PROCESSES');
  return Object.assign(platform, { edge: platform.edge, dataDir, api, waitFor });
}
