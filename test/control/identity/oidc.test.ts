import test from 'ava';
import { type DevIdp, startDevIdp } from '../../../control/identity/dev-idp.ts';
import { LoginError, OidcLogin, type PendingLogin } from '../../../control/identity/oidc.ts';

const REDIRECT = 'http://localhost:8000/auth/callback';

async function idp(t: import('ava').ExecutionContext): Promise<{ idp: DevIdp; login: OidcLogin }> {
  const started = await startDevIdp({
    host: '127.0.0.1',
    port: 0,
    clientId: 'platform',
    clientSecret: 's'.repeat(40),
    redirectUris: [REDIRECT],
    cookieKey: 'k'.repeat(40),
    platformUrl: 'http://localhost:8000',
  });
  t.teardown(() => started.close());
  const login = new OidcLogin({ issuer: started.issuer, clientId: 'platform', clientSecret: 's'.repeat(40), redirectUri: REDIRECT, allowInsecure: true });
  return { idp: started, login };
}

/** A browser's part of the dance: follow redirects on the issuer, keep its cookies, fill in the form. */
async function signInAs(authorizationUrl: string, email: string): Promise<{ callback: URL; formStatus: number }> {
  const jar = new Map<string, string>();
  const go = async (url: string, init: RequestInit = {}) => {
    const response = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const c of response.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    return response;
  };
  let response = await go(authorizationUrl);
  let url = new URL(response.headers.get('location')!, authorizationUrl).href;
  response = await go(url);
  const form = await response.text();
  if (!/Development only/.test(form) || /googleapis|https?:\/\/(?!localhost|127\.0\.0\.1)/.test(form)) throw new Error('unexpected login form');
  const action = new URL(/action="([^"]+)"/.exec(form)![1]!, url).href;
  response = await go(action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ email }).toString(),
  });
  const formStatus = response.status;
  while (response.status >= 300 && response.status < 400) {
    url = new URL(response.headers.get('location')!, url).href;
    if (url.startsWith(REDIRECT)) return { callback: new URL(url), formStatus };
    response = await go(url);
  }
  throw new Error(`the provider did not redirect back (status ${response.status}): ${(await response.text()).slice(0, 300)}`);
}

test('authorization code with PKCE through the development provider yields the verified email', async (t) => {
  const { idp: provider, login } = await idp(t);
  const { url, pending } = await login.begin('/dashboard');
  const auth = new URL(url);
  t.is(auth.searchParams.get('code_challenge_method'), 'S256');
  t.is(auth.searchParams.get('state'), pending.state);
  t.truthy(auth.searchParams.get('nonce'));
  const { callback } = await signInAs(url, 'Alice@Example.com');
  const identity = await login.complete(callback, pending);
  t.deepEqual(identity, { issuer: provider.issuer, subject: 'alice@example.com', email: 'alice@example.com', emailVerified: true, name: 'alice' });
});

test('a tampered state, a wrong nonce, a wrong PKCE verifier or a reused code is refused', async (t) => {
  const { login } = await idp(t);
  const attempt = async (tamper: (p: PendingLogin) => PendingLogin) => {
    const { url, pending } = await login.begin('/');
    const { callback } = await signInAs(url, 'bob@example.com');
    return login.complete(callback, tamper(pending));
  };
  await t.throwsAsync(
    attempt((p) => ({ ...p, state: `${p.state}x` })),
    { instanceOf: LoginError },
  );
  await t.throwsAsync(
    attempt((p) => ({ ...p, nonce: 'other-nonce' })),
    { instanceOf: LoginError },
  );
  await t.throwsAsync(
    attempt((p) => ({ ...p, codeVerifier: `${p.codeVerifier.slice(0, -2)}AA` })),
    { instanceOf: LoginError },
  );

  const { url, pending } = await login.begin('/');
  const { callback } = await signInAs(url, 'carol@example.com');
  t.is((await login.complete(callback, pending)).email, 'carol@example.com');
  const reused = await t.throwsAsync(login.complete(callback, pending), { instanceOf: LoginError });
  t.regex(reused!.message, /Start again/);
});

test('the development sign-in form rejects what is not an email, and loads nothing from elsewhere', async (t) => {
  const { login } = await idp(t);
  const { url } = await login.begin('/');
  await t.throwsAsync(signInAs(url, 'not-an-email'), { message: /status 400/ });
});
