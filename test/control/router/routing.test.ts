import test from 'ava';
import { InstanceService } from '../../../control/provisioning/service.ts';
import { InstanceStore } from '../../../control/provisioning/store.ts';
import { startEchoInstance } from '../../helpers/echo-instance.ts';
import { recordStartRequests, startRouterFixture, waitForRoute } from '../../helpers/router.ts';

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

test('{handle}.DOMAIN sends gateway paths to the gateway and the rest to the shell, query strings kept', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  const host = `alice.localhost:${f.port}`;
  const cases: Array<[string, 'gateway' | 'shell']> = [
    ['/', 'shell'],
    ['/apps/notes?x=1&y=%20z', 'shell'],
    ['/api/system/info?verbose=1', 'gateway'],
    ['/api/', 'gateway'],
    ['/ws', 'gateway'],
    ['/ws?token=abc', 'gateway'],
    ['/ws/sub', 'gateway'],
    ['/wsx', 'shell'],
    ['/files/notes.md', 'gateway'],
    ['/modules/m/index.js', 'gateway'],
    ['/apix', 'shell'],
    ['/api', 'shell'],
  ];
  for (const [path, port] of cases) {
    const r = await f.send({ host, path, headers: auth(f.token('alice')) });
    t.is(r.status, 200, path);
    const seen = r.json<{ handle: string; port: string; url: string }>();
    t.deepEqual([seen.handle, seen.port, seen.url], ['alice', port, path], path);
  }
});

test('the path form /proxy/:handle/... strips the prefix, keeps the query and says so in X-Forwarded-Prefix', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  const host = `localhost:${f.port}`;
  const cases: Array<[string, string, 'gateway' | 'shell']> = [
    ['/proxy/alice/api/x?y=1', '/api/x?y=1', 'gateway'],
    ['/proxy/alice/', '/', 'shell'],
    ['/proxy/alice', '/', 'shell'],
    ['/proxy/alice?y=2', '/?y=2', 'shell'],
  ];
  for (const [path, upstream, port] of cases) {
    const r = await f.send({ host, path, headers: auth(f.token('alice')) });
    t.is(r.status, 200, path);
    const seen = r.json<{ url: string; port: string; headers: Record<string, string> }>();
    t.is(seen.url, upstream, path);
    t.is(seen.port, port, path);
    t.is(seen.headers['x-forwarded-prefix'], '/proxy/alice');
  }
});

test('the apex and www go to the site; unknown handles and hosts get a 404 that says so', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  for (const host of [`localhost:${f.port}`, `www.localhost:${f.port}`, 'LOCALHOST']) {
    const r = await f.send({ host, path: '/', headers: { accept: 'text/html' } });
    t.is(r.status, 200, host);
    t.regex(r.text, /Matrix OS/);
  }
  const unknown = await f.send({ host: `nobody.localhost:${f.port}`, path: '/', headers: { accept: 'text/html' } });
  t.is(unknown.status, 404);
  t.regex(unknown.headers['content-type']!, /text\/html/);
  t.regex(unknown.text, /There is no Matrix OS called &#34;nobody&#34;/);
  const json = await f.send({ host: `nobody.localhost:${f.port}`, path: '/api/x' });
  t.is(json.status, 404);
  t.is(json.json<{ error: { code: string } }>().error.code, 'no_such_instance');
  for (const host of [`a.alice.localhost:${f.port}`, 'example.com', '127.0.0.1', 'ab.localhost', 'www-.localhost']) {
    const r = await f.send({ host, path: '/', headers: auth(f.token('alice')) });
    t.is(r.status, 404, host);
    t.is(r.json<{ error: { code: string } }>().error.code, 'unknown_host', host);
  }
  t.deepEqual(f.echo.get('alice')!.seen, [], 'nothing reached the instance');
});

test('the gateway path table is configurable', async (t) => {
  const f = await startRouterFixture(t, ['alice'], { ROUTER_GATEWAY_PATHS: '/custom/,/exact' });
  const host = `alice.localhost:${f.port}`;
  for (const [path, port] of [
    ['/custom/a', 'gateway'],
    ['/exact?q', 'gateway'],
    ['/exactly', 'shell'],
    ['/api/x', 'shell'],
  ] as const) {
    const r = await f.send({ host, path, headers: auth(f.token('alice')) });
    t.is(r.json().port, port, path);
  }
});

