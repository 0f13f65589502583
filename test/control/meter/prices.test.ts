import fs from 'node:fs';
import test from 'ava';
import { ConfigError } from '../../../control/errors.ts';
import { DEFAULT_PRICES_PATH, decimalUsdToMicro, formatMicroUsd, type PriceOverride, PriceTable } from '../../../control/meter/prices.ts';

const table = PriceTable.fromFile();
const shipped = JSON.parse(fs.readFileSync(DEFAULT_PRICES_PATH, 'utf8'));

/** µ$ per million tokens: input / 5m write / 1h write / read / output. */
const rates = (input: number, cacheWrite5m: number, cacheWrite1h: number, cacheRead: number, output: number) => ({
  input,
  cacheWrite5m,
  cacheWrite1h,
  cacheRead,
  output,
});
const OPUS_45 = rates(5_000_000, 6_250_000, 10_000_000, 500_000, 25_000_000);
const OPUS_4 = rates(15_000_000, 18_750_000, 30_000_000, 1_500_000, 75_000_000);
const SONNET = rates(3_000_000, 3_750_000, 6_000_000, 300_000, 15_000_000);
const SONNET_LONG = [{ abovePromptTokens: 200_000, rates: rates(6_000_000, 7_500_000, 12_000_000, 600_000, 22_500_000) }];
const HAIKU_45 = rates(1_000_000, 1_250_000, 2_000_000, 100_000, 5_000_000);
const HAIKU_35 = rates(800_000, 1_000_000, 1_600_000, 80_000, 4_000_000);

test('the shipped Anthropic prices: exactly the confirmed families, in µ$ per million tokens', (t) => {
  t.is(table.version, 'anthropic-2025-11-24');
  t.is(table.effectiveFrom, '2025-11-24');
  const expected = {
    'claude-opus-4-5': [OPUS_45, []],
    'claude-opus-4-1': [OPUS_4, []],
    'claude-opus-4-0': [OPUS_4, []],
    'claude-sonnet-4-6': [SONNET, []],
    'claude-sonnet-4-5': [SONNET, SONNET_LONG],
    'claude-sonnet-4-0': [SONNET, SONNET_LONG],
    'claude-haiku-4-5': [HAIKU_45, []],
    'claude-3-5-haiku': [HAIKU_35, []],
  };
  t.deepEqual(
    table
      .families()
      .map((price) => price.family)
      .sort(),
    Object.keys(expected).sort(),
  );
  for (const [family, [familyRates, tiers]] of Object.entries(expected)) {
    t.like(table.priceFor(family), { family, version: 'anthropic-2025-11-24', rates: familyRates, webSearchPerRequest: 10_000 }, family);
    t.deepEqual(table.priceFor(family)?.tiers, tiers, family);
  }
});

test('dated snapshots and aliases price like their family; anything else is unpriced', (t) => {
  const resolves = {
    'claude-opus-4-5-20251101': 'claude-opus-4-5',
    'claude-opus-4-1-20250805': 'claude-opus-4-1',
    'claude-opus-4': 'claude-opus-4-0',
    'claude-opus-4-20250514': 'claude-opus-4-0',
    'claude-sonnet-4': 'claude-sonnet-4-0',
    'claude-sonnet-4-20250514': 'claude-sonnet-4-0',
    'claude-sonnet-4-5-20250929': 'claude-sonnet-4-5',
    'claude-haiku-4-5-20251001': 'claude-haiku-4-5',
    'claude-3-5-haiku-latest': 'claude-3-5-haiku',
    'claude-3-5-haiku-20241022': 'claude-3-5-haiku',
  };
  for (const [id, family] of Object.entries(resolves)) t.is(table.priceFor(id)?.family, family, id);
  const unpriced = [
    'claude-opus-4-6',
    'claude-sonnet-5',
    'claude-opus-5-20261001',
    'claude-3-7-sonnet-20250219',
    'claude-3-5-sonnet-20241022',
    'claude-sonnet-4-5-latest',
    'CLAUDE-SONNET-4-5',
    'claude-sonnet-4-5-2025092',
    'claude-sonnet-4-5-20251399',
    'claude-sonnet-4-5-20250929-20250929',
    'claude-sonnet-4-5 ',
    '',
  ];
  for (const id of unpriced) t.is(table.priceFor(id), null, id);
  t.is(table.priceFor(undefined as unknown as string), null);
});

