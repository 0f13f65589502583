/**
 * The metering route end to end over HTTP, against the Anthropic double: who may call,
 * what goes upstream and comes back, streams byte for byte, exact charges, refusals.
 */
import test from 'ava';
import { Registry } from 'prom-client';
import { deriveCredential } from '../../../control/access/credentials.ts';
import { LEASE_IDLE_MS } from '../../../control/meter/books.ts';
import { parseSse } from '../../doubles/anthropic/index.ts';
import { databaseTargets } from '../../helpers/databases.ts';
import { MODEL, message, startTestMeter, type TestMeter } from '../../helpers/meter.ts';
import { TEST_KEY, TEST_SECRET } from '../../helpers/platform.ts';
import { waitUntil } from '../../helpers/wait.ts';

const postgres = (await databaseTargets()).find((target) => target.name === 'postgres')!;

/** Golden usage for claude-haiku-4-5 ($1 in, $1.25 5m write, $2 1h write, $0.10 read, $5 out per M; $0.01 per search). */
const USAGE = {
  input_tokens: 1000,
  output_tokens: 200,
  cache_read_input_tokens: 50,
  cache_creation: { ephemeral_5m_input_tokens: 300, ephemeral_1h_input_tokens: 100 },
  server_tool_use: { web_search_requests: 2 },
};
/** 1000×1 + 300×1.25 + 100×2 + 50×0.1 + 200×5 + 2×10,000 µ$. */
const USAGE_COST = 1000 + 375 + 200 + 5 + 1000 + 20_000;
/** A call that may search the web twice, as USAGE does. */
const SEARCHING = { tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 2 }] };

async function errorOf(response: Response) {
  const body = (await response.json()) as { type: string; error: { type: string; message: string }; request_id: string };
  return { status: response.status, ...body };
}

