/**
 * What a request costs, in integer micro-dollars (µ$). Each usage field is priced at
 * its own rate (µ$ per million tokens); the sum is exact (BigInt) and rounded up once,
 * at the end, so the platform never under-charges and never drifts per field.
 */
import type { ModelPrice, Rates } from './price-data.ts';
import type { MeteredUsage } from './usage.ts';

const PER_MILLION = 1_000_000n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export interface WorstCaseInput {
  /** At most this many prompt tokens (input + cache writes + cache reads), e.g. from count_tokens plus a margin. */
  promptTokensUpperBound: number;
  /** The request's `max_tokens`. */
  maxTokens: number;
  /** The web search tool's `max_uses` (0 without the tool). */
  webSearchMaxUses: number;
}

function wholeCount(value: number, field: string): bigint {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${field} must be a non-negative integer, got ${value}`);
  return BigInt(value);
}

/** µ$ from a sum in µ$ per million, rounded up. */
function roundUp(perMillion: bigint): number {
  const micro = (perMillion + PER_MILLION - 1n) / PER_MILLION;
  if (micro > MAX_SAFE) throw new RangeError(`cost of ${micro} µ$ is beyond what can be recorded exactly`);
  return Number(micro);
}

/** The rates for a request of `prompt` prompt tokens: those of the highest tier it exceeds, else the base rates. */
export function ratesFor(price: ModelPrice, prompt: number): Rates {
  let rates = price.rates;
  for (const tier of price.tiers) if (prompt > tier.abovePromptTokens) rates = tier.rates;
  return rates;
}

/** The cost of a request in µ$: the tier is picked by prompt size, then every field at its own rate. */
export function costOf(usage: MeteredUsage, price: ModelPrice): number {
  const input = wholeCount(usage.input, 'usage.input');
  const write5m = wholeCount(usage.cacheWrite5m, 'usage.cacheWrite5m');
  const write1h = wholeCount(usage.cacheWrite1h, 'usage.cacheWrite1h');
  const read = wholeCount(usage.cacheRead, 'usage.cacheRead');
  const output = wholeCount(usage.output, 'usage.output');
  const searches = wholeCount(usage.webSearches, 'usage.webSearches');
  const prompt = input + write5m + write1h + read;
  const rates = ratesFor(price, prompt > MAX_SAFE ? Number.MAX_SAFE_INTEGER : Number(prompt));
  return roundUp(
    input * BigInt(rates.input) +
      write5m * BigInt(rates.cacheWrite5m) +
      write1h * BigInt(rates.cacheWrite1h) +
      read * BigInt(rates.cacheRead) +
      output * BigInt(rates.output) +
      searches * BigInt(price.webSearchPerRequest) * PER_MILLION,
  );
}

/**
 * An upper bound of `costOf` for any usage within the bounds: every prompt token at
 * the dearest input-side rate, `maxTokens` at the output rate, every allowed search.
 * The rates considered are those of every tier a prompt of at most that many tokens
 * can reach (the base and each tier whose threshold the bound exceeds), so the bound
 * holds whatever the tiers' rates are.
 */
export function worstCaseCost(input: WorstCaseInput, price: ModelPrice): number {
  const prompt = wholeCount(input.promptTokensUpperBound, 'promptTokensUpperBound');
  const output = wholeCount(input.maxTokens, 'maxTokens');
  const searches = wholeCount(input.webSearchMaxUses, 'webSearchMaxUses');
  const reachable = [price.rates, ...price.tiers.filter((tier) => input.promptTokensUpperBound > tier.abovePromptTokens).map((tier) => tier.rates)];
  const promptRate = Math.max(...reachable.map((r) => Math.max(r.input, r.cacheWrite5m, r.cacheWrite1h, r.cacheRead)));
  const outputRate = Math.max(...reachable.map((r) => r.output));
  return roundUp(prompt * BigInt(promptRate) + output * BigInt(outputRate) + searches * BigInt(price.webSearchPerRequest) * PER_MILLION);
}