test('/health is answered without credentials, never wakes the instance and is not activity', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  const host = `alice.localhost:${f.port}`;
  const ok = await f.send({ host, path: '/health' });
  t.is(ok.status, 200);
  t.is(ok.json().status, 'ok');
  t.is(f.platform.activity.pendingCount, 0);

  await (await f.platform.api('/containers/alice/stop', { method: 'POST' })).body?.cancel();
  await f.platform.waitFor('alice', 'stopped');
  await waitForRoute(f.platform, 'alice', 'stopped');
  const starts = recordStartRequests(f.platform);
  const asleep = await f.send({ host, path: '/health' });
  t.is(asleep.status, 503);
  t.is(asleep.json().status, 'stopped');
  t.deepEqual(starts, [], 'the probe asked for no start');
  t.is(((await (await f.platform.api('/containers/alice')).json()) as { instance: { status: string } }).instance.status, 'stopped');
});

test('INSTANCE_DOMAIN puts instances on a domain of their own while the site stays at DOMAIN', async (t) => {
  const f = await startRouterFixture(t, ['alice'], { INSTANCE_DOMAIN: 'tenants.localhost' });
  const bearer = { authorization: `Bearer ${f.token('alice')}` };
  const there = await f.send({ host: `alice.tenants.localhost:${f.port}`, path: '/api/x', headers: bearer });
  t.is(there.status, 200);
  t.is(there.json().handle, 'alice');
  const old = await f.send({ host: `alice.localhost:${f.port}`, path: '/api/x', headers: bearer });
  t.is(old.status, 404, '{handle}.DOMAIN is no instance any more');
  t.regex(old.json<{ error: { message: string } }>().error.message, /Instances are at \{handle\}\.tenants\.localhost/);
  t.is((await f.send({ host: `localhost:${f.port}`, path: '/health' })).status, 200, 'the apex is still the site');
  // Links handed out point at the instance domain; a cookie for it is host-only there.
  const link = (await (await f.platform.api('/containers/alice/login-link', { method: 'POST', json: { userId: 'user-alice' } })).json()) as { url: string };
  t.regex(link.url, /^http:\/\/alice\.tenants\.localhost:8000\/_mxos\/login\?code=/);
  const signedIn = await f.send({ host: `alice.tenants.localhost:${f.port}`, path: new URL(link.url).pathname + new URL(link.url).search });
  t.is(signedIn.status, 303);
  t.notRegex(String(signedIn.headers['set-cookie']), /Domain/i);
});

test('an instance created a moment ago elsewhere (another replica) is served at once, not a 404 until the next sync', async (t) => {
  const f = await startRouterFixture(t, ['alice'], { ROUTE_SYNC_INTERVAL: '1h' });
  const zed = await startEchoInstance('zed');
  t.teardown(() => zed.close());
  // Made by another replica: a store with its own bus, so nothing tells this process's route table.
  const elsewhere = new InstanceService(f.platform.db, new InstanceStore(f.platform.db), f.platform.config.orchestrator);
  await f.platform.worker.stop(); // this replica must not start it: the row says where it runs
  await elsewhere.provision({ handle: 'zed', userId: 'user-zed' }, 'test');
  await f.platform.db.models.Instance.update(
    { status: 'running', gateway_url: zed.gateway, shell_url: zed.shell, started_at: new Date() },
    { where: { handle: 'zed' } },
  );
  t.is(f.platform.edge.routes.get('zed'), undefined);
  const r = await f.send({ host: `zed.localhost:${f.port}`, path: '/hello', headers: auth(f.token('zed')) });
  t.is(r.status, 200);
  t.is(r.json<{ handle: string }>().handle, 'zed');
  const missing = await f.send({ host: `nobody.localhost:${f.port}`, path: '/', headers: auth(f.token('nobody')) });
  t.is(missing.status, 404);
  t.is(missing.json<{ error: { code: string } }>().error.code, 'no_such_instance');
  // A browser is offered the next step: sign up to claim it, or the platform.
  const page = await f.send({ host: `nobody.localhost:${f.port}`, path: '/', headers: { accept: 'text/html' } });
  t.is(page.status, 404);
  t.regex(page.text, /<a class="button" href="http:\/\/localhost:\d+\/login\?next=%2Fsignup">Sign up<\/a>/);
});
