/**
 * Sign in with GitHub against the GitHub double: the plain OAuth flow with PKCE and
 * state, the user and their verified email from the API, one person whichever provider
 * they use (linked by a verified email, refused when it is not verified), GitHub's
 * failures as clear messages, and organisation and team membership for the allowlist.
 */
import test, { type ExecutionContext } from 'ava';
import { type GitHubDouble, startGitHubDouble } from '../doubles/github/index.ts';
import { browserTest, launchBrowser } from '../helpers/browser.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { freePort } from '../helpers/postgres.ts';
import { type SiteClient, siteClient } from '../helpers/site.ts';

interface World {
  platform: TestPlatform;
  github: GitHubDouble;
  site: SiteClient;
  port: number;
}

async function world(t: ExecutionContext, env: Record<string, string> = {}): Promise<World> {
  const port = await freePort();
  const publicUrl = `http://localhost:${port}`;
  const github = await startGitHubDouble({ callbackUrl: `${publicUrl}/auth/github/callback` });
  t.teardown(() => github.close());
  github.addUser({ login: 'octocat', id: 583231, name: 'The Octocat', emails: [{ email: 'octo@example.com', primary: true, verified: true }], orgs: ['acme'] });
  github.addUser({ login: 'hubot', id: 7, name: null, emails: [{ email: 'hubot@example.com', primary: true, verified: true }], teams: ['widgets/hackers'] });
  github.addUser({ login: 'alice-gh', id: 42, name: 'Alice', emails: [{ email: 'alice@example.com', primary: true, verified: true }] });
  github.addUser({ login: 'sloppy', id: 99, name: null, emails: [{ email: 'sloppy@example.com', primary: true, verified: false }] });
  // Verified alice's address long ago, as a secondary one; their primary is unverified now.
  github.addUser({
    login: 'stale',
    id: 100,
    name: null,
    emails: [
      { email: 'stale@example.com', primary: true, verified: false },
      { email: 'alice@example.com', primary: false, verified: true },
    ],
  });
  const platform = await startTestPlatform(t, {
    env: {
      PUBLIC_PORT: String(port),
      PUBLIC_URL: publicUrl,
      GITHUB_CLIENT_ID: github.clientId,
      GITHUB_CLIENT_SECRET: github.clientSecret,
      GITHUB_URL: github.url,
      GITHUB_API_URL: github.apiUrl,
      ...env,
    },
  });
  return { platform, github, site: siteClient(platform), port };
}

/** The whole GitHub leg without a browser: start, authorize (or cancel) as `login`, come back. */
async function viaGitHub(w: World, login: string, options: { decision?: 'authorize' | 'cancel'; query?: string } = {}) {
  const start = await w.site.send(`/login/github${options.query ?? ''}`);
  const cookie = String(start.headers['set-cookie']![0]).split(';')[0]!;
  const authorize = new URL(start.headers.location!);
  const form = new URLSearchParams(authorize.searchParams);
  form.set('login', login);
  form.set('decision', options.decision ?? 'authorize');
  const decided = await fetch(`${w.github.url}/login/oauth/authorize/decision`, { method: 'POST', body: form, redirect: 'manual' });
  const callback = new URL(decided.headers.get('location')!);
  const answer = await w.site.send(callback.pathname + callback.search, { cookie, headers: { accept: 'text/html' } });
  return { answer, callback, cookie };
}

test('a GitHub sign-in: PKCE and state, the verified primary email, one account; then the sign-up page', async (t) => {
  const w = await world(t);
  const chooser = await w.site.send('/login?next=%2Fdashboard');
  t.is(chooser.status, 200, 'two providers: a page to choose');
  t.regex(chooser.text, /href="\/login\/oidc\?next=%2Fdashboard">Sign in with the development provider/);
  t.regex(chooser.text, /href="\/login\/github\?next=%2Fdashboard">Sign in with GitHub/);
  const start = new URL((await w.site.send('/login/github')).headers.location!);
  t.is(start.origin + start.pathname, `${w.github.url}/login/oauth/authorize`);
  // read:org is asked for only when GITHUB_ALLOWED_ORGS needs it.
  t.like(Object.fromEntries(start.searchParams), { client_id: w.github.clientId, code_challenge_method: 'S256', scope: 'read:user user:email' });
  t.regex(start.searchParams.get('code_challenge') ?? '', /^[\w-]{43}$/);
  t.regex(start.searchParams.get('state') ?? '', /^[\w-]{20,}$/);
  const { answer } = await viaGitHub(w, 'octocat');
  t.is(answer.status, 302);
  t.is(answer.headers.location, '/signup');
  const [user] = await w.platform.db.models.User.findAll();
  t.like(user!.toJSON(), { email: 'octo@example.com', email_verified: true, display_name: 'The Octocat', oidc_issuer: w.github.url, oidc_subject: '583231' });
  const token = w.github.requests.find((r) => r.path === '/login/oauth/access_token');
  t.truthy(token);
  // Signing in again is the same person.
  await viaGitHub(w, 'octocat');
  t.is(await w.platform.db.models.User.count(), 1);
});

