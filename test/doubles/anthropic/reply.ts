/**
 * Deterministic replies and usage. Counting rules (documented, so tests can
 * compute expectations):
 *  - input tokens: ceil(characters / 4) over JSON.stringify(messages), plus
 *    JSON.stringify(system) and JSON.stringify(tools) when present (UTF-16
 *    code units, as String.length counts them); at least 1;
 *  - reply tokens: replyTokens(text), each whitespace-delimited word with the
 *    whitespace after it; output_tokens = the tokens generated, at most max_tokens.
 */

import type { ReplyPlan, StopReason, Usage } from './types.ts';
import type { MessagesBody } from './validate.ts';

/** The default reply: 2-, 3- and 4-byte UTF-8 characters, so byte-splitting bugs show. */
export const DEFAULT_REPLY =
  'Héllo wörld 🌍! This réponse comes from the Anthropic double: naïve café, Grüße, 日本語のテキスト, emoji 🚀✨ and ünïcödé until the last wörd.';

export function countInputTokens(body: Record<string, unknown>): number {
  let chars = JSON.stringify(body.messages ?? []).length;
  if (body.system !== undefined) chars += JSON.stringify(body.system).length;
  if (body.tools !== undefined) chars += JSON.stringify(body.tools).length;
  return Math.max(1, Math.ceil(chars / 4));
}

/** The text split into "tokens": leading whitespace, then each word with its trailing whitespace. */
export function replyTokens(text: string): string[] {
  return text.match(/^\s+|\S+\s*/gu) ?? [];
}

/** Everything a response needs, stream or not. */
export interface ResolvedReply {
  id: string;
  model: string;
  text: string;
  /** The text, cut into content_block_delta pieces. */
  deltas: string[];
  usage: Usage;
  stopReason: StopReason;
  stopSequence: string | null;
  messageDeltas: number;
  chunkBytes: number | undefined;
  chunkDelayMs: number;
}

export interface ReplyDefaults {
  text: string;
  messageDeltas: number;
  tokensPerDelta: number;
  chunkBytes: number | undefined;
  chunkDelayMs: number;
}

export function resolveReply(body: MessagesBody, plan: ReplyPlan, defaults: ReplyDefaults, messageId: string, inputCount: number): ResolvedReply {
  const pieces = replyTokens(plan.text ?? defaults.text);
  let generated = pieces;
  let stopReason: StopReason = 'end_turn';
  let stopSequence: string | null = null;
  if (pieces.length > body.max_tokens) {
    generated = pieces.slice(0, body.max_tokens);
    stopReason = 'max_tokens';
  }
  let text = generated.join('');
  const hit = firstStopSequence(text, body.stop_sequences ?? []);
  if (hit) {
    // The sequence's tokens are generated (and billed) but not returned.
    const end = hit.index + hit.sequence.length;
    let covered = 0;
    let used = 0;
    while (covered < end) covered += generated[used++]?.length ?? end;
    generated = generated.slice(0, used);
    text = text.slice(0, hit.index);
    stopReason = 'stop_sequence';
    stopSequence = hit.sequence;
  }
  const tokensPerDelta = Math.max(1, plan.tokensPerDelta ?? defaults.tokensPerDelta);
  const textPieces = replyTokens(text);
  const deltas: string[] = [];
  for (let i = 0; i < textPieces.length; i += tokensPerDelta) deltas.push(textPieces.slice(i, i + tokensPerDelta).join(''));
  return {
    id: plan.id ?? messageId,
    model: plan.model ?? body.model,
    text,
    deltas,
    usage: usageOf(plan, inputCount, generated.length),
    stopReason: plan.stopReason ?? stopReason,
    stopSequence: plan.stopReason === undefined || plan.stopReason === 'stop_sequence' ? stopSequence : null,
    messageDeltas: Math.max(1, plan.messageDeltas ?? defaults.messageDeltas),
    chunkBytes: plan.chunkBytes ?? defaults.chunkBytes,
    chunkDelayMs: plan.chunkDelayMs ?? defaults.chunkDelayMs,
  };
}

function usageOf(plan: ReplyPlan, inputCount: number, generated: number): Usage {
  const u = plan.usage ?? {};
  const c5m = u.cache_creation?.ephemeral_5m_input_tokens ?? 0;
  const c1h = u.cache_creation?.ephemeral_1h_input_tokens ?? 0;
  const read = u.cache_read_input_tokens ?? 0;
  return {
    input_tokens: u.input_tokens ?? Math.max(0, inputCount - c5m - c1h - read),
    cache_creation_input_tokens: c5m + c1h,
    cache_read_input_tokens: read,
    cache_creation: { ephemeral_5m_input_tokens: c5m, ephemeral_1h_input_tokens: c1h },
    output_tokens: u.output_tokens ?? generated,
    server_tool_use: {
      web_search_requests: u.server_tool_use?.web_search_requests ?? 0,
      web_fetch_requests: u.server_tool_use?.web_fetch_requests ?? 0,
    },
    service_tier: u.service_tier ?? 'standard',
    inference_geo: u.inference_geo ?? 'not_available',
  };
}

function firstStopSequence(text: string, sequences: string[]): { index: number; sequence: string } | null {
  let best: { index: number; sequence: string } | null = null;
  for (const sequence of sequences) {
    if (sequence === '') continue;
    const index = text.indexOf(sequence);
    if (index >= 0 && (best === null || index < best.index)) best = { index, sequence };
  }
  return best;
}

/** The JSON body of a non-streaming response. */
export function messageBody(reply: ResolvedReply): Record<string, unknown> {
  return {
    id: reply.id,
    type: 'message',
    role: 'assistant',
    model: reply.model,
    content: reply.text === '' ? [] : [{ type: 'text', text: reply.text }],
    stop_reason: reply.stopReason,
    stop_sequence: reply.stopSequence,
    usage: reply.usage,
  };
}
