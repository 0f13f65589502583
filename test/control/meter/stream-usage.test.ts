import test from 'ava';
import { StreamUsage } from '../../../control/meter/stream-usage.ts';
import { randomInt, seededRandom } from '../../helpers/seeded-random.ts';
import { delta, EXPECTED, feed, messageStart, realisticStream, sse } from './sse-fixtures.ts';

function assertComplete(t: import('ava').ExecutionContext, reader: StreamUsage, label: string) {
  t.deepEqual(reader.usage, EXPECTED, label);
  t.is(reader.model, 'claude-sonnet-4-5-20250929', label);
  t.true(reader.stopped, label);
  t.is(reader.error, null, label);
  t.is(reader.problem, null, label);
}

test('a realistic stream in one chunk gives the final cumulative usage, not a sum of the deltas', (t) => {
  for (const eol of ['\n', '\r\n', '\r']) assertComplete(t, feed(realisticStream(eol), []), JSON.stringify(eol));
  t.is(new StreamUsage().usage, null, 'nothing before message_start');
});

test('the same stream fed byte by byte', (t) => {
  for (const eol of ['\n', '\r\n', '\r']) {
    const bytes = realisticStream(eol);
    assertComplete(
      t,
      feed(
        bytes,
        Array.from({ length: bytes.length - 1 }, (_, i) => i + 1),
      ),
      JSON.stringify(eol),
    );
  }
});

test('cut into two at every offset, including inside UTF-8 characters and inside "\\r\\n\\r\\n"', (t) => {
  const bytes = realisticStream('\r\n');
  const emoji = bytes.indexOf(Buffer.from('🎉'));
  const separator = bytes.indexOf('\r\n\r\n');
  t.true(emoji > 0 && separator > 0);
  for (const cut of [emoji + 1, emoji + 2, emoji + 3, separator + 1, separator + 2, separator + 3]) assertComplete(t, feed(bytes, [cut]), `cut at ${cut}`);
  let failures = 0;
  for (let cut = 1; cut < bytes.length; cut++) {
    const reader = feed(bytes, [cut]);
    if (JSON.stringify(reader.usage) !== JSON.stringify(EXPECTED) || !reader.stopped || reader.problem !== null) failures++;
  }
  t.is(failures, 0);
});

test('random chunk sizes (seeded) give the same result', (t) => {
  const random = seededRandom(20251124);
  for (const eol of ['\n', '\r\n']) {
    const bytes = realisticStream(eol);
    for (let run = 0; run < 300; run++) {
      const cuts: number[] = [];
      for (let at = randomInt(random, 1, 40); at < bytes.length; at += randomInt(random, 1, 97)) cuts.push(at);
      assertComplete(t, feed(bytes, cuts), `run ${run}`);
    }
  }
});

test('every message_delta overwrites the fields it carries: three deltas are not summed', (t) => {
  const reader = new StreamUsage();
  reader.push(Buffer.from(sse('message_start', messageStart())));
  for (const output of [10, 20, 30]) reader.push(Buffer.from(sse('message_delta', delta({ output_tokens: output }))));
  t.deepEqual(reader.usage, { ...EXPECTED, output: 30, webSearches: 0 });
  reader.push(Buffer.from(sse('message_delta', delta({ output_tokens: 30, server_tool_use: { web_search_requests: 1 } }))));
  reader.push(Buffer.from(sse('message_delta', delta({ output_tokens: 31, server_tool_use: { web_search_requests: 1 } }))));
  t.deepEqual(reader.usage, { ...EXPECTED, output: 31, webSearches: 1 });
  reader.push(Buffer.from(sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' } })));
  t.is(reader.usage?.output, 31, 'a delta without usage changes nothing');
});

test('an error event after message_start is reported with the usage so far', (t) => {
  const message = 'Überlastet — réessayez 🙏';
  const bytes = Buffer.from(
    sse('message_start', messageStart()) +
      sse('message_delta', delta({ output_tokens: 12 })) +
      sse('error', { type: 'error', error: { type: 'overloaded_error', message } }),
  );
  for (const reader of [
    feed(bytes, []),
    feed(
      bytes,
      Array.from({ length: bytes.length - 1 }, (_, i) => i + 1),
    ),
  ]) {
    t.deepEqual(reader.error, { type: 'overloaded_error', message });
    t.deepEqual(reader.usage, { ...EXPECTED, output: 12, webSearches: 0 });
    t.false(reader.stopped);
  }
});

test('a huge event is skipped without holding it in memory; the stream goes on', (t) => {
  const reader = new StreamUsage();
  let peak = 0;
  const pushAll = (bytes: Buffer) => {
    for (let at = 0; at < bytes.length; at += 65_536) {
      reader.push(bytes.subarray(at, at + 65_536));
      peak = Math.max(peak, reader.retainedBytes);
    }
  };
  pushAll(Buffer.from(sse('message_start', messageStart())));
  const huge = 'x'.repeat(8 * 1024 * 1024);
  pushAll(Buffer.from(sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: huge } })));
  t.is(reader.problem, null, 'a content delta is not needed for metering: skipping it is no problem');
  pushAll(Buffer.from(sse('message_delta', { ...delta({ output_tokens: 99 }), padding: huge })));
  t.regex(reader.problem ?? '', /"message_delta" larger than 1048576 bytes was skipped/);
  t.is(reader.usage?.output, 1, 'the oversized delta was not read');
  pushAll(Buffer.from(sse('message_stop', { type: 'message_stop' })));
  t.true(reader.stopped, 'events after the huge one are read');
  pushAll(Buffer.from(`data: ${'y'.repeat(16 * 1024 * 1024)}`));
  reader.end();
  t.true(peak <= 1024 * 1024 + 65_536, `held at most one event (peak ${peak} bytes)`);
  t.is(reader.retainedBytes, 0);
});

