/** The dashboard: the user's instance, its live progress, and start / stop / provision again. */

import type { Instance } from '../../control/db/models.ts';
import { UnauthorizedError, ValidationError } from '../../control/errors.ts';
import { ordinal } from '../../control/provisioning/capacity.ts';
import { instanceView } from '../../control/provisioning/views.ts';
import { streamEvents } from '../../control/web/sse.ts';
import { checkForm, html, pageUser, requireSession, type SignedIn, type SiteDeps, type SiteRouter, seeOther, sessionOf } from '../context.ts';
import { blocksSection, messagesSection, profileSettingsSection } from '../social-views.ts';
import { budgetSection, lastDays } from '../spend-views.ts';
import { dashboardPage, offerList } from '../views.ts';

/** The instance `userId` owns under `handle`, unless destroyed. */
export async function ownInstance(deps: SiteDeps, handle: string | null, userId: string): Promise<Instance | null> {
  const instance = handle ? await deps.store.findByHandle(handle) : null;
  return instance && instance.owner_id === userId && instance.status !== 'destroyed' ? instance : null;
}

/** Days of spend the dashboard's chart shows. */
const CHART_DAYS = 14;

export const NO_INSTANCE = 'You have no Matrix OS yet: choose a handle first.';

export function dashboardPages(router: SiteRouter, deps: SiteDeps): void {
  const signedIn = requireSession(deps);

  router.get<SignedIn>('/dashboard', signedIn, async (ctx) => {
    const { session } = ctx.state;
    const instance = await ownInstance(deps, session.user.handle, session.user.id);
    // Destroyed (by an admin, say) while the handle is still theirs: they can have it again.
    const own = !instance && session.user.handle ? await deps.store.findByHandle(session.user.handle) : null;
    const removed = own && own.owner_id === session.user.id && own.status === 'destroyed' ? { handle: own.handle, archived: own.archive_path !== null } : null;
    const events = instance ? await deps.store.latestEvents(instance.handle, 10) : [];
    const [budget, days] = instance
      ? await Promise.all([deps.spend.books.budget(session.user.id), deps.spend.reports.byDay(CHART_DAYS, session.user.id)])
      : [null, []];
    const spend = budget ? budgetSection(budget, lastDays(days, CHART_DAYS, new Date())) : '';
    const position = instance?.waiting_since ? await deps.capacity.position(instance.handle) : null;
    const queue = position
      ? `<p id="queue-position" class="flash" role="status">The platform is full: you are ${ordinal(position)} in line. Your Matrix OS starts as soon as someone else's stops.</p>`
      : '';
    const messages = instance ? messagesSection(await deps.social.messages(instance.handle, 10)) : '';
    const profile = session.user.handle
      ? profileSettingsSection(pageUser(session)!, {
          displayName: session.user.display_name ?? null,
          bio: session.user.bio ?? null,
          avatarUrl: session.user.avatar_url ?? null,
          shareActivity: session.user.share_activity ?? false,
        }) + blocksSection(pageUser(session)!, await deps.social.blocked(session.user.id))
      : '';
    html(
      ctx,
      200,
      dashboardPage(
        pageUser(session)!,
        instance ? instanceView(instance) : null,
        instance ? deps.instanceUrl(instance.handle) : null,
        events,
        `${queue}${spend}<h2>What you get</h2>${offerList(deps.settings)}${messages}${profile}`,
        removed,
      ),
    );
  });

  router.get('/dashboard/events', async (ctx) => {
    const session = await sessionOf(ctx, deps);
    if (!session?.user.handle) throw new UnauthorizedError('Sign in to follow your instance.');
    const after = Number(ctx.query.after ?? 0);
    streamEvents(ctx, deps.store.eventFeed(session.user.handle), Number.isSafeInteger(after) && after >= 0 ? after : 0, 'instance');
  });

  for (const action of ['start', 'stop', 'reprovision'] as const) {
    router.post<SignedIn>(`/dashboard/${action}`, signedIn, async (ctx) => {
      const { session } = ctx.state;
      await checkForm(ctx);
      if (!session.user.handle) throw new ValidationError(NO_INSTANCE);
      const own = await deps.store.findByHandle(session.user.handle);
      if (own?.owner_id !== session.user.id) throw new ValidationError(NO_INSTANCE);
      await deps.service.request(session.user.handle, action, `site:${session.user.id}`);
      seeOther(ctx, '/dashboard');
    });
  }
}
