import { ValidationError } from '../errors.ts';

/**
 * Only a local path may follow a sign-in: never another host (no open redirect), and
 * only printable ASCII (no header splitting, no look-alike characters), checked before
 * a login code is issued.
 */
export function safeNextPath(next: unknown): string {
  if (next === undefined || next === null || next === '') return '/';
  if (typeof next !== 'string' || next.length > 2048 || !next.startsWith('/') || next.startsWith('//') || next.includes('\\') || !isPrintableAscii(next)) {
    throw new ValidationError(
      'next must be a path on the instance starting with a single "/", in printable ASCII (percent-encode anything else), e.g. /files/notes.md',
    );
  }
  return next;
}

function isPrintableAscii(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}
