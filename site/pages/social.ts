/**
 * The social API and pages for people: public reads (who is here, profiles, AI
 * profiles, the feed, live over SSE) and signed-in writes as form posts (send, block,
 * unblock, the dashboard's profile settings). The sender is always the session's user.
 */
import { ValidationError } from '../../control/errors.ts';
import { acceptsHtml } from '../../control/web/negotiate.ts';
import { streamEvents } from '../../control/web/sse.ts';
import { checkForm, html, pageUser, requireSession, type SignedIn, type SiteDeps, type SiteRouter, seeOther, sessionOf } from '../context.ts';
import { profilePage } from '../social-views.ts';

const FEED_PAGE = 50;

export function socialPages(router: SiteRouter, deps: SiteDeps): void {
  const signedIn = requireSession(deps);
  const { social } = deps;

  router.get('/social/users', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await social.users({ query: ctx.query.q, after: ctx.query.after, limit: ctx.query.limit });
  });

  router.get('/social/profiles/:handle', async (ctx) => {
    const handle = ctx.params.handle!;
    const profile = await social.profile(handle);
    if (!acceptsHtml(ctx.get('accept'))) {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { profile };
      return;
    }
    const session = await sessionOf(ctx, deps);
    const [ai, blocked] = await Promise.all([social.aiProfile(handle), session ? social.blocked(session.user.id) : Promise.resolve([])]);
    const sent = typeof ctx.query.sent === 'string' ? "Your AI's message is on its way; its delivery shows on your dashboard." : null;
    html(
      ctx,
      200,
      profilePage({
        viewer: pageUser(session),
        profile,
        ai,
        blocked: blocked.includes(handle),
        flash: sent ?? (ctx.query.blocked === '1' ? `You blocked @${handle}.` : ctx.query.blocked === '0' ? `You unblocked @${handle}.` : null),
        maxChars: deps.settings.messageMaxChars,
        messaging: deps.settings.messaging,
      }),
    );
  });

  router.get('/social/profiles/:handle/ai', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { profile: await social.aiProfile(ctx.params.handle!) };
  });

  /** JSON pages (newest first, `before` an id), or the live stream with Accept: text/event-stream (from `after`). */
  router.get('/social/feed', async (ctx) => {
    const after = Number(ctx.query.after ?? 0);
    if (ctx.get('accept').includes('text/event-stream')) {
      streamEvents(ctx, social.feed, Number.isSafeInteger(after) && after >= 0 ? after : 0, 'feed');
      return;
    }
    const before = ctx.query.before === undefined ? undefined : Number(ctx.query.before);
    if (before !== undefined && (!Number.isSafeInteger(before) || before < 1)) throw new ValidationError('before must be an entry id.');
    const items = await social.feed.latest(FEED_PAGE, before);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { items, next: items.length === FEED_PAGE ? items.at(-1)!.id : null };
  });

  router.post<SignedIn>('/social/send/:handle', signedIn, async (ctx) => {
    const form = await checkForm(ctx);
    const { user } = ctx.state.session;
    if (!user.handle) throw new ValidationError('Choose a handle first: your AI sends from your Matrix OS.');
    const message = await social.send({ handle: user.handle, userId: user.id, via: 'site' }, ctx.params.handle, form.get('text'));
    seeOther(ctx, `/social/profiles/${encodeURIComponent(message.to)}?sent=${encodeURIComponent(message.id)}`);
  });

  router.post<SignedIn>('/social/blocks/:handle', signedIn, async (ctx) => {
    await checkForm(ctx);
    await social.block(ctx.state.session.user.id, ctx.params.handle);
    seeOther(ctx, `/social/profiles/${encodeURIComponent(ctx.params.handle!)}?blocked=1`);
  });

  // Forms can only post: this is "DELETE /social/blocks/:handle" for browsers.
  router.post<SignedIn>('/social/blocks/:handle/delete', signedIn, async (ctx) => {
    await checkForm(ctx);
    await social.unblock(ctx.state.session.user.id, ctx.params.handle);
    seeOther(ctx, `/social/profiles/${encodeURIComponent(ctx.params.handle!)}?blocked=0`);
  });

  router.post<SignedIn>('/dashboard/profile', signedIn, async (ctx) => {
    const form = await checkForm(ctx);
    const text = (name: string, max: number) => {
      const value = (form.get(name) ?? '').trim();
      if ([...value].length > max) throw new ValidationError(`${name.replace('_', ' ')} must be at most ${max} characters.`);
      return value || null;
    };
    const avatarUrl = text('avatar_url', 500);
    if (avatarUrl && !/^https:\/\/[^\s"'<>]+$/.test(avatarUrl)) throw new ValidationError('The avatar must be an https:// address of an image.');
    await deps.users.setProfile(ctx.state.session.user.id, {
      displayName: text('display_name', 80),
      bio: text('bio', 500),
      avatarUrl,
      shareActivity: form.get('share_activity') === '1',
    });
    seeOther(ctx, '/dashboard');
  });
}
