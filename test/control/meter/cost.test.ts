import test from 'ava';
import { costOf, ratesFor, worstCaseCost } from '../../../control/meter/cost.ts';
import { type ModelPrice, PriceTable } from '../../../control/meter/prices.ts';
import { StreamUsage } from '../../../control/meter/stream-usage.ts';
import { fromAnthropicUsage, type MeteredUsage, NO_USAGE } from '../../../control/meter/usage.ts';
import { randomInt, seededRandom } from '../../helpers/seeded-random.ts';
import { sse } from './sse-fixtures.ts';

const table = PriceTable.fromFile();
const price = (model: string): ModelPrice => {
  const found = table.priceFor(model);
  if (!found) throw new Error(`${model} is not priced`);
  return found;
};
const usage = (fields: Partial<MeteredUsage>): MeteredUsage => ({ ...NO_USAGE, ...fields });
const sonnet45 = price('claude-sonnet-4-5');
/** 1,000 input + 2,000 5m writes + 3,000 1h writes + 4,000 reads + 500 output + 2 searches. */
const MIXED = usage({ input: 1000, cacheWrite5m: 2000, cacheWrite1h: 3000, cacheRead: 4000, output: 500, webSearches: 2 });

test('golden: the mixed usage on every shipped family, computed by hand (tokens × $/MTok = µ$)', (t) => {
  const golden: Record<string, number> = {
    // 1000×5 + 2000×6.25 + 3000×10 + 4000×0.50 + 500×25 + 2×10000 = 5000 + 12500 + 30000 + 2000 + 12500 + 20000
    'claude-opus-4-5': 82_000,
    // 1000×15 + 2000×18.75 + 3000×30 + 4000×1.50 + 500×75 + 2×10000 = 15000 + 37500 + 90000 + 6000 + 37500 + 20000
    'claude-opus-4-1': 206_000,
    'claude-opus-4-0': 206_000,
    // 1000×3 + 2000×3.75 + 3000×6 + 4000×0.30 + 500×15 + 2×10000 = 3000 + 7500 + 18000 + 1200 + 7500 + 20000
    'claude-sonnet-4-6': 57_200,
    'claude-sonnet-4-5': 57_200,
    'claude-sonnet-4-0': 57_200,
    // 1000×1 + 2000×1.25 + 3000×2 + 4000×0.10 + 500×5 + 2×10000 = 1000 + 2500 + 6000 + 400 + 2500 + 20000
    'claude-haiku-4-5': 32_400,
    // 1000×0.80 + 2000×1 + 3000×1.6 + 4000×0.08 + 500×4 + 2×10000 = 800 + 2000 + 4800 + 320 + 2000 + 20000
    'claude-3-5-haiku': 29_920,
  };
  t.deepEqual(
    Object.keys(golden).sort(),
    table
      .families()
      .map((p) => p.family)
      .sort(),
    'every shipped family has a golden value',
  );
  for (const [family, micro] of Object.entries(golden)) t.is(costOf(MIXED, price(family)), micro, family);
  // Dated ids and aliases cost the same as their family.
  t.is(costOf(MIXED, price('claude-sonnet-4-5-20250929')), 57_200);
  t.is(costOf(MIXED, price('claude-opus-4-20250514')), 206_000);
  t.is(costOf(MIXED, price('claude-3-5-haiku-latest')), 29_920);
});

test('every usage field is priced at its own rate (a million of each costs exactly the rate)', (t) => {
  const sonnet46 = price('claude-sonnet-4-6'); // no long-context tier: a million prompt tokens stay at the base rates
  t.is(costOf(usage({ input: 1_000_000 }), sonnet46), 3_000_000);
  t.is(costOf(usage({ cacheWrite5m: 1_000_000 }), sonnet46), 3_750_000);
  t.is(costOf(usage({ cacheWrite1h: 1_000_000 }), sonnet46), 6_000_000);
  t.is(costOf(usage({ cacheRead: 1_000_000 }), sonnet46), 300_000);
  t.is(costOf(usage({ output: 1_000_000 }), sonnet46), 15_000_000);
  t.is(costOf(usage({ webSearches: 1 }), sonnet46), 10_000, '$10 per 1,000 searches');
  t.is(costOf(usage({ webSearches: 1000 }), sonnet46), 10_000_000);
  t.is(costOf(NO_USAGE, sonnet46), 0);
});

