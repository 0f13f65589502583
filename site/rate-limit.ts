/**
 * Per-client rate limit for sign-in and sign-up: a token bucket per address, in
 * memory (per process; each replica limits on its own), pruned as it goes.
 */
export class RateLimiter {
  private buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly options: { perMinute: number; burst: number; maxClients?: number }) {}

  /** true when the client may go on; false: answer 429. */
  take(client: string, now = Date.now()): boolean {
    const { perMinute, burst } = this.options;
    const bucket = this.buckets.get(client) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 60_000) * perMinute);
    bucket.at = now;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.buckets.delete(client);
    this.buckets.set(client, bucket);
    // Oldest first in a Map: drop the least recently seen clients beyond the cap.
    const max = this.options.maxClients ?? 100_000;
    while (this.buckets.size > max) this.buckets.delete(this.buckets.keys().next().value!);
    return allowed;
  }

  /** Seconds until one more request is allowed. */
  retryAfter(client: string): number {
    const bucket = this.buckets.get(client);
    if (!bucket) return 0;
    return Math.max(1, Math.ceil(((1 - bucket.tokens) * 60) / this.options.perMinute));
  }
}
