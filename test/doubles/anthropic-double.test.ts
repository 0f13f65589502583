/**
 * The Anthropic double behaves like the Messages API as
 * test/doubles/anthropic/README.md describes it: real HTTP, the documented
 * error bodies and statuses, deterministic usage, SSE streams with cumulative
 * message_delta usage, byte-sliced streams, and faults that a metering proxy
 * in front of it has to survive.
 */
import test, { type ExecutionContext } from 'ava';
import {
  type AnthropicDouble,
  type AnthropicDoubleOptions,
  countInputTokens,
  DEFAULT_API_KEY,
  DEFAULT_REPLY,
  parseSse,
  replyTokens,
  startAnthropicDouble,
} from './anthropic/index.ts';

// biome-ignore lint/suspicious/noExplicitAny: API JSON read back in assertions, checked field by field
type J = any;

const MODEL = 'claude-sonnet-4-5-20250929';
const HEADERS: Record<string, string> = { 'x-api-key': DEFAULT_API_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
const RATE_LIMIT_HEADERS = [
  'anthropic-ratelimit-requests-limit',
  'anthropic-ratelimit-requests-remaining',
  'anthropic-ratelimit-requests-reset',
  'anthropic-ratelimit-tokens-limit',
  'anthropic-ratelimit-tokens-remaining',
];

const hello = (over: Record<string, unknown> = {}): Record<string, J> => ({
  model: MODEL,
  max_tokens: 1024,
  messages: [{ role: 'user', content: 'Hello, wörld' }],
  ...over,
});

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: J;
}

async function withDouble(t: ExecutionContext, options: AnthropicDoubleOptions = {}): Promise<AnthropicDouble> {
  const d = await startAnthropicDouble(options);
  t.teardown(() => d.close());
  return d;
}

interface CallOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

async function call(d: AnthropicDouble, path: string, options: CallOptions = {}): Promise<Reply> {
  const init: RequestInit = { method: options.method ?? (options.body === undefined ? 'GET' : 'POST'), headers: options.headers ?? HEADERS };
  if (options.body !== undefined) init.body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const res = await fetch(`${d.url}${path}`, init);
  const text = await res.text();
  const json = res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : undefined;
  return { status: res.status, headers: res.headers, text, json };
}

const post = (d: AnthropicDouble, body: unknown, headers?: Record<string, string>) => call(d, '/v1/messages', { body, headers });

function assertError(t: ExecutionContext, reply: Reply, status: number, type: string, message?: string): void {
  t.is(reply.status, status, reply.text);
  t.is(reply.headers.get('content-type'), 'application/json');
  t.deepEqual(Object.keys(reply.json).sort(), ['error', 'request_id', 'type']);
  t.is(reply.json.type, 'error');
  t.deepEqual(Object.keys(reply.json.error).sort(), ['message', 'type']);
  t.is(reply.json.error.type, type);
  if (message !== undefined) t.is(reply.json.error.message, message);
  else t.true(reply.json.error.message.length > 0);
  t.regex(reply.json.request_id, /^req_011C[1-9A-HJ-NP-Za-km-z]{20}$/);
  t.is(reply.headers.get('request-id'), reply.json.request_id);
  for (const h of RATE_LIMIT_HEADERS) t.truthy(reply.headers.get(h), h);
}

/** Rejects when `promise` has not settled within `ms`: a broken double fails the test instead of hanging it. */
async function within<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads an SSE response as it arrives, keeping the chunks the client saw. */
class StreamReader {
  readonly chunks: Uint8Array[] = [];
  private text = '';
  private readonly decoder = new TextDecoder();
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(readonly res: Response) {
    if (!res.body) throw new Error('no body');
    this.reader = res.body.getReader();
  }

