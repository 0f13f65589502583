/**
 * The official TypeScript SDK (@anthropic-ai/sdk 1.x, Bearer auth, anthropic-version
 * 2026-10-21), pointed at the meter as an instance would point it (ANTHROPIC_BASE_URL,
 * ANTHROPIC_API_KEY), with its default retries.
 */
import Anthropic from '@anthropic-ai/sdk';
import test from 'ava';
import { DEFAULT_REPLY } from '../../doubles/anthropic/index.ts';
import { MODEL, startTestMeter, type TestMeter } from '../../helpers/meter.ts';

/** A client as an instance builds it, counting the HTTP requests it sends. */
function sdkFor(m: TestMeter, handle: string): { client: Anthropic; sent: () => number } {
  let sent = 0;
  const client = new Anthropic({
    apiKey: m.keyOf(handle),
    baseURL: m.meter.url,
    fetch: (input: string | URL | Request, init?: RequestInit) => {
      sent++;
      return fetch(input, init);
    },
  });
  return { client, sent: () => sent };
}

const ask = { model: MODEL, max_tokens: 512, messages: [{ role: 'user' as const, content: 'Say hello' }] };

test('the SDK gets complete messages through the meter, streaming and not, and each call is charged', async (t) => {
  const m = await startTestMeter(t, { double: { chunkBytes: 5 } });
  const { client } = sdkFor(m, 'alice');

  m.double.replyNext({ usage: { input_tokens: 20, output_tokens: 30 } });
  const created = await client.messages.create(ask);
  t.is(created.content[0]?.type, 'text');
  t.is((created.content[0] as { text: string }).text, DEFAULT_REPLY);
  t.is(created.usage.output_tokens, 30);
  t.is(m.double.requests[0]!.anthropicVersion, '2026-10-21');

  m.double.replyNext({ usage: { input_tokens: 20, output_tokens: 40 }, messageDeltas: 2 });
  const stream = client.messages.stream(ask);
  let streamedText = '';
  stream.on('text', (text) => {
    streamedText += text;
  });
  const final = await stream.finalMessage();
  t.is(streamedText, DEFAULT_REPLY, 'every character survived the split chunks');
  t.is(final.usage.output_tokens, 40);

  const rows = await m.ledgerRows(2);
  // claude-haiku-4-5: $1 in, $5 out per M tokens.
  t.deepEqual(
    rows.map((r) => [r.outcome, r.cost_micro]),
    [
      ['ok', 20 + 30 * 5],
      ['ok', 20 + 40 * 5],
    ],
  );
});

test('the SDK retries a 529 on its own; the failed attempt costs nothing', async (t) => {
  const m = await startTestMeter(t);
  const { client, sent } = sdkFor(m, 'alice');
  m.double.failNext(529);
  m.double.replyNext({ usage: { input_tokens: 10, output_tokens: 10 } });
  const message = await client.messages.create(ask);
  t.is(message.usage.output_tokens, 10);
  t.is(sent(), 2, 'one retry');
  const rows = await m.ledgerRows(2);
  t.deepEqual(
    rows.map((r) => [r.outcome, r.cost_micro]),
    [
      ['error', 0],
      ['ok', 10 + 10 * 5],
    ],
  );
});

test('an exhausted budget is a BadRequestError after exactly one request, with the budget in its message', async (t) => {
  const m = await startTestMeter(t, { env: { METER_DEFAULT_BUDGET_USD: '0.001' } });
  const { client, sent } = sdkFor(m, 'alice');
  const error = await t.throwsAsync(client.messages.create({ ...ask, max_tokens: 4096 }), { instanceOf: Anthropic.BadRequestError });
  t.is(sent(), 1, 'not retried');
  t.is(error?.status, 400);
  t.regex(error?.message ?? '', /Budget: \$0\.00 remaining of \$0\.00, and this call may cost up to \$0\.03 /);
  t.is(m.double.requests.length, 0);

  const streamed = client.messages.stream({ ...ask, max_tokens: 4096 });
  await t.throwsAsync(streamed.finalMessage(), { instanceOf: Anthropic.BadRequestError });
  t.is(sent(), 2, 'one more request, not retried either');
});

test('a wrong key is an AuthenticationError, not retried', async (t) => {
  const m = await startTestMeter(t);
  let sent = 0;
  const client = new Anthropic({
    apiKey: 'mxm_not-a-key',
    baseURL: m.meter.url,
    fetch: (input: string | URL | Request, init?: RequestInit) => {
      sent++;
      return fetch(input, init);
    },
  });
  await t.throwsAsync(client.messages.create(ask), { instanceOf: Anthropic.AuthenticationError });
  t.is(sent, 1);
  t.is(m.double.requests.length, 0);
});
