import test from 'ava';
import { startTestPlatform } from '../helpers/platform.ts';
import { sendRaw } from '../helpers/router.ts';
import { providerDance, siteClient } from '../helpers/site.ts';
import { waitUntil } from '../helpers/wait.ts';

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)![1]!;

test('first sign-in creates the user (admin when listed in ADMIN_EMAILS) and leads to sign-up; a tampered login cookie is refused', async (t) => {
  const platform = await startTestPlatform(t, { env: { ADMIN_EMAILS: 'root@example.com' } });
  const site = siteClient(platform);
  const alice = await site.signIn('alice@example.com');
  t.is(alice.landedOn, '/signup');
  t.regex(alice.cookie, /^__Host-mxos_site=/, 'on localhost the cookie is __Host- and Secure, as over https');
  const root = await site.signIn('root@example.com');
  t.is(root.landedOn, '/signup');
  const users = await platform.db.models.User.findAll({ order: [['email', 'ASC']] });
  t.deepEqual(
    users.map((u) => [u.email, u.role]),
    [
      ['alice@example.com', 'user'],
      ['root@example.com', 'admin'],
    ],
  );

  const start = await site.send('/login');
  const loginCookie = String(start.headers['set-cookie']![0]).split(';')[0]!;
  const callback = await providerDance(start.headers.location!, 'mallory@example.com');
  const [name, value] = loginCookie.split('=');
  const tampered = `${name}=${value!.slice(0, 10)}x${value!.slice(11)}`;
  const refused = await site.send(callback.pathname + callback.search, { cookie: tampered, headers: { accept: 'text/html' } });
  t.is(refused.status, 400);
  t.regex(refused.text, /Start again/);
  const noCookie = await site.send(callback.pathname + callback.search);
  t.is(noCookie.status, 400);
  t.is(await platform.db.models.User.count({ where: { email: 'mallory@example.com' } }), 0);
});

test('forms need the session CSRF token and this origin; sign-out revokes the session on the server', async (t) => {
  const platform = await startTestPlatform(t);
  const site = siteClient(platform);
  const { cookie } = await site.signIn('bob@example.com');
  const signup = await site.send('/signup', { cookie });
  const csrf = csrfOf(signup.text);
  t.is((await site.send('/signup', { cookie, form: { csrf: 'wrong', handle: 'bobby' } })).status, 403);
  t.is((await site.send('/signup', { cookie, form: { csrf, handle: 'bobby' }, headers: { origin: 'http://evil.example' } })).status, 403);
  t.is(await platform.db.models.Instance.count(), 0, 'nothing was provisioned by refused forms');
  const ok = await site.send('/signup', { cookie, form: { csrf, handle: 'bobby' } });
  t.is(ok.status, 303);
  t.is(ok.headers.location, '/dashboard');
  t.is((await platform.store.findByHandle('bobby'))?.owner_id, (await platform.db.models.User.findOne({ where: { email: 'bob@example.com' } }))!.id);

  const out = await site.send('/logout', { cookie, form: { csrf } });
  t.is(out.status, 303);
  const after = await site.send('/dashboard', { cookie });
  t.is(after.status, 302, 'the old cookie no longer works');
  t.regex(after.headers.location!, /^\/login\?next=/);
  // The next sign-in in this browser asks the provider to show its sign-in again: someone else can use it.
  t.notRegex((await site.send('/login/oidc')).headers.location!, /prompt=login/, 'not before a sign-out');
  const signedOut = out.headers['set-cookie']!.map((c) => c.split(';')[0]!).find((c) => /mxos_signed-out=1/.test(c))!;
  const next = await site.send('/login/oidc', { cookie: signedOut });
  t.regex(next.headers.location!, /[?&]prompt=login(&|$)/);
  const other = await providerDance(next.headers.location!, 'eve@example.com');
  const done = await site.send(other.pathname + other.search, { cookie: `${signedOut}; ${String(next.headers['set-cookie']![0]).split(';')[0]!}` });
  t.is(done.status, 302);
  t.true(
    done.headers['set-cookie']!.some((c) => /^(__Host-)?mxos_signed-out=;/.test(c)),
    'signed in: the note is dropped',
  );
  const eve = done.headers['set-cookie']!.map((c) => c.split(';')[0]!).find((c) => /^(__Host-)?mxos_site=/.test(c))!;
  t.regex((await site.send('/signup', { cookie: eve })).text, /Signed in as eve@example\.com/);
});

