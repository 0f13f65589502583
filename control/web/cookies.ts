/**
 * Cookies of the platform: read one from a Cookie header, write a host-only one, and
 * recognise the platform's names (they never reach an instance). Every platform cookie
 * is host-only (no Domain), HttpOnly and SameSite=Lax; over https it is Secure and
 * named `__Host-…`, which makes the browser itself refuse a Domain attribute.
 */

/** Every cookie whose name starts with one of these belongs to the platform. */
const PLATFORM_COOKIE_PREFIXES = ['mxos_', '__Host-mxos_', '__Secure-mxos_'] as const;

/** `mxos_{base}`, or `__Host-mxos_{base}` over https. */
export function platformCookieName(base: string, secure: boolean): string {
  return `${secure ? '__Host-' : ''}mxos_${base}`;
}

/** A Set-Cookie value for a host-only cookie; `maxAgeSeconds` 0 removes it. */
export function hostCookie(name: string, value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${name}=${value}; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

/** One cookie's value from a Cookie header, or null. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/**
 * A platform cookie's value, or null when it is missing or present more than once. A
 * second copy means another page planted one beside ours (a cookie set with a Domain
 * reaches every subdomain); which one a browser sends first is not ours to choose, so
 * neither counts.
 */
export function readPlatformCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  let found: string | null = null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    if (found !== null) return null;
    found = part.slice(eq + 1).trim();
  }
  return found;
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
