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
  /** true when the operator should see this in the log (5xx other than a known outage). */
  log: boolean;
}

export const INTERNAL_ERROR_MESSAGE = 'Something went wrong on our side. Try again in a moment; the operator can find the details in the logs.';

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

function isDatabaseConnectionFailure(err: unknown): boolean {
  return err instanceof Error && /Sequelize(Connection|ConnectionRefused|HostNotFound|ConnectionTimedOut|ConnectionAcquireTimeout)Error/.test(err.name);
}

/** What the client sees for `err`. */
export function toClientError(caught: unknown): ClientError {
  const err = isDatabaseConnectionFailure(caught)
    ? new UnavailableError('database_unavailable', 'The database is not answering; try again shortly.', { cause: caught })
    : caught;
  if (err instanceof PlatformError) {
    const shown = err.expose || err.status === 503;
    return {
      status: err.status,
      code: shown ? err.code : 'internal_error',
      message: shown ? err.message : INTERNAL_ERROR_MESSAGE,
      headers: err.headers,
      log: !err.expose,
    };
  }
  // Koa's own client errors (ctx.throw(400, …), a malformed URL): exposed by Koa's rules.
  const status = (err as { status?: unknown }).status;
  if (typeof status === 'number' && status >= 400 && status < 500 && (err as { expose?: boolean }).expose) {
    return { status, code: 'invalid_request', message: (err as Error).message, headers: {}, log: false };
  }
  return { status: 500, code: 'internal_error', message: INTERNAL_ERROR_MESSAGE, headers: {}, log: true };
}
