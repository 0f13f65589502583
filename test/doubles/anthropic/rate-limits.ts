/**
 * The anthropic-ratelimit-* headers every response carries, from a one-minute
 * window that counts requests and tokens (input = uncached input + cache writes,
 * as the API counts them). The double reports but does not enforce them: a 429
 * is a fault the test queues.
 */
import type { RateLimitOptions } from './types.ts';

const WINDOW_MS = 60_000;

const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export class RateLimits {
  private readonly requestsLimit: number;
  private readonly inputLimit: number;
  private readonly outputLimit: number;
  private windowStart = Date.now();
  private requests = 0;
  private input = 0;
  private output = 0;

  constructor(options: RateLimitOptions = {}) {
    this.requestsLimit = options.requestsPerMinute ?? 4000;
    this.inputLimit = options.inputTokensPerMinute ?? 2_000_000;
    this.outputLimit = options.outputTokensPerMinute ?? 400_000;
  }

  private roll(now: number): void {
    if (now < this.windowStart + WINDOW_MS) return;
    this.windowStart = now;
    this.requests = 0;
    this.input = 0;
    this.output = 0;
  }

  noteRequest(): void {
    this.roll(Date.now());
    this.requests += 1;
  }

  noteTokens(input: number, output: number): void {
    this.roll(Date.now());
    this.input += input;
    this.output += output;
  }

  headers(): Record<string, string> {
    const now = Date.now();
    this.roll(now);
    const reset = rfc3339(this.windowStart + WINDOW_MS);
    const inputLeft = Math.max(0, this.inputLimit - this.input);
    const outputLeft = Math.max(0, this.outputLimit - this.output);
    // tokens-* report the most restrictive of the token limits in effect.
    const inputTighter = inputLeft / this.inputLimit <= outputLeft / this.outputLimit;
    return {
      'anthropic-ratelimit-requests-limit': String(this.requestsLimit),
      'anthropic-ratelimit-requests-remaining': String(Math.max(0, this.requestsLimit - this.requests)),
      'anthropic-ratelimit-requests-reset': reset,
      'anthropic-ratelimit-tokens-limit': String(inputTighter ? this.inputLimit : this.outputLimit),
      'anthropic-ratelimit-tokens-remaining': String(inputTighter ? inputLeft : outputLeft),
      'anthropic-ratelimit-tokens-reset': reset,
      'anthropic-ratelimit-input-tokens-limit': String(this.inputLimit),
      'anthropic-ratelimit-input-tokens-remaining': String(inputLeft),
      'anthropic-ratelimit-input-tokens-reset': reset,
      'anthropic-ratelimit-output-tokens-limit': String(this.outputLimit),
      'anthropic-ratelimit-output-tokens-remaining': String(outputLeft),
      'anthropic-ratelimit-output-tokens-reset': reset,
    };
  }
}