test('decimal USD strings become exact integer micro-dollars; anything malformed is refused', (t) => {
  const good = {
    '0': 0,
    '3': 3_000_000,
    '0.30': 300_000,
    '0.3': 300_000,
    '18.75': 18_750_000,
    '0.000001': 1,
    '0.01': 10_000,
    '1234567.123456': 1_234_567_123_456,
  };
  for (const [text, micro] of Object.entries(good)) t.is(decimalUsdToMicro(text, 'rate'), micro, text);
  for (const bad of [
    '-3',
    '1e3',
    '.5',
    '5.',
    ' 5',
    '+5',
    '0.0000001',
    '03',
    '1,5',
    '',
    'NaN',
    'Infinity',
    '0x10',
    '9007199254.740992',
    3 as unknown as string,
  ]) {
    t.throws(() => decimalUsdToMicro(bad, 'model "m", field "input"'), { instanceOf: ConfigError, message: /^model "m", field "input": / }, String(bad));
  }
  t.throws(() => decimalUsdToMicro('-0.30', 'x'), { message: /is negative/ });
  t.is(formatMicroUsd(57_200), '0.057200');
  t.is(formatMicroUsd(3_000_001), '3.000001');
});

/** The shipped data with one edit to the entry for `family`. */
function edited(family: string, edit: (entry: Record<string, unknown>) => void): unknown {
  const data = structuredClone(shipped);
  edit(data.models.find((entry: { family: string }) => entry.family === family));
  return data;
}

test('every bad entry is refused up front, naming the entry and the field', (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [edited('claude-sonnet-4-5', (e) => (e.input = '-3')), /model "claude-sonnet-4-5", field "input": "-3" is negative/],
    [edited('claude-haiku-4-5', (e) => delete e.cacheWrite1h), /model "claude-haiku-4-5", field "cacheWrite1h": missing/],
    [edited('claude-opus-4-5', (e) => (e.cacheRead = '0.5000001')), /model "claude-opus-4-5", field "cacheRead": "0.5000001" is not a decimal USD string/],
    [edited('claude-opus-4-5', (e) => (e.output = 25)), /model "claude-opus-4-5", field "output": 25 is not a decimal USD string/],
    [edited('claude-opus-4-1', (e) => delete e.webSearchPerRequest), /model "claude-opus-4-1", field "webSearchPerRequest": missing/],
    [edited('claude-opus-4-1', (e) => (e.outputRate = '75')), /model "claude-opus-4-1", field "outputRate": unknown field/],
    [edited('claude-opus-4-1', (e) => (e.aliases = 'claude-opus-4-1-latest')), /model "claude-opus-4-1", field "aliases": must be an array/],
    [edited('claude-opus-4-1', (e) => (e.aliases = ['Opus 4.1'])), /model "claude-opus-4-1", field "aliases\[0\]": "Opus 4.1" is not a model id/],
    [edited('claude-opus-4-1', (e) => (e.aliases = ['claude-opus-4'])), /model "claude-opus-4-0".*"claude-opus-4" is already priced by "claude-opus-4-1"/],
    [edited('claude-opus-4-1', (e) => (e.family = 'claude-opus-4-5')), /the id "claude-opus-4-5" is already priced/],
    [
      edited('claude-sonnet-4-5', (e) => ((e.tiers as Array<Record<string, unknown>>)[0]!.output = '22.5.0')),
      /model "claude-sonnet-4-5", field "tiers\[0\]\.output"/,
    ],
    [
      edited('claude-sonnet-4-5', (e) => delete (e.tiers as Array<Record<string, unknown>>)[0]!.cacheRead),
      /model "claude-sonnet-4-5", field "tiers\[0\]\.cacheRead": missing/,
    ],
    [
      edited('claude-sonnet-4-5', (e) => ((e.tiers as Array<Record<string, unknown>>)[0]!.abovePromptTokens = 0)),
      /field "tiers\[0\]\.abovePromptTokens": 0 is not a positive/,
    ],
    [
      edited('claude-sonnet-4-5', (e) => (e.tiers = [...(e.tiers as unknown[]), ...(e.tiers as unknown[])])),
      /model "claude-sonnet-4-5", field "tiers\[1\]\.abovePromptTokens": thresholds must increase/,
    ],
    [edited('claude-sonnet-4-5', (e) => (e.family = 'Claude Sonnet')), /models\[4\], field "family": "Claude Sonnet" is not a model id/],
    [{ ...shipped, models: [...shipped.models, 'claude-x'] }, /models\[8\]: must be an object/],
    [{ ...shipped, version: undefined }, /field "version": missing/],
    [{ ...shipped, effectiveFrom: '2025-02-30' }, /field "effectiveFrom": "2025-02-30" is not an ISO date/],
    [{ ...shipped, models: [] }, /field "models": must be a non-empty array/],
    [{ ...shipped, multiplier: 1.1 }, /field "multiplier": unknown field/],
    [[], /must be a JSON object/],
  ];
  for (const [data, message] of cases) t.throws(() => PriceTable.fromData(data), { instanceOf: ConfigError, message }, String(message));
  t.throws(() => PriceTable.fromFile('/nonexistent/prices.json'), {
    instanceOf: ConfigError,
    message: /Price file \/nonexistent\/prices\.json cannot be read/,
  });
});

