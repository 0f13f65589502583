/** Anthropic event streams for the meter's tests, and a feeder that cuts them into chunks. */
import { StreamUsage } from '../../../control/meter/stream-usage.ts';

export const sse = (event: string, data: unknown, eol = '\n') => `event: ${event}${eol}data: ${JSON.stringify(data)}${eol}${eol}`;

export const START_USAGE = {
  input_tokens: 472,
  cache_creation_input_tokens: 3000,
  cache_read_input_tokens: 4000,
  cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
  output_tokens: 1,
  service_tier: 'standard',
};
export const messageStart = (usage: unknown = START_USAGE) => ({
  type: 'message_start',
  message: { id: 'msg_01XY', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929', content: [], stop_reason: null, usage },
});
export const delta = (usage: unknown, stop: string | null = null) => ({ type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage });
export const TEXT = 'Grüße — 日本語 🎉';
export const EXPECTED = { input: 472, cacheWrite5m: 1000, cacheWrite1h: 2000, cacheRead: 4000, output: 25, webSearches: 2 };

/** A stream as Anthropic sends it: text, a web search, two cumulative message_deltas. */
export function realisticStream(eol = '\n'): Buffer {
  return Buffer.from(
    [
      sse('message_start', messageStart(), eol),
      sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, eol),
      `event: ping${eol}data: {"type": "ping"}${eol}${eol}`,
      `: keep-alive comment${eol}${eol}`,
      sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: TEXT } }, eol),
      sse('content_block_stop', { type: 'content_block_stop', index: 0 }, eol),
      sse('message_delta', delta({ output_tokens: 10 }), eol),
      sse(
        'content_block_start',
        { type: 'content_block_start', index: 1, content_block: { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search' } },
        eol,
      ),
      sse('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"query": "Zürich 天気"}' } }, eol),
      sse('content_block_stop', { type: 'content_block_stop', index: 1 }, eol),
      sse(
        'message_delta',
        delta({ ...START_USAGE, cache_creation: undefined, output_tokens: 25, server_tool_use: { web_search_requests: 2 } }, 'end_turn'),
        eol,
      ),
      sse('message_stop', { type: 'message_stop' }, eol),
    ].join(''),
  );
}

/** Feeds `bytes` cut at `cuts` (offsets) and checks that no chunk is modified. */
export function feed(bytes: Buffer, cuts: number[], reader = new StreamUsage()): StreamUsage {
  const edges = [0, ...cuts, bytes.length];
  for (let i = 1; i < edges.length; i++) {
    const chunk = Buffer.from(bytes.subarray(edges[i - 1], edges[i]));
    const before = Buffer.from(chunk);
    reader.push(chunk);
    if (!chunk.equals(before)) throw new Error('push modified a chunk');
  }
  reader.end();
  return reader;
}
