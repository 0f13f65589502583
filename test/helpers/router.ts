/**
 * A platform with the router, for router tests: instances run as echo instances (see
 * echo-instance.ts) behind the memory orchestrator, and `send` speaks raw HTTP to the
 * public listener with whatever Host header (or headers) a test wants.
 */
import http from 'node:http';
import type { ExecutionContext } from 'ava';
import { deriveCredential } from '../../control/access/credentials.ts';
import { MemoryOrchestrator } from '../doubles/memory-orchestrator.ts';
import { type EchoInstance, startEchoInstance } from './echo-instance.ts';
import { startTestPlatform, TEST_KEY, type TestPlatform } from './platform.ts';

export interface RouterFixture {
  platform: TestPlatform;
  orchestrator: MemoryOrchestrator;
  echo: Map<string, EchoInstance>;
  port: number;
  token(handle: string, generation?: number): string;
  send(options: SendOptions): Promise<Sent>;
  /** A session cookie for `handle`, obtained the way a browser does: login link, then /_mxos/login. */
  signIn(handle: string, userId?: string): Promise<string>;
}

export interface SendOptions {
  host?: string;
  path: string;
  method?: string;
  /** Flat list, sent exactly as given (duplicates included). */
  rawHeaders?: string[];
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface Sent {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  text: string;
  json<T = Record<string, unknown>>(): T;
}

export async function startRouterFixture(t: ExecutionContext, handles: string[], env: Record<string, string> = {}): Promise<RouterFixture> {
  const echo = new Map<string, EchoInstance>();
  for (const handle of handles) echo.set(handle, await startEchoInstance(handle));
  t.teardown(async () => {
    for (const e of echo.values()) await e.close();
  });
  const orchestrator = new MemoryOrchestrator();
  orchestrator.address = (h) => {
    const e = echo.get(h);
    return e ? { gateway: e.gateway, shell: e.shell } : { gateway: 'http://127.0.0.1:1', shell: 'http://127.0.0.1:1' };
  };
  const platform = await startTestPlatform(t, { orchestrator: () => orchestrator, env });
  for (const handle of handles) {
    const r = await platform.api('/containers/provision', { method: 'POST', json: { handle, userId: `user-${handle}` } });
    await r.body?.cancel();
  }
  for (const handle of handles) await platform.waitFor(handle, 'running');
  await Promise.all(handles.map((h) => waitForRoute(platform, h)));
  const port = Number(new URL(platform.edge.listenUrl).port);

  const send = (o: SendOptions) => sendRaw(port, o);
  return {
    platform,
    orchestrator,
    echo,
    port,
    send,
    token: (handle, generation = 1) => deriveCredential(TEST_KEY, 'instance-token', handle, generation),
    async signIn(handle, userId = `user-${handle}`) {
      const link = await platform.api(`/containers/${handle}/login-link`, { method: 'POST', json: { userId } });
      const { url } = (await link.json()) as { url: string };
      const target = new URL(url);
      const r = await send({ host: `${handle}.localhost:${port}`, path: target.pathname + target.search });
      if (r.status !== 303) throw new Error(`sign-in failed: ${r.status} ${r.text}`);
      return String(r.headers['set-cookie']![0]).split(';')[0]!;
    },
  };
}

/**
 * Records every start asked of the service from now on. A wake asks for its start
 * before the request that caused it is answered, so once the answers are in, an empty
 * list proves that no wake happened, with nothing to wait for.
 */
export function recordStartRequests(platform: TestPlatform): string[] {
  const asked: string[] = [];
  const { service } = platform;
  const request = service.request.bind(service);
  service.request = (handle, kind, actor, options) => {
    if (kind === 'start') asked.push(`${handle} by ${actor}`);
    return request(handle, kind, actor, options);
  };
  return asked;
}

/** Waits until the route table (not only the API) shows `handle` running. */
export async function waitForRoute(platform: TestPlatform, handle: string, status = 'running', timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (platform.edge.routes.get(handle)?.status !== status) {
    if (Date.now() > deadline) throw new Error(`route of ${handle} did not become ${status} (is ${platform.edge.routes.get(handle)?.status})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function sendRaw(port: number, o: SendOptions): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const headers: string[] = [];
    if (o.host !== undefined) headers.push('Host', o.host);
    for (const [k, v] of Object.entries(o.headers ?? {})) headers.push(k, v);
    headers.push(...(o.rawHeaders ?? []));
    if (o.body !== undefined) headers.push('Content-Length', String(Buffer.byteLength(o.body)));
    const req = http.request({ hostname: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path, headers, setHost: false, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, text, json: () => JSON.parse(text) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}
