import test from 'ava';
import { applyUsagePatch, fromAnthropicUsage, NO_USAGE, parseUsagePatch, promptTokens, UsageError } from '../../../control/meter/usage.ts';

test('a full usage object maps every field, cache writes split by TTL and web searches counted', (t) => {
  const usage = fromAnthropicUsage({
    input_tokens: 1000,
    cache_creation_input_tokens: 5000,
    cache_read_input_tokens: 4000,
    cache_creation: { ephemeral_5m_input_tokens: 2000, ephemeral_1h_input_tokens: 3000 },
    output_tokens: 500,
    server_tool_use: { web_search_requests: 2, web_fetch_requests: 7 },
    service_tier: 'standard',
    inference_geo: 'us',
  });
  t.deepEqual(usage, { input: 1000, cacheWrite5m: 2000, cacheWrite1h: 3000, cacheRead: 4000, output: 500, webSearches: 2 });
  t.is(promptTokens(usage), 10_000, 'the prompt is input + both cache writes + reads');
});

test('cache writes given only as a total count as 5-minute writes', (t) => {
  t.like(fromAnthropicUsage({ input_tokens: 10, cache_creation_input_tokens: 700, output_tokens: 3 }), { cacheWrite5m: 700, cacheWrite1h: 0 });
});

test('missing and null fields are 0; an empty usage object is no usage', (t) => {
  t.deepEqual(fromAnthropicUsage({}), { ...NO_USAGE });
  t.deepEqual(
    fromAnthropicUsage({ input_tokens: 5, cache_creation_input_tokens: null, cache_read_input_tokens: null, cache_creation: null, server_tool_use: null }),
    {
      ...NO_USAGE,
      input: 5,
    },
  );
  t.like(fromAnthropicUsage({ cache_creation: { ephemeral_1h_input_tokens: 9 } }), { cacheWrite5m: 0, cacheWrite1h: 9 });
  t.like(fromAnthropicUsage({ server_tool_use: {} }), { webSearches: 0 });
});

test('a negative, fractional, non-numeric or oversized count is refused with the field named', (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [{ input_tokens: -1 }, /usage\.input_tokens .*-1/],
    [{ output_tokens: 1.5 }, /usage\.output_tokens .*1\.5/],
    [{ output_tokens: '12' }, /usage\.output_tokens .*"12"/],
    [{ cache_read_input_tokens: Number.NaN }, /usage\.cache_read_input_tokens/],
    [{ input_tokens: Number.POSITIVE_INFINITY }, /usage\.input_tokens/],
    [{ input_tokens: 2 ** 53 }, /usage\.input_tokens/],
    [{ cache_creation: { ephemeral_1h_input_tokens: -5 } }, /usage\.cache_creation\.ephemeral_1h_input_tokens/],
    [{ cache_creation: 12 }, /usage\.cache_creation must be an object/],
    [{ server_tool_use: { web_search_requests: 0.5 } }, /usage\.server_tool_use\.web_search_requests/],
    [{ server_tool_use: [] }, /usage\.server_tool_use must be an object/],
  ];
  for (const [usage, message] of cases) {
    const error = t.throws(() => fromAnthropicUsage(usage), { instanceOf: UsageError, message }, JSON.stringify(usage));
    t.regex(error?.message ?? '', /refusing to bill/);
  }
  for (const notAnObject of [null, undefined, 42, 'usage', [1, 2]]) {
    t.throws(() => fromAnthropicUsage(notAnObject), { instanceOf: UsageError, message: /^usage must be an object/ });
  }
});

test('a total that disagrees with its breakdown never loses tokens', (t) => {
  // Larger total: the unexplained remainder is billed as 5-minute writes (the default TTL).
  t.like(fromAnthropicUsage({ cache_creation_input_tokens: 900, cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 300 } }), {
    cacheWrite5m: 600,
    cacheWrite1h: 300,
  });
  // Smaller total: the breakdown is the larger statement and is kept.
  t.like(fromAnthropicUsage({ cache_creation_input_tokens: 10, cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 300 } }), {
    cacheWrite5m: 100,
    cacheWrite1h: 300,
  });
});

test('a patch overwrites only the fields it carries, never adds', (t) => {
  const start = fromAnthropicUsage({
    input_tokens: 50,
    cache_creation_input_tokens: 30,
    cache_creation: { ephemeral_5m_input_tokens: 10, ephemeral_1h_input_tokens: 20 },
    cache_read_input_tokens: 40,
    output_tokens: 1,
  });
  t.deepEqual(applyUsagePatch(start, parseUsagePatch({ output_tokens: 80 })), { ...start, output: 80 });
  t.deepEqual(applyUsagePatch(start, parseUsagePatch({ output_tokens: 80, server_tool_use: { web_search_requests: 3 } })), {
    ...start,
    output: 80,
    webSearches: 3,
  });
  // The same cumulative numbers again change nothing.
  t.deepEqual(applyUsagePatch(start, parseUsagePatch({ input_tokens: 50, cache_read_input_tokens: 40, cache_creation_input_tokens: 30 })), start);
  // A total without breakdown keeps the 1h tokens already known and puts the rest on 5m.
  t.like(applyUsagePatch(start, parseUsagePatch({ cache_creation_input_tokens: 45 })), { cacheWrite5m: 25, cacheWrite1h: 20 });
  t.like(applyUsagePatch(start, parseUsagePatch({ cache_creation_input_tokens: 5 })), { cacheWrite5m: 0, cacheWrite1h: 5 });
  t.deepEqual(start.output, 1, 'the base is not modified');
});
