/**
 * The reference Matrix OS instance: a small stand-in for the Matrix OS image that
 * the platform's local driver runs per user. Two HTTP servers share one process:
 * the gateway (JSON API, file store, /ws echo) and the shell (HTML home page).
 *
 * Run it with `tsx instance/server.ts` (configured by environment, see
 * docs/instance.md), or call startInstance() to run it in-process.
 */
import { realpathSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import http, { STATUS_CODES } from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

import { createAuthenticator, unauthorizedMessage } from './auth.ts';
import type { Authenticator } from './auth.ts';
import { ConfigError, defineConfig, loadConfig } from './config.ts';
import type { ConfigInput, InstanceConfig } from './config.ts';
import { FileError, FileStore, MAX_FILE_BYTES, parseFilePath } from './files.ts';
import type { FileErrorCode } from './files.ts';
import { PAGE_SECURITY_POLICY, renderErrorPage, renderHomePage, renderNotFoundPage, renderUnauthorizedPage } from './home-page.ts';
import { collectSystemInfo } from './system-info.ts';
import { createEchoServer, rejectUpgrade } from './websocket.ts';
import type { EchoServer } from './websocket.ts';

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

export interface InstanceOptions extends ConfigInput {
  /** Defaults to JSON lines on stdout (requests) and stderr (warnings, errors). */
  logger?: InstanceLogger;
}

export interface RunningInstance {
  readonly config: InstanceConfig;
  readonly gatewayPort: number;
  readonly shellPort: number;
  /** Closes both servers and every WebSocket; safe to call more than once. */
  close(): Promise<void>;
}

class HttpError extends Error {
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

interface Context {
  readonly config: InstanceConfig;
  readonly auth: Authenticator;
  readonly files: FileStore;
  readonly logger: InstanceLogger;
  readonly startedAt: Date;
}

interface Target {
  pathname: string;
  query: URLSearchParams;
}

type Route = (ctx: Context, req: IncomingMessage, res: ServerResponse, target: Target) => Promise<void>;

const FILE_ROUTE_PREFIXES = ['/api/files', '/files'];
const FILE_ERROR_STATUS: Readonly<Record<FileErrorCode, number>> = { invalid_path: 400, not_found: 404, conflict: 409, payload_too_large: 413 };
// Stored files may be HTML or SVG; sandboxing them keeps their scripts away from this origin.
const FILE_SECURITY_POLICY = "default-src 'none'; sandbox";
const CLOSE_GRACE_MS = 5_000;
const UNAUTHENTICATED_WARNING = [
  '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
  '!!! WARNING: MATRIX_AUTH_TOKEN is not set, so this Matrix OS instance is UNAUTHENTICATED.',
  '!!! Anyone who can reach its ports can read, write and delete its files. Use this for local development',
  '!!! only; anywhere else set MATRIX_AUTH_TOKEN to a long random string.',
  '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
].join('\n');

export async function startInstance(options: InstanceOptions): Promise<RunningInstance> {
  const { logger = consoleLogger(), ...input } = options;
  const config = defineConfig(input);
  await mkdir(config.dataDir, { recursive: true });
  const ctx: Context = {
    config,
    auth: createAuthenticator(config.authToken),
    files: await FileStore.open(config.dataDir),
    logger,
    startedAt: new Date(),
  };
  if (!ctx.auth.required) logger.warn(UNAUTHENTICATED_WARNING);

  const echo = createEchoServer();
  const gateway = http.createServer(handler(ctx, 'gateway', routeGateway));
  gateway.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => upgrade(ctx, echo, req, socket, head));
  const shell = http.createServer(handler(ctx, 'shell', routeShell));
  const closeAll = () => Promise.all([echo.close(), closeServer(gateway), closeServer(shell)]).then(() => undefined);

  try {
    await listen(gateway, config.port, config.host);
    await listen(shell, config.shellPort, config.host);
  } catch (error) {
    await closeAll();
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    config,
    gatewayPort: (gateway.address() as AddressInfo).port,
    shellPort: (shell.address() as AddressInfo).port,
    close: () => (closing ??= closeAll()),
  };
}

async function routeGateway(ctx: Context, req: IncomingMessage, res: ServerResponse, { pathname }: Target): Promise<void> {
  if (pathname === '/health') {
    allow(req, ['GET', 'HEAD']);
    return sendJson(req, res, 200, { status: 'ok', handle: ctx.config.handle });
  }
  if (!ctx.auth.isAuthorized(req.headers)) {
    throw new HttpError(401, 'unauthorized', unauthorizedMessage(), { 'WWW-Authenticate': 'Bearer' });
  }
  if (pathname === '/api/system/info') {
    allow(req, ['GET', 'HEAD']);
    return sendJson(req, res, 200, await collectSystemInfo(ctx.config, ctx.startedAt));
  }
  if (pathname === '/ws') {
    throw new HttpError(426, 'upgrade_required', 'Connect to /ws with a WebSocket client.', { Upgrade: 'websocket', Connection: 'Upgrade' });
  }
  const filePath = matchFileRoute(pathname);
  if (filePath === '') {
    allow(req, ['GET', 'HEAD']);
    const { files, truncated } = await ctx.files.list();
    return sendJson(req, res, 200, files, truncated ? { 'X-Matrix-Truncated': 'true' } : {});
  }
  if (filePath !== undefined) return routeFile(ctx, req, res, filePath);
  throw new HttpError(404, 'not_found', `No route for ${pathname}: see docs/instance.md for the endpoints.`);
}

async function routeFile(ctx: Context, req: IncomingMessage, res: ServerResponse, encodedPath: string): Promise<void> {
  allow(req, ['GET', 'HEAD', 'PUT', 'DELETE']);
  const relPath = parseFilePath(encodedPath);
  if (req.method === 'PUT') {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_FILE_BYTES) throw new FileError('payload_too_large', `file is larger than ${MAX_FILE_BYTES} bytes: upload a smaller file`);
    // Keep the request alive on early exit so the 413 can still be delivered; Node drains the rest.
    const body = { [Symbol.asyncIterator]: () => req.iterator({ destroyOnReturn: false }) };
    const { created, ...entry } = await ctx.files.write(relPath, body);
    return sendJson(req, res, created ? 201 : 200, entry);
  }
  if (req.method === 'DELETE') {
    await ctx.files.remove(relPath);
    res.writeHead(204, { 'Cache-Control': 'no-store' }).end();
    return;
  }
  const file = await ctx.files.open(relPath);
  res.writeHead(200, {
    'Content-Type': file.contentType,
    'Content-Length': file.size,
    'Last-Modified': new Date(file.modified).toUTCString(),
    'Cache-Control': 'no-store',
    'Content-Security-Policy': FILE_SECURITY_POLICY,
  });
  if (req.method === 'HEAD') {
    await file.handle.close();
    res.end();
    return;
  }
  await pipeline(file.handle.createReadStream(), res);
}

