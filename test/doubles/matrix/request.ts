/**
 * Per-request plumbing shared by the endpoints: the context, JSON replies and
 * errors (recorded in the request log), the authenticated device, and body
 * access shaped like ruma's deserialization (an empty body reads as {}; a field
 * of the wrong type is 400 M_BAD_JSON "Failed to deserialize request.").
 */
import type http from 'node:http';
import { badJson, type MatrixError } from './errors.ts';
import { isRoomAlias, isRoomId, parseUserId } from './identifiers.ts';
import type { DeviceRecord, Store } from './state.ts';
import type { Json, JsonObject, LoggedRequest } from './types.ts';

export interface Ctx {
  store: Store;
  req: http.IncomingMessage;
  res: http.ServerResponse;
  log: LoggedRequest;
  method: string;
  path: string;
  query: URLSearchParams;
  /** The body as sent ('' when none). */
  rawBody: string;
  /** The body parsed as JSON, or undefined when it is empty or not JSON. */
  json: Json | undefined;
  /** Aborted when the client goes away or the double closes. */
  signal: AbortSignal;
  /** The device of a valid access token. */
  device?: DeviceRecord;
}

export function sendJson(ctx: Ctx, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (ctx.res.headersSent || ctx.res.destroyed) return;
  ctx.log.status = status;
  ctx.res.writeHead(status, { ...headers, 'content-type': 'application/json' });
  ctx.res.end(JSON.stringify(body));
}

export function sendError(ctx: Ctx, err: MatrixError): void {
  if (err.errcode !== '') ctx.log.errcode = err.errcode;
  sendJson(ctx, err.status, err.body(), err.headers);
}

/** The authenticated device; the router guarantees one on endpoints that require a token. */
export function deviceOf(ctx: Ctx): DeviceRecord {
  if (!ctx.device) throw new Error('matrix double: endpoint needs an authenticated device');
  return ctx.device;
}

/** The request body as ruma reads it: an empty body is {}; anything but a JSON object fails. */
export function objectBody(ctx: Ctx): JsonObject {
  if (ctx.rawBody === '') return {};
  const json = ctx.json;
  if (json === undefined || json === null || typeof json !== 'object' || Array.isArray(json)) throw badJson();
  return json;
}

export function optionalString(body: JsonObject, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw badJson();
  return value;
}

export function requiredString(body: JsonObject, key: string): string {
  const value = optionalString(body, key);
  if (value === undefined) throw badJson();
  return value;
}

export function optionalBool(body: JsonObject, key: string): boolean | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw badJson();
  return value;
}

export function optionalObject(body: JsonObject, key: string): JsonObject | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw badJson();
  return value;
}

export function userIdList(body: JsonObject, key: string): string[] {
  const value = body[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw badJson();
  return value.map((v) => {
    if (typeof v !== 'string' || !parseUserId(v)) throw badJson();
    return v;
  });
}

/** A path parameter, percent-decoded; `check` rejects it as ruma would (400 M_BAD_JSON). */
export function pathParam(raw: string | undefined, check?: (value: string) => boolean): string {
  let value: string;
  try {
    value = decodeURIComponent(raw ?? '');
  } catch {
    throw badJson();
  }
  if (check && !check(value)) throw badJson();
  return value;
}

export const roomIdParam = (raw: string | undefined) => pathParam(raw, isRoomId);
export const roomOrAliasParam = (raw: string | undefined) => pathParam(raw, (v) => isRoomId(v) || isRoomAlias(v));
