/**
 * Test support for the instance tests: starts the instance in-process on port 0
 * with a fresh temp data dir and a capturing logger, and tears both down after.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import type { InstanceLogger, InstanceOptions, RequestLogEntry, RunningInstance } from '../../instance/server.ts';
import { startInstance } from '../../instance/server.ts';

export const TOKEN = 'test-token-0123456789abcdef';

export interface CapturedLogs {
  requests: RequestLogEntry[];
  warnings: string[];
  errors: { message: string; error: unknown }[];
}

export interface TestInstance {
  instance: RunningInstance;
  gateway: string;
  shell: string;
  dataDir: string;
  logs: CapturedLogs;
}

export function capturingLogger(): InstanceLogger & { logs: CapturedLogs } {
  const logs: CapturedLogs = { requests: [], warnings: [], errors: [] };
  return {
    logs,
    request: (entry) => logs.requests.push(entry),
    warn: (message) => logs.warnings.push(message),
    error: (message, error) => logs.errors.push({ message, error }),
  };
}

export async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'matrix-instance-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts an instance with TOKEN unless `authToken` is overridden; closed when the test ends. */
export async function startTestInstance(t: ExecutionContext, options: Partial<InstanceOptions> = {}): Promise<TestInstance> {
  const dataDir = options.dataDir ?? (await tempDir(t));
  const logger = capturingLogger();
  const instance = await startInstance({ authToken: TOKEN, port: 0, shellPort: 0, logger, ...options, dataDir });
  t.teardown(() => instance.close());
  return {
    instance,
    gateway: `http://127.0.0.1:${instance.gatewayPort}`,
    shell: `http://127.0.0.1:${instance.shellPort}`,
    dataDir,
    logs: logger.logs,
  };
}

export const auth = (token: string = TOKEN): Record<string, string> => ({ Authorization: `Bearer ${token}` });

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Sends the request target byte for byte: fetch would normalise "..", "%2e%2e" and "//" away. */
export function rawRequest(port: number, method: string, target: string, headers: Record<string, string> = {}, body?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
