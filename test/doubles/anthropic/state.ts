/**
 * Everything one double holds: its options resolved, the fault and reply
 * queues, the request and stream logs, the in-flight count, and the signal
 * close() aborts.
 */

import { FaultQueue } from './faults.ts';
import { Ids } from './ids.ts';
import { DEFAULT_MODELS, ModelCatalogue } from './models.ts';
import { RateLimits } from './rate-limits.ts';
import { countInputTokens, DEFAULT_REPLY, type ReplyDefaults } from './reply.ts';
import type { AnthropicDoubleOptions, RecordedRequest, ReplyPlan, Responder, StreamRecord } from './types.ts';

export const DEFAULT_API_KEY = 'sk-ant-double-0000';
/** The Messages API's request size limit. */
export const DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024;

export class DoubleState {
  readonly apiKey: string;
  readonly catalogue: ModelCatalogue;
  readonly faults = new FaultQueue();
  readonly ids = new Ids();
  readonly rateLimits: RateLimits;
  readonly requests: RecordedRequest[] = [];
  readonly streams: StreamRecord[] = [];
  readonly replies: ReplyPlan[] = [];
  readonly replyDefaults: ReplyDefaults;
  readonly maxRequestBytes: number;
  readonly versions: Set<string> | undefined;
  readonly countTokens: (body: Record<string, unknown>) => number;
  readonly closing = new AbortController();
  respond: Responder | undefined;
  latencyMs: number;
  eventDelayMs: number;
  private active = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(options: AnthropicDoubleOptions) {
    this.apiKey = options.apiKey ?? DEFAULT_API_KEY;
    this.catalogue = new ModelCatalogue(options.models ?? DEFAULT_MODELS);
    this.rateLimits = new RateLimits(options.rateLimits);
    this.replyDefaults = {
      text: options.replyText ?? DEFAULT_REPLY,
      messageDeltas: options.messageDeltas ?? 1,
      tokensPerDelta: options.tokensPerDelta ?? 2,
      chunkBytes: options.chunkBytes,
      chunkDelayMs: options.chunkDelayMs ?? 0,
    };
    this.maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    this.versions = options.versions ? new Set(options.versions) : undefined;
    this.countTokens = options.countTokens ?? countInputTokens;
    this.respond = options.respond;
    this.latencyMs = options.latencyMs ?? 0;
    this.eventDelayMs = options.eventDelayMs ?? 0;
  }

  get inFlight(): number {
    return this.active;
  }

  begin(): void {
    this.active += 1;
  }

  end(): void {
    this.active -= 1;
    if (this.active > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once no request is in flight. */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
