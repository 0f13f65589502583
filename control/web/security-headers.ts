/**
 * Headers on every page the platform renders itself (site, router pages, development
 * identity provider): no MIME sniffing, no framing by another page (clickjacking),
 * no plugins, and no Referer at all (a path can carry a login code or a handle).
 */
export const PAGE_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "frame-ancestors 'none'; object-src 'none'; base-uri 'none'",
  'referrer-policy': 'no-referrer',
});