async function routeShell(ctx: Context, req: IncomingMessage, res: ServerResponse, { pathname }: Target): Promise<void> {
  if (pathname === '/health') {
    allow(req, ['GET', 'HEAD']);
    return sendJson(req, res, 200, { status: 'ok', handle: ctx.config.handle });
  }
  if (!ctx.auth.isAuthorized(req.headers, { cookie: true })) {
    throw new HttpError(401, 'unauthorized', unauthorizedMessage({ cookie: true }), { 'WWW-Authenticate': 'Bearer' });
  }
  if (pathname !== '/') throw new HttpError(404, 'not_found', `There is nothing at ${pathname}.`);
  allow(req, ['GET', 'HEAD']);
  sendHtml(req, res, 200, renderHomePage(ctx.config));
}

/** Gateway upgrades: only /ws, only with credentials. One log line per upgrade, written when its socket closes. */
function upgrade(ctx: Context, echo: EchoServer, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const started = performance.now();
  const target = parseTarget(req.url);
  let status = 400; // ws answers a malformed handshake itself, with 400
  socket.on('error', () => socket.destroy());
  socket.once('close', () => ctx.logger.request({ server: 'gateway', method: req.method ?? '', path: target?.pathname ?? '(invalid)', status, ms: elapsed(started) }));
  if (target?.pathname !== '/ws') {
    status = 404;
    return rejectUpgrade(socket, status, 'not_found', 'No WebSocket endpoint here: connect to /ws.');
  }
  if (!ctx.auth.isAuthorized(req.headers, { query: target.query })) {
    status = 401;
    return rejectUpgrade(socket, status, 'unauthorized', unauthorizedMessage({ query: true }), { 'WWW-Authenticate': 'Bearer' });
  }
  echo.upgrade(req, socket, head, () => {
    status = 101;
  });
}

