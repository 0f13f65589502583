/** /containers: provision, inspect, start, stop, destroy and follow instances. */
import Router from '@koa/router';
import type { Context } from 'koa';
import { deriveCredential } from '../access/credentials.ts';
import type { AccessCodes } from '../access/login-codes.ts';
import { loginPath } from '../access/urls.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { InstanceService } from '../provisioning/service.ts';
import type { InstanceStore } from '../provisioning/store.ts';
import { instanceView } from '../provisioning/views.ts';
import type { UserStore } from '../users/store.ts';
import { readJsonObject } from '../web/body.ts';
import { streamEvents } from '../web/sse.ts';
import { actorOf } from './auth.ts';

export interface ContainerRoutesDeps {
  service: InstanceService;
  store: InstanceStore;
  users: UserStore;
  bodyLimitBytes: number;
  secretKey: string;
  codes: AccessCodes;
  /** https://{handle}.DOMAIN as users reach it. */
  instanceUrl(handle: string): string;
  /** Re-reads an instance's route in this process, so a rotated credential is dead when the answer arrives. */
  refreshRoute(handle: string): Promise<unknown>;
}

function intParam(ctx: Context, name: string, fallback: number, min: number, max: number): number {
  const raw = ctx.query[name];
  if (raw === undefined) return fallback;
  const value = Array.isArray(raw) ? NaN : Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new ValidationError(`${name} must be a whole number from ${min} to ${max}, got "${String(raw)}"`);
  return value;
}

