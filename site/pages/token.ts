/**
 * The instance token: show the current one (derived again; the platform stores none)
 * or create a new one. Both are form posts, so a token never sits in a URL or a cache,
 * and both answer with a page that has no live-progress script and no form that a
 * reload could send again: a token is created exactly once per click.
 */
import { deriveCredential } from '../../control/access/credentials.ts';
import { ValidationError } from '../../control/errors.ts';
import { checkForm, html, pageUser, requireSession, type SignedIn, type SiteDeps, type SiteRouter } from '../context.ts';
import { tokenPage } from '../views.ts';
import { NO_INSTANCE, ownInstance } from './dashboard.ts';

export function tokenPages(router: SiteRouter, deps: SiteDeps): void {
  const signedIn = requireSession(deps);

  router.post<SignedIn>('/dashboard/token/reveal', signedIn, async (ctx) => {
    const { session } = ctx.state;
    await checkForm(ctx);
    const instance = await ownInstance(deps, session.user.handle, session.user.id);
    if (!instance) throw new ValidationError(NO_INSTANCE);
    const token = deriveCredential(deps.secretKey, 'instance-token', instance.handle, instance.access_generation);
    html(ctx, 200, tokenPage(pageUser(session)!, token, deps.instanceUrl(instance.handle), false));
  });

  router.post<SignedIn>('/dashboard/token', signedIn, async (ctx) => {
    const { session } = ctx.state;
    await checkForm(ctx);
    const instance = await ownInstance(deps, session.user.handle, session.user.id);
    if (!instance) throw new ValidationError(NO_INSTANCE);
    const generation = await deps.service.rotateAccess(instance.handle, `site:${session.user.id}`);
    const token = deriveCredential(deps.secretKey, 'instance-token', instance.handle, generation);
    html(ctx, 200, tokenPage(pageUser(session)!, token, deps.instanceUrl(instance.handle), true));
  });
}