test("a user cannot open someone else's instance; suspension ends every session and says whom to ask", async (t) => {
  const platform = await startTestPlatform(t, { env: { SUPPORT_CONTACT: 'help@event.example' } });
  const site = siteClient(platform);
  await (await platform.api('/containers/provision', { method: 'POST', json: { handle: 'carol', userId: 'u-carol' } })).body?.cancel();
  const { cookie } = await site.signIn('dave@example.com');
  const open = await site.send('/open/carol', { cookie, headers: { accept: 'text/html' } });
  t.is(open.status, 403);
  t.regex(open.text, /only its owner and admins/);
  const dave = (await platform.db.models.User.findOne({ where: { email: 'dave@example.com' } }))!;
  await dave.update({ suspended_at: new Date() });
  t.is((await site.send('/dashboard', { cookie })).status, 302);
  const start = await site.send('/login');
  const callback = await providerDance(start.headers.location!, 'dave@example.com');
  const refused = await site.send(callback.pathname + callback.search, {
    cookie: String(start.headers['set-cookie']![0]).split(';')[0]!,
    headers: { accept: 'text/html' },
  });
  t.is(refused.status, 403);
  t.regex(refused.text, /This account is suspended, so it cannot sign in or use its Matrix OS\. Contact help@event\.example to have it lifted\./);
});

test('a person whose instance was destroyed gets it again from the dashboard, under the same handle', async (t) => {
  const platform = await startTestPlatform(t);
  const site = siteClient(platform);
  const cookie = await site.signUp('hal@example.com', 'hal');
  await platform.waitFor('hal', 'running');
  await platform.api('/containers/hal?confirm=hal', { method: 'DELETE' });
  await platform.waitFor('hal', 'destroyed');
  const dashboard = await site.send('/dashboard', { cookie });
  t.regex(dashboard.text, /<h1>Your Matrix OS was removed<\/h1>/);
  t.regex(dashboard.text, /<strong>hal<\/strong> no longer runs; its data was archived by the platform/);
  t.notRegex(dashboard.text, /Choose a handle/, 'not sent round in a circle through sign-up');
  const again = await site.send('/dashboard/reprovision', { cookie, form: { csrf: csrfOf(dashboard.text) } });
  t.is(again.status, 303);
  await platform.waitFor('hal', 'running');
  t.regex((await site.send('/dashboard', { cookie })).text, /<h1>Your Matrix OS<\/h1>/);
});

test('sign-in is rate-limited per client with Retry-After', async (t) => {
  const platform = await startTestPlatform(t);
  const site = siteClient(platform);
  const statuses: number[] = [];
  for (let i = 0; i < 25; i++) statuses.push((await site.send('/login')).status);
  t.is(statuses.filter((s) => s === 302).length, 20);
  const limited = await site.send('/login', { headers: { accept: 'text/html' } });
  t.is(limited.status, 429);
  const wait = Number(limited.headers['retry-after']);
  t.true(wait >= 1);
  t.regex(limited.text, new RegExp(`Wait ${wait} seconds? and try again\\.`), 'the page says the wait the header says');
  // A spoofed X-Forwarded-For from an untrusted peer does not buy a fresh bucket.
  t.is((await site.send('/login', { headers: { 'x-forwarded-for': '203.0.113.9' } })).status, 429);
});

test('behind a trusted proxy, each forwarded client has its own limit', async (t) => {
  const platform = await startTestPlatform(t, { env: { TRUSTED_PROXIES: '127.0.0.1' } });
  const site = siteClient(platform);
  for (let i = 0; i < 20; i++) await site.send('/login', { headers: { 'x-forwarded-for': '198.51.100.1' } });
  t.is((await site.send('/login', { headers: { 'x-forwarded-for': '198.51.100.1' } })).status, 429);
  t.is((await site.send('/login', { headers: { 'x-forwarded-for': '198.51.100.2' } })).status, 302);
});

test('the handle check answers availability with the rule that is broken', async (t) => {
  const platform = await startTestPlatform(t);
  await (await platform.api('/containers/provision', { method: 'POST', json: { handle: 'taken', userId: 'u-1' } })).body?.cancel();
  const site = siteClient(platform);
  const ask = async (h: string) => (await site.send(`/api/handles/${h}`)).json<{ available: boolean; problem: string | null }>();
  t.deepEqual(await ask('fresh-name'), { handle: 'fresh-name', available: true, problem: null } as never);
  t.regex((await ask('taken')).problem!, /taken/);
  t.regex((await ask('admin')).problem!, /reserved/);
  t.regex((await ask('a')).problem!, /3 to 32 characters/);
});