test('a key is taken from x-api-key or Authorization: Bearer; anything else is 401 in Anthropic’s shape and never forwarded', async (t) => {
  const m = await startTestMeter(t, { tenants: ['alice', 'bob'] });
  t.is((await m.call('alice', message())).status, 200, 'x-api-key');
  t.is((await m.call('alice', message(), { bearer: true, headers: { 'anthropic-version': '2026-10-21' } })).status, 200, 'Bearer');
  t.is(m.double.requests.length, 2);

  const refused = async (headers: Record<string, string>, what: string) => {
    const response = await fetch(`${m.meter.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers },
      body: JSON.stringify(message()),
    });
    const error = await errorOf(response);
    t.is(error.status, 401, what);
    t.is(error.type, 'error', what);
    t.is(error.error.type, 'authentication_error', what);
    t.regex(error.request_id, /^req_/, what);
  };
  await refused({}, 'no key');
  await refused({ 'x-api-key': `${m.keyOf('alice')}x` }, 'a key one character off');
  await refused({ 'x-api-key': 'mxm_unknown' }, 'an unknown key');
  await refused({ 'x-api-key': TEST_SECRET }, 'the platform secret');
  await refused({ authorization: `Bearer ${TEST_KEY}` }, 'the secret key');
  await refused({ 'x-api-key': m.double.apiKey }, "the platform's own upstream key");
  await refused({ authorization: `Basic ${m.keyOf('alice')}` }, 'a key in another scheme');

  // A rotated key dies at once; a suspended owner's key stops working.
  m.routes.set({ ...m.routes.get('alice')!, tokenGeneration: 2 });
  await refused({ 'x-api-key': deriveCredential(TEST_KEY, 'meter-key', 'alice', 1) }, 'the key before rotation');
  t.is((await m.call('alice', message())).status, 200, 'the new key works');
  m.routes.set({ ...m.routes.get('bob')!, suspended: true });
  await refused({ 'x-api-key': m.keyOf('bob') }, 'a suspended owner');
  m.routes.delete('alice');
  await refused({ 'x-api-key': m.keyOf('alice') }, 'a destroyed instance');

  t.is(m.double.requests.length, 3, 'no refused call reached the upstream');
  t.is(await m.heldForCalls(), 0);
});

test('upstream gets the platform key and the client’s version and beta headers; clients get request-id, rate limits and the budget', async (t) => {
  const m = await startTestMeter(t);
  const response = await m.call('alice', message(), {
    bearer: true,
    headers: { 'anthropic-version': '2026-10-21', 'anthropic-beta': 'context-1m-2025-08-07,web-search-2025-03-05', 'x-forwarded-for': '10.9.9.9' },
  });
  t.is(response.status, 200);
  const sent = m.double.requests[0]!;
  t.is(sent.headers['x-api-key'], m.double.apiKey);
  t.is(sent.headers.authorization, undefined, 'the instance credential stays at the meter');
  t.is(sent.anthropicVersion, '2026-10-21');
  t.deepEqual(sent.anthropicBeta, ['context-1m-2025-08-07', 'web-search-2025-03-05']);
  t.is(sent.headers['x-forwarded-for'], undefined);
  t.false(JSON.stringify(sent.headers).includes(m.keyOf('alice')));

  t.is(response.headers.get('request-id'), sent.requestId);
  t.truthy(response.headers.get('anthropic-ratelimit-requests-remaining'));
  t.regex(response.headers.get('x-mxos-budget') ?? '', /^Budget: \$\d+\.\d\d remaining$/);
  const body = (await response.json()) as { usage: { input_tokens: number } };
  t.true(body.usage.input_tokens > 0);

  m.double.failNext(429, { retryAfter: 7 });
  const limited = await m.call('alice', message());
  t.is(limited.status, 429);
  t.is(limited.headers.get('retry-after'), '7');
  t.is((await errorOf(limited)).error.type, 'rate_limit_error');
});

test('a stream passes byte for byte, split through events and characters, and is charged its exact usage once', async (t) => {
  const m = await startTestMeter(t);
  m.double.replyNext({ usage: USAGE, chunkBytes: 7, messageDeltas: 3 });
  const response = await m.call('alice', message({ stream: true, ...SEARCHING }));
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^text\/event-stream/);
  const received = Buffer.from(await response.arrayBuffer());
  const stream = m.double.streams[0]!;
  await stream.ended;
  t.true(received.equals(stream.bytes()), 'the client got exactly the upstream bytes');
  t.true(stream.writes.length > 20, 'the upstream wrote in small slices');
  t.is(parseSse(received.toString('utf8')).filter((e) => e.event === 'message_delta').length, 3);

  const [row] = await m.ledgerRows(1);
  t.is(row!.cost_micro, USAGE_COST, 'cumulative message_delta usage overwritten, never added');
  t.is(row!.outcome, 'ok');
  t.is(row!.model, MODEL);
  t.regex(row!.price_version, /^anthropic-/);
  t.is(row!.output_tokens, 200);
  t.is(await m.heldForCalls(), 0);
  t.deepEqual(m.activity, ['alice'], 'the call counts as activity');
});

test('a non-streamed answer is charged its usage; the budget left is in the header and in GET /v1/budget', async (t) => {
  const m = await startTestMeter(t, { env: { METER_DEFAULT_BUDGET_USD: '2.50' } });
  m.double.replyNext({ usage: USAGE });
  const response = await m.call('alice', message(SEARCHING));
  t.is(response.status, 200);
  t.is(((await response.json()) as { usage: { output_tokens: number } }).usage.output_tokens, 200);
  const [row] = await m.ledgerRows(1);
  t.is(row!.cost_micro, USAGE_COST);

  const budget = await fetch(`${m.meter.url}/v1/budget`, { headers: { authorization: `Bearer ${m.keyOf('alice')}` } });
  t.is(budget.status, 200);
  const body = (await budget.json()) as Record<string, unknown>;
  // 2.50 − 0.02258 = 2.47742: shown rounded down.
  t.like(body, { handle: 'alice', message: 'Budget: $2.47 remaining', remaining_usd: '2.47', limit_usd: '2.50', spent_usd: '0.02', period: 'none' });
  const unauthorized = await fetch(`${m.meter.url}/v1/budget`);
  t.is(unauthorized.status, 401);
});

test('a model without a price is refused with a 400 naming it, and nothing is forwarded or reserved', async (t) => {
  const m = await startTestMeter(t);
  const error = await errorOf(await m.call('alice', message({ model: 'claude-opus-4-6' })));
  t.is(error.status, 400);
  t.is(error.error.type, 'invalid_request_error');
  t.regex(error.error.message, /claude-opus-4-6.*no price/);
  const dated = await m.call('alice', message({ model: 'claude-haiku-4-5-20251001' }));
  t.is(dated.status, 200, 'a dated id prices like its family');
  t.is(m.double.requests.length, 1);
  const [row] = await m.ledgerRows(1);
  t.is(row!.model, 'claude-haiku-4-5-20251001');
});

test('bad requests get a 400 that names the problem, before any reservation', async (t) => {
  const m = await startTestMeter(t);
  const post = (body: string) =>
    fetch(`${m.meter.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': m.keyOf('alice'), 'content-type': 'application/json' }, body });
  const cases: Array<[string, RegExp]> = [
    ['{not json', /not valid JSON/],
    [JSON.stringify({ max_tokens: 10, messages: [] }), /model/],
    [JSON.stringify({ model: MODEL, messages: [] }), /max_tokens/],
    [JSON.stringify({ model: MODEL, max_tokens: -1, messages: [] }), /max_tokens/],
    [JSON.stringify(message({ tools: [{ type: 'web_search_20250305', name: 'web_search' }] })), /max_uses/],
  ];
  for (const [body, pattern] of cases) {
    const error = await errorOf(await post(body));
    t.is(error.status, 400, body);
    t.is(error.error.type, 'invalid_request_error', body);
    t.regex(error.error.message, pattern, body);
  }
  const missing = await errorOf(await fetch(`${m.meter.url}/v1/complete`, { method: 'POST', headers: { 'x-api-key': m.keyOf('alice') } }));
  t.is(missing.status, 404);
  t.is(missing.error.type, 'not_found_error');
  t.is(m.double.requests.length, 0);
  t.deepEqual(await m.ledger(), []);
  t.is(await m.heldForCalls(), 0);
});

test('an exhausted budget is a 400 the SDK will not retry, saying what is left and when it resets', async (t) => {
  const m = await startTestMeter(t, { env: { METER_DEFAULT_BUDGET_USD: '0', METER_BUDGET_PERIOD: 'daily' } });
  const response = await m.call('alice', message());
  t.is(response.headers.get('x-should-retry'), 'false');
  const error = await errorOf(response);
  t.is(error.status, 400);
  t.is(error.error.type, 'invalid_request_error');
  t.regex(error.error.message, /\$0\.00/);
  t.regex(error.error.message, /resets/i);
  t.is(m.double.requests.length, 0);
});

/**
 * Sends one call per handle at once and holds every admitted one at the upstream until
 * all the others have been answered, so no settlement frees budget during the race.
 */
async function allHeldUpstream(m: TestMeter, handles: string[], body: Record<string, unknown>): Promise<Response[]> {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  m.double.respond = async () => {
    await gate;
    return undefined;
  };
  let answered = 0;
  const calls = handles.map((handle) =>
    m.call(handle, body).then((response) => {
      answered++;
      return response;
    }),
  );
  await waitUntil(() => answered + m.double.requests.length === handles.length, {
    message: () => `every call answered or held upstream (${answered} answered, ${m.double.requests.length} upstream)`,
  });
  release();
  return Promise.all(calls);
}

test('100 concurrent calls through the route when 10 are affordable: exactly 10 reach the upstream, spend stays within budget', async (t) => {
  const m = await startTestMeter(t, { env: { METER_DEFAULT_BUDGET_USD: '1' } });
  // max_tokens 18,000 at $5/M is $0.09 of output, plus the prompt bound: ten of these fit in $1, eleven do not.
  const body = message({ max_tokens: 18_000 });
  const responses = await allHeldUpstream(
    m,
    Array.from({ length: 100 }, () => 'alice'),
    body,
  );
  const statuses = responses.map((r) => r.status);
  await Promise.all(responses.map((r) => r.arrayBuffer()));
  t.is(statuses.filter((s) => s === 200).length, 10);
  t.is(statuses.filter((s) => s === 400).length, 90);
  t.is(m.double.requests.length, 10);
  const rows = await m.ledgerRows(10);
  const budget = await m.meter.books.budget('u-alice');
  t.is(
    budget.spent,
    rows.reduce((sum, r) => sum + r.cost_micro, 0),
    'parallel settlements sum exactly',
  );
  t.true(budget.spent <= 1_000_000);
  t.is(budget.reserved, 0);
});

test('the platform ceiling bounds everyone together', async (t) => {
  const tenants = ['alice', 'bob', 'carol', 'dave'];
  const m = await startTestMeter(t, { tenants, env: { METER_DEFAULT_BUDGET_USD: '1', METER_PLATFORM_BUDGET_USD: '0.5' } });
  const body = message({ max_tokens: 18_000 });
  const responses = await allHeldUpstream(
    m,
    Array.from({ length: 40 }, (_, i) => tenants[i % tenants.length]!),
    body,
  );
  await Promise.all(responses.map((r) => r.arrayBuffer()));
  t.is(responses.filter((r) => r.status === 200).length, 5, 'five of about $0.098 fit under $0.50');
  const refused = responses.find((r) => r.status === 400)!;
  t.is(refused.headers.get('x-should-retry'), 'false');
  await m.ledgerRows(5);
  const platform = await m.meter.books.platform();
  t.true(platform.spent <= 500_000);
  t.is(platform.reserved, 0);
});

test('a client that leaves after k chunks is billed once, for the whole answer read in the background', async (t) => {
  const m = await startTestMeter(t);
  m.double.replyNext({ usage: USAGE, text: 'one two three four five six seven eight nine ten eleven twelve', tokensPerDelta: 1 });
  const stall = m.double.stallNext({ afterDeltas: 3 });
  const controller = new AbortController();
  const response = await m.call('alice', message({ stream: true, ...SEARCHING }), { signal: controller.signal });
  const reader = response.body!.getReader();
  let seen = '';
  while (!seen.includes('content_block_delta')) seen += new TextDecoder().decode((await reader.read()).value);
  await stall.reached;
  controller.abort();
  await waitUntil(() => m.meter.drains.count === 1, { message: 'the meter to keep reading the abandoned stream' });
  stall.release();
  const stream = m.double.streams[0]!;
  t.is(await stream.ended, 'completed', 'the upstream was read to its end');
  const [row] = await m.ledgerRows(1);
  t.is(row!.outcome, 'disconnected');
  t.is(row!.cost_micro, USAGE_COST);
  await waitUntil(() => m.meter.drains.count === 0);
  t.is((await m.ledger()).length, 1, 'exactly one ledger row');
  t.is(await m.heldForCalls(), 0);
});

test('past the drain cap an abandoned stream is charged its reservation, the documented worst case', async (t) => {
  const m = await startTestMeter(t, { env: { METER_DRAIN_TIMEOUT: '1s' } });
  const stall = m.double.stallNext({ afterDeltas: 1 });
  const controller = new AbortController();
  const response = await m.call('alice', message({ stream: true, max_tokens: 1000 }), { signal: controller.signal });
  await stall.reached;
  await response.body!.getReader().read();
  controller.abort();
  const [row] = await m.ledgerRows(1);
  t.is(row!.outcome, 'capped');
  // The worst case: max_tokens at the output rate, plus the body's bytes at the dearest input rate.
  t.true(row!.cost_micro >= 1000 * 5, `charged ${row!.cost_micro} µ$`);
  t.is(m.double.streams[0]!.state === 'open' ? 'open' : 'ended', 'ended', 'the upstream read was stopped');
  t.is(await m.heldForCalls(), 0);
});

test('upstream errors before any usage (4xx, 529, unreachable) cost $0 and release the reservation', async (t) => {
  const m = await startTestMeter(t);
  m.double.failNext(529);
  const overloaded = await m.call('alice', message({ stream: true }));
  t.is(overloaded.status, 529);
  t.is((await errorOf(overloaded)).error.type, 'overloaded_error');
  m.double.failNext(400, { message: 'messages: at least one message is required' });
  const invalid = await m.call('alice', message());
  t.is(invalid.status, 400);
  t.regex((await errorOf(invalid)).error.message, /at least one message/);
  const rows = await m.ledgerRows(2);
  t.deepEqual(
    rows.map((r) => [r.outcome, r.cost_micro]),
    [
      ['error', 0],
      ['error', 0],
    ],
  );
  const budget = await m.meter.books.budget('u-alice');
  t.like(budget, { spent: 0, reserved: 0 });

  await m.double.close();
  const unreachable = await m.call('alice', message());
  t.is(unreachable.status, 503);
  t.is((await errorOf(unreachable)).error.type, 'api_error');
  await m.ledgerRows(3);
  t.like(await m.meter.books.budget('u-alice'), { spent: 0, reserved: 0 });
});

test('an error event after HTTP 200 reaches the client, and the usage read before it is charged', async (t) => {
  const m = await startTestMeter(t);
  m.double.replyNext({ usage: { input_tokens: 4000 } });
  m.double.streamErrorNext({ afterDeltas: 2, type: 'overloaded_error' });
  const response = await m.call('alice', message({ stream: true }));
  t.is(response.status, 200);
  const events = parseSse(await response.text());
  t.is(events.at(-1)!.event, 'error');
  const [row] = await m.ledgerRows(1);
  t.is(row!.outcome, 'error');
  t.is(row!.input_tokens, 4000);
  t.is(row!.cost_micro, 4000 + row!.output_tokens * 5, 'input at $1/M, output so far at $5/M');
});

test('count_tokens and models pass through unmetered; a GET needs a key all the same', async (t) => {
  const m = await startTestMeter(t);
  const count = await fetch(`${m.meter.url}/v1/messages/count_tokens`, {
    method: 'POST',
    headers: { 'x-api-key': m.keyOf('alice'), 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'Hello there' }] }),
  });
  t.is(count.status, 200);
  t.true(((await count.json()) as { input_tokens: number }).input_tokens > 0);
  const models = await fetch(`${m.meter.url}/v1/models?limit=2`, {
    headers: { authorization: `Bearer ${m.keyOf('alice')}`, 'anthropic-version': '2023-06-01' },
  });
  t.is(models.status, 200);
  t.is(((await models.json()) as { data: unknown[] }).data.length, 2);
  t.is(m.double.requests.at(-1)!.query, '?limit=2');
  t.is((await fetch(`${m.meter.url}/v1/models`)).status, 401);
  t.deepEqual(await m.ledger(), []);
});

