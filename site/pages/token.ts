/**
 * The instance token: show the current one (derived again; the platform stores none)
 * or create a new one. Post/redirect/get: each form post does its work once and
 * answers 303 to GET /dashboard/token with a short-lived signed note (which user, which
 * token generation, whether it is new); the GET shows the token once and drops the
 * note. A reload or Back never posts again, so a click creates exactly one token, and
 * the token never sits in a URL or a cache.
 */
import type { ParameterizedContext } from 'koa';
import { deriveCredential } from '../../control/access/credentials.ts';
import { ValidationError } from '../../control/errors.ts';
import { platformCookieName, readPlatformCookie } from '../../control/web/cookies.ts';
import { signJson, verifyJson } from '../../control/web/signed.ts';
import { checkForm, html, pageUser, requireSession, type SignedIn, type SiteDeps, type SiteRouter, seeOther, setCookie } from '../context.ts';
import { tokenPage } from '../views.ts';
import { NO_INSTANCE, ownInstance } from './dashboard.ts';

const NOTE_PURPOSE = 'token-shown';
/** Long enough for the redirect to be followed, short enough that a note left behind is useless. */
const NOTE_SECONDS = 60;

interface TokenNote {
  user: string;
  /** The site session that asked (a prefix of its hash): another session of the same person cannot use the note. */
  session: string;
  generation: number;
  rotated: boolean;
  /** Epoch ms: the note is over then, whatever the browser does with the cookie. */
  expires: number;
}

export function tokenPages(router: SiteRouter, deps: SiteDeps): void {
  const signedIn = requireSession(deps);
  const noteCookie = platformCookieName('token-shown', deps.settings.secure);

  const noteAndRedirect = (ctx: ParameterizedContext<SignedIn>, note: Pick<TokenNote, 'user' | 'generation' | 'rotated'>) => {
    const full: TokenNote = { ...note, session: ctx.state.session.tokenHash.slice(0, 16), expires: Date.now() + NOTE_SECONDS * 1000 };
    setCookie(ctx, deps, noteCookie, signJson(deps.secretKey, NOTE_PURPOSE, full), NOTE_SECONDS);
    seeOther(ctx, '/dashboard/token');
  };

  router.post<SignedIn>('/dashboard/token/reveal', signedIn, async (ctx) => {
    const { session } = ctx.state;
    await checkForm(ctx);
    const instance = await ownInstance(deps, session.user.handle, session.user.id);
    if (!instance) throw new ValidationError(NO_INSTANCE);
    noteAndRedirect(ctx, { user: session.user.id, generation: instance.access_generation, rotated: false });
  });

  router.post<SignedIn>('/dashboard/token', signedIn, async (ctx) => {
    const { session } = ctx.state;
    await checkForm(ctx);
    const instance = await ownInstance(deps, session.user.handle, session.user.id);
    if (!instance) throw new ValidationError(NO_INSTANCE);
    const generation = await deps.service.rotateAccess(instance.handle, `site:${session.user.id}`);
    noteAndRedirect(ctx, { user: session.user.id, generation, rotated: true });
  });

  // Shown once: without a fresh note for this user and the token in force, back to the dashboard.
  router.get<SignedIn>('/dashboard/token', signedIn, async (ctx) => {
    const { session } = ctx.state;
    const note = verifyJson<TokenNote>(deps.secretKey, NOTE_PURPOSE, readPlatformCookie(ctx.get('cookie'), noteCookie));
    const instance = await ownInstance(deps, session.user.handle, session.user.id);
    setCookie(ctx, deps, noteCookie, '', 0);
    const current =
      note &&
      instance &&
      note.user === session.user.id &&
      note.session === session.tokenHash.slice(0, 16) &&
      note.expires > Date.now() &&
      note.generation === instance.access_generation;
    if (!current) return seeOther(ctx, '/dashboard');
    const token = deriveCredential(deps.secretKey, 'instance-token', instance.handle, instance.access_generation);
    html(ctx, 200, tokenPage(pageUser(session)!, token, deps.instanceUrl(instance.handle), note.rotated));
  });
}
