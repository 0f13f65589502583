/**
 * An Anthropic Messages API double: a real HTTP server on 127.0.0.1 (port 0)
 * speaking /v1/messages (JSON and SSE), /v1/messages/count_tokens and
 * /v1/models as README.md beside this file describes, with deterministic usage
 * and faults to inject.
 *
 *   const anthropic = await startAnthropicDouble();
 *   ... point the metering proxy at anthropic.url (ANTHROPIC_BASE_URL, no /v1) ...
 *   anthropic.failNext(529);
 *   await anthropic.close();
 */
import { createHandler } from './front.ts';
import { HttpFront } from './http.ts';
import { DoubleState } from './state.ts';
import type {
  AnthropicDoubleOptions,
  ModelInfo,
  RecordedRequest,
  ReplyPlan,
  Responder,
  Stall,
  StatusFaultOptions,
  StreamErrorOptions,
  StreamRecord,
} from './types.ts';

export { DEFAULT_ERROR_MESSAGES, errorTypeFor } from './errors.ts';
export { DEFAULT_MODELS } from './models.ts';
export { countInputTokens, DEFAULT_REPLY, replyTokens } from './reply.ts';
export { parseSse } from './sse.ts';
export { DEFAULT_API_KEY, DEFAULT_MAX_REQUEST_BYTES } from './state.ts';
export type * from './types.ts';

export interface AnthropicDouble {
  /** Base URL without /v1, e.g. "http://127.0.0.1:41234" (what ANTHROPIC_BASE_URL takes). */
  readonly url: string;
  readonly port: number;
  /** The one key it accepts. */
  readonly apiKey: string;
  /** The catalogue, newest first. */
  readonly models: readonly ModelInfo[];
  /** Every request received, oldest first (auth failures and 404s included). */
  readonly requests: readonly RecordedRequest[];
  /** Every streamed response, oldest first. */
  readonly streams: readonly StreamRecord[];
  /** Requests whose response is not over yet. */
  readonly inFlight: number;
  /** Faults queued and not yet used. */
  readonly pendingFaults: number;
  /** The hook asked for a ReplyPlan for each /v1/messages request without a queued reply. */
  respond: Responder | undefined;
  /** Milliseconds before the first byte of every response. */
  latencyMs: number;
  /** Milliseconds between two stream events. */
  eventDelayMs: number;
  /** The next /v1/messages request answers with `plan` (queued, each used once). */
  replyNext(plan: ReplyPlan): void;
  /** The next /v1/messages request fails with `status` and the documented error body. */
  failNext(status: number, options?: StatusFaultOptions): void;
  /** The next stream sends some deltas then `event: error` and ends (non-streaming: the matching status). */
  streamErrorNext(options?: StreamErrorOptions): void;
  /** The next stream waits `eventDelayMs` between events (non-streaming: that times the event count). */
  slowNext(eventDelayMs: number): void;
  /** The next stream stops after `afterDeltas` deltas (default 2) until released or the client leaves. */
  stallNext(options?: { afterDeltas?: number }): Stall;
  /** Drops queued faults (releasing queued stalls) and queued replies. */
  clearFaults(): void;
  /** Resolves once no request is in flight. */
  idle(): Promise<void>;
  /** Stops listening and cuts every connection; open streams end as 'closed'. */
  close(): Promise<void>;
}

export async function startAnthropicDouble(options: AnthropicDoubleOptions = {}): Promise<AnthropicDouble> {
  const state = new DoubleState(options);
  const front = new HttpFront(createHandler(state));
  await front.listen();
  let closed: Promise<void> | undefined;

  return {
    url: front.url,
    port: front.port,
    apiKey: state.apiKey,
    models: state.catalogue.models,
    requests: state.requests,
    streams: state.streams,
    get inFlight() {
      return state.inFlight;
    },
    get pendingFaults() {
      return state.faults.pending;
    },
    get respond() {
      return state.respond;
    },
    set respond(hook) {
      state.respond = hook;
    },
    get latencyMs() {
      return state.latencyMs;
    },
    set latencyMs(ms) {
      state.latencyMs = ms;
    },
    get eventDelayMs() {
      return state.eventDelayMs;
    },
    set eventDelayMs(ms) {
      state.eventDelayMs = ms;
    },
    replyNext: (plan) => {
      state.replies.push(plan);
    },
    failNext: (status, faultOptions) => state.faults.status(status, faultOptions),
    streamErrorNext: (faultOptions) => state.faults.streamError(faultOptions),
    slowNext: (ms) => state.faults.slow(ms),
    stallNext: (stallOptions = {}) => state.faults.stall(stallOptions.afterDeltas),
    clearFaults: () => {
      state.faults.clear();
      state.replies.length = 0;
    },
    idle: () => state.idle(),
    close: () => {
      closed ??= (async () => {
        state.closing.abort();
        state.faults.clear();
        await front.close();
        await state.idle();
      })();
      return closed;
    },
  };
}
