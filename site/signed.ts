/** Small signed values for cookies that must survive a round trip unchanged (e.g. the pending login). */
import crypto from 'node:crypto';

export function signJson(key: string, purpose: string, value: unknown): string {
  const body = Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${body}.${mac(key, purpose, body)}`;
}

/** The value, or null when the signature does not match. */
export function verifyJson<T>(key: string, purpose: string, signed: string | undefined): T | null {
  if (!signed) return null;
  const dot = signed.lastIndexOf('.');
  if (dot <= 0) return null;
  const body = signed.slice(0, dot);
  const given = Buffer.from(signed.slice(dot + 1));
  const expected = Buffer.from(mac(key, purpose, body));
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return null;
  try {
    return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as T;
  } catch {
    return null;
  }
}

function mac(key: string, purpose: string, body: string): string {
  return crypto.createHmac('sha256', key).update(`${purpose}\0${body}`).digest('base64url');
}
