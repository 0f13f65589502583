/**
 * Request entry: the request log, latency, injected faults, routing (r0 and v3
 * prefixes; an unknown path is 404 and a known path with another method 405,
 * both M_UNRECOGNIZED), the body limit (413 M_TOO_LARGE), then authentication as
 * Conduit's Ruma extractor does it: a token from `Authorization: Bearer` or
 * `?access_token=`; an unknown token is 401 M_UNKNOWN_TOKEN on every endpoint,
 * a missing one 401 M_MISSING_TOKEN where a token is required.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRoom } from './create-room.ts';
import { badRequest, MatrixError } from './errors.ts';
import type { FaultQueue, QueuedFault } from './faults.ts';
import { invite, join, joinedMembers, joinedRooms, leave, resolveAlias, stateEvent } from './membership.ts';
import { register, registerAvailable } from './register.ts';
import { type Ctx, sendError, sendJson } from './request.ts';
import { sendMessage } from './send.ts';
import { login, loginTypes, logout, versions, whoami } from './session.ts';
import type { Store } from './state.ts';
import { sync } from './sync.ts';
import type { Json, LoggedRequest } from './types.ts';

interface Route {
  method: string;
  pattern: RegExp;
  auth: boolean;
  handle: (ctx: Ctx, params: Array<string | undefined>) => unknown;
}

const V = '^/_matrix/client/(?:r0|v3)';
const route = (method: string, path: string, auth: boolean, handle: Route['handle']): Route => ({
  method,
  pattern: new RegExp(`${path}$`),
  auth,
  handle,
});

const ROUTES: Route[] = [
  route('GET', '^/_matrix/client/versions', false, versions),
  route('GET', `${V}/register/available`, false, registerAvailable),
  route('POST', `${V}/register`, false, register),
  route('GET', `${V}/login`, false, loginTypes),
  route('POST', `${V}/login`, false, login),
  route('POST', `${V}/logout`, true, logout),
  route('GET', `${V}/account/whoami`, true, whoami),
  route('POST', `${V}/createRoom`, true, createRoom),
  route('POST', `${V}/rooms/([^/]+)/invite`, true, (ctx, [room]) => invite(ctx, room)),
  route('POST', `${V}/rooms/([^/]+)/join`, true, (ctx, [room]) => join(ctx, room, false)),
  route('POST', `${V}/join/([^/]+)`, true, (ctx, [room]) => join(ctx, room, true)),
  route('POST', `${V}/rooms/([^/]+)/leave`, true, (ctx, [room]) => leave(ctx, room)),
  route('GET', `${V}/joined_rooms`, true, joinedRooms),
  route('GET', `${V}/rooms/([^/]+)/joined_members`, true, (ctx, [room]) => joinedMembers(ctx, room)),
  route('GET', `${V}/rooms/([^/]+)/state/([^/]+)(?:/(.*))?`, true, (ctx, [room, type, key]) => stateEvent(ctx, room, type, key)),
  route('PUT', `${V}/rooms/([^/]+)/send/([^/]+)/([^/]+)`, true, (ctx, [room, type, txn]) => sendMessage(ctx, room, type, txn)),
  route('GET', `${V}/sync`, true, sync),
  route('GET', `${V}/directory/room/([^/]+)`, false, (ctx, [alias]) => resolveAlias(ctx, alias)),
];

const UNRECOGNIZED = 'M_UNRECOGNIZED: Unrecognized request';

function findRoute(method: string, path: string): { route: Route; params: Array<string | undefined> } | MatrixError {
  let pathKnown = false;
  for (const candidate of ROUTES) {
    const match = candidate.pattern.exec(path);
    if (!match) continue;
    pathKnown = true;
    if (candidate.method === method) return { route: candidate, params: match.slice(1) };
  }
  return pathKnown ? new MatrixError(405, 'M_UNRECOGNIZED', UNRECOGNIZED) : new MatrixError(404, 'M_UNRECOGNIZED', UNRECOGNIZED);
}

function accessToken(ctx: Ctx): string | undefined {
  const header = ctx.req.headers.authorization;
  if (typeof header === 'string') {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    if (bearer !== undefined) return bearer;
  }
  return ctx.query.get('access_token') ?? undefined;
}

function authenticate(ctx: Ctx, required: boolean): void {
  const token = accessToken(ctx);
  if (token === undefined) {
    if (required) throw badRequest('M_MISSING_TOKEN', 'Missing access token.');
    return;
  }
  const device = ctx.store.devices.get(token);
  if (!device) throw badRequest('M_UNKNOWN_TOKEN', 'Unknown access token.');
  ctx.device = device;
  ctx.log.userId = device.userId;
  ctx.log.deviceId = device.deviceId;
}

function answerFault(ctx: Ctx, fault: QueuedFault): void {
  ctx.log.fault = fault.kind;
  ctx.log.errcode = fault.errcode;
  if (fault.body !== undefined) {
    ctx.log.status = fault.status;
    ctx.res.writeHead(fault.status, { 'content-type': 'text/html' });
    ctx.res.end(fault.body);
    return;
  }
  if (fault.kind === 'limit') {
    const retryAfterMs = fault.retryAfterMs ?? 0;
    const headers = { 'retry-after': String(Math.ceil(retryAfterMs / 1000)) };
    return sendJson(ctx, 429, { errcode: fault.errcode, error: fault.message, retry_after_ms: retryAfterMs }, headers);
  }
  sendJson(ctx, fault.status, { errcode: fault.errcode, error: fault.message });
}

async function readBody(req: IncomingMessage, limit: number): Promise<{ text: string; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= limit) chunks.push(chunk as Buffer);
  }
  return { text: size <= limit ? Buffer.concat(chunks).toString('utf8') : '', tooLarge: size > limit };
}

function parseJson(text: string): Json | undefined {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as Json;
  } catch {
    return undefined;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
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

export function createHandler(store: Store, faults: FaultQueue) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    store.begin();
    const left = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) left.abort();
      store.end();
    });
    const url = new URL(req.url ?? '/', 'http://matrix.invalid');
    const method = req.method ?? 'GET';
    const { text, tooLarge } = await readBody(req, store.maxRequestBytes);
    const json = parseJson(text);
    const log: LoggedRequest = { method, path: url.pathname, query: Object.fromEntries(url.searchParams), body: json };
    store.requests.push(log);
    const signal = AbortSignal.any([left.signal, store.closing.signal]);
    const ctx: Ctx = { store, req, res, log, method, path: url.pathname, query: url.searchParams, rawBody: text, json, signal };
    await sleep(store.latencyMs, signal);
    if (signal.aborted) return;
    const fault = faults.take(method, url.pathname);
    if (fault) return answerFault(ctx, fault);
    try {
      const found = findRoute(method, url.pathname);
      if (found instanceof MatrixError) throw found;
      if (tooLarge) throw badRequest('M_TOO_LARGE', 'Reached maximum request size');
      authenticate(ctx, found.route.auth);
      await found.route.handle(ctx, found.params);
    } catch (err) {
      if (!(err instanceof MatrixError)) throw err;
      sendError(ctx, err);
    }
  };
}