test('one person whichever provider they use: a verified email links GitHub to the account; an unverified one is refused', async (t) => {
  const w = await world(t);
  await w.site.signIn('alice@example.com'); // the development provider verifies emails
  const before = await w.platform.db.models.User.findOne({ where: { email: 'alice@example.com' } });
  const { answer } = await viaGitHub(w, 'alice-gh');
  t.is(answer.status, 302);
  t.is(await w.platform.db.models.User.count(), 1, 'linked, not a second account');
  const link = await w.platform.db.models.UserIdentity.findOne({ where: { subject: '42' } });
  t.is(link?.user_id, before!.id);
  t.truthy(await w.platform.db.models.AuditEntry.findOne({ where: { action: 'identity.link' } }));

  const stale = await viaGitHub(w, 'stale');
  t.is(stale.answer.status, 400, 'a verified secondary address is not enough');
  t.is(await w.platform.db.models.UserIdentity.count({ where: { subject: '100' } }), 0);

  const sloppy = await viaGitHub(w, 'sloppy');
  t.is(sloppy.answer.status, 400);
  t.regex(sloppy.answer.text, /did not share a verified primary email address/);

  // An account whose email its provider did not verify is never taken over by a GitHub sign-in.
  await w.platform.db.models.User.create({
    id: 'u_old',
    handle: null,
    email: 'octo@example.com',
    email_verified: false,
    oidc_issuer: 'https://old.example',
    oidc_subject: 'x',
  });
  const refused = await viaGitHub(w, 'octocat');
  t.is(refused.answer.status, 400);
  t.regex(refused.answer.text, /cannot be linked/);
  t.is(await w.platform.db.models.UserIdentity.count({ where: { subject: '583231' } }), 0);
});

test("GitHub's failures are clear messages: denied consent, a used code (HTTP 200 with an error), an API outage", async (t) => {
  const w = await world(t);
  const denied = await viaGitHub(w, 'octocat', { decision: 'cancel' });
  t.is(denied.answer.status, 400);
  t.regex(denied.answer.text, /did not authorize the platform on GitHub/);

  const first = await viaGitHub(w, 'octocat');
  t.is(first.answer.status, 302);
  const replay = await w.site.send(first.callback.pathname + first.callback.search, { cookie: first.cookie, headers: { accept: 'text/html' } });
  t.is(replay.status, 400);
  t.regex(replay.text, /did not accept the sign-in code/);

  w.github.failNext('/api/user/emails', 502);
  const outage = await viaGitHub(w, 'hubot');
  t.is(outage.answer.status, 503);
  t.regex(outage.answer.text, /GitHub is not answering/);
  t.is(await w.platform.db.models.User.count({ where: { email: 'hubot@example.com' } }), 0);
});

test('allowlist by GitHub organisation or team: members get in, others are refused with nothing written', async (t) => {
  const w = await world(t, { SIGNUP_MODE: 'allowlist', GITHUB_ALLOWED_ORGS: 'acme,widgets/hackers', SUPPORT_CONTACT: 'org@acme.test' });
  const start = new URL((await w.site.send('/login/github')).headers.location!);
  t.is(start.searchParams.get('scope'), 'read:user user:email read:org');
  t.is((await viaGitHub(w, 'octocat')).answer.status, 302, 'a member of acme');
  t.is((await viaGitHub(w, 'hubot')).answer.status, 302, 'in the team widgets/hackers');
  const outsider = await viaGitHub(w, 'alice-gh');
  t.is(outsider.answer.status, 403);
  t.regex(outsider.answer.text, /not in one of its GitHub organisations/);
  t.regex(outsider.answer.text, /org@acme\.test/);
  t.is(await w.platform.db.models.User.count(), 2);
});

browserTest('the browser journey through GitHub: choose GitHub, authorize, pick a handle, see the dashboard', async (t) => {
  const w = await world(t);
  const browser = await launchBrowser(t);
  const page = await browser.newPage();
  await page.goto(`http://localhost:${w.port}/`);
  await page.getByRole('link', { name: 'Sign up' }).click();
  await page.getByRole('link', { name: 'Sign in with GitHub' }).click();
  await page.getByLabel('Username').fill('octocat');
  await page.getByRole('button', { name: 'Authorize' }).click();
  await page.waitForURL(`http://localhost:${w.port}/signup`);
  await page.getByLabel('Handle').fill('octo');
  await page.getByRole('button', { name: 'Create my Matrix OS' }).click();
  await page.waitForURL(`http://localhost:${w.port}/dashboard`);
  t.regex((await page.locator('h1').textContent()) ?? '', /Your Matrix OS/);
  t.is((await w.platform.db.models.User.findOne({ where: { handle: 'octo' } }))?.email, 'octo@example.com');
});