test('a stream without usage leaves it null and says why', (t) => {
  const noUsage = feed(Buffer.from(sse('message_start', messageStart(null)) + sse('message_delta', delta({ output_tokens: 5 }))), []);
  t.is(noUsage.usage, null);
  t.is(noUsage.model, 'claude-sonnet-4-5-20250929');
  t.regex(noUsage.problem ?? '', /message_start: usage must be an object/);
  const errorOnly = feed(Buffer.from(sse('error', { type: 'error', error: { type: 'api_error', message: 'Internal server error' } })), []);
  t.is(errorOnly.usage, null);
  t.is(errorOnly.model, null);
  t.like(errorOnly.error, { type: 'api_error' });
  const empty = feed(Buffer.from(': nothing but a comment\n\n'), []);
  t.is(empty.usage, null);
  t.is(empty.problem, null);
});

test('multi-line data, events named only in their data, and a last event without its blank line', (t) => {
  const reader = feed(
    Buffer.from(
      `data: ${JSON.stringify(messageStart())}\n\n` +
        'event: message_delta\ndata: {"type": "message_delta",\ndata:  "usage": {"output_tokens": 7}}\n\n' +
        'id: 4\nretry: 10\nevent: message_stop\ndata: {"type": "message_stop"}',
    ),
    [],
  );
  t.is(reader.usage?.output, 7);
  t.is(reader.usage?.input, 472);
  t.true(reader.stopped, 'flushed by end()');
  t.is(reader.problem, null);
});

test('malformed or invalid metered events are reported and change nothing', (t) => {
  const base = sse('message_start', messageStart());
  const cases: Array<[string, RegExp]> = [
    ['event: message_delta\ndata: {"usage": {"output_tokens": 5\n\n', /"message_delta" carried data that is not JSON/],
    [sse('message_delta', delta({ output_tokens: -5 })), /message_delta: usage\.output_tokens must be a non-negative integer/],
    [sse('message_start', messageStart({ input_tokens: 1 })), /a second message_start was ignored/],
  ];
  for (const [bad, problem] of cases) {
    const reader = feed(Buffer.from(base + bad), []);
    t.regex(reader.problem ?? '', problem);
    t.deepEqual(reader.usage, { ...EXPECTED, output: 1, webSearches: 0 });
  }
  const early = feed(Buffer.from(sse('message_delta', delta({ output_tokens: 5 })) + base), []);
  t.regex(early.problem ?? '', /before message_start/);
  t.is(early.usage?.output, 1);
  const garbled = feed(Buffer.from('event: error\ndata: <html>502</html>\n\n'), []);
  t.like(garbled.error, { type: 'unknown_error' });
});

test('never throws on arbitrary bytes, and ignores bytes after end()', (t) => {
  const random = seededRandom(7);
  for (let run = 0; run < 200; run++) {
    const bytes = Buffer.from(Array.from({ length: randomInt(random, 0, 400) }, () => (random() < 0.2 ? 0x0a : randomInt(random, 0, 255))));
    t.notThrows(() => feed(bytes, [randomInt(random, 0, bytes.length)]));
  }
  const reader = feed(realisticStream(), []);
  reader.push(Buffer.from(sse('message_delta', delta({ output_tokens: 1000 }))));
  t.is(reader.usage?.output, 25);
  t.regex(reader.problem ?? '', /after the end/);
});
