/**
 * Koa middleware rendering every error by the policy in errors.ts: JSON
 * `{error: {code, message}}` for API clients, a page for browsers when the app has one.
 * Unmatched routes become 404/405 errors of the same shape.
 */
import type { Context, Next } from 'koa';
import { NotFoundError, PlatformError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { type ClientError, errorBody, toClientError } from './errors.ts';
import { acceptsHtml } from './negotiate.ts';
import { PAGE_SECURITY_HEADERS } from './security-headers.ts';

interface ErrorMiddlewareOptions {
  logger: Logger;
  /** Renders the error page for browsers; without it every error is JSON. */
  page?: (ctx: Context, error: ClientError) => string | Promise<string>;
}

export function renderErrors(options: ErrorMiddlewareOptions) {
  const { logger, page } = options;
  return async function renderError(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.body != null) return;
      if (ctx.status === 404) throw new NotFoundError(`Nothing at ${ctx.method} ${ctx.path}.`);
      if (ctx.status === 405)
        throw new PlatformError('method_not_allowed', `${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('Allow')}.`, { status: 405 });
    } catch (err) {
      const error = toClientError(err);
      if (error.log)
        logger[error.log](
          { err, code: error.code, detail: err instanceof PlatformError ? err.detail : undefined, path: ctx.path, requestId: ctx.state.requestId },
          'request failed',
        );
      ctx.status = error.status;
      ctx.set(error.headers);
      if (page && acceptsHtml(ctx.get('accept'))) {
        ctx.set(PAGE_SECURITY_HEADERS);
        ctx.set('Cache-Control', 'no-store');
        ctx.type = 'html';
        ctx.body = await Promise.resolve(page(ctx, error)).catch(() => error.message);
        return;
      }
      ctx.body = errorBody(error.code, error.message);
    }
  };
}
