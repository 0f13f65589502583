/** Money is integer micro-dollars (µ$) everywhere; these convert at the edges, never through floats. */
import { decimalUsdToMicro } from './price-data.ts';

export const MICRO_PER_USD = 1_000_000;

/** "5" -> 5000000, "0.25" -> 250000; null when not a non-negative decimal with at most 6 places. */
export function parseUsd(text: string): number | null {
  try {
    return decimalUsdToMicro(text.trim(), 'amount');
  } catch {
    return null;
  }
}

/** 1234567 -> "1.23"; with 4 places "1.2345" (rounded down: never shows more than there is). */
export function formatUsd(micro: number, places: 2 | 4 = 2): string {
  const negative = micro < 0;
  const unit = 10 ** (6 - places);
  const scale = 10 ** places;
  const parts = Math.floor(Math.abs(micro) / unit);
  const text = `${Math.floor(parts / scale)}.${String(parts % scale).padStart(places, '0')}`;
  return negative ? `-${text}` : text;
}

/** 1230001 -> "1.24" (rounded up: what a call may cost is never understated). */
export function formatUsdUp(micro: number): string {
  return formatUsd(Math.ceil(micro / 10_000) * 10_000);
}
