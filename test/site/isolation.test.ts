/** What a page on a tenant's host can make a signed-in browser do on the site: nothing. */
import test from 'ava';
import { WebSocket } from 'ws';
import { startTestPlatform } from '../helpers/platform.ts';
import { sendRaw } from '../helpers/router.ts';
import { siteClient } from '../helpers/site.ts';
import { waitUntil } from '../helpers/wait.ts';

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)![1]!;

test('opening an instance is a form post with the CSRF token; a GET only shows the form and issues no code', async (t) => {
  const platform = await startTestPlatform(t);
  const site = siteClient(platform);
  const { cookie } = await site.signIn('alice@example.com');
  const page = await site.send('/signup', { cookie });
  await site.send('/signup', { cookie, form: { csrf: csrfOf(page.text), handle: 'alice' } });
  const codes = () => platform.db.models.AccessCode.count();

  const shown = await site.send('/open/alice?next=%2Ffiles%2F', { cookie, headers: { accept: 'text/html' } });
  t.is(shown.status, 200);
  t.regex(shown.text, /<form method="post" action="\/open\/alice"/);
  t.is(await codes(), 0, 'a GET (what any page can make a browser send) issued nothing');

  const csrf = csrfOf(shown.text);
  // What a tenant's page can send: no token, or the token but from another origin.
  t.is((await site.send('/open/alice', { cookie, form: { next: '/' } })).status, 403);
  t.is((await site.send('/open/alice', { cookie, form: { csrf, next: '/' }, headers: { origin: 'http://bob.localhost:8000' } })).status, 403);
  t.is(await codes(), 0);

  const opened = await site.send('/open/alice', { cookie, form: { csrf, next: '/files/' } });
  t.is(opened.status, 303);
  t.regex(opened.headers.location!, /^http:\/\/alice\.localhost:8000\/_mxos\/login\?code=[A-Za-z0-9_-]{43}$/);
  t.is(await codes(), 1);
  t.is(
    (await site.send('/open/alice', { cookie, form: { csrf, next: '/caf\u00e9' } })).status,
    400,
    'a next path outside printable ASCII is refused before any code',
  );
  t.is(await codes(), 1);
});

test('a planted second copy of the site cookie signs nobody in', async (t) => {
  const platform = await startTestPlatform(t);
  const site = siteClient(platform);
  const victim = await site.signIn('victim@example.com');
  const attacker = await site.signIn('attacker@example.com');
  t.is((await site.send('/dashboard', { cookie: victim.cookie })).status, 200);
  // A tenant's page set the attacker's own valid session for the whole domain: the browser sends both.
  for (const cookie of [`${victim.cookie}; ${attacker.cookie}`, `${attacker.cookie}; ${victim.cookie}`]) {
    const r = await site.send('/dashboard', { cookie });
    t.is(r.status, 302, 'treated as signed out, never as the attacker');
  }
});

test('a forged X-Forwarded-For behind the trusted proxy does not buy a fresh rate limit', async (t) => {
  const platform = await startTestPlatform(t, { env: { TRUSTED_PROXIES: '127.0.0.1' } });
  const site = siteClient(platform);
  // The proxy appends the address it saw (198.51.100.1); the client wrote the rest itself.
  const via = (forged: string) => site.send('/login', { headers: { 'x-forwarded-for': `${forged}, 198.51.100.1` } });
  for (let i = 0; i < 20; i++) t.is((await via(`203.0.113.${i}`)).status, 302);
  t.is((await via('203.0.113.99')).status, 429);
  t.is(
    (await site.send('/login', { headers: { 'cf-connecting-ip': '198.51.100.7', 'x-forwarded-for': '198.51.100.1' } })).status,
    302,
    'CF-Connecting-IP from the trusted peer names another client',
  );
});

test('site pages cannot be framed and send no Referer elsewhere', async (t) => {
  const platform = await startTestPlatform(t);
  const site = siteClient(platform);
  for (const path of ['/', '/nothing-here']) {
    const r = await site.send(path, { headers: { accept: 'text/html' } });
    t.is(r.headers['x-frame-options'], 'DENY', path);
    t.regex(String(r.headers['content-security-policy']), /frame-ancestors 'none'/);
    t.is(r.headers['x-content-type-options'], 'nosniff');
    t.is(r.headers['referrer-policy'], 'same-origin');
  }
});

test('signing out of the site ends the instance sessions on every host; signing in again opens it again', async (t) => {
  const platform = await startTestPlatform(t);
  const site = siteClient(platform);
  const cookie = await site.signUp('gus@example.com', 'gus');
  await platform.waitFor('gus', 'running');
  const port = site.port;
  const host = `gus.localhost:${port}`;
  /** Opens gus's instance as a browser does: the site's form, then the one-time link on the instance host. */
  const open = async (siteCookie: string) => {
    const csrf = csrfOf((await site.send('/dashboard', { cookie: siteCookie })).text);
    const opened = await site.send('/open/gus', { cookie: siteCookie, form: { csrf, next: '/' } });
    const link = new URL(opened.headers.location!);
    const login = await sendRaw(port, { host, path: link.pathname + link.search });
    t.is(login.status, 303);
    return String(login.headers['set-cookie']![0]).split(';')[0]!;
  };
  const instance = await open(cookie);
  const info = () => sendRaw(port, { host, path: '/api/system/info', headers: { cookie: instance } });
  t.is((await info()).status, 200);
  // A WebSocket the browser opened with that session, before the sign-out.
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host, cookie: instance, origin: `http://${host}` } });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });

  const csrf = csrfOf((await site.send('/dashboard', { cookie })).text);
  t.is((await site.send('/logout', { cookie, form: { csrf } })).status, 303);
  t.is((await site.send('/dashboard', { cookie })).status, 302, 'signed out of the site');
  t.is((await info()).status, 401, 'and of the instance: its session ended with the sign-out');
  await waitUntil(() => ws.readyState === WebSocket.CLOSED, { message: 'the WebSocket opened before the sign-out to close' });

  const again = await site.signIn('gus@example.com');
  const fresh = await open(again.cookie);
  t.is((await sendRaw(port, { host, path: '/api/system/info', headers: { cookie: fresh } })).status, 200, 'a session opened after signing in again works');
});
