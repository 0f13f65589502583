/**
 * Browser sessions on an instance's own host: a host-only cookie (no Domain attribute,
 * so it never reaches another subdomain), signed with SECRET_KEY in the platform's one
 * signed-value format. It names the handle, the access generation (rotating the
 * instance token ends every session), who signed in, when it expires and when it was
 * issued (signing out of the site ends every session issued before).
 * Verification is a MAC check and map lookups: no database on the hot path.
 */
import type { AccessKind } from '../db/models.ts';
import { hostCookie, platformCookieName, readPlatformCookie } from '../web/cookies.ts';
import { signValue, verifySignedValue } from '../web/signed.ts';
import type { Route } from './route-table.ts';

const PURPOSE = 'instance-session';

interface SessionClaims {
  handle: string;
  generation: number;
  userId: string;
  access: AccessKind;
  expiresAt: number;
}

export class SessionCookies {
  readonly name: string;

  constructor(
    private readonly secretKey: string,
    private readonly options: {
      secure: boolean;
      ttlMs: number;
      /** Whether `userId` is an admin now: an admin session ends the moment its user stops being one. */
      isAdmin: (userId: string) => boolean;
      /** When `userId` last signed out of the site (ms): sessions issued until then are over. */
      signedOutAt?: (userId: string) => number | undefined;
    },
  ) {
    this.name = platformCookieName('session', options.secure);
  }

  issue(route: Route, userId: string, access: AccessKind, now = Date.now()): { value: string; header: string } {
    const expiresAt = Math.floor((now + this.options.ttlMs) / 1000);
    const payload = [route.handle, route.accessGeneration, access === 'admin' ? 'a' : 'o', Buffer.from(userId).toString('base64url'), expiresAt, now].join('.');
    const value = signValue(this.secretKey, PURPOSE, payload);
    return { value, header: hostCookie(this.name, value, this.options.ttlMs / 1000, this.options.secure) };
  }

  /** A Set-Cookie that removes the session. */
  clear(): string {
    return hostCookie(this.name, '', 0, this.options.secure);
  }

  /** The claims when `cookieHeader` carries a valid, current session for `route`; otherwise null. */
  verify(cookieHeader: string | undefined, route: Route, now = Date.now()): SessionClaims | null {
    const payload = verifySignedValue(this.secretKey, PURPOSE, readPlatformCookie(cookieHeader, this.name));
    if (payload === null) return null;
    const [handle, generation, access, user, expires, issued] = payload.split('.');
    if (handle !== route.handle || Number(generation) !== route.accessGeneration) return null;
    if (!(Number(expires) * 1000 > now)) return null;
    const userId = Buffer.from(user!, 'base64url').toString();
    // Issued before its user last signed out of the site: over (older cookies: as early as their expiry allows).
    const signedOut = this.options.signedOutAt?.(userId);
    if (signedOut !== undefined && (Number(issued) || Number(expires) * 1000 - this.options.ttlMs) <= signedOut) return null;
    // 'operator': a link the platform-secret holder asked for; not a user who can be demoted.
    if (access === 'a' && userId !== 'operator' && !this.options.isAdmin(userId)) return null;
    return {
      handle,
      generation: Number(generation),
      userId,
      access: access === 'a' ? 'admin' : 'owner',
      expiresAt: Number(expires),
    };
  }
}