test('the dashboard reveals the instance token on a form post and rotates it, ending the old one; each post redirects and shows it once', async (t) => {
  const platform = await startTestPlatform(t);
  const site = siteClient(platform);
  const { cookie } = await site.signIn('fay@example.com');
  const csrf = csrfOf((await site.send('/signup', { cookie })).text);
  await site.send('/signup', { cookie, form: { csrf, handle: 'fay' } });
  const tokenOf = (html: string) => /<code id="token">([^<]+)<\/code>/.exec(html)?.[1];
  /** A post, then the page it redirects to (with the note it set), as a browser follows it. */
  const postAndFollow = async (path: string) => {
    const posted = await site.send(path, { cookie, form: { csrf } });
    t.is(posted.status, 303);
    t.is(posted.headers.location, '/dashboard/token');
    const note = posted.headers['set-cookie']!.map((c) => c.split(';')[0]!).find((c) => /mxos_token-shown=/.test(c))!;
    const page = await site.send('/dashboard/token', { cookie: `${cookie}; ${note}` });
    return { page, note };
  };
  t.is((await site.send('/dashboard/token/reveal', { cookie, form: { csrf: 'nope' } })).status, 403);
  const revealed = await postAndFollow('/dashboard/token/reveal');
  const shown = tokenOf(revealed.page.text);
  t.regex(shown!, /^mxi_/);
  t.false((await site.send('/dashboard', { cookie })).text.includes(shown!), 'the token is never on the plain dashboard');
  const generation = async () => (await platform.store.findByHandle('fay'))!.access_generation;
  const before = await generation();
  const created = await postAndFollow('/dashboard/token');
  const rotated = tokenOf(created.page.text);
  t.not(rotated, shown);
  t.is(await generation(), before + 1);
  // A reload is a GET: no new token, and the page is not shown again without a fresh note.
  const reloaded = await site.send('/dashboard/token', { cookie });
  t.is(reloaded.status, 303);
  t.is(reloaded.headers.location, '/dashboard');
  t.is(await generation(), before + 1, 'a reload creates no token');
  // An old note (the revealed generation) no longer shows anything: the token it named is gone.
  t.is((await site.send('/dashboard/token', { cookie: `${cookie}; ${revealed.note}` })).status, 303);
  t.is(tokenOf((await postAndFollow('/dashboard/token/reveal')).page.text), rotated);
  // The router follows the rotation: the revealed-then-replaced token is refused.
  const port = site.port;
  await waitUntil(() => platform.edge.routes.get('fay')?.instanceToken === rotated, { message: 'the route table to take the rotated token' });
  const old = await sendRaw(port, { host: `fay.localhost:${port}`, path: '/api/x', headers: { authorization: `Bearer ${shown}` } });
  t.is(old.status, 401);
});

test("the landing page is the event's page: what Matrix OS is, what participants get, the sign-up state and the places left", async (t) => {
  const platform = await startTestPlatform(t, {
    env: {
      EVENT_NAME: 'Matrix Hack 2026',
      EVENT_DESCRIPTION: 'Two days to build with your own AI.',
      EVENT_DATES: '5–6 December 2026',
      EVENT_URL: 'https://hack.example/',
      SUPPORT_CONTACT: 'help@hack.example',
      MAX_RUNNING_INSTANCES: '3',
      INSTANCE_MEMORY_MB: '512',
      IDLE_TIMEOUT: '45m',
    },
  });
  const site = siteClient(platform);
  await (await platform.api('/containers/provision', { method: 'POST', json: { handle: 'ivy', userId: 'u-ivy' } })).body?.cancel();
  await platform.waitFor('ivy', 'running');
  const landing = (await site.send('/')).text;
  t.regex(landing, /<h1>Matrix Hack 2026<\/h1>/);
  t.regex(landing, /5–6 December 2026/);
  t.regex(landing, /Two days to build with your own AI\./);
  t.regex(landing, /<a href="https:\/\/hack\.example\/">About the event<\/a>/);
  t.regex(landing, /Matrix OS is a personal AI operating system/);
  t.regex(landing, /runs at <code>http:\/\/\{handle\}\.localhost:8000<\/code>/, 'the real address: scheme, host and port');
  t.regex(landing, /512 MB of memory and 0\.5 CPUs/);
  t.regex(landing, /sleeps after 45 minutes without use and wakes on your next visit/);
  t.regex(landing, /Help: help@hack\.example\./);
  t.regex(landing, /Sign-up is open\.<span id="places"> 2 of 3 places are free right now\.<\/span>/);

  // The dashboard says the same, with the instance's own address as a link.
  const cookie = await site.signUp('jo@example.com', 'joan');
  const dashboard = (await site.send('/dashboard', { cookie })).text;
  t.regex(dashboard, /<a class="address" href="http:\/\/joan\.localhost:8000">http:\/\/joan\.localhost:8000<\/a>/);
  t.regex(dashboard, /<h2>What you get<\/h2>/);
  t.notRegex(dashboard, /site:|router:u|u-ivy/, 'no internal ids');
});

test('every page has a favicon, and the router and provider pages ask for none', async (t) => {
  const platform = await startTestPlatform(t);
  const site = siteClient(platform);
  for (const path of ['/favicon.ico', '/assets/favicon.svg']) {
    const icon = await site.send(path);
    t.is(icon.status, 200, path);
    t.is(icon.headers['content-type'], 'image/svg+xml');
    t.regex(icon.text, /^<svg [^>]*><title>Matrix OS<\/title>/);
  }
  t.regex((await site.send('/')).text, /<link rel="icon" href="\/assets\/favicon\.svg" type="image\/svg\+xml">/);
  const routerPage = await sendRaw(site.port, { host: `nobody.localhost:${site.port}`, path: '/', headers: { accept: 'text/html' } });
  t.regex(routerPage.text, /<link rel="icon" href="data:,">/);
});
