/**
 * The gateway's routes: /health, /api/system/info, the file API (also mounted at
 * /files, where the platform router sends it), the social API (/api/social/…,
 * social-routes.ts) and the /ws upgrade. Everything except /health requires the
 * instance token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Authenticator } from './auth.ts';
import { unauthorizedMessage } from './auth.ts';
import type { InstanceConfig } from './config.ts';
import type { FileErrorCode, FileStore } from './files.ts';
import { FileError, MAX_FILE_BYTES, parseFilePath } from './files.ts';
import type { InstanceLogger, Route } from './http.ts';
import { allow, elapsed, HttpError, parseTarget, sendJson } from './http.ts';
import type { SocialServices } from './social-routes.ts';
import { routeSocial, SOCIAL_PREFIX } from './social-routes.ts';
import { collectSystemInfo } from './system-info.ts';
import type { EchoServer } from './websocket.ts';
import { rejectUpgrade } from './websocket.ts';

export interface GatewayContext {
  readonly config: InstanceConfig;
  readonly auth: Authenticator;
  readonly files: FileStore;
  readonly social: SocialServices;
  readonly logger: InstanceLogger;
  readonly startedAt: Date;
}

const FILE_ROUTE_PREFIXES = ['/api/files', '/files'];
const FILE_ERROR_STATUS: Readonly<Record<FileErrorCode, number>> = { invalid_path: 400, not_found: 404, conflict: 409, payload_too_large: 413 };
// Stored files may be HTML or SVG; sandboxing them keeps their scripts away from this origin.
const FILE_SECURITY_POLICY = "default-src 'none'; sandbox";

export function gatewayRoute(ctx: GatewayContext): Route {
  return async (req, res, { pathname }) => {
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
    if (pathname.startsWith(SOCIAL_PREFIX)) return routeSocial(ctx.social, req, res, pathname);
    if (pathname === '/ws') {
      throw new HttpError(426, 'upgrade_required', 'Connect to /ws with a WebSocket client.', { Upgrade: 'websocket', Connection: 'Upgrade' });
    }
    const filePath = matchFileRoute(pathname);
    if (filePath === '') {
      allow(req, ['GET', 'HEAD']);
      const { files, truncated } = await ctx.files.list();
      return sendJson(req, res, 200, files, truncated ? { 'X-Matrix-Truncated': 'true' } : {});
    }
    if (filePath !== undefined) {
      return routeFile(ctx.files, req, res, filePath).catch((error: unknown) => {
        throw error instanceof FileError ? new HttpError(FILE_ERROR_STATUS[error.code], error.code, error.message) : error;
      });
    }
    throw new HttpError(404, 'not_found', `No route for ${pathname}: see docs/instance.md for the endpoints.`);
  };
}

async function routeFile(files: FileStore, req: IncomingMessage, res: ServerResponse, encodedPath: string): Promise<void> {
  allow(req, ['GET', 'HEAD', 'PUT', 'DELETE']);
  const relPath = parseFilePath(encodedPath);
  if (req.method === 'PUT') {
    if (Number(req.headers['content-length'] ?? 0) > MAX_FILE_BYTES) {
      throw new FileError('payload_too_large', `file is larger than ${MAX_FILE_BYTES} bytes: upload a smaller file`);
    }
    // Keep the request open when the store stops reading early, so the 413 can still be delivered.
    const body = { [Symbol.asyncIterator]: () => req.iterator({ destroyOnReturn: false }) };
    const { created, ...entry } = await files.write(relPath, body);
    return sendJson(req, res, created ? 201 : 200, entry);
  }
  if (req.method === 'DELETE') {
    await files.remove(relPath);
    res.writeHead(204, { 'Cache-Control': 'no-store' }).end();
    return;
  }
  const file = await files.open(relPath);
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

/** '' for the listing route, the encoded file path for a file route, undefined otherwise. */
function matchFileRoute(pathname: string): string | undefined {
  for (const prefix of FILE_ROUTE_PREFIXES) {
    if (pathname === prefix || pathname === `${prefix}/`) return '';
    if (pathname.startsWith(`${prefix}/`)) return pathname.slice(prefix.length + 1);
  }
  return undefined;
}

/** Upgrades are allowed on /ws only, with credentials. One log line per upgrade, written when its socket closes. */
export function gatewayUpgrade(ctx: GatewayContext, echo: EchoServer): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    const started = performance.now();
    const target = parseTarget(req.url);
    let status = 400; // ws answers a malformed handshake itself, with 400
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      ctx.logger.request({ server: 'gateway', method: req.method ?? '', path: target?.pathname ?? '(invalid)', status, ms: elapsed(started) });
    });
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
  };
}
