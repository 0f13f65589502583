/**
 * Sign-in through OpenID Connect and sign-out. The pending login (state, nonce, PKCE
 * verifier, where to go next) rides in a signed cookie for ten minutes; the session
 * cookie lives exactly as long as its session row.
 */

import type { ParameterizedContext } from 'koa';
import { ValidationError } from '../../control/errors.ts';
import type { PendingLogin } from '../../control/identity/oidc.ts';
import { readPlatformCookie } from '../../control/web/cookies.ts';
import { safeNextPath } from '../../control/web/next-path.ts';
import { signJson, verifyJson } from '../../control/web/signed.ts';
import { checkForm, cookieNames, rateLimit, type SignedIn, type SiteDeps, type SiteRouter, seeOther, sessionOf, setCookie } from '../context.ts';

const PENDING_LOGIN = 'pending-login';
const PENDING_LOGIN_SECONDS = 600;

export function authPages(router: SiteRouter, deps: SiteDeps): void {
  const names = cookieNames(deps.settings.secure);

  router.get('/login', async (ctx) => {
    rateLimit(ctx, deps);
    const next = safeNextPath(typeof ctx.query.next === 'string' ? ctx.query.next : '/dashboard');
    const { url, pending } = await deps.login.begin(next);
    setCookie(ctx, deps, names.login, signJson(deps.secretKey, PENDING_LOGIN, pending), PENDING_LOGIN_SECONDS);
    ctx.redirect(url);
  });

  router.get('/auth/callback', async (ctx) => {
    rateLimit(ctx, deps);
    const pending = verifyJson<PendingLogin>(deps.secretKey, PENDING_LOGIN, readPlatformCookie(ctx.get('cookie'), names.login));
    if (!pending) throw new ValidationError('This sign-in started elsewhere or too long ago. Start again from the sign-in link.');
    const identity = await deps.login.complete(new URL(ctx.originalUrl, deps.settings.publicUrl), pending);
    const user = await deps.users.signIn(identity, deps.settings.adminEmails);
    const { token, expiresAt } = await deps.users.sessions.create(user.id);
    setCookie(ctx, deps, names.login, '', 0);
    setCookie(ctx, deps, names.session, token, (expiresAt.getTime() - Date.now()) / 1000);
    ctx.redirect(user.handle ? pending.next : '/signup');
  });

  router.post('/logout', async (ctx) => {
    const session = await sessionOf(ctx, deps);
    if (session) {
      await checkForm(ctx as ParameterizedContext<SignedIn>);
      await deps.users.sessions.revoke(session.tokenHash);
    }
    setCookie(ctx, deps, names.session, '', 0);
    seeOther(ctx, '/');
  });
}
