/**
 * The public shapes of the Anthropic double: the usage object as the Messages API
 * returns it, what a test can override per request, the faults it can queue, and
 * what the double records for introspection.
 */

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error';

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'pause_turn' | 'refusal';

/** `usage` of a message (and of `message_start`'s message). The three input counts do not overlap. */
export interface Usage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cache_creation: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
  output_tokens: number;
  server_tool_use: { web_search_requests: number; web_fetch_requests: number };
  service_tier: 'standard' | 'priority' | 'batch';
  inference_geo: string;
}

/**
 * Exact usage a test wants reported. cache_creation_input_tokens is always the sum of the
 * 5m and 1h writes; input_tokens defaults to the request's count minus the cache reads and writes.
 */
export interface UsageOverride {
  input_tokens?: number;
  output_tokens?: number;
  cache_read_input_tokens?: number;
  cache_creation?: { ephemeral_5m_input_tokens?: number; ephemeral_1h_input_tokens?: number };
  server_tool_use?: { web_search_requests?: number; web_fetch_requests?: number };
  service_tier?: Usage['service_tier'];
  inference_geo?: string;
}

/** What one /v1/messages request answers; every field is optional and falls back to the double's defaults. */
export interface ReplyPlan {
  /** The reply text before max_tokens / stop_sequences cut it. */
  text?: string;
  usage?: UsageOverride;
  stopReason?: StopReason;
  /** The message id (default msg_01…, deterministic per double). */
  id?: string;
  /** The `model` of the response (default: as requested). */
  model?: string;
  /** Write the stream in slices of this many bytes, cutting through events and characters. */
  chunkBytes?: number;
  /** Milliseconds between two slices (default: a turn of the event loop only). */
  chunkDelayMs?: number;
  /** How many message_delta events carry the (cumulative) usage. */
  messageDeltas?: number;
  /** Reply tokens per content_block_delta. */
  tokensPerDelta?: number;
}

/** A request as the double received it. */
export interface RecordedRequest {
  index: number;
  requestId: string;
  method: string;
  /** The path without the query string. */
  path: string;
  query: string;
  /** Lower-cased header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  anthropicVersion: string | undefined;
  /** The anthropic-beta header split on commas. */
  anthropicBeta: string[];
  /** The parsed JSON body; undefined when there was none or it did not parse. */
  body: unknown;
  rawBody: string;
  /** The status written, once the response head is out. */
  status?: number;
}

export type Responder = (request: RecordedRequest) => ReplyPlan | undefined | Promise<ReplyPlan | undefined>;

export interface StatusFaultOptions {
  /** Default: the documented type for the status (529 overloaded_error, 429 rate_limit_error, …). */
  type?: ErrorType;
  message?: string;
  /** Seconds, sent as `retry-after`. Default 1 for a 429, absent otherwise. */
  retryAfter?: number;
  headers?: Record<string, string>;
}

export interface StreamErrorOptions {
  /** content_block_delta events before the error. Default 2. */
  afterDeltas?: number;
  type?: ErrorType;
  message?: string;
}

export type StreamOutcome = 'completed' | 'error_event' | 'aborted' | 'closed';

/** One streamed response. */
export interface StreamRecord {
  requestIndex: number;
  requestId: string;
  messageId: string;
  /** 'open' while writing; then completed (message_stop written), error_event, aborted (client left) or closed (close()). */
  readonly state: 'open' | StreamOutcome;
  /** Event types queued for writing, in order. */
  readonly events: string[];
  /** Byte length of each socket write. */
  readonly writes: number[];
  /** Every byte written so far. */
  bytes(): Buffer;
  /** Resolves when the response is over, with how it ended. */
  readonly ended: Promise<StreamOutcome>;
}

/** A queued stall: the stream stops after some deltas until release() or the client leaves. */
export interface Stall {
  /** Resolves when the stall point is written (with the stream; undefined for a non-streaming request). */
  readonly reached: Promise<StreamRecord | undefined>;
  release(): void;
}

export interface ModelInfo {
  id: string;
  display_name: string;
  /** RFC 3339. */
  created_at: string;
  /** The largest max_tokens accepted. Default 64000. */
  max_output_tokens?: number;
  /** Other names /v1/messages accepts for it (not listed by /v1/models). */
  aliases?: string[];
}

export interface RateLimitOptions {
  requestsPerMinute?: number;
  inputTokensPerMinute?: number;
  outputTokensPerMinute?: number;
}

export interface AnthropicDoubleOptions {
  /** The one valid key. Default DEFAULT_API_KEY. */
  apiKey?: string;
  /** Default DEFAULT_MODELS. */
  models?: ModelInfo[];
  /** Milliseconds before the first byte of every response. Default 0. */
  latencyMs?: number;
  /** Milliseconds between two stream events. Default 0. */
  eventDelayMs?: number;
  /** Default stream slicing (see ReplyPlan.chunkBytes). Default: one write per event. */
  chunkBytes?: number;
  /** Default pause between two slices (see ReplyPlan.chunkDelayMs). Default 0. */
  chunkDelayMs?: number;
  /** Default 1. */
  messageDeltas?: number;
  /** Default 2. */
  tokensPerDelta?: number;
  /** Default DEFAULT_REPLY. */
  replyText?: string;
  /** Called for each valid /v1/messages request without a queued reply. */
  respond?: Responder;
  /** Replaces the default input token count (countInputTokens) for both endpoints. */
  countTokens?: (body: Record<string, unknown>) => number;
  /** Larger bodies get 413 request_too_large. Default 32 MB, the Messages API limit. */
  maxRequestBytes?: number;
  rateLimits?: RateLimitOptions;
  /** Accepted anthropic-version values. Default: any non-empty value. */
  versions?: string[];
}