function handler(ctx: Context, server: ServerName, route: Route): http.RequestListener {
  return (req, res) => {
    const started = performance.now();
    const target = parseTarget(req.url);
    res.once('close', () => {
      const entry: RequestLogEntry = { server, method: req.method ?? '', path: target?.pathname ?? '(invalid)', status: res.statusCode, ms: elapsed(started) };
      ctx.logger.request(res.writableFinished ? entry : { ...entry, aborted: true });
    });
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const handled = target === undefined
      ? Promise.reject(new HttpError(400, 'bad_request', 'The request target must be a path starting with /.'))
      : route(ctx, req, res, target);
    handled.catch((error: unknown) => sendFailure(ctx, server, req, res, target, error));
  };
}

function sendFailure(ctx: Context, server: ServerName, req: IncomingMessage, res: ServerResponse, target: Target | undefined, error: unknown): void {
  const failure = toHttpError(error);
  if (failure.status >= 500 && !isClientGone(error)) ctx.logger.error(`${req.method} ${target?.pathname ?? req.url} failed`, error);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A body we stopped reading would otherwise keep the connection busy until the client gives up.
  const headers = req.complete ? failure.headers : { ...failure.headers, Connection: 'close' };
  if (server === 'gateway') {
    return sendJson(req, res, failure.status, { error: { code: failure.code, message: failure.message } }, headers);
  }
  const title = STATUS_CODES[failure.status] ?? 'Error';
  const page = failure.status === 401 ? renderUnauthorizedPage()
    : failure.status === 404 ? renderNotFoundPage(target?.pathname ?? '')
    : renderErrorPage(title, failure.message);
  sendHtml(req, res, failure.status, page, headers);
}

function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof FileError) return new HttpError(FILE_ERROR_STATUS[error.code], error.code, error.message);
  return new HttpError(500, 'internal_error', 'The instance could not handle this request; the details are in its log.');
}

function isClientGone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'EPIPE';
}

function allow(req: IncomingMessage, methods: readonly string[]): void {
  if (!methods.includes(req.method ?? '')) {
    throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed here: use ${methods.join(', ')}.`, { Allow: methods.join(', ') });
  }
}

function sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...headers });
  res.end(req.method === 'HEAD' ? undefined : text);
}

function sendHtml(req: IncomingMessage, res: ServerResponse, status: number, html: string, headers: OutgoingHttpHeaders = {}): void {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(html),
    'Cache-Control': 'no-store',
    'Content-Security-Policy': PAGE_SECURITY_POLICY,
    'Referrer-Policy': 'no-referrer',
    ...headers,
  });
  res.end(req.method === 'HEAD' ? undefined : html);
}

/** Split by hand: WHATWG URL parsing would resolve "..", hiding it from the file path checks. */
function parseTarget(url: string | undefined): Target | undefined {
  if (url === undefined || !url.startsWith('/')) return undefined;
  const q = url.indexOf('?');
  return q === -1
    ? { pathname: url, query: new URLSearchParams() }
    : { pathname: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
}

/** '' for the listing route, the encoded file path for a file route, undefined otherwise. */
function matchFileRoute(pathname: string): string | undefined {
  for (const prefix of FILE_ROUTE_PREFIXES) {
    if (pathname === prefix || pathname === `${prefix}/`) return '';
    if (pathname.startsWith(`${prefix}/`)) return pathname.slice(prefix.length + 1);
  }
  return undefined;
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}

export function consoleLogger(stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): InstanceLogger {
  const line = (stream: NodeJS.WritableStream, record: Record<string, unknown>) =>
    stream.write(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
  return {
    request: (entry) => line(stdout, { level: 'info', msg: 'request', ...entry }),
    warn: (message) => stderr.write(`${message}\n`),
    error: (message, error) => line(stderr, { level: 'error', msg: message, error: error instanceof Error ? error.stack ?? error.message : String(error) }),
  };
}

async function main(): Promise<void> {
  let instance: RunningInstance;
  try {
    instance = await startInstance(loadConfig());
  } catch (error) {
    const reason = error instanceof ConfigError ? error.message : `instance failed to start: ${error instanceof Error ? error.message : String(error)}`;
    process.stderr.write(`${reason}\n`);
    process.exit(1);
  }
  const { config } = instance;
  process.stdout.write(`${JSON.stringify({
    time: new Date().toISOString(),
    level: 'info',
    msg: 'listening',
    handle: config.handle,
    version: config.version,
    gateway: `http://${config.host}:${instance.gatewayPort}`,
    shell: `http://${config.host}:${instance.shellPort}`,
  })}\n`);

  const shutdown = (signal: NodeJS.Signals) => {
    process.stderr.write(`received ${signal}, shutting down\n`);
    setTimeout(() => process.exit(1), 2 * CLOSE_GRACE_MS).unref();
    instance.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

function isMainModule(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMainModule()) await main();
