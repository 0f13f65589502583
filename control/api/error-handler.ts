/**
 * Renders every error as JSON `{error: {code, message}}`. PlatformErrors carry a
 * message written for the caller; anything else is logged and becomes a plain 500.
 */
import type { Context, Next } from 'koa';
import { PlatformError, UnavailableError } from '../errors.ts';
import type { Logger } from '../logger.ts';

export interface ErrorBody {
  error: { code: string; message: string };
}

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

function isConnectionFailure(err: unknown): boolean {
  return err instanceof Error && /Sequelize(Connection|ConnectionRefused|HostNotFound|ConnectionTimedOut|ConnectionAcquireTimeout)Error/.test(err.name);
}

export function errorHandler(logger: Logger) {
  return async function renderErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.status === 404 && ctx.body == null) {
        ctx.status = 404;
        ctx.body = errorBody('not_found', `No route for ${ctx.method} ${ctx.path}.`);
      } else if (ctx.status === 405 && ctx.body == null) {
        ctx.body = errorBody('method_not_allowed', `${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('Allow')}.`);
      }
    } catch (caught) {
      let err = caught;
      if (isConnectionFailure(err)) err = new UnavailableError('database_unavailable', 'The database is not answering; try again shortly.', { cause: err });
      if (err instanceof PlatformError) {
        ctx.status = err.status;
        ctx.set(err.headers);
        // 503s say which dependency is down and that retrying helps; other 5xx stay generic.
        const expose = err.expose || err instanceof UnavailableError;
        ctx.body = errorBody(expose ? err.code : 'internal_error', expose ? err.message : 'Internal error; the operator can find details in the logs.');
        if (!err.expose) logger.error({ code: err.code, err: err.message, detail: err.detail, requestId: ctx.state.requestId }, 'request failed');
        return;
      }
      const status = typeof (err as { status?: unknown }).status === 'number' ? ((err as { status: number }).status) : 500;
      if (status < 500 && (err as { expose?: boolean }).expose) {
        ctx.status = status;
        ctx.body = errorBody('invalid_request', (err as Error).message);
        return;
      }
      logger.error({ err, requestId: ctx.state.requestId }, 'unhandled error');
      ctx.status = 500;
      ctx.body = errorBody('internal_error', 'Internal error; the operator can find details in the logs.');
    }
  };
}
