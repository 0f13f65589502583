/** Budget periods: which window a moment counts for, and when that window ends. */
import type { BudgetPeriod } from '../config-meter.ts';

/** "ever" for budgets that do not reset. */
export const FOREVER = '1970-01-01';

export function windowStart(period: BudgetPeriod, now: Date): string {
  if (period === 'none') return FOREVER;
  const day = now.toISOString().slice(0, 10);
  return period === 'daily' ? day : `${day.slice(0, 7)}-01`;
}

/** When the window containing `now` ends (the budget is whole again), or null for "never". */
export function resetsAt(period: BudgetPeriod, now: Date): Date | null {
  if (period === 'none') return null;
  const start = new Date(`${windowStart(period, now)}T00:00:00Z`);
  if (period === 'daily') return new Date(start.getTime() + 86_400_000);
  return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
}
