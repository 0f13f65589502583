/**
 * Typed readers for environment variables. Each reader records a one-line problem
 * naming the variable, the bad value and what is expected, instead of throwing,
 * so start-up can report every bad variable at once.
 */
export type Env = Readonly<Record<string, string | undefined>>;

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optionalString(name: string): string | null {
    return this.raw(name) ?? null;
  }

  /** A secret is never echoed back in a problem line. */
  secret(name: string, minLength: number): string | null {
    const value = this.raw(name);
    if (value === undefined) return null;
    if (value.length < minLength) {
      this.problems.push(`${name} must be at least ${minLength} characters (got ${value.length}); generate one with: openssl rand -hex 32`);
      return null;
    }
    return value;
  }

  flag(name: string): boolean {
    const value = this.raw(name);
    if (value === undefined) return false;
    if (/^(1|true|yes|on)$/i.test(value)) return true;
    if (/^(0|false|no|off)$/i.test(value)) return false;
    this.problems.push(`${name} must be 1 or 0 (true/false), got "${value}"`);
    return false;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = /^-?\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      this.problems.push(`${name} must be a whole number from ${min} to ${max}, got "${value}"`);
      return fallback;
    }
    return parsed;
  }

  number(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
    if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
      this.problems.push(`${name} must be a number from ${min} to ${max}, got "${value}"`);
      return fallback;
    }
    return parsed;
  }

  port(name: string, fallback: number): number {
    return this.integer(name, fallback, 0, 65535);
  }

  /** Durations are written with a unit: 500ms, 30s, 5m, 1h. Returns milliseconds. */
  duration(name: string, fallbackMs: number, minMs = 1): number {
    const value = this.raw(name);
    if (value === undefined) return fallbackMs;
    const match = /^(\d+)(ms|s|m|h)$/.exec(value);
    const ms = match ? Number(match[1]) * DURATION_UNITS[match[2]!]! : NaN;
    if (!Number.isSafeInteger(ms) || ms < minMs) {
      this.problems.push(`${name} must be a duration like 500ms, 30s, 5m or 1h (at least ${minMs}ms), got "${value}"`);
      return fallbackMs;
    }
    return ms;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      this.problems.push(`${name} must be one of ${allowed.join(', ')}, got "${value}"`);
      return fallback;
    }
    return value as T;
  }

  url(name: string, fallback: string, protocols: readonly string[]): string {
    const value = this.raw(name) ?? fallback;
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) throw new Error('protocol');
      return value.replace(/\/+$/, '');
    } catch {
      this.problems.push(`${name} must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}, got "${redactUrl(value)}"`);
      return fallback;
    }
  }

  require(condition: boolean, problem: string): void {
    if (!condition) this.problems.push(problem);
  }
}

/** Strips a password from a URL so it can be shown in an error or a log. */
export function redactUrl(value: string): string {
  try {
    const parsed = new URL(value);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return value.replace(/:\/\/([^:@/]+):[^@/]+@/, '://$1:***@');
  }
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}
