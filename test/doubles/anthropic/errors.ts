/**
 * Errors as the API documents them: a status, an error type, and the body
 * {"type":"error","error":{"type","message"},"request_id":"req_…"}.
 */
import type { ErrorType } from './types.ts';

const STATUS_TYPES: Record<number, ErrorType> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

const TYPE_STATUS = Object.fromEntries(Object.entries(STATUS_TYPES).map(([status, type]) => [type, Number(status)])) as Record<ErrorType, number>;

export const DEFAULT_ERROR_MESSAGES: Record<ErrorType, string> = {
  invalid_request_error: 'Invalid request',
  authentication_error: 'invalid x-api-key',
  billing_error: 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.',
  permission_error: 'Your API key does not have permission to use the specified resource.',
  not_found_error: 'Not Found',
  request_too_large: 'Request exceeds the maximum allowed number of bytes.',
  rate_limit_error: 'Number of requests has exceeded your per-minute rate limit. Please try again later.',
  api_error: 'Internal server error',
  timeout_error: 'Request timed out',
  overloaded_error: 'Overloaded',
};

/** The documented error type of a status; other 5xx are api_error, other 4xx invalid_request_error. */
export function errorTypeFor(status: number): ErrorType {
  return STATUS_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

/** The documented status of an error type. */
export function statusFor(type: ErrorType): number {
  return TYPE_STATUS[type];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const invalidRequest = (message: string): ApiError => new ApiError(400, 'invalid_request_error', message);

export function errorBody(type: ErrorType, message: string, requestId?: string): Record<string, unknown> {
  const body: Record<string, unknown> = { type: 'error', error: { type, message } };
  if (requestId !== undefined) body.request_id = requestId;
  return body;
}
