/**
 * /health on an instance's host, answered by the router itself: it asks the instance's
 * own /health (at most one probe per instance at a time, and a fresh answer is reused
 * for a second) and replies with a fixed body of its own. Nothing the instance sends
 * (body, headers, Location, Set-Cookie) ever reaches an unauthenticated client.
 */
import type { UpstreamPools } from './upstream.ts';

const FRESH_MS = 1000;
const PROBE_TIMEOUT_MS = 2000;

export class HealthProbe {
  private readonly recent = new Map<string, { healthy: boolean; at: number }>();
  private readonly inflight = new Map<string, Promise<boolean>>();

  constructor(private readonly pools: UpstreamPools) {}

  /**
   * Whether the instance at `gatewayUrl` answers its /health with a 2xx. Never throws.
   * `fresh`: ask it now rather than reuse an answer from the last second (one in flight is still shared).
   */
  healthy(handle: string, gatewayUrl: string, options: { fresh?: boolean } = {}): Promise<boolean> {
    const known = this.recent.get(handle);
    if (!options.fresh && known && Date.now() - known.at < FRESH_MS) return Promise.resolve(known.healthy);
    const running = this.inflight.get(handle);
    if (running !== undefined) return running;
    const probe = this.probe(gatewayUrl).then((healthy) => {
      this.recent.set(handle, { healthy, at: Date.now() });
      this.inflight.delete(handle);
      // Bounded: forget answers nobody asked for again.
      if (this.recent.size > 10_000) this.recent.clear();
      return healthy;
    });
    this.inflight.set(handle, probe);
    return probe;
  }

  private async probe(gatewayUrl: string): Promise<boolean> {
    try {
      const { statusCode, body } = await this.pools.get(gatewayUrl).request({
        method: 'GET',
        path: '/health',
        headersTimeout: PROBE_TIMEOUT_MS,
        bodyTimeout: PROBE_TIMEOUT_MS,
      });
      await body.dump();
      return statusCode >= 200 && statusCode < 300;
    } catch {
      return false;
    }
  }
}
