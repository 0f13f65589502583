import test from 'ava';
import { loadConfig } from '../../../control/config.ts';
import type { Route } from '../../../control/router/route-table.ts';
import { SessionCookies } from '../../../control/router/session.ts';
import { startRouterFixture } from '../../helpers/router.ts';

test('a login link works once, on its own host only, and sets a host-only HttpOnly SameSite=Lax cookie', async (t) => {
  const f = await startRouterFixture(t, ['alice', 'bob']);
  const issue = async (json: Record<string, unknown>) => f.platform.api('/containers/alice/login-link', { method: 'POST', json });
  const r = await issue({ userId: 'user-alice', next: '/apps/notes?x=1' });
  t.is(r.status, 201);
  t.is(r.headers.get('cache-control'), 'no-store');
  const body = (await r.json()) as { url: string; access: string };
  t.is(body.access, 'owner');
  const url = new URL(body.url);
  t.is(url.host, 'alice.localhost:8000', 'links point at the public URL');
  const path = url.pathname + url.search;

  const onBob = await f.send({ host: `bob.localhost:${f.port}`, path });
  t.is(onBob.status, 400, "alice's code is refused on bob's host");
  const ok = await f.send({ host: `alice.localhost:${f.port}`, path });
  t.is(ok.status, 303);
  t.is(ok.headers.location, '/apps/notes?x=1');
  const setCookie = String(ok.headers['set-cookie']![0]);
  t.regex(setCookie, /^__Host-mxos_session=[^;]+; Path=\/; Max-Age=43200; HttpOnly; SameSite=Lax; Secure$/);
  t.notRegex(setCookie, /Domain/i);
  const again = await f.send({ host: `alice.localhost:${f.port}`, path, headers: { accept: 'text/html' } });
  t.is(again.status, 400);
  t.regex(again.text, /Sign-in links work once/);
  for (const code of ['', 'x', 'A'.repeat(43)]) {
    t.is((await f.send({ host: `alice.localhost:${f.port}`, path: `/_mxos/login?code=${code}` })).status, 400);
  }
});

test('login links refuse other users, unknown instances and redirects off the instance', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  await f.platform.db.models.User.create({ id: 'mallory', handle: null });
  const forbidden = await f.platform.api('/containers/alice/login-link', { method: 'POST', json: { userId: 'mallory' } });
  t.is(forbidden.status, 403);
  t.regex(((await forbidden.json()) as { error: { message: string } }).error.message, /only its owner and admins/);
  t.is((await f.platform.api('/containers/nobody/login-link', { method: 'POST', json: {} })).status, 404);
  for (const next of ['//evil.example/', 'https://evil.example/', 'relative', '/\\evil', 42]) {
    const r = await f.platform.api('/containers/alice/login-link', { method: 'POST', json: { userId: 'user-alice', next } });
    t.is(r.status, 400, String(next));
  }
  t.is((await f.platform.api('/containers/alice/login-link', { method: 'POST', json: { userId: '' } })).status, 400);
  t.is(await f.platform.db.models.AccessCode.count(), 0, 'nothing was written for refused links');
});

test('admins and the operator get admin access, which is audited when used', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  await f.platform.db.models.User.create({ id: 'root-admin', handle: null, role: 'admin' });
  // Made an admin behind the router's back: read the admins now rather than at the next once-a-second read.
  await f.platform.edge.admins.sync();
  for (const [json, actor] of [
    [{ userId: 'root-admin' }, 'root-admin'],
    [{}, 'operator'],
  ] as const) {
    const r = await f.platform.api('/containers/alice/login-link', { method: 'POST', json });
    const { url, access } = (await r.json()) as { url: string; access: string };
    t.is(access, 'admin');
    const u = new URL(url);
    const login = await f.send({ host: `alice.localhost:${f.port}`, path: u.pathname + u.search });
    t.is(login.status, 303);
    const cookie = String(login.headers['set-cookie']![0]).split(';')[0]!;
    t.is((await f.send({ host: `alice.localhost:${f.port}`, path: '/api/x', headers: { cookie } })).status, 200);
    const audit = await f.platform.db.models.AuditEntry.findOne({ where: { action: 'instance_access', actor, target: 'alice' } });
    t.truthy(audit, `admin access by ${actor} is in the audit log`);
  }
});

