/**
 * "Open my Matrix OS": a one-time login code for the instance's own host, then off to it.
 * Issuing the code is a form post with the session's CSRF token: every {handle} host is
 * the same site as the apex to a browser, so a GET would let any tenant's page open the
 * victim's instance (or, for an admin, anyone's) in the victim's name. GET shows the form.
 */
import { loginPath } from '../../control/access/urls.ts';
import { safeNextPath } from '../../control/web/next-path.ts';
import { checkForm, html, pageUser, requireSession, type SignedIn, type SiteDeps, type SiteRouter, seeOther } from '../context.ts';
import { openPage } from '../views.ts';

export function openPages(router: SiteRouter, deps: SiteDeps): void {
  const signedIn = requireSession(deps);

  router.get<SignedIn>('/open/:handle', signedIn, async (ctx) => {
    const handle = ctx.params.handle!;
    const next = safeNextPath(typeof ctx.query.next === 'string' ? ctx.query.next : '/');
    await deps.codes.accessOf(handle, ctx.state.session.user.id);
    html(ctx, 200, openPage(pageUser(ctx.state.session)!, handle, next, deps.instanceUrl(handle)));
  });

  router.post<SignedIn>('/open/:handle', signedIn, async (ctx) => {
    const form = await checkForm(ctx);
    const handle = ctx.params.handle!;
    const issued = await deps.codes.issue({ handle, userId: ctx.state.session.user.id, next: form.get('next') ?? '/' });
    ctx.set('Cache-Control', 'no-store');
    seeOther(ctx, `${deps.instanceUrl(handle)}${loginPath(issued.code)}`);
  });
}
