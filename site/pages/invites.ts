/**
 * Invite codes for admins: the list, making one (the code is on the answer to the
 * post and nowhere else: a page that reloads nothing and posts nothing by itself),
 * and withdrawing one.
 */
import { inviteLink } from '../../control/users/invites.ts';
import { checkForm, html, pageUser, requireAdmin, requireSession, type SignedIn, type SiteDeps, type SiteRouter, seeOther } from '../context.ts';
import { adminInvitesPage } from '../invite-views.ts';

export function invitePages(router: SiteRouter, deps: SiteDeps): void {
  const admin = [requireSession(deps), requireAdmin] as const;

  router.get<SignedIn>('/admin/invites', ...admin, async (ctx) => {
    html(ctx, 200, adminInvitesPage(pageUser(ctx.state.session)!, await deps.invites.list(), deps.settings.signup.mode, null));
  });

  router.post<SignedIn>('/admin/invites', ...admin, async (ctx) => {
    const form = await checkForm(ctx);
    const { code } = await deps.invites.create(
      { maxUses: form.get('uses') ?? undefined, expiresInDays: form.get('days') ?? undefined, note: form.get('note') ?? undefined },
      `admin:${ctx.state.session.user.id}`,
    );
    const created = { code, url: inviteLink(deps.settings.publicUrl, code) };
    html(ctx, 201, adminInvitesPage(pageUser(ctx.state.session)!, await deps.invites.list(), deps.settings.signup.mode, created));
  });

  router.post<SignedIn>('/admin/invites/:id/revoke', ...admin, async (ctx) => {
    await checkForm(ctx);
    await deps.invites.revoke(ctx.params.id!, `admin:${ctx.state.session.user.id}`);
    seeOther(ctx, '/admin/invites');
  });
}
