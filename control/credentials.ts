/**
 * Per-instance credentials are derived, not stored: HMAC(SECRET_KEY, purpose, handle,
 * generation). Rotating a token bumps the generation; nothing secret sits in the
 * database, and the router and the meter can verify by recomputing.
 */
import crypto from 'node:crypto';

export type CredentialPurpose = 'instance-token' | 'meter-key';

const PREFIX: Record<CredentialPurpose, string> = { 'instance-token': 'mxi_', 'meter-key': 'mxm_' };

export function deriveCredential(secretKey: string, purpose: CredentialPurpose, handle: string, generation: number): string {
  const mac = crypto.createHmac('sha256', secretKey).update(`${purpose}\0${handle}\0${generation}`).digest('base64url');
  return PREFIX[purpose] + mac;
}

/** Constant-time comparison that does not leak the length of either side. */
export function safeEqual(a: string, b: string): boolean {
  const da = crypto.createHash('sha256').update(a).digest();
  const db = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(da, db);
}
