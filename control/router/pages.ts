/**
 * What the router itself answers: JSON for API clients (the platform API's shape,
 * {error: {code, message}}), a small self-contained page
 * for browsers (no external assets). Every message says what happened and what to do.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody } from '../web/errors.ts';
import { escapeHtml, page } from '../web/html.ts';
import { acceptsHtml } from '../web/negotiate.ts';
import { PAGE_SECURITY_HEADERS } from '../web/security-headers.ts';

export interface RouterReply {
  status: number;
  code: string;
  title: string;
  message: string;
  headers?: Record<string, string>;
  /** Extra HTML below the message (already escaped by the caller). */
  html?: string;
  /** Extra fields in the JSON body. */
  json?: Record<string, unknown>;
}

/** A browser navigating (GET/HEAD asking for a page): it gets pages, everyone else JSON. */
export function wantsHtml(req: IncomingMessage): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && acceptsHtml(req.headers.accept);
}

export function reply(req: IncomingMessage, res: ServerResponse, r: RouterReply): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const html = wantsHtml(req);
  const body = html ? page(r.title, `<p>${escapeHtml(r.message)}</p>${r.html ?? ''}`) : JSON.stringify({ ...errorBody(r.code, r.message), ...r.json });
  res.writeHead(r.status, {
    'content-type': html ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...PAGE_SECURITY_HEADERS,
    ...r.headers,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** A raw HTTP/1.1 response on a socket (WebSocket handshakes the router refuses). */
export function rawReply(socket: { write(data: string): unknown; destroy(): void; writable: boolean }, r: RouterReply): void {
  if (!socket.writable) return socket.destroy();
  const body = JSON.stringify({ ...errorBody(r.code, r.message), ...r.json });
  const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), connection: 'close', ...r.headers };
  const lines = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n');
  socket.write(`HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status] ?? 'Error'}\r\n${lines}\r\n\r\n${body}`);
  socket.destroy();
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  413: 'Payload Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};