  /** The complete events received so far. */
  get events(): Array<{ event: string; data: J }> {
    const end = this.text.lastIndexOf('\n\n');
    return end < 0 ? [] : parseSse(this.text.slice(0, end + 2));
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Reads until `done(events)` holds; rejects if the stream ends first. */
  async until(done: (events: Array<{ event: string; data: J }>) => boolean, what: string): Promise<void> {
    while (!done(this.events)) {
      const { value, done: ended } = await within(this.reader.read(), what);
      if (ended) throw new Error(`stream ended before ${what}`);
      this.chunks.push(value);
      this.text += this.decoder.decode(value, { stream: true });
    }
  }

  async readAll(): Promise<void> {
    for (;;) {
      const { value, done } = await within(this.reader.read(), 'the end of the stream');
      if (done) return;
      this.chunks.push(value);
      this.text += this.decoder.decode(value, { stream: true });
    }
  }
}

async function openStream(d: AnthropicDouble, body: Record<string, J> = hello({ stream: true }), signal?: AbortSignal): Promise<StreamReader> {
  const res = await fetch(`${d.url}/v1/messages`, { method: 'POST', headers: HEADERS, body: JSON.stringify(body), signal });
  return new StreamReader(res);
}

async function readStream(d: AnthropicDouble, body?: Record<string, J>): Promise<StreamReader> {
  const reader = await openStream(d, body);
  await reader.readAll();
  return reader;
}

const names = (events: Array<{ event: string }>) => events.map((e) => e.event);
const deltaCount = (events: Array<{ event: string }>) => events.filter((e) => e.event === 'content_block_delta').length;

// ---------------------------------------------------------------- messages

test('answers a message with the documented shape, deterministic usage and multi-byte text', async (t) => {
  const d = await withDouble(t);
  const body = hello({ system: 'Be brief.' });
  const r = await post(d, body);
  t.is(r.status, 200, r.text);
  t.is(r.headers.get('content-type'), 'application/json');
  t.regex(r.json.id, /^msg_01[1-9A-HJ-NP-Za-km-z]{22}$/);
  t.regex(r.headers.get('request-id') ?? '', /^req_011C/);
  for (const h of RATE_LIMIT_HEADERS) t.truthy(r.headers.get(h), h);
  const inputTokens = Math.ceil((JSON.stringify(body.messages).length + JSON.stringify('Be brief.').length) / 4);
  t.is(countInputTokens(body), inputTokens);
  t.deepEqual(r.json, {
    id: r.json.id,
    type: 'message',
    role: 'assistant',
    model: MODEL,
    content: [{ type: 'text', text: DEFAULT_REPLY }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: {
      input_tokens: inputTokens,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
      output_tokens: replyTokens(DEFAULT_REPLY).length,
      server_tool_use: { web_search_requests: 0, web_fetch_requests: 0 },
      service_tier: 'standard',
      inference_geo: 'not_available',
    },
  });
  t.true(replyTokens(DEFAULT_REPLY).length > 10);
  t.true(Buffer.byteLength(DEFAULT_REPLY) > DEFAULT_REPLY.length, 'the reply has multi-byte characters');
  t.true(
    [...DEFAULT_REPLY].some((c) => Buffer.byteLength(c) === 4),
    'and 4-byte ones',
  );
  // An alias is served and echoed as requested.
  t.is((await post(d, hello({ model: 'claude-sonnet-4-5' }))).json.model, 'claude-sonnet-4-5');
});

test('max_tokens cuts the reply: stop_reason max_tokens and output_tokens equal to max_tokens', async (t) => {
  const d = await withDouble(t);
  const r = await post(d, hello({ max_tokens: 3 }));
  t.is(r.status, 200, r.text);
  t.is(r.json.stop_reason, 'max_tokens');
  t.is(r.json.usage.output_tokens, 3);
  t.is(r.json.content[0].text, replyTokens(DEFAULT_REPLY).slice(0, 3).join(''));
});

test('a stop sequence ends the reply before it, with stop_reason stop_sequence', async (t) => {
  const d = await withDouble(t);
  const r = await post(d, hello({ stop_sequences: ['zzz', 'café'] }));
  t.is(r.json.stop_reason, 'stop_sequence');
  t.is(r.json.stop_sequence, 'café');
  t.is(r.json.content[0].text, DEFAULT_REPLY.slice(0, DEFAULT_REPLY.indexOf('café')));
  t.true(r.json.usage.output_tokens < replyTokens(DEFAULT_REPLY).length);
});

test('a reply plan sets the exact usage, text and stop reason; queued plans come before the hook', async (t) => {
  const seen: J[] = [];
  const d = await withDouble(t, {
    respond: (req) => {
      seen.push(req);
      return {
        text: 'ok 👍',
        usage: {
          input_tokens: 3,
          output_tokens: 7,
          cache_read_input_tokens: 1000,
          cache_creation: { ephemeral_5m_input_tokens: 200, ephemeral_1h_input_tokens: 50 },
          server_tool_use: { web_search_requests: 2 },
        },
      };
    },
  });
  const r = await post(d, hello());
  t.is(seen.length, 1);
  t.is(seen[0].body.model, MODEL);
  t.deepEqual(r.json.content, [{ type: 'text', text: 'ok 👍' }]);
  t.deepEqual(r.json.usage, {
    input_tokens: 3,
    cache_creation_input_tokens: 250,
    cache_read_input_tokens: 1000,
    cache_creation: { ephemeral_5m_input_tokens: 200, ephemeral_1h_input_tokens: 50 },
    output_tokens: 7,
    server_tool_use: { web_search_requests: 2, web_fetch_requests: 0 },
    service_tier: 'standard',
    inference_geo: 'not_available',
  });

  // Without input_tokens, cache reads and writes come out of the request's count: the three never overlap.
  const body = hello({ messages: [{ role: 'user', content: 'x'.repeat(400) }] });
  d.replyNext({ stopReason: 'pause_turn', usage: { cache_read_input_tokens: 60, cache_creation: { ephemeral_1h_input_tokens: 10 } } });
  const q = await post(d, body);
  t.is(seen.length, 1, 'the queued plan answered, not the hook');
  t.is(q.json.stop_reason, 'pause_turn');
  t.is(q.json.usage.input_tokens + q.json.usage.cache_read_input_tokens + q.json.usage.cache_creation_input_tokens, countInputTokens(body));
  t.is(q.json.usage.input_tokens, countInputTokens(body) - 70);

  d.respond = undefined;
  t.is((await post(d, hello())).json.content[0].text, DEFAULT_REPLY);
});

// ---------------------------------------------------------------- authentication and validation

test('rejects a missing or wrong key with 401 authentication_error', async (t) => {
  const d = await withDouble(t);
  const { 'x-api-key': _, ...noKey } = HEADERS;
  assertError(t, await post(d, hello(), noKey), 401, 'authentication_error', 'x-api-key header is required');
  assertError(t, await post(d, hello(), { ...HEADERS, 'x-api-key': 'sk-ant-wrong' }), 401, 'authentication_error', 'invalid x-api-key');
  assertError(t, await post(d, hello(), { ...noKey, authorization: 'Bearer sk-ant-wrong' }), 401, 'authentication_error');
  assertError(t, await call(d, '/v1/models', { headers: noKey }), 401, 'authentication_error');
  // A configured key replaces the default one.
  const other = await withDouble(t, { apiKey: 'sk-ant-other' });
  assertError(t, await post(other, hello()), 401, 'authentication_error', 'invalid x-api-key');
  t.is((await post(other, hello(), { ...HEADERS, 'x-api-key': 'sk-ant-other' })).status, 200);
});

test('accepts the key as Authorization: Bearer, as the 1.x SDK sends it', async (t) => {
  const d = await withDouble(t);
  const { 'x-api-key': _, ...noKey } = HEADERS;
  const r = await post(d, hello(), { ...noKey, authorization: `Bearer ${DEFAULT_API_KEY}`, 'anthropic-version': '2026-10-21' });
  t.is(r.status, 200, r.text);
  t.is(d.requests[0]?.anthropicVersion, '2026-10-21');
  t.is(d.requests[0]?.headers.authorization, `Bearer ${DEFAULT_API_KEY}`);
});

test('requires the anthropic-version header, and only known versions when configured', async (t) => {
  const d = await withDouble(t);
  const { 'anthropic-version': _, ...noVersion } = HEADERS;
  assertError(t, await post(d, hello(), noVersion), 400, 'invalid_request_error', 'anthropic-version: header is required');
  assertError(t, await call(d, '/v1/models', { headers: noVersion }), 400, 'invalid_request_error', 'anthropic-version: header is required');
  const strict = await withDouble(t, { versions: ['2023-06-01'] });
  t.is((await post(strict, hello())).status, 200);
  assertError(t, await post(strict, hello(), { ...HEADERS, 'anthropic-version': '2099-01-01' }), 400, 'invalid_request_error');
});

test('answers invalid bodies with 400 invalid_request_error naming the problem, and nothing is generated', async (t) => {
  const d = await withDouble(t);
  const cases: Array<[unknown, string]> = [
    ['{"model": ', 'There was an error parsing the body of your request as JSON.'],
    [[1], 'Input should be a valid dictionary'],
    [{ max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }, 'model: Field required'],
    [hello({ model: 7 }), 'model: Input should be a valid string'],
    [hello({ max_tokens: undefined }), 'max_tokens: Field required'],
    [hello({ max_tokens: 0 }), 'max_tokens: Input should be greater than or equal to 1'],
    [hello({ max_tokens: 1.5 }), 'max_tokens: Input should be a valid integer, got a number with a fractional part'],
    [hello({ max_tokens: '10' }), 'max_tokens: Input should be a valid integer'],
    [hello({ messages: undefined }), 'messages: Field required'],
    [hello({ messages: [] }), 'messages: at least one message is required'],
    [hello({ messages: [{ role: 'system', content: 'hi' }] }), "messages.0.role: Input should be 'user' or 'assistant'"],
    [hello({ messages: [{ role: 'user' }] }), 'messages.0.content: Field required'],
    [
      hello({ messages: [{ role: 'user', content: '' }] }),
      'messages.0: all messages must have non-empty content except for the optional final assistant message',
    ],
    [hello({ messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] }), 'messages: text content blocks must be non-empty'],
    [hello({ messages: [{ role: 'user', content: 'hi', name: 'bob' }] }), 'messages.0.name: Extra inputs are not permitted'],
    [hello({ stream: 'yes' }), 'stream: Input should be a valid boolean'],
    [hello({ temperature: 1.5 }), 'temperature: Input should be less than or equal to 1'],
    [hello({ response_format: { type: 'json' } }), 'response_format: Extra inputs are not permitted'],
    [hello({ tools: [{ description: 'no name' }] }), 'tools.0.custom.name: Field required'],
    [
      hello({ model: 'claude-3-5-haiku-20241022', max_tokens: 10_000 }),
      'max_tokens: 10000 > 8192, which is the maximum allowed number of output tokens for claude-3-5-haiku-20241022',
    ],
  ];
  for (const [body, message] of cases) assertError(t, await post(d, body), 400, 'invalid_request_error', message);
  // A final assistant message may be empty (a prefill).
  t.is(
    (
      await post(
        d,
        hello({
          messages: [
            { role: 'user', content: 'hi' },
            { role: 'assistant', content: '' },
          ],
        }),
      )
    ).status,
    200,
  );
  t.is(d.streams.length, 0);
});

test('an unknown model is 404 not_found_error naming it', async (t) => {
  const d = await withDouble(t);
  assertError(t, await post(d, hello({ model: 'claude-nonexistent' })), 404, 'not_found_error', 'model: claude-nonexistent');
  assertError(t, await post(d, hello({ model: 'claude-nonexistent', stream: true })), 404, 'not_found_error', 'model: claude-nonexistent');
  assertError(t, await call(d, '/v1/messages/count_tokens', { body: { model: 'claude-nonexistent', messages: hello().messages } }), 404, 'not_found_error');
  assertError(t, await call(d, '/v1/models/claude-nonexistent'), 404, 'not_found_error', 'model: claude-nonexistent');
});

test('a body over the size limit is 413 request_too_large; unknown paths are 404', async (t) => {
  const d = await withDouble(t, { maxRequestBytes: 2000 });
  assertError(t, await post(d, hello({ messages: [{ role: 'user', content: 'x'.repeat(2000) }] })), 413, 'request_too_large');
  t.is((await post(d, hello())).status, 200);
  assertError(t, await call(d, '/v1/complete', { body: hello() }), 404, 'not_found_error');
  assertError(t, await call(d, '/v1/messages'), 404, 'not_found_error');
});

// ---------------------------------------------------------------- streaming

test('streams the documented events in order, with usage in message_start and cumulative message_deltas', async (t) => {
  const d = await withDouble(t, { messageDeltas: 3 });
  d.replyNext({ usage: { cache_read_input_tokens: 5, server_tool_use: { web_search_requests: 3 } } });
  const body = hello({ stream: true, messages: [{ role: 'user', content: 'a'.repeat(200) }] });
  const s = await readStream(d, body);
  t.is(s.res.status, 200);
  t.is(s.res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  t.regex(s.res.headers.get('request-id') ?? '', /^req_/);
  for (const h of RATE_LIMIT_HEADERS) t.truthy(s.res.headers.get(h), h);
  const raw = s.bytes().toString('utf8');
  t.regex(raw, /^(event: [a-z_]+\ndata: [^\n]+\n\n)+$/);
  const events = s.events;
  const deltas = deltaCount(events);
  t.true(deltas > 3);
  t.deepEqual(names(events), [
    'message_start',
    'content_block_start',
    'ping',
    ...Array(deltas).fill('content_block_delta'),
    'content_block_stop',
    'message_delta',
    'message_delta',
    'message_delta',
    'message_stop',
  ]);
  for (const e of events) t.is(e.data.type, e.event);

  const input = countInputTokens(body) - 5;
  const start = events[0]?.data.message;
  t.regex(start.id, /^msg_01/);
  t.like(start, { type: 'message', role: 'assistant', model: MODEL, content: [], stop_reason: null, stop_sequence: null });
  t.deepEqual(start.usage, {
    input_tokens: input,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 5,
    cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    output_tokens: 1,
    service_tier: 'standard',
    inference_geo: 'not_available',
  });
  t.deepEqual(events[1]?.data, { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
  const textDeltas = events.filter((e) => e.event === 'content_block_delta').map((e) => e.data);
  for (const delta of textDeltas) t.like(delta, { index: 0, delta: { type: 'text_delta' } });
  t.is(textDeltas.map((delta) => delta.delta.text).join(''), DEFAULT_REPLY);

  const output = replyTokens(DEFAULT_REPLY).length;
  const md = events.filter((e) => e.event === 'message_delta').map((e) => e.data);
  const outputs = md.map((m) => m.usage.output_tokens);
  t.true(
    outputs.every((n, i) => i === 0 || n > (outputs[i - 1] ?? 0)),
    `growing: ${outputs}`,
  );
  t.is(outputs.at(-1), output, 'the last message_delta carries the final count');
  t.true(outputs.reduce((a, b) => a + b, 0) > output, 'summing them would over-count');
  t.deepEqual(md.at(-1), {
    type: 'message_delta',
    delta: { stop_reason: 'end_turn', stop_sequence: null },
    usage: {
      input_tokens: input,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 5,
      output_tokens: output,
      server_tool_use: { web_search_requests: 3, web_fetch_requests: 0 },
    },
  });
  for (const m of md) t.is(m.usage.input_tokens, input);
  t.deepEqual(events.at(-1)?.data, { type: 'message_stop' });
  t.is(await within(d.streams[0]!.ended, 'the stream record'), 'completed');
  t.deepEqual(d.streams[0]?.bytes(), s.bytes(), 'the record holds exactly what was sent');
});

test('a stream whose reply hits max_tokens ends with stop_reason max_tokens and that many output tokens', async (t) => {
  const d = await withDouble(t);
  const s = await readStream(d, hello({ stream: true, max_tokens: 4 }));
  const md = s.events.find((e) => e.event === 'message_delta')?.data;
  t.deepEqual(md.delta, { stop_reason: 'max_tokens', stop_sequence: null });
  t.is(md.usage.output_tokens, 4);
});

test('a chunked stream cuts through events and UTF-8 characters, and its bytes reassemble into the unchunked stream', async (t) => {
  const d = await withDouble(t);
  d.replyNext({ id: 'msg_fixed' });
  const whole = await readStream(d);
  d.replyNext({ id: 'msg_fixed', chunkBytes: 7 });
  const chunked = await readStream(d);
  t.true(whole.bytes().equals(chunked.bytes()), 'byte for byte the same stream');
  t.deepEqual(chunked.events, whole.events);

  const record = d.streams[1]!;
  t.true(record.bytes().equals(chunked.bytes()));
  t.true(record.writes.every((n) => n <= 7));
  t.true(record.writes.length > whole.events.length * 3);
  const bytes = record.bytes();
  const starts = record.writes.map((_, i) => record.writes.slice(0, i).reduce((a, b) => a + b, 0));
  const cuts = starts.slice(1);
  t.true(
    cuts.some((o) => ((bytes[o] ?? 0) & 0xc0) === 0x80),
    'some write ends inside a multi-byte character',
  );
  t.true(
    cuts.some((o) => !(bytes[o - 1] === 10 && bytes[o - 2] === 10)),
    'some write ends inside an event',
  );
  // Decoding each write on its own (the classic bug) mangles the text; decoding the stream does not.
  const naive = record.writes.map((n, i) => new TextDecoder().decode(bytes.subarray(starts[i], (starts[i] ?? 0) + n))).join('');
  t.true(naive.includes('\uFFFD'));
  t.false(bytes.toString('utf8').includes('\uFFFD'));
  t.true(chunked.chunks.length > 1, 'the client saw several chunks');

  // The option applies to every stream when given to the double.
  const tiny = await withDouble(t, { chunkBytes: 1 });
  const one = await readStream(tiny);
  t.true(tiny.streams[0]!.writes.every((n) => n === 1));
  t.is(
    one.events
      .filter((e) => e.event === 'content_block_delta')
      .map((e) => e.data.delta.text)
      .join(''),
    DEFAULT_REPLY,
  );
});

// ---------------------------------------------------------------- faults

test('failNext answers the next /v1/messages request with the status and documented body, once', async (t) => {
  const d = await withDouble(t);
  const cases: Array<[number, string, string]> = [
    [529, 'overloaded_error', 'Overloaded'],
    [429, 'rate_limit_error', 'Number of requests has exceeded your per-minute rate limit. Please try again later.'],
    [500, 'api_error', 'Internal server error'],
    [400, 'invalid_request_error', 'Invalid request'],
    [403, 'permission_error', 'Your API key does not have permission to use the specified resource.'],
    [402, 'billing_error', 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.'],
    [504, 'timeout_error', 'Request timed out'],
  ];
  for (const [status, type, message] of cases) {
    d.failNext(status);
    const r = await post(d, hello());
    assertError(t, r, status, type, message);
    t.is(r.headers.get('retry-after'), status === 429 ? '1' : null);
    t.is((await post(d, hello())).status, 200, 'used once');
  }

  d.failNext(429, { retryAfter: 0, message: 'slow down', headers: { 'x-should-retry': 'false' } });
  d.failNext(529);
  t.is(d.pendingFaults, 2);
  const r = await post(d, hello({ stream: true }));
  assertError(t, r, 429, 'rate_limit_error', 'slow down');
  t.is(r.headers.get('retry-after'), '0');
  t.is(r.headers.get('x-should-retry'), 'false');
  // Faults wait for a request the API accepts: other endpoints and invalid requests leave them queued.
  t.is((await call(d, '/v1/messages/count_tokens', { body: { model: MODEL, messages: hello().messages } })).status, 200);
  assertError(t, await post(d, hello({ max_tokens: 0 })), 400, 'invalid_request_error');
  assertError(t, await post(d, hello()), 529, 'overloaded_error', 'Overloaded');
  t.is(d.pendingFaults, 0);
  t.is((await post(d, hello())).status, 200);
});

test('streamErrorNext sends event: error after HTTP 200, after message_start and some deltas, then ends', async (t) => {
  const d = await withDouble(t);
  d.streamErrorNext({ afterDeltas: 2 });
  const s = await readStream(d);
  t.is(s.res.status, 200);
  t.deepEqual(names(s.events), ['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'error']);
  t.deepEqual(s.events.at(-1)?.data, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
  t.true(s.bytes().toString('utf8').endsWith('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'));
  t.is(await within(d.streams[0]!.ended, 'the stream record'), 'error_event');
  // The next stream is whole again.
  t.is(names((await readStream(d)).events).at(-1), 'message_stop');
  // Another error type, right after message_start.
  d.streamErrorNext({ afterDeltas: 0, type: 'api_error', message: 'Internal server error' });
  const s2 = await readStream(d);
  t.deepEqual(names(s2.events), ['message_start', 'content_block_start', 'ping', 'error']);
  t.is(s2.events.at(-1)?.data.error.type, 'api_error');
});

test('streamErrorNext on a non-streaming request is the matching status error', async (t) => {
  const d = await withDouble(t);
  d.streamErrorNext();
  assertError(t, await post(d, hello()), 529, 'overloaded_error', 'Overloaded');
  t.is((await post(d, hello())).status, 200);
});

test('slowNext spaces the events of the next stream; latencyMs holds back the first byte', async (t) => {
  const d = await withDouble(t);
  d.slowNext(25);
  const began = Date.now();
  const s = await readStream(d);
  const elapsed = Date.now() - began;
  t.true(elapsed >= 25 * (s.events.length - 1), `${elapsed} ms for ${s.events.length} events`);
  t.is(names(s.events).at(-1), 'message_stop');

  d.latencyMs = 300;
  for (const request of [
    () => fetch(`${d.url}/v1/models`, { headers: HEADERS }),
    () => fetch(`${d.url}/v1/messages`, { method: 'POST', headers: HEADERS, body: JSON.stringify(hello({ stream: true })) }),
  ]) {
    const sent = Date.now();
    const res = await request();
    t.true(Date.now() - sent >= 300, 'headers come after the latency');
    await res.arrayBuffer();
  }
  const slowStart = await withDouble(t, { latencyMs: 200 });
  const sent = Date.now();
  assertError(t, await post(slowStart, hello(), {}), 401, 'authentication_error');
  t.true(Date.now() - sent >= 200, 'errors too');
});

test('stallNext holds a stream after some deltas until released', async (t) => {
  const d = await withDouble(t);
  const stall = d.stallNext({ afterDeltas: 2 });
  const reader = await openStream(d);
  const record = await within(stall.reached, 'the stall point');
  t.truthy(record);
  await reader.until((events) => deltaCount(events) === 2, 'two deltas');
  t.is(record?.state, 'open');
  t.is(d.inFlight, 1);
  t.deepEqual(record?.events, ['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta']);
  t.deepEqual(names(reader.events), record?.events, 'the client has every event written before the stall');
  stall.release();
  await reader.readAll();
  t.is(names(reader.events).at(-1), 'message_stop');
  t.is(await within(record!.ended, 'the end of the stream'), 'completed');
  await within(d.idle(), 'no request in flight');
  t.is(d.inFlight, 0);
});

test('a client leaving a stalled stream is seen as aborted', async (t) => {
  const d = await withDouble(t, { chunkBytes: 5 });
  const stall = d.stallNext({ afterDeltas: 1 });
  const client = new AbortController();
  const reader = await openStream(d, hello({ stream: true }), client.signal);
  const record = await within(stall.reached, 'the stall point');
  await reader.until((events) => deltaCount(events) === 1, 'one delta');
  client.abort();
  t.is(await within(record!.ended, 'the abort'), 'aborted');
  await within(d.idle(), 'no request in flight');
  t.is(d.inFlight, 0);
  t.false(d.streams[0]!.events.includes('message_stop'));
  // The double goes on serving.
  t.is((await post(d, hello())).status, 200);
});

test('a stall on a non-streaming request holds the answer until released', async (t) => {
  const d = await withDouble(t);
  const stall = d.stallNext();
  const pending = post(d, hello());
  t.is(await within(stall.reached, 'the stall point'), undefined);
  t.is(d.inFlight, 1);
  stall.release();
  t.is((await within(pending, 'the answer')).status, 200);
});

test('close() ends open streams and stops listening', async (t) => {
  const d = await withDouble(t);
  const stall = d.stallNext();
  const reader = await openStream(d);
  const record = await within(stall.reached, 'the stall point');
  await reader.until((events) => deltaCount(events) === 2, 'two deltas');
  await within(d.close(), 'close()');
  t.is(await record!.ended, 'closed');
  t.is(d.inFlight, 0);
  await t.throwsAsync(reader.readAll());
  await t.throwsAsync(fetch(`${d.url}/v1/models`, { headers: HEADERS }));
});

// ---------------------------------------------------------------- count_tokens, models, introspection

test('count_tokens returns the input_tokens a message would report, and takes no max_tokens', async (t) => {
  const d = await withDouble(t);
  const body = { model: MODEL, system: [{ type: 'text', text: 'You are terse.' }], messages: [{ role: 'user', content: 'Combien de tokens ? 🌍' }] };
  const r = await call(d, '/v1/messages/count_tokens', { body });
  t.is(r.status, 200, r.text);
  t.deepEqual(r.json, { input_tokens: countInputTokens(body) });
  t.is((await post(d, { ...body, max_tokens: 10 })).json.usage.input_tokens, r.json.input_tokens);
  assertError(
    t,
    await call(d, '/v1/messages/count_tokens', { body: { ...body, max_tokens: 10 } }),
    400,
    'invalid_request_error',
    'max_tokens: Extra inputs are not permitted',
  );
  assertError(t, await call(d, '/v1/messages/count_tokens', { body: { model: MODEL } }), 400, 'invalid_request_error', 'messages: Field required');
  const custom = await withDouble(t, { countTokens: () => 42 });
  t.deepEqual((await call(custom, '/v1/messages/count_tokens', { body })).json, { input_tokens: 42 });
  t.is((await post(custom, { ...body, max_tokens: 10 })).json.usage.input_tokens, 42);
});

test('lists the models newest first, pages through them, and serves configured ones only', async (t) => {
  const d = await withDouble(t);
  const r = await call(d, '/v1/models');
  t.is(r.status, 200);
  const ids = ['claude-opus-4-5-20251101', 'claude-haiku-4-5-20251001', 'claude-sonnet-4-5-20250929', 'claude-3-5-haiku-20241022'];
  t.deepEqual(
    r.json.data.map((m: J) => m.id),
    ids,
  );
  t.deepEqual(r.json.data[2], { type: 'model', id: 'claude-sonnet-4-5-20250929', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' });
  t.like(r.json, { has_more: false, first_id: ids[0], last_id: ids[3] });

  const page1 = (await call(d, '/v1/models?limit=2')).json;
  t.like(page1, { has_more: true, first_id: ids[0], last_id: ids[1] });
  const page2 = (await call(d, `/v1/models?limit=2&after_id=${page1.last_id}`)).json;
  t.like(page2, { has_more: false, first_id: ids[2], last_id: ids[3] });
  const back = (await call(d, `/v1/models?limit=1&before_id=${ids[2]}`)).json;
  t.like(back, { has_more: true, first_id: ids[1], last_id: ids[1] });
  assertError(t, await call(d, '/v1/models?limit=0'), 400, 'invalid_request_error');
  t.is((await call(d, '/v1/models/claude-haiku-4-5')).json.id, 'claude-haiku-4-5-20251001', 'an alias resolves');

  const custom = await withDouble(t, {
    models: [{ id: 'claude-test-1', display_name: 'Claude Test', created_at: '2026-01-01T00:00:00Z', max_output_tokens: 100 }],
  });
  t.deepEqual(
    (await call(custom, '/v1/models')).json.data.map((m: J) => m.id),
    ['claude-test-1'],
  );
  t.is((await post(custom, hello({ model: 'claude-test-1', max_tokens: 100 }))).status, 200);
  assertError(t, await post(custom, hello({ model: 'claude-test-1', max_tokens: 101 })), 400, 'invalid_request_error');
  assertError(t, await post(custom, hello()), 404, 'not_found_error', `model: ${MODEL}`);
});

test('records each request with its headers, anthropic-version and anthropic-beta', async (t) => {
  const d = await withDouble(t);
  const betas = 'prompt-caching-2024-07-31, extended-cache-ttl-2025-04-11';
  await post(d, hello(), { ...HEADERS, 'anthropic-beta': betas });
  await post(d, hello(), { ...HEADERS, 'x-api-key': 'nope' });
  await call(d, '/v1/models?limit=1');
  t.is(d.requests.length, 3);
  const [first, second, third] = d.requests;
  t.like(first, { index: 0, method: 'POST', path: '/v1/messages', query: '', anthropicVersion: '2023-06-01', status: 200 });
  t.deepEqual(first?.anthropicBeta, ['prompt-caching-2024-07-31', 'extended-cache-ttl-2025-04-11']);
  t.is(first?.headers['anthropic-beta'], betas);
  t.deepEqual(first?.body, hello());
  t.like(second, { status: 401, anthropicBeta: [] });
  t.is(second?.headers['x-api-key'], 'nope');
  t.like(third, { method: 'GET', path: '/v1/models', query: '?limit=1', body: undefined, status: 200 });
  t.not(first?.requestId, second?.requestId);
});

test('rate-limit headers count requests and tokens down within the minute', async (t) => {
  const d = await withDouble(t, { rateLimits: { requestsPerMinute: 50, inputTokensPerMinute: 10_000, outputTokensPerMinute: 1_000 } });
  const a = await post(d, hello());
  const b = await post(d, hello());
  t.is(a.headers.get('anthropic-ratelimit-requests-limit'), '50');
  t.is(a.headers.get('anthropic-ratelimit-requests-remaining'), '49');
  t.is(b.headers.get('anthropic-ratelimit-requests-remaining'), '48');
  t.regex(a.headers.get('anthropic-ratelimit-requests-reset') ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const output = replyTokens(DEFAULT_REPLY).length;
  // Output is the tighter limit here, so tokens-* report it.
  t.is(a.headers.get('anthropic-ratelimit-tokens-limit'), '1000');
  t.is(a.headers.get('anthropic-ratelimit-tokens-remaining'), String(1000 - output));
  t.is(b.headers.get('anthropic-ratelimit-tokens-remaining'), String(1000 - 2 * output));
});
