/**
 * The meter's own answers look like Anthropic's, so SDKs and clients handle them as
 * they would the real API's: `{"type":"error","error":{"type","message"},"request_id"}`,
 * with the status each error type has there.
 */
import crypto from 'node:crypto';
import type { Context } from 'koa';
import { PlatformError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { toClientError } from '../web/errors.ts';

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  413: 'request_too_large',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  503: 'api_error',
  529: 'overloaded_error',
};

export function anthropicError(ctx: Context, status: number, message: string, headers: Record<string, string> = {}): void {
  ctx.status = status;
  ctx.set(headers);
  const requestId = `req_mxos_${crypto.randomBytes(12).toString('hex')}`;
  ctx.set('request-id', requestId);
  ctx.body = { type: 'error', error: { type: TYPE_BY_STATUS[status] ?? 'api_error', message }, request_id: requestId };
}

export function meterUnauthorized(ctx: Context): void {
  anthropicError(ctx, 401, 'invalid x-api-key: use the meter key this instance was given (ANTHROPIC_API_KEY).');
}

/** Every error the meter raises, in Anthropic's shape: the platform's policy decides what is shown. */
export function renderAnthropicErrors(logger: Logger) {
  return async (ctx: Context, next: () => Promise<unknown>): Promise<void> => {
    try {
      await next();
      if (ctx.body == null && ctx.status === 404) anthropicError(ctx, 404, `Not found: ${ctx.method} ${ctx.path} is not an API the meter serves.`);
    } catch (err) {
      const error = toClientError(err);
      if (error.log)
        logger[error.log]({ err, code: error.code, path: ctx.path, detail: err instanceof PlatformError ? err.detail : undefined }, 'meter request failed');
      if (ctx.headerSent) return;
      anthropicError(ctx, error.status, error.message, error.headers);
    }
  };
}