export function containerRoutes(deps: ContainerRoutesDeps): Router {
  const { service, store } = deps;

  /**
   * `user` in a body: whom an operator means (an email, a handle or an id), resolved to
   * an existing user's id; `userId` is taken as it is (a new id creates that user).
   */
  const ownerOf = async (body: Record<string, unknown>): Promise<unknown> => {
    if (body.user === undefined) return body.userId;
    if (typeof body.user !== 'string' || body.user.trim() === '') throw new ValidationError('user must be an email, a handle or a user id');
    if (body.userId !== undefined) throw new ValidationError('Give user or userId, not both.');
    const user = await deps.users.resolve(body.user);
    if (!user)
      throw new NotFoundError(
        `No user matches "${body.user.slice(0, 100)}": give their email, handle or id (people appear once they have signed in on the site).`,
      );
    return user.id;
  };

  const router = new Router({ prefix: '/containers' });

  router.post('/provision', async (ctx) => {
    const body = await readJsonObject(ctx.req, deps.bodyLimitBytes);
    const { instance, created } = await service.provision({ handle: body.handle, userId: await ownerOf(body) }, actorOf(ctx));
    ctx.status = created ? 201 : 200;
    ctx.body = { instance: instanceView(instance), created };
  });

  router.get('/', async (ctx) => {
    const status = typeof ctx.query.status === 'string' && ctx.query.status !== '' ? ctx.query.status : undefined;
    const { instances, total } = await service.list({ status, limit: intParam(ctx, 'limit', 100, 1, 1000), offset: intParam(ctx, 'offset', 0, 0, 10_000_000) });
    ctx.body = { instances: instances.map(instanceView), total };
  });

  router.get('/:handle', async (ctx) => {
    ctx.body = { instance: instanceView(await service.get(ctx.params.handle!)) };
  });

  for (const action of ['start', 'stop'] as const) {
    router.post(`/:handle/${action}`, async (ctx) => {
      const { instance, changed } = await service.request(ctx.params.handle!, action, actorOf(ctx));
      ctx.status = changed ? 202 : 200;
      ctx.body = { instance: instanceView(instance), changed };
    });
  }

  router.delete('/:handle', async (ctx) => {
    const handle = ctx.params.handle!;
    if (ctx.query.confirm !== handle) {
      throw new ValidationError(`Destroying needs confirmation: repeat the handle as ?confirm=${handle}.`);
    }
    const purge = ctx.query.purge === '1' || ctx.query.purge === 'true';
    const { instance, changed } = await service.request(handle, 'destroy', actorOf(ctx), { purge });
    ctx.status = changed ? 202 : 200;
    ctx.body = { instance: instanceView(instance), changed };
  });

  // The new token is in this answer only: the platform stores no tokens, and GET never shows one.
  router.post('/:handle/token', async (ctx) => {
    const handle = ctx.params.handle!;
    const generation = await service.rotateAccess(handle, actorOf(ctx));
    await deps.refreshRoute(handle);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { handle, token: deriveCredential(deps.secretKey, 'instance-token', handle, generation), generation, url: deps.instanceUrl(handle) };
  });

  // Rotates credentials: "token" (the user's instance token), "router" and "meter" (what
  // the instance holds; one generation for both, so naming either rotates both, and the
  // instance is redeployed). {"all": true} is all three. The new instance token is in
  // this answer only; the instance's own credentials are never shown.
  router.post('/:handle/rotate', async (ctx) => {
    const handle = ctx.params.handle!;
    const body = await readJsonObject(ctx.req, deps.bodyLimitBytes);
    const wanted = rotationRequest(body);
    await service.get(handle);
    const answer: Record<string, unknown> = { handle, rotated: [] as string[], url: deps.instanceUrl(handle) };
    if (wanted.token) {
      const generation = await service.rotateAccess(handle, actorOf(ctx));
      await deps.refreshRoute(handle);
      answer.token = deriveCredential(deps.secretKey, 'instance-token', handle, generation);
      (answer.rotated as string[]).push('token');
    }
    if (wanted.runtime) {
      const { redeploy } = await service.rotateRuntimeCredentials(handle, actorOf(ctx));
      await deps.refreshRoute(handle);
      (answer.rotated as string[]).push('router', 'meter');
      answer.redeploying = redeploy;
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = answer;
  });

  // A one-time sign-in link to the instance's own host. Without userId the caller is the
  // operator, which counts as admin access and is audited when the link is used.
  router.post('/:handle/login-link', async (ctx) => {
    const handle = ctx.params.handle!;
    const body = await readJsonObject(ctx.req, deps.bodyLimitBytes);
    const userId = await ownerOf(body);
    if (userId !== undefined && (typeof userId !== 'string' || userId === '')) throw new ValidationError('userId must be a non-empty string when given');
    const issued = await deps.codes.issue({ handle, userId: (userId as string | undefined) ?? null, next: body.next, auditActor: actorOf(ctx) });
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 201;
    ctx.body = { url: `${deps.instanceUrl(handle)}${loginPath(issued.code)}`, access: issued.access, expiresAt: issued.expiresAt.toISOString() };
  });

  router.get('/:handle/events', async (ctx) => {
    const handle = ctx.params.handle!;
    await service.get(handle);
    const lastEventId = ctx.get('last-event-id');
    const after = lastEventId && /^\d+$/.test(lastEventId) ? Number(lastEventId) : intParam(ctx, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
    const follow = ctx.query.follow === '1' || ctx.accepts('json', 'text/event-stream') === 'text/event-stream';
    if (follow) return streamEvents(ctx, store.eventFeed(handle), after, 'instance');
    ctx.body = { events: await store.events(handle, after, intParam(ctx, 'limit', 500, 1, 5000)) };
  });

  return router;
}

const CREDENTIALS = ['token', 'router', 'meter'] as const;

function rotationRequest(body: Record<string, unknown>): { token: boolean; runtime: boolean } {
  if (body.all === true) return { token: true, runtime: true };
  const list = body.credentials;
  if (!Array.isArray(list) || list.length === 0 || !list.every((c) => (CREDENTIALS as readonly unknown[]).includes(c))) {
    throw new ValidationError(`Say what to rotate: {"all": true}, or {"credentials": [...]} with any of ${CREDENTIALS.join(', ')}.`);
  }
  return { token: list.includes('token'), runtime: list.includes('router') || list.includes('meter') };
}
