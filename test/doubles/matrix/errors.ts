/**
 * Errors as Conduit renders them (src/utils/error.rs): `{"errcode", "error"}` where
 * `error` is "ERRCODE: message" for every Error::BadRequest, with the status Conduit
 * maps each errcode to. Internal errors are 500 M_UNKNOWN with the bare message.
 */
import type { JsonObject } from './types.ts';

/** Conduit's Error::to_response status for an Error::BadRequest of this kind. */
export function statusForErrcode(errcode: string): number {
  switch (errcode) {
    case 'M_FORBIDDEN':
    case 'M_GUEST_ACCESS_FORBIDDEN':
    case 'M_THREEPID_AUTH_FAILED':
    case 'M_THREEPID_DENIED':
    case 'M_WRONG_ROOM_KEYS_VERSION':
    case 'M_USER_DEACTIVATED':
      return 403;
    case 'M_UNAUTHORIZED':
    case 'M_UNKNOWN_TOKEN':
    case 'M_MISSING_TOKEN':
      return 401;
    case 'M_NOT_FOUND':
    case 'M_UNRECOGNIZED':
      return 404;
    case 'M_LIMIT_EXCEEDED':
      return 429;
    case 'M_TOO_LARGE':
      return 413;
    default:
      return 400;
  }
}

export class MatrixError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
    readonly extra: JsonObject = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): JsonObject {
    return { errcode: this.errcode, error: this.message, ...this.extra };
  }
}

/** Error::BadRequest(kind, message): the status from the kind, the message prefixed with the errcode. */
export function badRequest(errcode: string, message: string): MatrixError {
  return new MatrixError(statusForErrcode(errcode), errcode, `${errcode}: ${message}`);
}

/** Any other Conduit error (BadConfig, BadServerResponse, InconsistentRoomState): 500 M_UNKNOWN. */
export function internal(message: string): MatrixError {
  return new MatrixError(500, 'M_UNKNOWN', message);
}

/** ruma's deserialization failure, as Conduit's Ruma extractor reports it. */
export function badJson(): MatrixError {
  return badRequest('M_BAD_JSON', 'Failed to deserialize request.');
}

export const NOT_AUTHORIZED = 'Event is not authorized.';

/** The errcode a bare status fault carries when the test names none. */
export function defaultErrcode(status: number): string {
  const byStatus: Record<number, string> = {
    401: 'M_UNKNOWN_TOKEN',
    403: 'M_FORBIDDEN',
    404: 'M_NOT_FOUND',
    405: 'M_UNRECOGNIZED',
    413: 'M_TOO_LARGE',
    429: 'M_LIMIT_EXCEEDED',
  };
  return byStatus[status] ?? 'M_UNKNOWN';
}
