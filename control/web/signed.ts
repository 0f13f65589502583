/**
 * The one signed-value format for cookies that must come back unchanged:
 * `{payload}.{HMAC-SHA256(key, "mxos-signed" \0 purpose \0 payload), base64url}`. The
 * purpose keeps a value signed for one use from being accepted for another; the fixed
 * tag keeps these MACs apart from the credentials derived from the same key
 * (access/credentials.ts), whatever purposes either side adds later.
 */
import crypto from 'node:crypto';
import { constantTimeEqual } from './compare.ts';

/** `payload` must not be empty; it may contain dots (the MAC is after the last one). */
export function signValue(key: string, purpose: string, payload: string): string {
  return `${payload}.${mac(key, purpose, payload)}`;
}

/** The payload, or null when the value is missing, malformed or its MAC does not match. */
export function verifySignedValue(key: string, purpose: string, value: string | null | undefined): string | null {
  if (!value) return null;
  const cut = value.lastIndexOf('.');
  if (cut <= 0) return null;
  const payload = value.slice(0, cut);
  return constantTimeEqual(value.slice(cut + 1), mac(key, purpose, payload)) ? payload : null;
}

export function signJson(key: string, purpose: string, value: unknown): string {
  return signValue(key, purpose, Buffer.from(JSON.stringify(value)).toString('base64url'));
}

export function verifyJson<T>(key: string, purpose: string, value: string | null | undefined): T | null {
  const payload = verifySignedValue(key, purpose, value);
  if (payload === null) return null;
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as T;
  } catch {
    return null;
  }
}

function mac(key: string, purpose: string, payload: string): string {
  return crypto.createHmac('sha256', key).update(`mxos-signed\0${purpose}\0${payload}`).digest('base64url');
}
