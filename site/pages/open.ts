/** "Open my Matrix OS": a one-time login code for the instance's own host, then off to it. */
import { loginPath } from '../../control/access/urls.ts';
import { requireSession, type SignedIn, type SiteDeps, type SiteRouter } from '../context.ts';

export function openPages(router: SiteRouter, deps: SiteDeps): void {
  router.get<SignedIn>('/open/:handle', requireSession(deps), async (ctx) => {
    const handle = ctx.params.handle!;
    const next = typeof ctx.query.next === 'string' ? ctx.query.next : '/';
    const issued = await deps.codes.issue({ handle, userId: ctx.state.session.user.id, next });
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(`${deps.instanceUrl(handle)}${loginPath(issued.code)}`);
  });
}
