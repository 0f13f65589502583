/**
 * What admins send to set a budget or a price (the platform API's JSON, the admin
 * page's form, the CLI), checked in one place: a ValidationError names the field and
 * says what is expected.
 */
import type { BudgetPeriod } from '../config-meter.ts';
import { ConfigError, ValidationError } from '../errors.ts';
import type { BudgetChange } from './books.ts';
import { parseUsd } from './money.ts';
import type { PriceInput } from './price-book.ts';
import { decimalUsdToMicro, MODEL_ID, type Rates } from './price-data.ts';

export const BUDGET_PERIODS: readonly BudgetPeriod[] = ['none', 'daily', 'monthly'];

/**
 * `usd`: dollars (5, 2.50, "0"), or null for the default; `period`: none, daily, monthly,
 * or null for the default. What is left out stays as it is; one of them is needed.
 */
export function parseBudgetInput(fields: { usd?: unknown; period?: unknown }): BudgetChange {
  const { usd, period } = fields;
  if (usd === undefined && period === undefined) throw new ValidationError('Give usd (US dollars, or null for the default), period, or both.');
  const change: BudgetChange = {};
  if (usd !== undefined) {
    const limit = usd === null ? null : typeof usd === 'number' || typeof usd === 'string' ? parseUsd(String(usd)) : null;
    if (limit === null && usd !== null)
      throw new ValidationError('usd must be an amount in US dollars like 5 or 2.50 (0 means nothing may be spent), or null for the default.');
    change.limit = limit;
  }
  if (period !== undefined) {
    if (period !== null && !BUDGET_PERIODS.includes(period as BudgetPeriod))
      throw new ValidationError(`period must be one of ${BUDGET_PERIODS.join(', ')}, or null for the default.`);
    change.period = period as BudgetPeriod | null;
  }
  return change;
}

export const RATE_FIELDS: ReadonlyArray<keyof Rates> = ['input', 'cacheWrite5m', 'cacheWrite1h', 'cacheRead', 'output'];

/** Rates in US dollars per million tokens (decimal strings or numbers); web search in dollars per request (default 0.01). */
export function parsePriceInput(family: string, fields: Record<string, unknown>): PriceInput {
  if (!MODEL_ID.test(family)) throw new ValidationError('The model family must be a model id like claude-opus-4-6: lower-case letters, digits, "-" and ".".');
  const rate = (name: keyof Rates) => {
    const value = fields[name];
    if (typeof value !== 'string' && typeof value !== 'number')
      throw new ValidationError(`${name} is required: US dollars per million tokens, e.g. "3" or "0.30".`);
    try {
      return decimalUsdToMicro(String(value).trim(), name);
    } catch (err) {
      if (err instanceof ConfigError) throw new ValidationError(err.message);
      throw err;
    }
  };
  const rates = Object.fromEntries(RATE_FIELDS.map((name) => [name, rate(name)])) as unknown as Rates;
  const raw = fields.webSearchPerRequest;
  const search = raw === undefined || raw === '' ? 10_000 : parseUsd(String(raw));
  if (search === null) throw new ValidationError('webSearchPerRequest must be US dollars per search, e.g. "0.01".');
  return { family, rates, webSearchPerRequest: search, tiers: [] };
}
