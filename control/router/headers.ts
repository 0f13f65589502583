/**
 * Header rules at the edge. Upstream: hop-by-hop headers go, the client's credentials
 * and platform cookies go, X-Forwarded-* are the router's own (a trusted proxy's
 * values are extended, everyone else's replaced), and the router's token for this
 * instance goes in. Downstream: hop-by-hop headers go, and an instance may not set a
 * cookie for any host but its own, nor one named like a platform cookie.
 */
import type { IncomingMessage } from 'node:http';
import { isPlatformCookie, withoutPlatformCookies } from '../web/cookies.ts';

/** RFC 9110 7.6.1 plus the proxy-only headers; the router sets X-Forwarded-* itself. */
const DROP_UPSTREAM = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  'authorization',
  'cookie',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-real-ip',
  'forwarded',
]);
const DROP_DOWNSTREAM = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate']);

interface ForwardContext {
  /** X-Forwarded-For as the router sends it (TrustedProxies.resolve). */
  forwardedFor: string;
  proto: 'http' | 'https';
  /** The validated Host header. */
  host: string;
  /** Removed path prefix (path form), or ''. */
  prefix: string;
  routerToken: string;
  /** Path form shares the apex origin with every tenant: no cookies in or out. */
  allowCookies: boolean;
  /** WebSocket handshakes keep Connection: Upgrade and Upgrade. */
  upgrade: boolean;
}

/** Flat [name, value, ...] list for the upstream request. */
export function upstreamHeaders(req: IncomingMessage, ctx: ForwardContext): string[] {
  const raw = req.rawHeaders;
  const out: string[] = [];
  const connection = req.headers.connection;
  const named = connection ? connectionTokens(connection) : null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === 'cookie') {
      if (!ctx.allowCookies) continue;
      const kept = withoutPlatformCookies(raw[i + 1]!);
      if (kept !== null) out.push('cookie', kept);
      continue;
    }
    if (DROP_UPSTREAM.has(lower) || named?.has(lower)) continue;
    out.push(name, raw[i + 1]!);
  }
  out.push('x-forwarded-for', ctx.forwardedFor, 'x-forwarded-proto', ctx.proto, 'x-forwarded-host', ctx.host, 'authorization', `Bearer ${ctx.routerToken}`);
  if (ctx.prefix) out.push('x-forwarded-prefix', ctx.prefix);
  if (ctx.upgrade) out.push('connection', 'Upgrade', 'upgrade', req.headers.upgrade ?? 'websocket');
  return out;
}

/** Flat [name, value, ...] list for the client, from the instance's raw response headers (latin1, as HTTP has them). */
export function downstreamHeaders(raw: ReadonlyArray<Buffer | string>, allowCookies: boolean): string[] {
  const out: string[] = [];
  let connection: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = latin1(raw[i]!);
    const lower = name.toLowerCase();
    if (DROP_DOWNSTREAM.has(lower)) {
      if (lower === 'connection') connection = latin1(raw[i + 1]!);
      continue;
    }
    const value = latin1(raw[i + 1]!);
    if (lower === 'set-cookie' && (!allowCookies || !isAcceptableSetCookie(value))) continue;
    out.push(name, value);
  }
  const named = connection === null ? null : namedHopHeaders(connection);
  const kept = named === null ? out : out.filter((_, i) => !named.has(out[i - (i % 2)]!.toLowerCase()));
  if (!allowCookies) {
    // The path form shares the apex origin: a sandboxed document gets an opaque origin,
    // so one tenant's page cannot read the platform or another tenant with the visitor's cookies.
    kept.push('content-security-policy', 'sandbox allow-scripts allow-forms allow-popups allow-downloads allow-modals');
  }
  return kept;
}

function latin1(value: Buffer | string): string {
  return typeof value === 'string' ? value : value.toString('latin1');
}

/** Headers named in Connection beyond the ones always dropped; null when there are none (the usual keep-alive). */
function namedHopHeaders(connection: string): Set<string> | null {
  const tokens = connectionTokens(connection);
  for (const token of tokens) if (token === 'close' || DROP_DOWNSTREAM.has(token)) tokens.delete(token);
  return tokens.size === 0 ? null : tokens;
}

/** Host-only and not a platform name: a Domain attribute would reach sibling tenants. */
function isAcceptableSetCookie(value: string): boolean {
  const parts = value.split(';');
  const first = parts[0] ?? '';
  const eq = first.indexOf('=');
  if (eq <= 0 || isPlatformCookie(first.slice(0, eq).trim())) return false;
  for (let i = 1; i < parts.length; i++) {
    const attr = parts[i]!.trim().toLowerCase();
    if (attr === 'domain' || attr.startsWith('domain=') || attr.startsWith('domain ')) return false;
  }
  return true;
}

function connectionTokens(value: string): Set<string> {
  return new Set(
    value
      .toLowerCase()
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean),
  );
}
