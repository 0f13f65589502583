/** The one constant-time comparison for secrets, tokens, MACs and CSRF tokens. */
import crypto from 'node:crypto';

/**
 * true when `given` equals `expected`. The time spent depends only on the length of
 * `expected`: a wrong guess of the right length and one of another length cost the
 * same. Only whether the lengths match can leak, and no length here is secret (tokens,
 * MACs and CSRF tokens have fixed formats; PLATFORM_SECRET has a configured minimum).
 * No hashing: this runs for every request the router serves.
 */
export function constantTimeEqual(given: string, expected: string): boolean {
  const b = Buffer.from(expected);
  const a = Buffer.from(given);
  if (a.length !== b.length) {
    crypto.timingSafeEqual(b, b);
    return false;
  }
  return crypto.timingSafeEqual(a, b);
}
