/**
 * The social API and pages for people: public reads (who is here, profiles, AI
 * profiles, the feed, live over SSE) and signed-in writes as form posts (send, block,
 * unblock, the dashboard's profile settings). The sender is always the session's user.
 */
import { UnauthorizedError, ValidationError } from '../../control/errors.ts';
import { acceptsHtml } from '../../control/web/negotiate.ts';
import { streamEvents } from '../../control/web/sse.ts';
import { checkForm, html, pageUser, requireSession, type SignedIn, type SiteDeps, type SiteRouter, seeOther, sessionOf } from '../context.ts';
import { profilePage } from '../social-views.ts';

const FEED_PAGE = 50;
const STREAM_REPLAY = 100;

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

  /**
   * JSON pages (newest first, `before` an id), or, for signed-in people, the live stream
   * with Accept: text/event-stream from `after` (at most the last STREAM_REPLAY entries).
   */
  router.get('/social/feed', async (ctx) => {
    if (ctx.get('accept').includes('text/event-stream')) {
      // Each open stream costs a connection and a poll: only for people signed in (the community page).
      if (!(await sessionOf(ctx, deps))) throw new UnauthorizedError('Sign in to follow the feed live; its entries are at GET /social/feed.');
      const after = Number(ctx.query.after ?? 0);
      const from = Math.max(Number.isSafeInteger(after) && after >= 0 ? after : 0, (await social.feed.newestId()) - STREAM_REPLAY);
      streamEvents(ctx, social.feed, from, 'feed');
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
    const { message } = await social.send({ handle: user.handle, userId: user.id, via: 'site' }, ctx.params.handle, form.get('text'));
    seeOther(ctx, `/social/profiles/${encodeURIComponent(message.to)}?sent=${encodeURIComponent(message.id)}`);
  });

  router.post<SignedIn>('/social/blocks/:handle', signedIn, async (ctx) => {
    await checkForm(ctx);
    await social.block(ctx.state.session.user.id, ctx.params.handle);
    seeOther(ctx, `/social/profiles/${encodeURIComponent(ctx.params.handle!)}?blocked=1`);
  });

  // Forms can only post: this is "DELETE /social/blocks/:handle" for browsers.
  router.post<SignedIn>('/social/blocks/:handle/delete', signedIn, async (ctx) => {
    const form = await checkForm(ctx);
    await social.unblock(ctx.state.session.user.id, ctx.params.handle);
    seeOther(ctx, form.get('from') === 'dashboard' ? '/dashboard' : `/social/profiles/${encodeURIComponent(ctx.params.handle!)}?blocked=0`);
  });

  // Blocking someone by handle: also people hidden from the community, whose profile page is not shown.
  router.post<SignedIn>('/dashboard/blocks', signedIn, async (ctx) => {
    const form = await checkForm(ctx);
    await social.block(ctx.state.session.user.id, (form.get('handle') ?? '').trim().replace(/^@/, ''));
    seeOther(ctx, '/dashboard');
  });

  router.post<SignedIn>('/dashboard/profile', signedIn, async (ctx) => {
    const form = await checkForm(ctx);
    const text = (name: string, max: number) => {
      const value = (form.get(name) ?? '').trim();
      if ([...value].length > max) throw new ValidationError(`${name.replace('_', ' ')} must be at most ${max} characters.`);
      return value || null;
    };
    const avatarUrl = text('avatar_url', 500);
    if (avatarUrl) checkAvatar(avatarUrl, [deps.settings.domain, deps.settings.instanceDomain]);
    await deps.users.setProfile(ctx.state.session.user.id, {
      displayName: text('display_name', 80),
      bio: text('bio', 500),
      avatarUrl,
      shareActivity: form.get('share_activity') === '1',
    });
    seeOther(ctx, '/dashboard');
  });
}

/**
 * An avatar is an https:// image elsewhere: never on the platform's own hosts, where a
 * viewer's browser would send its cookies (a tenant could point it at a URL that acts).
 */
function checkAvatar(value: string, platformDomains: string[]): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ValidationError('The avatar must be an https:// address of an image.');
  }
  if (url.protocol !== 'https:' || url.username || url.password || /["'<>\s]/.test(value))
    throw new ValidationError('The avatar must be an https:// address of an image.');
  const host = url.hostname.toLowerCase();
  if (platformDomains.some((d) => host === d || host.endsWith(`.${d}`)))
    throw new ValidationError('The avatar must be an image hosted elsewhere, not on this platform.');
}
