/** What the meter's books tests share: a charge and the books' settings. */
import type { BooksSettings, Charge } from '../../control/meter/books.ts';

export const TEST_USAGE = { input: 10, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0, output: 5, webSearches: 0 };

/** A settled call that cost `cost` µ$. */
export const charge = (cost: number): Charge => ({ model: 'claude-haiku-4-5', priceVersion: 'test-1', usage: TEST_USAGE, cost, outcome: 'ok' });

/** Books of replica-a with a $1 budget that never resets, no ceiling, a 60 s TTL; `over` changes any of it. */
export function booksSettings(over: Partial<BooksSettings> = {}): BooksSettings {
  return { defaultBudgetMicro: 1_000_000, period: 'none', platformBudgetMicro: null, reservationTtlMs: 60_000, owner: 'replica-a:boot-1', ...over };
}
