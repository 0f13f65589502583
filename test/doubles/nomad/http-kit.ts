/**
 * Per-request plumbing shared by the endpoints: plain-text errors, JSON
 * replies with Nomad's query meta headers, ACL checks, ?region / ?namespace,
 * and blocking queries (?index=N&wait=30s; default 5m, max 10m, plus jitter
 * up to wait/16; "Invalid wait time" / "Invalid index" as 400).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseGoDuration } from './goformat.ts';
import type { Runtime } from './runtime.ts';
import type { LoggedRequest, Obj } from './types.ts';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Ctx {
  rt: Runtime;
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  path: string;
  query: URLSearchParams;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  log: LoggedRequest;
}

export function sendText(ctx: Ctx, status: number, body: string, headers: Record<string, string> = {}): void {
  if (ctx.res.headersSent || ctx.res.destroyed) return;
  ctx.log.status = status;
  ctx.res.writeHead(status, { ...headers, 'content-type': 'text/plain; charset=utf-8' });
  ctx.res.end(body);
}

export function sendJson(ctx: Ctx, body: unknown, headers: Record<string, string> = {}): void {
  if (ctx.res.headersSent || ctx.res.destroyed) return;
  ctx.log.status = 200;
  ctx.res.writeHead(200, { ...headers, 'content-type': 'application/json' });
  ctx.res.end(JSON.stringify(body));
}

/** Headers of a read (setMeta). */
export function queryMeta(index: number): Record<string, string> {
  return { 'X-Nomad-Index': String(Math.max(1, index)), 'X-Nomad-KnownLeader': 'true', 'X-Nomad-LastContact': '0' };
}

/** Headers of a write (setIndex). */
export function writeMeta(index: number): Record<string, string> {
  return { 'X-Nomad-Index': String(Math.max(1, index)) };
}

/** The JSON body of a write response: the reply plus its QueryMeta fields. */
export function writeBody(reply: Obj, index: number): Obj {
  return { ...reply, Index: index, LastContact: 0, KnownLeader: false, NextToken: '' };
}

export async function readBody(ctx: Ctx): Promise<string | null> {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  // Go sets Body to http.NoBody when Content-Length is 0: "Request body is empty".
  const length = ctx.req.headers['content-length'];
  if (text === '' && (length === '0' || (length === undefined && !ctx.req.headers['transfer-encoding']))) return null;
  return text;
}

export function methodIs(ctx: Ctx, ...methods: string[]): void {
  if (!methods.includes(ctx.method)) throw new HttpError(405, 'Invalid method');
}

function requestToken(ctx: Ctx): string | null {
  const header = ctx.req.headers['x-nomad-token'];
  if (typeof header === 'string' && header !== '') return header;
  const auth = ctx.req.headers.authorization;
  if (typeof auth === 'string' && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, '').trim();
  return null;
}

/**
 * ACL check. No token: the anonymous policy, which grants nothing ("Permission
 * denied"); an unknown token: "ACL token not found"; a read-only token writing:
 * "Permission denied".
 */
export function authorize(ctx: Ctx, write: boolean): void {
  const { token, readOnlyTokens } = ctx.rt.options;
  if (token === null) return;
  const given = requestToken(ctx);
  if (given === null) throw new HttpError(403, 'Permission denied');
  if (given === token) return;
  if (readOnlyTokens.includes(given)) {
    if (write) throw new HttpError(403, 'Permission denied');
    return;
  }
  throw new HttpError(403, 'ACL token not found');
}

/** ?region= naming another region cannot be forwarded anywhere. */
export function checkRegion(ctx: Ctx, region = ctx.query.get('region') ?? ''): void {
  if (region !== '' && region !== 'global' && region !== ctx.rt.options.region) throw new HttpError(500, 'No path to region');
}

export function namespaceOf(ctx: Ctx): string {
  return ctx.query.get('namespace') || 'default';
}

export interface QueryOptions {
  minIndex: number;
  waitNs: number;
}

/** parseWait: ?wait= in Go duration syntax, ?index= as uint64. */
export function parseQueryOptions(ctx: Ctx): QueryOptions {
  let waitNs = 0;
  const wait = ctx.query.get('wait');
  if (wait !== null && wait !== '') {
    const parsed = parseGoDuration(wait);
    if (parsed === null) throw new HttpError(400, 'Invalid wait time');
    waitNs = parsed;
  }
  let minIndex = 0;
  const index = ctx.query.get('index');
  if (index !== null && index !== '') {
    if (!/^\d+$/.test(index) || BigInt(index) > 2n ** 64n - 1n) throw new HttpError(400, 'Invalid index');
    minIndex = Number(index);
  }
  return { minIndex, waitNs };
}

const DEFAULT_WAIT_MS = 5 * 60_000;
const MAX_WAIT_MS = 10 * 60_000;

/**
 * Holds a read until indexOf() passes opts.minIndex or the wait (plus jitter)
 * runs out; returns the index to answer with, or null when the client left.
 */
export async function blockUntil(ctx: Ctx, opts: QueryOptions, indexOf: () => number): Promise<number | null> {
  let index = indexOf();
  if (opts.minIndex === 0 || index > opts.minIndex) return index;
  let waitMs = opts.waitNs / 1e6;
  if (waitMs <= 0) waitMs = DEFAULT_WAIT_MS;
  if (waitMs > MAX_WAIT_MS) waitMs = MAX_WAIT_MS;
  waitMs += Math.random() * (waitMs / 16);
  const deadline = Date.now() + waitMs;
  while (index <= opts.minIndex && !ctx.rt.closed) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    await ctx.rt.state.waitForChange(remaining, ctx.signal);
    if (ctx.signal.aborted) return null;
    index = indexOf();
  }
  return index;
}

/** The common read: method check, query options, ACL, then a blocking wait on indexOf. */
export async function blockingRead(ctx: Ctx, indexOf: () => number): Promise<number | null> {
  methodIs(ctx, 'GET');
  const opts = parseQueryOptions(ctx);
  checkRegion(ctx);
  authorize(ctx, false);
  return blockUntil(ctx, opts, indexOf);
}
