import test from 'ava';
import { OrchestratorError } from '../../../control/orchestrator/types.ts';
import { type RouterFixture, recordStartRequests, startRouterFixture, waitForRoute } from '../../helpers/router.ts';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function stop(f: RouterFixture, handle: string): Promise<void> {
  await (await f.platform.api(`/containers/${handle}/stop`, { method: 'POST' })).body?.cancel();
  await f.platform.waitFor(handle, 'stopped');
  await waitForRoute(f.platform, handle, 'stopped');
}

async function startTransitions(f: RouterFixture, handle: string): Promise<number> {
  const events = await f.platform.store.events(handle, 0, 1000);
  return events.filter((e) => e.from === 'stopped' && e.to === 'starting').length;
}

test('50 concurrent API requests to a stopped instance start it exactly once, and all of them are answered by it', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  await stop(f, 'alice');
  const startsBefore = f.orchestrator.calls.filter((c) => c.method === 'start').length;
  f.orchestrator.latencyMs = 150;
  const host = `alice.localhost:${f.port}`;
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => f.send({ host, path: `/api/item/${i}`, headers: bearer(f.token('alice')) })));
  t.deepEqual(new Set(results.map((r) => r.status)), new Set([200]));
  t.deepEqual(
    results.map((r) => r.json<{ url: string }>().url),
    Array.from({ length: 50 }, (_, i) => `/api/item/${i}`),
  );
  t.is(f.orchestrator.calls.filter((c) => c.method === 'start').length - startsBefore, 1, 'one orchestrator start');
  t.is(await startTransitions(f, 'alice'), 1, 'one stopped -> starting transition');
  const audit = await f.platform.db.models.AuditEntry.findAll({ where: { action: 'start', target: 'alice' } });
  t.is(audit.length, 1);
  t.is(audit[0]!.actor, 'router:user-alice');
});