postgres.test('[postgres] two meter replicas on one database: 100 calls when 10 are affordable admit exactly 10', async (t) => {
  const database = await postgres.create();
  t.teardown(database.cleanup);
  const env = { METER_DEFAULT_BUDGET_USD: '1' };
  const a = await startTestMeter(t, { databaseUrl: database.url, env: { ...env, REPLICA_ID: 'replica-a' } });
  const b = await startTestMeter(t, { databaseUrl: database.url, env: { ...env, REPLICA_ID: 'replica-b' } });
  const body = message({ max_tokens: 18_000 });
  const [fromA, fromB] = await Promise.all([
    allHeldUpstream(
      a,
      Array.from({ length: 50 }, () => 'alice'),
      body,
    ),
    allHeldUpstream(
      b,
      Array.from({ length: 50 }, () => 'alice'),
      body,
    ),
  ]);
  const responses = [...fromA, ...fromB];
  await Promise.all(responses.map((r) => r.arrayBuffer()));
  t.is(responses.filter((r) => r.status === 200).length, 10);
  t.is(a.double.requests.length + b.double.requests.length, 10);
  await a.ledgerRows(10);
  // Each replica's lease gives back what its calls did not spend once idle.
  for (const m of [a, b]) {
    await m.meter.books.upkeep(new Date(Date.now() + LEASE_IDLE_MS + 1000));
    await m.meter.books.flushed();
  }
  const budget = await a.meter.books.budget('u-alice');
  t.true(budget.spent <= 1_000_000);
  t.is(budget.reserved, 0);
});

test('metrics: calls by outcome, refusals by reason, spend, admission time and settlement writes', async (t) => {
  const registry = new Registry();
  const m = await startTestMeter(t, { registry });
  t.is((await m.call('alice', message())).status, 200);
  t.is((await m.call('alice', message({ model: 'claude-unknown-9' }))).status, 400);
  t.is((await fetch(`${m.meter.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': 'mxm_forged' }, body: '{}' })).status, 401);
  const [row] = await m.ledgerRows(1);
  await m.meter.books.flushed();
  const text = await registry.metrics();
  t.regex(text, /^mxos_meter_calls_total\{outcome="ok"\} 1$/m);
  t.regex(text, /^mxos_meter_refusals_total\{reason="unpriced"\} 1$/m);
  t.regex(text, /^mxos_meter_refusals_total\{reason="unauthenticated"\} 1$/m);
  t.regex(text, new RegExp(`^mxos_meter_spend_microdollars_total ${row!.cost_micro}$`, 'm'));
  t.regex(text, /^mxos_meter_calls_in_flight 0$/m);
  t.regex(text, /^mxos_meter_admission_seconds_count 1$/m);
  t.regex(text, /^mxos_meter_write_batches_total\{result="ok"\} [1-9]/m);
});
