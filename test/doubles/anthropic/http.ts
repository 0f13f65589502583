/**
 * The HTTP side: a real server on 127.0.0.1 (port 0), the per-request context,
 * bodies read up to the size limit, and JSON / error responses with the
 * headers every response carries (request-id, anthropic-ratelimit-*), written
 * after the configured latency.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type ApiError, errorBody } from './errors.ts';
import type { DoubleState } from './state.ts';
import type { RecordedRequest } from './types.ts';

export interface Ctx {
  state: DoubleState;
  req: http.IncomingMessage;
  res: http.ServerResponse;
  record: RecordedRequest;
  url: URL;
  /** Aborted when the client goes away or the double closes. */
  signal: AbortSignal;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;

export class HttpFront {
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(handler: Handler) {
    this.server = http.createServer((req, res) => {
      handler(req, res).catch((err: unknown) => {
        if (res.headersSent) return void res.destroy();
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify(errorBody('api_error', `anthropic double: ${err instanceof Error ? err.message : String(err)}`)));
      });
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stops listening and drops every connection, open streams included. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

/** Waits `ms`, or less when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The body as text; past `limit` bytes the rest is drained and dropped. */
export async function readBody(req: http.IncomingMessage, limit: number): Promise<{ text: string; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= limit) chunks.push(chunk as Buffer);
  }
  return { text: size <= limit ? Buffer.concat(chunks).toString('utf8') : '', tooLarge: size > limit };
}

/** The organization the double's key belongs to. */
export const ORGANIZATION_ID = '5d2a7e3c-0b1f-4c8e-9a6d-0d0b1e000000';

export function commonHeaders(ctx: Ctx): Record<string, string> {
  return {
    'request-id': ctx.record.requestId,
    'anthropic-organization-id': ORGANIZATION_ID,
    ...ctx.state.rateLimits.headers(),
  };
}

export async function sendJson(ctx: Ctx, status: number, body: unknown, headers: Record<string, string> = {}): Promise<void> {
  await sleep(ctx.state.latencyMs, ctx.signal);
  if (ctx.signal.aborted || ctx.res.destroyed) return;
  ctx.record.status = status;
  ctx.res.writeHead(status, { ...commonHeaders(ctx), ...headers, 'content-type': 'application/json' });
  ctx.res.end(JSON.stringify(body));
}

export function sendError(ctx: Ctx, err: ApiError): Promise<void> {
  return sendJson(ctx, err.status, errorBody(err.type, err.message, ctx.record.requestId), err.headers);
}
