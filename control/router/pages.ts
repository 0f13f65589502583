/**
 * What the router itself answers: JSON for API clients (the platform API's shape,
 * {error: {code, message}}), a small self-contained page
 * for browsers (no external assets). Every message says what happened and what to do.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

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

export function wantsHtml(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  return (req.method === 'GET' || req.method === 'HEAD') && accept !== undefined && accept.includes('text/html');
}

export function reply(req: IncomingMessage, res: ServerResponse, r: RouterReply): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const html = wantsHtml(req);
  const body = html
    ? page(r.title, `<p>${escapeHtml(r.message)}</p>${r.html ?? ''}`)
    : JSON.stringify({ error: { code: r.code, message: r.message }, ...r.json });
  res.writeHead(r.status, {
    'content-type': html ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...r.headers,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** A raw HTTP/1.1 response on a socket (WebSocket handshakes the router refuses). */
export function rawReply(socket: { write(data: string): unknown; destroy(): void; writable: boolean }, r: RouterReply): void {
  if (!socket.writable) return socket.destroy();
  const body = JSON.stringify({ error: { code: r.code, message: r.message }, ...r.json });
  const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), connection: 'close', ...r.headers };
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n');
  socket.write(`HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status] ?? 'Error'}\r\n${lines}\r\n\r\n${body}`);
  socket.destroy();
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 413: 'Payload Too Large',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

export function page(title: string, content: string, head = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>${head}
<style>
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;min-height:100vh;display:grid;place-items:center;background:#0f1115;color:#e8e8ea}
main{max-width:34rem;padding:2rem}h1{font-size:1.5rem;margin:0 0 1rem}a{color:#8ab4ff}code{background:#22252c;padding:.1em .3em;border-radius:4px}
ol{padding-left:1.2rem;color:#b8bcc6}button{font:inherit;padding:.5rem 1rem;border-radius:6px;border:1px solid #8ab4ff;background:#1b2333;color:#e8e8ea;cursor:pointer}
.status{font-weight:600}.error{color:#ff9b9b}
</style></head>
<body><main><h1>${escapeHtml(title)}</h1>${content}</main></body></html>`;
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