test('pitfalls: cache writes are not input, 1h writes are not 5m writes, reads are not input, searches are not dropped', (t) => {
  const input = costOf(usage({ input: 10_000 }), sonnet45);
  t.is(input, 30_000);
  t.is(costOf(usage({ cacheWrite5m: 10_000 }), sonnet45), 37_500, 'a 5m write costs 1.25× input, not input');
  t.is(costOf(usage({ cacheWrite1h: 10_000 }), sonnet45), 60_000, 'a 1h write costs 2× input, not the 5m rate');
  t.is(costOf(usage({ cacheRead: 10_000 }), sonnet45), 3_000, 'a read costs 0.1× input, not input');
  // The whole pipeline from an API usage object keeps the searches and the TTL split.
  const api = fromAnthropicUsage({
    input_tokens: 1000,
    cache_creation_input_tokens: 5000,
    cache_creation: { ephemeral_5m_input_tokens: 2000, ephemeral_1h_input_tokens: 3000 },
    cache_read_input_tokens: 4000,
    output_tokens: 500,
    server_tool_use: { web_search_requests: 2 },
  });
  t.is(costOf(api, sonnet45), 57_200);
});

test('pitfalls: an unknown model has no price (refuse it), never a price of $0', (t) => {
  for (const model of ['claude-sonnet-5', 'claude-opus-4-6', 'gpt-4o', 'claude-sonnet-4-5-preview']) t.is(table.priceFor(model), null, model);
});

test('pitfalls: cumulative stream usage is billed once, not summed over the deltas', (t) => {
  const reader = new StreamUsage();
  const event = (name: string, data: unknown) => Buffer.from(sse(name, data));
  reader.push(
    event('message_start', { type: 'message_start', message: { model: 'claude-sonnet-4-5-20250929', usage: { input_tokens: 1000, output_tokens: 1 } } }),
  );
  for (const output of [100, 300, 500]) reader.push(event('message_delta', { type: 'message_delta', usage: { output_tokens: output } }));
  reader.push(event('message_stop', { type: 'message_stop' }));
  reader.end();
  // 1000×3 + 500×15 = 3000 + 7500 (a sum of the deltas would bill 901 output tokens).
  t.is(costOf(reader.usage!, price(reader.model!)), 10_500);
});

test('the long-context tier: at 200,000 prompt tokens the base rates, above it the whole request at the tier rates', (t) => {
  // Input only: 199,999×3 / 200,000×3 / 200,001×6.
  t.is(costOf(usage({ input: 199_999 }), sonnet45), 599_997);
  t.is(costOf(usage({ input: 200_000 }), sonnet45), 600_000);
  t.is(costOf(usage({ input: 200_001 }), sonnet45), 1_200_006);
  // Mixed prompt of 199,999 / 200,000 / 200,001 tokens + 1,000 output.
  const mixed = (reads: number) => usage({ input: 100_000, cacheWrite5m: 50_000, cacheWrite1h: 30_000, cacheRead: reads, output: 1000 });
  // 100000×3 + 50000×3.75 + 30000×6 + 19999×0.30 + 1000×15 = 300000 + 187500 + 180000 + 5999.7 + 15000 = 688499.7 -> 688500
  t.is(costOf(mixed(19_999), sonnet45), 688_500);
  // … + 20000×0.30 = 6000 -> 688500 exactly
  t.is(costOf(mixed(20_000), sonnet45), 688_500);
  // 100000×6 + 50000×7.50 + 30000×12 + 20001×0.60 + 1000×22.50 = 600000 + 375000 + 360000 + 12000.6 + 22500 = 1369500.6 -> 1369501
  t.is(costOf(mixed(20_001), sonnet45), 1_369_501);
  // Sonnet 4 (by its dated id) has the tier too; Sonnet 4.6 and the others do not.
  t.is(costOf(usage({ input: 200_001 }), price('claude-sonnet-4-20250514')), 1_200_006);
  t.is(costOf(usage({ input: 200_001 }), price('claude-sonnet-4-6')), 600_003);
  t.is(costOf(usage({ input: 200_001 }), price('claude-haiku-4-5')), 200_001);
  t.is(ratesFor(sonnet45, 200_000), sonnet45.rates);
  t.is(ratesFor(sonnet45, 200_001), sonnet45.tiers[0]!.rates);
});

test('the cost is rounded up once, at the end, never per field', (t) => {
  const haiku35 = price('claude-3-5-haiku');
  t.is(costOf(usage({ cacheRead: 1 }), haiku35), 1, '0.08 µ$ is charged as 1 µ$');
  t.is(costOf(usage({ input: 1, cacheRead: 1 }), haiku35), 1, '0.80 + 0.08 = 0.88 µ$ -> 1, not 1 + 1');
  t.is(costOf(usage({ input: 2, cacheRead: 3 }), haiku35), 2, '1.60 + 0.24 = 1.84 µ$ -> 2, not 2 + 1');
  t.is(costOf(usage({ input: 5, cacheRead: 25 }), haiku35), 6, '4.00 + 2.00 = 6 µ$ exactly');
});

