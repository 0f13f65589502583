/**
 * What every request goes through: the in-flight count, the body (413 past the
 * limit), the request log, authentication (x-api-key, or Authorization:
 * Bearer), the anthropic-version header, and routing to an endpoint.
 */
import type http from 'node:http';
import { countTokens, createMessage, getModel, listModels } from './endpoints.ts';
import { ApiError, DEFAULT_ERROR_MESSAGES, invalidRequest } from './errors.ts';
import { type Ctx, type Handler, readBody, sendError } from './http.ts';
import type { DoubleState } from './state.ts';
import type { RecordedRequest } from './types.ts';

function headerMap(req: http.IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function record(state: DoubleState, req: http.IncomingMessage, url: URL, rawBody: string): RecordedRequest {
  const headers = headerMap(req);
  let body: unknown;
  try {
    body = rawBody === '' ? undefined : JSON.parse(rawBody);
  } catch {
    body = undefined;
  }
  const entry: RecordedRequest = {
    index: state.requests.length,
    requestId: state.ids.request(),
    method: req.method ?? 'GET',
    path: url.pathname,
    query: url.search,
    headers,
    anthropicVersion: headers['anthropic-version'],
    anthropicBeta: (headers['anthropic-beta'] ?? '')
      .split(',')
      .map((b) => b.trim())
      .filter((b) => b !== ''),
    body,
    rawBody,
  };
  state.requests.push(entry);
  return entry;
}

function authenticate(ctx: Ctx): void {
  const { headers } = ctx.record;
  const key = headers['x-api-key'];
  if (key !== undefined) {
    if (key !== ctx.state.apiKey) throw new ApiError(401, 'authentication_error', 'invalid x-api-key');
    return;
  }
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const bearer = /^Bearer\s+(.+)$/i.exec(authorization)?.[1]?.trim();
    if (bearer !== ctx.state.apiKey) throw new ApiError(401, 'authentication_error', 'invalid bearer token');
    return;
  }
  throw new ApiError(401, 'authentication_error', 'x-api-key header is required');
}

function checkVersion(ctx: Ctx): void {
  const version = ctx.record.anthropicVersion;
  if (version === undefined || version.trim() === '') throw invalidRequest('anthropic-version: header is required');
  const { versions } = ctx.state;
  if (versions && !versions.has(version)) throw invalidRequest(`anthropic-version: "${version}" is not a valid version`);
}

async function route(ctx: Ctx): Promise<void> {
  const { method, path } = ctx.record;
  if (method === 'POST' && path === '/v1/messages') return createMessage(ctx);
  if (method === 'POST' && path === '/v1/messages/count_tokens') return countTokens(ctx);
  if (method === 'GET' && path === '/v1/models') return listModels(ctx);
  const model = /^\/v1\/models\/([^/]+)$/.exec(path)?.[1];
  if (method === 'GET' && model !== undefined) return getModel(ctx, decodeURIComponent(model));
  throw new ApiError(404, 'not_found_error', DEFAULT_ERROR_MESSAGES.not_found_error);
}

export function createHandler(state: DoubleState): Handler {
  return async (req, res) => {
    state.begin();
    const left = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) left.abort();
      state.end();
    });
    const signal = AbortSignal.any([left.signal, state.closing.signal]);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const { text, tooLarge } = await readBody(req, state.maxRequestBytes);
    const ctx: Ctx = { state, req, res, url, signal, record: record(state, req, url, text) };
    state.rateLimits.noteRequest();
    try {
      if (tooLarge) throw new ApiError(413, 'request_too_large', DEFAULT_ERROR_MESSAGES.request_too_large);
      authenticate(ctx);
      checkVersion(ctx);
      await route(ctx);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      await sendError(ctx, err);
    }
  };
}
