import { ValidationError } from '../errors.ts';

/** Only a local path may follow a sign-in: never another host (no open redirect). */
export function safeNextPath(next: unknown): string {
  if (next === undefined || next === null || next === '') return '/';
  if (typeof next !== 'string' || next.length > 2048 || !next.startsWith('/') || next.startsWith('//') || next.includes('\\') || hasControlCharacter(next)) {
    throw new ValidationError('next must be a path on the instance starting with a single "/", e.g. /files/notes.md');
  }
  return next;
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) < 0x20) return true;
  return false;
}
