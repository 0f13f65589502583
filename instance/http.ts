/**
 * HTTP plumbing shared by the gateway and the shell: typed errors, request-target
 * parsing, the request listener that logs and turns failures into responses, and
 * listen/close helpers. Nothing here knows about routes.
 */
import type { IncomingMessage, OutgoingHttpHeaders, RequestListener, Server, ServerResponse } from 'node:http';

export type ServerName = 'gateway' | 'shell';

export interface RequestLogEntry {
  server: ServerName;
  method: string;
  /** Never includes the query string, which may carry a token. */
  path: string;
  status: number;
  ms: number;
  /** Set when the client went away before the response was complete. */
  aborted?: true;
}

export interface InstanceLogger {
  request(entry: RequestLogEntry): void;
  warn(message: string): void;
  error(message: string, error?: unknown): void;
}

/** An error whose status, code and message are meant for the client. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface Target {
  pathname: string;
  query: URLSearchParams;
}

export type Route = (req: IncomingMessage, res: ServerResponse, target: Target) => Promise<void>;
export type ErrorResponder = (req: IncomingMessage, res: ServerResponse, error: HttpError, target: Target | undefined) => void;

const INTERNAL_ERROR_MESSAGE = 'The instance could not handle this request; the details are in its log.';

/** Wraps a route: one log line per request, and every failure becomes a response instead of a crash. */
export function requestListener(server: ServerName, logger: InstanceLogger, route: Route, respondWithError: ErrorResponder): RequestListener {
  return (req, res) => {
    const started = performance.now();
    const target = parseTarget(req.url);
    res.once('close', () => {
      const entry: RequestLogEntry = { server, method: req.method ?? '', path: target?.pathname ?? '(invalid)', status: res.statusCode, ms: elapsed(started) };
      logger.request(res.writableFinished ? entry : { ...entry, aborted: true });
    });
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const handled =
      target === undefined ? Promise.reject(new HttpError(400, 'bad_request', 'The request target must be a path starting with /.')) : route(req, res, target);
    handled.catch((error: unknown) => {
      const failure = error instanceof HttpError ? error : new HttpError(500, 'internal_error', INTERNAL_ERROR_MESSAGE);
      if (failure.status >= 500 && !isClientGone(error)) logger.error(`${req.method} ${target?.pathname ?? req.url} failed`, error);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // A body we stopped reading would otherwise keep the connection busy until the client gives up.
      const headers = req.complete ? failure.headers : { ...failure.headers, Connection: 'close' };
      respondWithError(req, res, new HttpError(failure.status, failure.code, failure.message, headers), target);
    });
  };
}

export function respondWithJsonError(req: IncomingMessage, res: ServerResponse, error: HttpError): void {
  sendJson(req, res, error.status, { error: { code: error.code, message: error.message } }, error.headers);
}

/** Split by hand: WHATWG URL parsing would resolve "..", hiding it from the file path checks. */
export function parseTarget(url: string | undefined): Target | undefined {
  if (url === undefined || !url.startsWith('/')) return undefined;
  const q = url.indexOf('?');
  return q === -1 ? { pathname: url, query: new URLSearchParams() } : { pathname: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
}

export function allow(req: IncomingMessage, methods: readonly string[]): void {
  if (!methods.includes(req.method ?? '')) {
    throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed here: use ${methods.join(', ')}.`, { Allow: methods.join(', ') });
  }
}

/** Reads a JSON request body of at most `maxBytes`: 413 beyond that, 400 when it does not parse. */
export async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const tooLarge = () => new HttpError(413, 'payload_too_large', `The body must be at most ${maxBytes} bytes.`);
  if (Number(req.headers['content-length'] ?? 0) > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  // Keep the request open when reading stops early, so the 413 can still be delivered.
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'invalid_json', 'The body must be a JSON object.');
  }
}

export function sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  sendText(req, res, status, JSON.stringify(body), { 'Content-Type': 'application/json; charset=utf-8', ...headers });
}

/** HEAD gets the same headers, Content-Length included, and no body. */
export function sendText(req: IncomingMessage, res: ServerResponse, status: number, text: string, headers: OutgoingHttpHeaders): void {
  res.writeHead(status, { 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...headers });
  res.end(req.method === 'HEAD' ? undefined : text);
}

export function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts the rest. */
export function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}

function isClientGone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'EPIPE';
}