const override = (family: string, extra: Partial<PriceOverride> = {}): PriceOverride => ({
  family,
  version: 'admin-2026-12-01',
  rates: rates(4_000_000, 5_000_000, 8_000_000, 400_000, 20_000_000),
  webSearchPerRequest: 12_000,
  ...extra,
});

test('operator overrides replace a family (aliases and dated ids follow) or add one; the old table is untouched', (t) => {
  const next = table.withOverrides([override('claude-opus-4-0'), override('claude-opus-4-6', { aliases: ['claude-opus-4-6-preview'] })]);
  for (const id of ['claude-opus-4-0', 'claude-opus-4', 'claude-opus-4-20250514'])
    t.like(next.priceFor(id), { family: 'claude-opus-4-0', version: 'admin-2026-12-01', rates: { input: 4_000_000 } }, id);
  t.like(next.priceFor('claude-opus-4-6-20261101'), { family: 'claude-opus-4-6', webSearchPerRequest: 12_000 });
  t.is(next.priceFor('claude-opus-4-6-preview')?.family, 'claude-opus-4-6');
  t.is(next.families().length, table.families().length + 1);
  t.is(next.version, table.version);
  t.like(table.priceFor('claude-opus-4-0'), { version: 'anthropic-2025-11-24', rates: OPUS_4 });
  t.is(table.priceFor('claude-opus-4-6'), null);
  // A row is the whole price: without tiers, the long-context tier is gone; with them, it is the row's.
  t.deepEqual(table.withOverrides([override('claude-sonnet-4-5')]).priceFor('claude-sonnet-4-5')?.tiers, []);
  const tiers = [{ abovePromptTokens: 100_000, rates: rates(1, 2, 3, 4, 5) }];
  t.deepEqual(table.withOverrides([override('claude-sonnet-4-5', { tiers })]).priceFor('claude-sonnet-4-5')?.tiers, tiers);
  // Later rows win.
  t.is(table.withOverrides([override('claude-x'), override('claude-x', { webSearchPerRequest: 1 })]).priceFor('claude-x')?.webSearchPerRequest, 1);
});

test('bad override rows are refused naming the family and the field', (t) => {
  const cases: Array<[PriceOverride, RegExp]> = [
    [
      override('claude-opus-4-0', { rates: { ...OPUS_4, output: -1 } }),
      /override for "claude-opus-4-0", field "rates\.output": -1 is not a non-negative whole number/,
    ],
    [override('claude-opus-4-0', { rates: { ...OPUS_4, input: 1.5 } }), /field "rates\.input": 1\.5/],
    [override('claude-opus-4-0', { rates: { ...OPUS_4, cacheRead: '1500000' as unknown as number } }), /field "rates\.cacheRead": "1500000"/],
    [override('claude-opus-4-0', { webSearchPerRequest: Number.NaN }), /field "webSearchPerRequest"/],
    [override('claude-opus-4-0', { version: '' }), /override for "claude-opus-4-0", field "version": missing/],
    [override('claude-opus-4-0', { tiers: [{ abovePromptTokens: 1.5, rates: OPUS_4 }] }), /field "tiers\[0\]\.abovePromptTokens"/],
    [override('claude-opus-4-0', { tiers: [{ abovePromptTokens: 10, rates: { ...OPUS_4, output: -2 } }] }), /field "tiers\[0\]\.rates\.output"/],
    [override('claude-opus-4'), /"claude-opus-4": that id is an alias of "claude-opus-4-0"; override "claude-opus-4-0" instead/],
    [override('claude-x', { aliases: ['claude-3-5-haiku-latest'] }), /"claude-3-5-haiku-latest" is already priced by "claude-3-5-haiku"/],
    [override('Claude X'), /field "family": "Claude X" is not a model id/],
  ];
  for (const [row, message] of cases) t.throws(() => table.withOverrides([row]), { instanceOf: ConfigError, message }, String(message));
});

test('prices handed out cannot be changed by the caller', (t) => {
  const price = table.priceFor('claude-sonnet-4-5')!;
  t.throws(() => {
    (price.rates as { input: number }).input = 0;
  });
  t.throws(() => {
    (price.tiers[0]!.rates as { output: number }).output = 0;
  });
  t.is(table.priceFor('claude-sonnet-4-5')?.rates.input, 3_000_000);
});
