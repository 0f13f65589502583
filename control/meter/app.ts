/**
 * The metering route (its own listener, default :8080, for instances only): the
 * Anthropic API as instances call it, with the platform's key upstream, each call
 * priced, admitted against the budgets and settled; and GET /v1/budget.
 */
import Router from '@koa/router';
import Koa, { type Context } from 'koa';
import type { InstanceKeys, Tenant } from '../access/instance-keys.ts';
import type { Logger } from '../logger.ts';
import { readBody } from '../web/body.ts';
import { anthropicError, meterUnauthorized, renderAnthropicErrors } from './anthropic-errors.ts';
import type { MeterBooks } from './books.ts';
import { type MeteredCallDeps, meteredCall } from './metered-call.ts';
import { formatUsd } from './money.ts';
import { passBackHeaders } from './upstream.ts';

export interface MeterAppDeps extends MeteredCallDeps {
  keys: InstanceKeys;
  books: MeterBooks;
  logger: Logger;
}

/** The key as SDKs send it: x-api-key (older clients) or Authorization: Bearer (SDK 1.x). */
function presentedKey(ctx: Context): string | undefined {
  const apiKey = ctx.get('x-api-key');
  if (apiKey) return apiKey;
  const match = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'));
  return match?.[1];
}

export function createMeterApp(deps: MeterAppDeps): Koa {
  const app = new Koa();
  app.silent = true;
  const router = new Router();
  const tenantOf = (ctx: Context): Tenant | null => deps.keys.tenant(presentedKey(ctx));

  // Unknown, revoked or missing keys: 401 before anything is read or forwarded.
  app.use(renderAnthropicErrors(deps.logger));
  app.use(async (ctx, next) => {
    const tenant = tenantOf(ctx);
    if (!tenant) {
      deps.metrics?.refusals.inc({ reason: 'unauthenticated' });
      return meterUnauthorized(ctx);
    }
    ctx.state.tenant = tenant;
    return next();
  });

  router.post('/v1/messages', (ctx) => meteredCall(ctx, deps, ctx.state.tenant as Tenant));

  // Free calls: passed through, not metered. The upstream still needs the platform's key.
  const passThrough = (method: 'GET' | 'POST', path: string) => async (ctx: Context) => {
    if (!deps.upstream.configured) return anthropicError(ctx, 503, 'The platform has no model API key configured; ask its operator.');
    const body = method === 'POST' ? await readBody(ctx.req, deps.bodyLimitBytes) : undefined;
    const answer = await deps.upstream.request(method, path + (ctx.querystring ? `?${ctx.querystring}` : ''), ctx.req.headers, body);
    ctx.status = answer.statusCode;
    ctx.set(passBackHeaders(answer.headers) as Record<string, string>);
    ctx.body = Buffer.from(await answer.body.arrayBuffer());
  };
  router.post('/v1/messages/count_tokens', passThrough('POST', '/v1/messages/count_tokens'));
  router.get('/v1/models', passThrough('GET', '/v1/models'));
  router.get('/v1/models/:id', (ctx) => passThrough('GET', `/v1/models/${encodeURIComponent(ctx.params.id!)}`)(ctx));

  router.get('/v1/budget', async (ctx) => {
    const tenant = ctx.state.tenant as Tenant;
    const budget = await deps.books.budget(tenant.ownerId);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      handle: tenant.handle,
      message: `Budget: $${formatUsd(budget.remaining)} remaining`,
      remaining_usd: formatUsd(budget.remaining),
      limit_usd: formatUsd(budget.limit),
      spent_usd: formatUsd(budget.spent),
      reserved_usd: formatUsd(budget.reserved),
      period: budget.period,
      resets_at: budget.resetsAt?.toISOString() ?? null,
    };
  });

  app.use(router.routes()).use(router.allowedMethods());
  return app;
}
