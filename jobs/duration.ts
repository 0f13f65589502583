/**
 * Durations for Nomad's API JSON. Go's time.Duration is encoded as an integer count
 * of NANOSECONDS ("30s" is HCL syntax and is refused by the JSON decoder), so every
 * duration field in jobs/types.ts is a `number` built with these helpers.
 */

/** Nanoseconds per unit. */
export const NANOSECOND = 1;
export const MILLISECOND = 1_000_000;
export const SECOND = 1_000 * MILLISECOND;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;

/** n units as an integer number of nanoseconds; throws for negative, non-finite or unsafe values. */
function toNanoseconds(n: number, unit: number, name: string): number {
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`${name}(${n}): a duration must be a finite, non-negative number`);
  const ns = Math.round(n * unit);
  if (!Number.isSafeInteger(ns)) throw new RangeError(`${name}(${n}): ${ns} ns is beyond what a JSON number carries exactly`);
  return ns;
}

export const milliseconds = (n: number): number => toNanoseconds(n, MILLISECOND, 'milliseconds');
export const seconds = (n: number): number => toNanoseconds(n, SECOND, 'seconds');
export const minutes = (n: number): number => toNanoseconds(n, MINUTE, 'minutes');
export const hours = (n: number): number => toNanoseconds(n, HOUR, 'hours');
