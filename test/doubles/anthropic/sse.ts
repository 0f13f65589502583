/**
 * The Messages stream as server-sent events: message_start, content_block_start,
 * ping, content_block_delta…, content_block_stop, message_delta… (usage
 * cumulative, never incremental), message_stop; and `event: error` after a 200.
 * parseSse reads such a stream back (for tests, and tests of what sits in front).
 */
import type { ResolvedReply } from './reply.ts';
import type { ErrorType } from './types.ts';

export interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/** The stream of a reply in three parts, so faults can cut it after some deltas. */
export interface StreamParts {
  head: SseEvent[];
  deltas: SseEvent[];
  tail: SseEvent[];
}

const ev = (event: string, data: Record<string, unknown>): SseEvent => ({ event, data: { type: event, ...data } });

export function streamParts(reply: ResolvedReply): StreamParts {
  const u = reply.usage;
  const inputs = {
    input_tokens: u.input_tokens,
    cache_creation_input_tokens: u.cache_creation_input_tokens,
    cache_read_input_tokens: u.cache_read_input_tokens,
  };
  const start = ev('message_start', {
    message: {
      id: reply.id,
      type: 'message',
      role: 'assistant',
      model: reply.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: {
        ...inputs,
        cache_creation: u.cache_creation,
        output_tokens: Math.min(1, u.output_tokens),
        service_tier: u.service_tier,
        inference_geo: u.inference_geo,
      },
    },
  });
  const hasText = reply.text !== '';
  const head = hasText ? [start, ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }), ev('ping', {})] : [start, ev('ping', {})];
  const deltas = reply.deltas.map((text) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text } }));
  const tail = hasText ? [ev('content_block_stop', { index: 0 })] : [];
  // Several message_deltas grow toward the final counts; each carries the cumulative totals.
  const k = reply.messageDeltas;
  const part = (total: number, i: number) => Math.round((total * i) / k);
  for (let i = 1; i <= k; i += 1) {
    tail.push(
      ev('message_delta', {
        delta: { stop_reason: reply.stopReason, stop_sequence: reply.stopSequence },
        usage: {
          ...inputs,
          output_tokens: part(u.output_tokens, i),
          server_tool_use: {
            web_search_requests: part(u.server_tool_use.web_search_requests, i),
            web_fetch_requests: part(u.server_tool_use.web_fetch_requests, i),
          },
        },
      }),
    );
  }
  tail.push(ev('message_stop', {}));
  return { head, deltas, tail };
}

export function errorEvent(type: ErrorType, message: string): SseEvent {
  return { event: 'error', data: { type: 'error', error: { type, message } } };
}

export function encodeEvent(e: SseEvent): Buffer {
  return Buffer.from(`event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`, 'utf8');
}

/** Parses complete SSE text (already decoded) into events; `data` is JSON-parsed. */
export function parseSse(text: string): Array<{ event: string; data: unknown }> {
  const events: Array<{ event: string; data: unknown }> = [];
  for (const frame of text.split(/\r?\n\r?\n/)) {
    if (frame.trim() === '') continue;
    let event = 'message';
    const data: string[] = [];
    for (const line of frame.split(/\r?\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    events.push({ event, data: data.length ? JSON.parse(data.join('\n')) : undefined });
  }
  return events;
}
