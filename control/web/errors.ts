/**
 * The one error policy for every web face (platform API, site, router pages,
 * development identity provider): what a client is told, and what is logged.
 *
 * - A PlatformError below 500 shows its message (written for the user) and code.
 * - A 503 shows its message too: it names the dependency that is down and says retry.
 *   A database that does not answer is such a 503 (`database_unavailable`).
 * - Anything else is a plain 500 with a generic message; the details go to the log.
 */
import { PlatformError, UnavailableError } from '../errors.ts';

export interface ErrorBody {
  error: { code: string; message: string };
}

export interface ClientError {
  status: number;
  code: string;
  message: string;
  headers: Record<string, string>;
  /**
   * How loudly to log it: 'error' for a 5xx that is our fault, 'warn' for a dependency
   * outage (every request says the same during one; the health check tells the
   * operator), null for client errors.
   */
  log: 'error' | 'warn' | null;
}

export const INTERNAL_ERROR_MESSAGE = 'Something went wrong on our side. Try again in a moment; the operator can find the details in the logs.';

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

/** The database did not answer: a lost or refused connection, a pool or lock timeout (SQLite busy). */
export function isDatabaseOutage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (/^Sequelize(Connection|ConnectionRefused|HostNotFound|ConnectionTimedOut|ConnectionAcquireTimeout|Timeout)Error$/.test(err.name)) return true;
  return (
    err.name === 'SequelizeDatabaseError' &&
    /Connection terminated|terminating connection|server closed the connection|ECONNRESET|ECONNREFUSED/.test(err.message)
  );
}

/** What the client sees for `err`. */
export function toClientError(caught: unknown): ClientError {
  const err = isDatabaseOutage(caught)
    ? new UnavailableError('database_unavailable', 'The database is not answering; try again shortly.', { cause: caught })
    : caught;
  if (err instanceof PlatformError) {
    const shown = err.expose || err.status === 503;
    return {
      status: err.status,
      code: shown ? err.code : 'internal_error',
      message: shown ? err.message : INTERNAL_ERROR_MESSAGE,
      headers: err.headers,
      log: err.expose ? null : err.status === 503 ? 'warn' : 'error',
    };
  }
  // Koa's own client errors (ctx.throw(400, …), a malformed URL): exposed by Koa's rules.
  const status = (err as { status?: unknown }).status;
  if (typeof status === 'number' && status >= 400 && status < 500 && (err as { expose?: boolean }).expose) {
    return { status, code: 'invalid_request', message: (err as Error).message, headers: {}, log: null };
  }
  return { status: 500, code: 'internal_error', message: INTERNAL_ERROR_MESSAGE, headers: {}, log: 'error' };
}
