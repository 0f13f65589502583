/**
 * Decides what a request is for from its Host header and request target, refusing
 * anything ambiguous before a route is looked up: missing or repeated Host headers,
 * absolute-form targets, dot segments (raw or percent-encoded) and handles that
 * could not be a DNS label.
 */
import type { IncomingMessage } from 'node:http';
import { checkHandle } from '../handles.ts';

export type Target =
  | { kind: 'site' }
  | { kind: 'unknown-host'; hostname: string }
  | {
      kind: 'instance';
      handle: string;
      /** host: {handle}.INSTANCE_DOMAIN (browsers and APIs); path: /proxy/{handle}/... on the apex (APIs only). */
      form: 'host' | 'path';
      /** Path and query as the instance sees them. */
      path: string;
      /** What the router removed from the path (/proxy/alice), for X-Forwarded-Prefix. */
      prefix: string;
    };

export class BadTargetError extends Error {
  readonly status = 400;
}

const HOST_PATTERN = /^([a-z0-9.-]+|\[[0-9a-f:.]+\])(:\d{1,5})?$/;
const PROXY_PREFIX = '/proxy/';

/** `domain`: the site's apex; `instanceDomain`: where {handle} hosts live (may be the same). */
export function classifyRequest(req: IncomingMessage, domain: string, instanceDomain: string): Target {
  const url = req.url ?? '';
  if (url.charCodeAt(0) !== 47 /* / */) {
    throw new BadTargetError('The request target must be a path (origin form); absolute URLs and * are not accepted here.');
  }
  const hostname = hostOf(req);
  if (hostname === domain || hostname === `www.${domain}`) {
    if (!url.startsWith(PROXY_PREFIX)) return { kind: 'site' };
    const end = url.indexOf('/', PROXY_PREFIX.length);
    const query = url.indexOf('?', PROXY_PREFIX.length);
    const cut = end === -1 ? (query === -1 ? url.length : query) : query !== -1 && query < end ? query : end;
    const handle = url.slice(PROXY_PREFIX.length, cut);
    assertHandle(handle);
    const rest = url.slice(cut);
    const path = rest === '' ? '/' : rest.charCodeAt(0) === 63 /* ? */ ? `/${rest}` : rest;
    assertNoDotSegments(path);
    return { kind: 'instance', handle, form: 'path', path, prefix: `${PROXY_PREFIX}${handle}` };
  }
  const suffix = `.${instanceDomain}`;
  if (hostname.endsWith(suffix)) {
    const handle = hostname.slice(0, -suffix.length);
    if (handle.includes('.') || checkHandle(handle) !== null) return { kind: 'unknown-host', hostname };
    assertNoDotSegments(url);
    return { kind: 'instance', handle, form: 'host', path: url, prefix: '' };
  }
  return { kind: 'unknown-host', hostname };
}

/** The lowercase host name (no port) from the one and only Host header. */
function hostOf(req: IncomingMessage): string {
  const raw = req.rawHeaders;
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') {
      if (host !== undefined) throw new BadTargetError('The request has more than one Host header.');
      host = raw[i + 1]!;
    }
  }
  if (host === undefined) throw new BadTargetError('The request has no Host header.');
  const lower = host.trim().toLowerCase();
  const match = HOST_PATTERN.exec(lower);
  if (!match) throw new BadTargetError('The Host header is not a valid host name.');
  const name = match[1]!;
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

function assertHandle(handle: string): void {
  if (checkHandle(handle) !== null) throw new BadTargetError(`"/proxy/${handle.slice(0, 40)}" does not name a valid handle.`);
}

/**
 * Browsers remove dot segments before sending; a target that still has them is a
 * traversal attempt (or a broken client), and an upstream might resolve it
 * differently than we did.
 */
function assertNoDotSegments(target: string): void {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  if (path.indexOf('.') === -1 && path.indexOf('%') === -1 && path.indexOf('\\') === -1) return;
  const decoded = path.replace(/%2e/gi, '.').replace(/%2f/gi, '/').replace(/%5c/gi, '\\').replace(/\\/g, '/');
  for (const segment of decoded.split('/')) {
    if (segment === '.' || segment === '..') throw new BadTargetError('The path contains "." or ".." segments; send the resolved path.');
  }
}