test('a browser gets a waiting page at once; its status feed shows progress until the instance runs', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  const cookie = await f.signIn('alice');
  await stop(f, 'alice');
  f.orchestrator.latencyMs = 300;
  const host = `alice.localhost:${f.port}`;
  const page = await f.send({ host, path: '/notes', headers: { cookie, accept: 'text/html' } });
  t.is(page.status, 503);
  t.is(page.headers['retry-after'], '2');
  t.regex(page.text, /Waking up alice&#39;s Matrix OS/);
  t.regex(page.text, /\/_mxos\/status/);
  const statuses = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const s = await f.send({ host, path: '/_mxos/status', headers: { cookie } });
    t.is(s.status, 200);
    const body = s.json<{ status: string; ready: boolean; events: Array<{ message: string }> }>();
    statuses.add(body.status);
    if (body.ready) {
      t.true(
        body.events.some((e) => /Start requested by @alice/.test(e.message)),
        JSON.stringify(body.events),
      );
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  t.true(statuses.has('running'));
  t.true(statuses.has('starting'), `progress was visible: ${[...statuses].join(', ')}`);
  const after = await f.send({ host, path: '/notes', headers: { cookie, accept: 'text/html' } });
  t.is(after.status, 200);
  t.is(after.json().url, '/notes');
  t.is((await f.send({ host, path: '/_mxos/status' })).status, 401, 'the status feed needs the session too');
});

test('API clients are held only up to WAKE_HOLD_TIMEOUT, then get 503 with Retry-After; the start goes on', async (t) => {
  const f = await startRouterFixture(t, ['alice'], { WAKE_HOLD_TIMEOUT: '200ms' });
  await stop(f, 'alice');
  f.orchestrator.latencyMs = 600;
  const r = await f.send({ host: `alice.localhost:${f.port}`, path: '/api/x', headers: bearer(f.token('alice')) });
  t.is(r.status, 503);
  t.is(r.headers['retry-after'], '5');
  t.is(r.json<{ error: { code: string } }>().error.code, 'instance_waking');
  await f.platform.waitFor('alice', 'running');
  f.orchestrator.latencyMs = 0;
  await waitForRoute(f.platform, 'alice');
  t.is((await f.send({ host: `alice.localhost:${f.port}`, path: '/api/x', headers: bearer(f.token('alice')) })).status, 200);
});

test('a failed start shows its reason; "Start again" works only from the instance page itself', async (t) => {
  const f = await startRouterFixture(t, ['alice'], { PROVISION_MAX_ATTEMPTS: '1' });
  const cookie = await f.signIn('alice');
  await stop(f, 'alice');
  f.orchestrator.failNext('start', new OrchestratorError('image_pull', 'Image ghcr.io/x/y:z could not be pulled: manifest unknown'));
  const host = `alice.localhost:${f.port}`;
  const held = await f.send({ host, path: '/api/x', headers: bearer(f.token('alice')) });
  t.is(held.status, 503);
  t.is(held.json<{ error: { code: string } }>().error.code, 'instance_failed');
  t.regex(held.json<{ error: { message: string } }>().error.message, /manifest unknown/);
  const page = await f.send({ host, path: '/', headers: { cookie, accept: 'text/html' } });
  t.is(page.status, 503);
  t.regex(page.text, /manifest unknown/);
  t.regex(page.text, /action="\/_mxos\/start"/);

  t.is((await f.send({ host, path: '/_mxos/start', method: 'POST', headers: { cookie } })).status, 403, 'no Origin: refused');
  t.is((await f.send({ host, path: '/_mxos/start', method: 'POST', headers: { cookie, origin: `http://bob.localhost:${f.port}` } })).status, 403);
  t.is((await f.send({ host, path: '/_mxos/start', method: 'POST', headers: { origin: `http://${host}` } })).status, 401);
  const again = await f.send({ host, path: '/_mxos/start', method: 'POST', headers: { cookie, origin: `http://${host}` } });
  t.is(again.status, 303);
  await f.platform.waitFor('alice', 'running');
});

test('a request during a stop waits for the stop to finish, then starts the instance again', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  f.orchestrator.latencyMs = 400;
  await (await f.platform.api('/containers/alice/stop', { method: 'POST' })).body?.cancel();
  await waitForRoute(f.platform, 'alice', 'stopping');
  const r = await f.send({ host: `alice.localhost:${f.port}`, path: '/api/x', headers: bearer(f.token('alice')) });
  t.is(r.status, 200);
  const transitions = (await f.platform.store.events('alice', 0, 100)).filter((e) => e.to).map((e) => e.to);
  t.deepEqual(transitions.slice(-4), ['stopping', 'stopped', 'starting', 'running']);
});

test('requests without valid credentials never wake an instance', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  await stop(f, 'alice');
  const starts = recordStartRequests(f.platform);
  for (const headers of [{}, bearer(f.token('bob')), { accept: 'text/html' }] as Array<Record<string, string>>) {
    t.is((await f.send({ host: `alice.localhost:${f.port}`, path: '/', headers })).status, 401);
  }
  t.deepEqual(starts, [], 'no start was asked for');
  t.is(f.platform.edge.routes.get('alice')?.status, 'stopped');
  t.is(await startTransitions(f, 'alice'), 0);
});

test('the waiting page speaks to whoever waits: the owner, or an admin opening someone else', async (t) => {
  const f = await startRouterFixture(t, ['nina']);
  const owner = await f.signIn('nina');
  // The operator's link: admin access, not nina.
  const link = (await (await f.platform.api('/containers/nina/login-link', { method: 'POST', json: {} })).json()) as { url: string };
  const target = new URL(link.url);
  const login = await f.send({ host: `nina.localhost:${f.port}`, path: target.pathname + target.search });
  const admin = String(login.headers['set-cookie']![0]).split(';')[0]!;
  await stop(f, 'nina');
  await f.platform.worker.stop(); // the wake waits: the page stays the waiting page for both
  const seenBy = async (cookie: string) =>
    (await f.send({ host: `nina.localhost:${f.port}`, path: '/', headers: { cookie, accept: 'text/html' } })).text.match(/<p role="status"[^>]*>([^<]*)</)![1];
  t.is(await seenBy(owner), 'Your Matrix OS was asleep to save resources and is waking up. Status: ');
  t.is(await seenBy(admin), "nina's Matrix OS was asleep to save resources and is waking up. Status: ");
  f.platform.worker.start();
});
