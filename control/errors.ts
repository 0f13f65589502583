/**
 * The platform's error hierarchy. Every error a user can see is a PlatformError:
 * `message` is safe to show and says what to do next; `detail` is for the log only.
 * Anything else that escapes a handler is rendered as a plain 500.
 */
interface PlatformErrorOptions {
  status?: number;
  /** Log-only detail: never sent to the client. */
  detail?: string;
  cause?: unknown;
  /** Extra headers the response must carry (e.g. Retry-After). */
  headers?: Record<string, string>;
}

export class PlatformError extends Error {
  readonly code: string;
  readonly status: number;
  readonly detail: string | undefined;
  readonly headers: Record<string, string>;

  constructor(code: string, message: string, options: PlatformErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = options.status ?? 500;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  /** Only client errors carry their message to the wire; 5xx collapse to a generic text. */
  get expose(): boolean {
    return this.status < 500;
  }
}

/** 400: the request is malformed or breaks a rule; the message names the rule. */
export class ValidationError extends PlatformError {
  constructor(message: string, options: Omit<PlatformErrorOptions, 'status'> = {}) {
    super('invalid_request', message, { ...options, status: 400 });
  }
}

export class UnauthorizedError extends PlatformError {
  constructor(message: string) {
    super('unauthorized', message, { status: 401, headers: { 'WWW-Authenticate': 'Bearer' } });
  }
}

export class ForbiddenError extends PlatformError {
  constructor(message: string, code = 'forbidden') {
    super(code, message, { status: 403 });
  }
}

export class NotFoundError extends PlatformError {
  constructor(message: string) {
    super('not_found', message, { status: 404 });
  }
}

export class ConflictError extends PlatformError {
  constructor(code: string, message: string) {
    super(code, message, { status: 409 });
  }
}

export class PayloadTooLargeError extends PlatformError {
  constructor(limitBytes: number) {
    super('payload_too_large', `Request body is larger than ${limitBytes} bytes: send a smaller body.`, { status: 413 });
  }
}

/** A dependency (database, orchestrator) is down; the caller may retry later. */
export class UnavailableError extends PlatformError {
  constructor(code: string, message: string, options: Omit<PlatformErrorOptions, 'status'> = {}) {
    super(code, message, { ...options, status: 503, headers: { 'Retry-After': '5', ...options.headers } });
  }
}

/** Configuration is invalid: raised at start-up, printed as one line, process exits. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
