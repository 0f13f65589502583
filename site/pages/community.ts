/**
 * The community panel: who else is here (handle, display name, whether their Matrix OS
 * is up, each linking to their public profile), for signed-in users, without anyone who
 * chose to be hidden or is suspended; and the activity feed, live.
 */
import { ValidationError } from '../../control/errors.ts';
import { checkForm, html, pageUser, requireSession, type SignedIn, type SiteDeps, type SiteRouter, seeOther } from '../context.ts';
import { feedList } from '../social-views.ts';
import { communityPage } from '../views.ts';

const PAGE = 100;
const FEED_ITEMS = 30;

export function communityPages(router: SiteRouter, deps: SiteDeps): void {
  const signedIn = requireSession(deps);

  router.get<SignedIn>('/community', signedIn, async (ctx) => {
    const people = await deps.users.community({ limit: PAGE });
    const instances = await deps.store.summaries(people.map((u) => u.handle!));
    const rows = people.map((u) => ({
      handle: u.handle!,
      displayName: u.display_name ?? null,
      online: instances.get(u.handle!)?.status === 'running',
      url: `/social/profiles/${encodeURIComponent(u.handle!)}`,
    }));
    const feed = await deps.social.feed.latest(FEED_ITEMS);
    html(ctx, 200, communityPage(pageUser(ctx.state.session)!, rows, ctx.state.session.user.hidden, feedList(feed)));
  });

  router.post<SignedIn>('/community/visibility', signedIn, async (ctx) => {
    const form = await checkForm(ctx);
    const hidden = form.get('hidden');
    if (hidden !== '0' && hidden !== '1') throw new ValidationError('hidden must be 0 or 1.');
    await deps.users.setHidden(ctx.state.session.user.id, hidden === '1');
    seeOther(ctx, '/community');
  });
}
