/**
 * Sign-in through OpenID Connect or GitHub (a page to choose when both are set up),
 * and sign-out. The pending login (state, nonce, PKCE
 * verifier, where to go next) rides in a signed cookie for ten minutes; the session
 * cookie lives exactly as long as its session row.
 */

import type { ParameterizedContext } from 'koa';
import { ValidationError } from '../../control/errors.ts';
import type { PendingLogin } from '../../control/identity/oidc.ts';
import { readPlatformCookie } from '../../control/web/cookies.ts';
import { safeNextPath } from '../../control/web/next-path.ts';
import { signJson, verifyJson } from '../../control/web/signed.ts';
import {
  checkForm,
  cookieNames,
  html,
  pageUser,
  rateLimit,
  type SignedIn,
  type SiteDeps,
  type SiteRouter,
  type SiteState,
  seeOther,
  sessionOf,
  setCookie,
} from '../context.ts';
import { signInPage } from '../views.ts';

/** What the OpenID Connect provider is called on the sign-in page: its host, or the development provider. */
function providerName(deps: SiteDeps): string {
  return deps.settings.devIdentity ? 'the development provider' : new URL(deps.settings.oidcIssuer ?? 'https://provider.invalid').host;
}

const PENDING_LOGIN = 'pending-login';

type Provider = 'oidc' | 'github';
/** The provider's pending login, which provider it is, and the invite code given with it. */
type SitePendingLogin = PendingLogin & { provider?: Provider; invite?: string };
const PENDING_LOGIN_SECONDS = 600;
/** How long after a sign-out the next sign-in asks the provider to let the person choose an account. */
const SIGNED_OUT_SECONDS = 30 * 86_400;

export function authPages(router: SiteRouter, deps: SiteDeps): void {
  const names = cookieNames(deps.settings.secure);
  const providers: Provider[] = [...(deps.login ? (['oidc'] as const) : []), ...(deps.github ? (['github'] as const) : [])];

  /** Starts a sign-in with `provider`: the pending login in a signed cookie, then off to the provider. */
  const begin = async (ctx: ParameterizedContext<SiteState>, provider: Provider) => {
    rateLimit(ctx, deps);
    const next = safeNextPath(typeof ctx.query.next === 'string' ? ctx.query.next : '/dashboard');
    // An invite code (SIGNUP_MODE=invite) rides along to the callback, where a new person's sign-up redeems it.
    const invite = typeof ctx.query.invite === 'string' ? ctx.query.invite.slice(0, 64) : undefined;
    const login = provider === 'github' ? deps.github : deps.login;
    if (!login) throw new ValidationError(`Sign-in with ${provider === 'github' ? 'GitHub' : 'this provider'} is not set up here.`);
    // After a sign-out the provider shows its sign-in again, so the next person can use their own account.
    const { url, pending } = await login.begin(next, { chooseAccount: readPlatformCookie(ctx.get('cookie'), names.signedOut) !== null });
    setCookie(
      ctx,
      deps,
      names.login,
      signJson(deps.secretKey, PENDING_LOGIN, { ...pending, provider, invite } satisfies SitePendingLogin),
      PENDING_LOGIN_SECONDS,
    );
    ctx.redirect(url);
  };

  // One provider: straight to it. Several: a page to choose, keeping where to go next and the invite.
  router.get('/login', async (ctx) => {
    if (providers.length === 1) return begin(ctx, providers[0]!);
    const query = new URLSearchParams();
    for (const key of ['next', 'invite']) if (typeof ctx.query[key] === 'string') query.set(key, ctx.query[key] as string);
    html(ctx, 200, signInPage(pageUser(await sessionOf(ctx, deps)), query.toString(), deps.login ? providerName(deps) : null));
  });
  router.get('/login/oidc', (ctx) => begin(ctx, 'oidc'));
  router.get('/login/github', (ctx) => begin(ctx, 'github'));

  const callback = (provider: Provider) => async (ctx: ParameterizedContext<SiteState>) => {
    rateLimit(ctx, deps);
    const pending = verifyJson<SitePendingLogin>(deps.secretKey, PENDING_LOGIN, readPlatformCookie(ctx.get('cookie'), names.login));
    if (!pending || (pending.provider ?? 'oidc') !== provider)
      throw new ValidationError('This sign-in started elsewhere or too long ago. Start again from the sign-in link.');
    const url = new URL(ctx.originalUrl, deps.settings.publicUrl);
    let user: Awaited<ReturnType<typeof deps.users.signIn>>;
    const login = provider === 'github' ? deps.github : deps.login;
    if (!login) throw new ValidationError('This way of signing in is no longer offered here. Start again from the sign-in page.');
    if (provider === 'github') {
      const identity = await deps.github!.complete(url, pending);
      user = await deps.users.signIn(identity, deps.settings.adminEmails, {
        inviteCode: pending.invite,
        githubOrgs: identity.orgs,
        githubTeams: identity.teams,
      });
    } else {
      const identity = await deps.login!.complete(url, pending);
      user = await deps.users.signIn(identity, deps.settings.adminEmails, { inviteCode: pending.invite });
    }
    const { token, expiresAt } = await deps.users.sessions.create(user.id);
    setCookie(ctx, deps, names.login, '', 0);
    setCookie(ctx, deps, names.signedOut, '', 0);
    setCookie(ctx, deps, names.session, token, (expiresAt.getTime() - Date.now()) / 1000);
    ctx.redirect(user.handle ? pending.next : '/signup');
  };
  router.get('/auth/callback', callback('oidc'));
  router.get('/auth/github/callback', callback('github'));

  router.post('/logout', async (ctx) => {
    const session = await sessionOf(ctx, deps);
    if (session) {
      await checkForm(ctx as ParameterizedContext<SignedIn>);
      await deps.users.signOut(session.user.id, session.tokenHash);
    }
    setCookie(ctx, deps, names.session, '', 0);
    setCookie(ctx, deps, names.signedOut, '1', SIGNED_OUT_SECONDS);
    seeOther(ctx, '/');
  });
}
