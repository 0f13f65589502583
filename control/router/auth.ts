/**
 * Who is asking. Two ways in, both checked without I/O: the instance token as a
 * bearer (API clients, either form), or the host-only session cookie (browsers, host
 * form only: on the apex every tenant shares one origin, so no cookie counts there).
 */
import type { IncomingMessage } from 'node:http';
import crypto from 'node:crypto';
import type { AccessKind } from '../db/models.ts';
import type { Route } from './route-table.ts';
import type { SessionCookies } from './session.ts';

export interface Principal {
  /** The signed-in user (cookie), or the owner (token). */
  userId: string;
  access: AccessKind | 'token';
}

export function authenticate(req: IncomingMessage, route: Route, form: 'host' | 'path', sessions: SessionCookies): Principal | null {
  const authorization = req.headers.authorization;
  if (authorization !== undefined && authorization.startsWith('Bearer ') && tokenMatches(authorization.slice(7).trim(), route.instanceToken)) {
    return { userId: route.ownerId, access: 'token' };
  }
  if (form !== 'host') return null;
  const claims = sessions.verify(req.headers.cookie, route);
  return claims ? { userId: claims.userId, access: claims.access } : null;
}

/**
 * Constant time for tokens of the expected length. Every instance token has the same
 * length (prefix + 43 characters of base64url), so an early length mismatch tells an
 * attacker nothing; this saves the two hashes safeEqual spends on every request.
 */
function tokenMatches(given: string, expected: string): boolean {
  if (given.length !== expected.length) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}
