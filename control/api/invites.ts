/** Invite codes on the platform API: create (the code is shown once), list, revoke. */
import Router from '@koa/router';
import { type Invites, inviteLink } from '../users/invites.ts';
import { readJsonObject } from '../web/body.ts';
import { actorOf } from './auth.ts';

export interface InviteRoutesDeps {
  invites: Invites;
  bodyLimitBytes: number;
  /** The apex as users see it: invite links are `{publicUrl}/login?invite=CODE&next=/signup`. */
  publicUrl: string;
}

export function inviteRoutes(deps: InviteRoutesDeps): Router {
  const router = new Router();

  router.post('/invites', async (ctx) => {
    const body = await readJsonObject(ctx.req, deps.bodyLimitBytes);
    const { invite, code } = await deps.invites.create({ maxUses: body.uses, expiresInDays: body.expiresInDays, note: body.note }, actorOf(ctx));
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { invite, code, url: inviteLink(deps.publicUrl, code) };
  });

  router.get('/invites', async (ctx) => {
    ctx.body = { invites: await deps.invites.list() };
  });

  router.delete('/invites/:id', async (ctx) => {
    ctx.body = { invite: await deps.invites.revoke(ctx.params.id!, actorOf(ctx)) };
  });

  return router;
}
