/** Request ids, one log line per request, and API metrics. Never logs headers or bodies. */
import crypto from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function requestLog(logger: Logger, metrics: Metrics) {
  return async function logRequest(ctx: Context, next: Next): Promise<void> {
    const incoming = ctx.get('x-request-id');
    const requestId = REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      const seconds = (performance.now() - started) / 1000;
      // The matched route pattern keeps label cardinality bounded.
      const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      metrics.apiRequests.inc({ method: ctx.method, route: String(route), status: String(ctx.status) });
      metrics.apiLatencySeconds.observe({ method: ctx.method, route: String(route) }, seconds);
      logger.info({ requestId, method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(seconds * 1000) }, 'api request');
    }
  };
}
