/**
 * Per-instance credentials are derived, not stored: HMAC(SECRET_KEY, purpose, handle,
 * generation). Rotating a token bumps the generation; nothing secret sits in the
 * database, and the router and the meter can verify by recomputing.
 */
import crypto from 'node:crypto';

/**
 * instance-token: what the user holds to reach their instance through the router
 *   (generation = access_generation; rotating it never restarts the instance).
 * router-token: what the router presents to the instance; only the platform knows it.
 * meter-key: what the instance presents to the metering route.
 * social-key: what the instance presents to the platform's social API (it sends as itself).
 */
export type CredentialPurpose = 'instance-token' | 'router-token' | 'meter-key' | 'social-key';

const PREFIX: Record<CredentialPurpose, string> = { 'instance-token': 'mxi_', 'router-token': 'mxr_', 'meter-key': 'mxm_', 'social-key': 'mxs_' };

export function deriveCredential(secretKey: string, purpose: CredentialPurpose, handle: string, generation: number): string {
  const mac = crypto.createHmac('sha256', secretKey).update(`${purpose}\0${handle}\0${generation}`).digest('base64url');
  return PREFIX[purpose] + mac;
}
