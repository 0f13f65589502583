/**
 * Who is asking. Two ways in, both checked without I/O: the instance token as a
 * bearer (API clients, either form), or the host-only session cookie (browsers, host
 * form only: on the apex every tenant shares one origin, so no cookie counts there).
 */
import type { IncomingMessage } from 'node:http';
import type { AccessKind } from '../db/models.ts';
import { constantTimeEqual } from '../web/compare.ts';
import type { Route } from './route-table.ts';
import type { SessionCookies } from './session.ts';

export interface Principal {
  /** The signed-in user (cookie), or the owner (token). */
  userId: string;
  access: AccessKind | 'token';
}

/**
 * A browser's cookie rides along on requests other pages start, and every
 * {handle}.DOMAIN is the same site to a browser: so a WebSocket upgrade or a request
 * that may change state (anything but GET and HEAD), when only the session cookie
 * vouches for it, must come from the instance's own page (Origin = this origin).
 * A bearer token is never sent by a browser on its own, so it needs no such proof.
 */
export function crossSiteRefused(req: IncomingMessage, principal: Principal, scheme: string, upgrade: boolean): boolean {
  if (principal.access === 'token') return false;
  if (!upgrade && (req.method === 'GET' || req.method === 'HEAD')) return false;
  const origin = req.headers.origin;
  return origin === undefined || origin !== `${scheme}//${req.headers.host}`;
}

export function authenticate(req: IncomingMessage, route: Route, form: 'host' | 'path', sessions: SessionCookies): Principal | null {
  const authorization = req.headers.authorization;
  if (authorization?.startsWith('Bearer ') && constantTimeEqual(authorization.slice(7).trim(), route.instanceToken)) {
    return { userId: route.ownerId, access: 'token' };
  }
  if (form !== 'host') return null;
  const claims = sessions.verify(req.headers.cookie, route);
  return claims ? { userId: claims.userId, access: claims.access } : null;
}
