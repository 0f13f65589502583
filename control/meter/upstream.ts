/**
 * The connection to Anthropic's API (ANTHROPIC_BASE_URL): one keep-alive pool, the
 * platform's key in x-api-key, the client's anthropic-version and anthropic-beta passed
 * as they came. Nothing of the instance's own credentials goes upstream.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Pool } from 'undici';
import type { MeterConfig } from '../config-meter.ts';

/** Response headers clients rely on, passed back as they came. */
const PASS_BACK = /^(request-id|anthropic-ratelimit-.*|retry-after|x-should-retry|content-type|anthropic-organization-id)$/;

export class Upstream {
  private readonly pool: Pool;
  private readonly base: URL;

  constructor(private readonly settings: Pick<MeterConfig, 'upstreamUrl' | 'upstreamKey'>) {
    this.base = new URL(settings.upstreamUrl);
    this.pool = new Pool(this.base.origin, { connections: 256, keepAliveTimeout: 30_000, headersTimeout: 10 * 60_000, bodyTimeout: 10 * 60_000 });
  }

  get configured(): boolean {
    return this.settings.upstreamKey !== null;
  }

  /** `path` is the API path (/v1/...); a path prefix in ANTHROPIC_BASE_URL is kept. */
  request(method: 'GET' | 'POST', path: string, client: IncomingHttpHeaders, body?: Buffer, signal?: AbortSignal) {
    const headers: Record<string, string> = { 'x-api-key': this.settings.upstreamKey ?? '' };
    for (const name of ['anthropic-version', 'anthropic-beta', 'content-type', 'accept'] as const) {
      const value = client[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const prefix = this.base.pathname.replace(/\/+$/, '');
    return this.pool.request({ method, path: `${prefix}${path}`, headers, body, signal });
  }

  /** Waits up to `graceMs` for answers in flight, then cuts them. */
  async close(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const cut = new Promise<void>((resolve) => {
      timer = setTimeout(() => resolve(this.pool.destroy()), graceMs);
    });
    await Promise.race([this.pool.close(), cut]);
    clearTimeout(timer);
  }
}

export function passBackHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && PASS_BACK.test(name)) out[name] = value;
  return out;
}