test('rotating the token returns it once, ends old tokens and sessions, and leaves the instance running', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  const cookie = await f.signIn('alice');
  const host = `alice.localhost:${f.port}`;
  const r = await f.platform.api('/containers/alice/token', { method: 'POST' });
  t.is(r.status, 200);
  t.is(r.headers.get('cache-control'), 'no-store');
  const body = (await r.json()) as { token: string; generation: number; url: string };
  t.is(body.generation, 2);
  t.is(body.token, f.token('alice', 2));
  t.is(body.url, 'http://alice.localhost:8000');
  const deadline = Date.now() + 5000;
  while (f.platform.edge.routes.get('alice')?.accessGeneration !== 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
  t.is((await f.send({ host, path: '/api/x', headers: { authorization: `Bearer ${f.token('alice')}` } })).status, 401);
  t.is((await f.send({ host, path: '/api/x', headers: { cookie } })).status, 401);
  t.is((await f.send({ host, path: '/api/x', headers: { authorization: `Bearer ${body.token}` } })).status, 200);
  t.is(f.platform.edge.routes.get('alice')?.status, 'running');
  const view = JSON.stringify(await (await f.platform.api('/containers/alice')).json());
  t.false(view.includes(body.token), 'GET never shows the token');
  t.truthy(await f.platform.db.models.AuditEntry.findOne({ where: { action: 'rotate_token', target: 'alice' } }));
  t.is((await f.platform.api('/containers/nobody/token', { method: 'POST' })).status, 404);
  await (await f.platform.api('/containers/alice?confirm=alice', { method: 'DELETE' })).body?.cancel();
  await f.platform.waitFor('alice', 'destroyed');
  t.is((await f.platform.api('/containers/alice/token', { method: 'POST' })).status, 409);
});

test('session cookies: __Host- and Secure over https, and tampered, expired or foreign cookies are refused', (t) => {
  const route = (handle: string, accessGeneration = 1) => ({ handle, accessGeneration }) as Route;
  const secure = new SessionCookies('k'.repeat(32), { secure: true, ttlMs: 60_000, isAdmin: () => true });
  const { value, header } = secure.issue(route('alice'), 'user-alice', 'owner', 1_000_000);
  t.regex(header, /^__Host-mxos_session=.+; Path=\/; Max-Age=60; HttpOnly; SameSite=Lax; Secure$/);
  const cookie = `__Host-mxos_session=${value}`;
  t.deepEqual(secure.verify(cookie, route('alice'), 1_000_000)?.userId, 'user-alice');
  t.is(secure.verify(cookie, route('bob'), 1_000_000), null, 'another handle');
  t.is(secure.verify(cookie, route('alice', 2), 1_000_000), null, 'rotated');
  t.is(secure.verify(cookie, route('alice'), 1_000_000 + 61_000), null, 'expired');
  t.is(secure.verify(`mxos_session=${value}`, route('alice'), 1_000_000), null, 'wrong name');
  const forged = value.replace(/\.o\./, '.a.');
  t.is(secure.verify(`__Host-mxos_session=${forged}`, route('alice'), 1_000_000), null, 'owner turned admin');
  const otherKey = new SessionCookies('z'.repeat(32), { secure: true, ttlMs: 60_000, isAdmin: () => true });
  t.is(otherKey.verify(cookie, route('alice'), 1_000_000), null, 'signed with another key');

  const config = loadConfig({
    PLATFORM_MODE: 'production',
    PLATFORM_SECRET: 's'.repeat(32),
    SECRET_KEY: 'k'.repeat(32),
    ORCHESTRATOR: 'nomad',
    DOMAIN: 'matrix-os.example',
    OIDC_ISSUER: 'https://id.example',
    OIDC_CLIENT_SECRET: 'c'.repeat(32),
  });
  t.is(config.public.url, 'https://matrix-os.example');
  t.true(config.public.secure);
});