test('amounts beyond 2^53 µ$·tokens are exact', (t) => {
  // 5,000,000,000 output tokens × 75,000,000 µ$/MTok = 3.75e17 before the division.
  t.is(costOf(usage({ output: 5_000_000_000, cacheRead: 3 }), price('claude-opus-4-1')), 375_000_000_005);
  t.throws(() => costOf(usage({ input: 1.5 }), sonnet45), { instanceOf: RangeError, message: /usage\.input/ });
  t.throws(() => costOf(usage({ output: -1 }), sonnet45), { instanceOf: RangeError, message: /usage\.output/ });
});

test('worst case, by hand: every prompt token at the dearest input-side rate of the reachable tiers', (t) => {
  // 10000×6 (1h write rate) + 1000×15 + 5×10000 = 60000 + 15000 + 50000
  t.is(worstCaseCost({ promptTokensUpperBound: 10_000, maxTokens: 1000, webSearchMaxUses: 5 }, sonnet45), 125_000);
  // At the threshold the base rates: 200000×6 + 1000×15
  t.is(worstCaseCost({ promptTokensUpperBound: 200_000, maxTokens: 1000, webSearchMaxUses: 0 }, sonnet45), 1_215_000);
  // Across it the tier: 300000×12 + 1000×22.50
  t.is(worstCaseCost({ promptTokensUpperBound: 300_000, maxTokens: 1000, webSearchMaxUses: 0 }, sonnet45), 3_622_500);
  t.is(worstCaseCost({ promptTokensUpperBound: 0, maxTokens: 0, webSearchMaxUses: 0 }, sonnet45), 0);
  t.throws(() => worstCaseCost({ promptTokensUpperBound: -1, maxTokens: 0, webSearchMaxUses: 0 }, sonnet45), { message: /promptTokensUpperBound/ });
});

test('worst case is never below the cost of any usage within its bounds (seeded property check)', (t) => {
  const random = seededRandom(42);
  // Also a made-up price whose tier is cheaper than its base, so the bound cannot rely on tiers only going up.
  const odd = table.withOverrides([
    {
      family: 'claude-odd',
      version: 'test',
      rates: { input: 3_000_001, cacheWrite5m: 9_000_000, cacheWrite1h: 1, cacheRead: 7, output: 15_000_000 },
      webSearchPerRequest: 10_001,
      tiers: [{ abovePromptTokens: 1000, rates: { input: 1, cacheWrite5m: 1, cacheWrite1h: 2_000_000, cacheRead: 1, output: 3 } }],
    },
  ]);
  const prices = [...table.families(), odd.priceFor('claude-odd')!];
  let cases = 0;
  for (let i = 0; i < 5000; i++) {
    const p = prices[i % prices.length]!;
    const near = random() < 0.5;
    const bound = {
      promptTokensUpperBound: near ? randomInt(random, 199_990, 200_010) : randomInt(random, 0, 400_000),
      maxTokens: randomInt(random, 0, 64_000),
      webSearchMaxUses: randomInt(random, 0, 10),
    };
    let left = randomInt(random, 0, bound.promptTokensUpperBound);
    const take = () => {
      const n = randomInt(random, 0, left);
      left -= n;
      return n;
    };
    const u = usage({
      cacheWrite1h: take(),
      input: take(),
      cacheWrite5m: take(),
      cacheRead: take(),
      output: randomInt(random, 0, bound.maxTokens),
      webSearches: randomInt(random, 0, bound.webSearchMaxUses),
    });
    const worst = worstCaseCost(bound, p);
    if (costOf(u, p) > worst) t.fail(`${p.family}: ${JSON.stringify(u)} costs ${costOf(u, p)} > worst case ${worst} for ${JSON.stringify(bound)}`);
    // The bound is tight for the shipped prices: all 1h writes, every output token, every search.
    if (p.family !== 'claude-odd') {
      const full = usage({ cacheWrite1h: bound.promptTokensUpperBound, output: bound.maxTokens, webSearches: bound.webSearchMaxUses });
      if (costOf(full, p) !== worst) t.fail(`${p.family}: the bound is not tight for ${JSON.stringify(bound)}`);
    }
    cases++;
  }
  t.is(cases, 5000);
});
