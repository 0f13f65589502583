/**
 * Headers on every page the platform renders itself (site, router pages, development
 * identity provider): no MIME sniffing, no framing by another page (clickjacking),
 * no plugins, and no Referer to any other origin (a path can carry a handle). Not
 * "no-referrer": with it a browser sends `Origin: null` on its own same-origin form
 * posts, which the same-origin check (origin.ts) must then refuse where the browser
 * sends no Sec-Fetch-Site (plain http, older Safari).
 */
export const PAGE_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "frame-ancestors 'none'; object-src 'none'; base-uri 'none'",
  'referrer-policy': 'same-origin',
});
