/**
 * Browser sessions on an instance's own host: a host-only cookie (no Domain attribute,
 * so it never reaches another subdomain), signed with SECRET_KEY. It names the handle,
 * the access generation (rotating the instance token ends every session), who signed in
 * and when it expires. Verification is a MAC check: no database on the hot path.
 */
import crypto from 'node:crypto';
import type { AccessKind } from '../db/models.ts';
import type { Route } from './route-table.ts';

/** Every cookie whose name starts with one of these belongs to the platform and never reaches an instance. */
export const PLATFORM_COOKIE_PREFIXES = ['mxos_', '__Host-mxos_', '__Secure-mxos_'] as const;

export interface SessionClaims {
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
    private readonly options: { secure: boolean; ttlMs: number },
  ) {
    // __Host- makes the browser itself refuse a Domain attribute or a non-Secure cookie.
    this.name = options.secure ? '__Host-mxos_session' : 'mxos_session';
  }

  issue(route: Route, userId: string, access: AccessKind, now = Date.now()): { value: string; header: string } {
    const expiresAt = Math.floor((now + this.options.ttlMs) / 1000);
    const payload = [route.handle, route.accessGeneration, access === 'admin' ? 'a' : 'o', Buffer.from(userId).toString('base64url'), expiresAt].join('.');
    const value = `${payload}.${this.mac(payload)}`;
    return { value, header: this.header(value, Math.floor(this.options.ttlMs / 1000)) };
  }

  /** A Set-Cookie that removes the session. */
  clear(): string {
    return this.header('', 0);
  }

  /** The claims when `cookieHeader` carries a valid, current session for `route`; otherwise null. */
  verify(cookieHeader: string | undefined, route: Route, now = Date.now()): SessionClaims | null {
    if (!cookieHeader) return null;
    const value = readCookie(cookieHeader, this.name);
    if (!value) return null;
    const cut = value.lastIndexOf('.');
    if (cut <= 0) return null;
    const payload = value.slice(0, cut);
    const expected = Buffer.from(this.mac(payload));
    const given = Buffer.from(value.slice(cut + 1));
    if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return null;
    const [handle, generation, access, user, expires] = payload.split('.');
    if (handle !== route.handle || Number(generation) !== route.accessGeneration) return null;
    if (!(Number(expires) * 1000 > now)) return null;
    return { handle, generation: Number(generation), userId: Buffer.from(user!, 'base64url').toString(), access: access === 'a' ? 'admin' : 'owner', expiresAt: Number(expires) };
  }

  private mac(payload: string): string {
    return crypto.createHmac('sha256', this.secretKey).update(`instance-session\0${payload}`).digest('base64url');
  }

  private header(value: string, maxAgeSeconds: number): string {
    return `${this.name}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${this.options.secure ? '; Secure' : ''}`;
  }
}

/** One cookie's value from a Cookie header, or null. */
export function readCookie(header: string, name: string): string | null {
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

export function isPlatformCookie(name: string): boolean {
  for (const prefix of PLATFORM_COOKIE_PREFIXES) if (name.startsWith(prefix)) return true;
  return false;
}

/** The Cookie header without platform cookies; null when nothing is left. */
export function withoutPlatformCookies(header: string): string | null {
  if (header.indexOf('mxos_') === -1) return header;
  const kept = header.split(';').filter((part) => {
    const eq = part.indexOf('=');
    return !isPlatformCookie((eq === -1 ? part : part.slice(0, eq)).trim());
  });
  const joined = kept.map((p) => p.trim()).join('; ');
  return joined === '' ? null : joined;
}
