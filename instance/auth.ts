/**
 * Bearer-token authentication for the gateway, the shell and the WebSocket endpoint.
 * Tokens are compared as SHA-256 digests with timingSafeEqual, so neither the
 * content nor the length of the expected token leaks through response timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export const TOKEN_COOKIE = 'matrix_token';

/** Where a request may carry the token, besides the Authorization header. */
export interface CredentialSources {
  /** The shell accepts the `matrix_token` cookie so browsers work in single-user mode. */
  readonly cookie?: boolean;
  /** Browsers cannot set headers on a WebSocket, so /ws also accepts `?token=`. */
  readonly query?: URLSearchParams;
}

export interface Authenticator {
  /** False when the instance runs without a token (development only). */
  readonly required: boolean;
  isAuthorized(headers: IncomingHttpHeaders, sources?: CredentialSources): boolean;
}

export function createAuthenticator(token: string | undefined): Authenticator {
  if (token === undefined) {
    return { required: false, isAuthorized: () => true };
  }
  const expected = digest(token);
  const matches = (candidate: string): boolean => timingSafeEqual(digest(candidate), expected);
  return {
    required: true,
    isAuthorized(headers, sources = {}) {
      const candidates = [
        bearerToken(headers.authorization),
        sources.cookie ? cookieValue(headers.cookie, TOKEN_COOKIE) : undefined,
        sources.query?.get('token') ?? undefined,
      ];
      // Evaluate every candidate rather than short-circuiting, so timing does not reveal which source matched.
      return candidates.reduce<boolean>((ok, candidate) => (candidate !== undefined && matches(candidate)) || ok, false);
    },
  };
}

export function unauthorizedMessage(sources: { cookie?: boolean; query?: boolean } = {}): string {
  const alternatives = [sources.cookie ? `a ${TOKEN_COOKIE} cookie` : undefined, sources.query ? 'a ?token= query parameter' : undefined].filter(
    (part) => part !== undefined,
  );
  const extra = alternatives.length > 0 ? ` (or ${alternatives.join(' or ')})` : '';
  return `Missing or invalid credentials: send Authorization: Bearer <instance token>${extra}.`;
}

/** Returns the token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1 || pair.slice(0, eq).trim() !== name) continue;
    const raw = pair
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  }
  return undefined;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
