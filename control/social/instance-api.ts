/**
 * The social API as instances call it (MATRIXOS_SOCIAL_URL, on the meter's listener:
 * the one platform port instances reach). The caller is the instance its key
 * (MATRIXOS_SOCIAL_TOKEN, `mxs_`) belongs to; it sends as its user's AI and reads
 * only its own messages. A rotated key or a suspended owner is refused at once.
 */
import Router from '@koa/router';
import Koa, { type Context } from 'koa';
import type { InstanceKeys } from '../access/instance-keys.ts';
import { UnauthorizedError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { readJsonObject } from '../web/body.ts';
import { renderErrors } from '../web/error-middleware.ts';
import type { Sender, SocialService } from './service.ts';

const BODY_LIMIT = 64 * 1024;

export function createInstanceSocialApp(deps: { service: SocialService; keys: InstanceKeys; logger: Logger }): Koa {
  const { service, keys } = deps;
  const app = new Koa();
  app.silent = true;
  app.use(renderErrors({ logger: deps.logger }));
  app.use(async (ctx, next) => {
    const bearer = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'))?.[1];
    const tenant = keys.tenant(bearer);
    if (!tenant) throw new UnauthorizedError('This API is for instances: send their MATRIXOS_SOCIAL_TOKEN as a bearer token.');
    ctx.state.sender = { handle: tenant.handle, userId: tenant.ownerId, via: 'instance' } satisfies Sender;
    ctx.set('Cache-Control', 'no-store');
    await next();
  });
  const sender = (ctx: Context) => ctx.state.sender as Sender;
  const router = new Router({ prefix: '/social' });

  router.post('/send/:handle', async (ctx) => {
    const body = await readJsonObject(ctx.req, BODY_LIMIT);
    const key = ctx.get('idempotency-key') || undefined;
    const { message, created } = await service.send(sender(ctx), ctx.params.handle, body.text, key);
    // 202: queued now; 200: the message an earlier request with this Idempotency-Key made.
    ctx.status = created ? 202 : 200;
    ctx.body = { message };
  });
  router.get('/messages', async (ctx) => {
    ctx.body = { messages: await service.messages(sender(ctx).handle) };
  });
  router.get('/messages/:id', async (ctx) => {
    ctx.body = { message: await service.message(sender(ctx).handle, ctx.params.id!) };
  });
  router.post('/activity', async (ctx) => {
    const body = await readJsonObject(ctx.req, BODY_LIMIT);
    await service.postActivity(sender(ctx), body.text);
    ctx.status = 201;
    ctx.body = { posted: true };
  });
  router.get('/users', async (ctx) => {
    ctx.body = await service.users({ query: ctx.query.q, after: ctx.query.after, limit: ctx.query.limit });
  });
  router.get('/profiles/:handle', async (ctx) => {
    ctx.body = { profile: await service.profile(ctx.params.handle!) };
  });
  router.get('/profiles/:handle/ai', async (ctx) => {
    ctx.body = { profile: await service.aiProfile(ctx.params.handle!) };
  });

  app.use(router.routes()).use(router.allowedMethods());
  return app;
}
