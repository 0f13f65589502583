/**
 * Cross-site request checks. Every `{handle}.DOMAIN` and the apex are the same *site* to
 * a browser, so SameSite cookies do not separate them: a state change must prove it
 * came from the very origin it targets (Sec-Fetch-Site, else Origin), and a form must
 * also carry the session's CSRF token.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { ForbiddenError } from '../errors.ts';
import { constantTimeEqual } from './compare.ts';

/** Browsers send Sec-Fetch-Site (and Origin on POST); a request with neither is refused. */
export function isSameOrigin(headers: IncomingHttpHeaders): boolean {
  const site = headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin';
  const origin = headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host === headers.host;
  } catch {
    return false;
  }
}

/** Throws a 403 unless the request is same-origin and carries the expected CSRF token. */
export function assertFormFromSameOrigin(headers: IncomingHttpHeaders, givenToken: string | null, expectedToken: string): void {
  if (!isSameOrigin(headers) || !constantTimeEqual(givenToken ?? '', expectedToken)) {
    throw new ForbiddenError('This form expired or did not come from this site. Reload the page and try again.', 'csrf');
  }
}
