/**
 * A running instance that refuses connections (it crashed, and no watch told the
 * platform: the memory orchestrator cannot watch): the router checks once, the
 * supervisor restarts it, and clients get a retried answer, the waiting page or a 503
 * with Retry-After, never a stream of 502s.
 */
import test from 'ava';
import { classify } from '../../../control/router/upstream.ts';
import { startEchoInstance } from '../../helpers/echo-instance.ts';
import { type RouterFixture, startRouterFixture } from '../../helpers/router.ts';
import { waitUntil } from '../../helpers/wait.ts';

/** Kills alice's echo instance behind the platform's back; her next start gets a fresh one (new ports). */
async function crash(fixture: RouterFixture, handle: string): Promise<{ checks: () => number }> {
  const { echo, orchestrator, platform } = fixture;
  await echo.get(handle)!.close();
  orchestrator.crash(handle);
  echo.set(handle, await startEchoInstance(handle));
  let checks = 0;
  const check = platform.supervisor.check.bind(platform.supervisor);
  platform.supervisor.check = (h: string) => {
    if (h === handle) checks += 1;
    return check(h);
  };
  return { checks: () => checks };
}

const api = (fixture: RouterFixture, handle: string, method = 'GET', body?: string) =>
  fixture.send({
    host: `${handle}.localhost:${fixture.port}`,
    path: '/api/things',
    method,
    headers: { authorization: `Bearer ${fixture.token(handle)}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body,
  });

test('a GET to a crashed instance is answered by the restarted one, after one check however many requests arrive', async (t) => {
  const fixture = await startRouterFixture(t, ['alice'], { SWEEP_INTERVAL: '1h' });
  const before = fixture.platform.edge.routes.get('alice')!.gatewayUrl;
  const { checks } = await crash(fixture, 'alice');

  const answers = await Promise.all(Array.from({ length: 20 }, () => api(fixture, 'alice')));
  t.deepEqual(
    answers.map((a) => a.status),
    Array(20).fill(200),
  );
  t.is(checks(), 1, 'one check for the whole burst');
  const fresh = fixture.echo.get('alice')!;
  t.is(fresh.seen.filter((s) => s.url === '/api/things').length, 20, 'every request reached the restarted instance');
  t.not(fixture.platform.edge.routes.get('alice')!.gatewayUrl, before);
  const crashEvent = (await fixture.platform.store.events('alice', 0, 100)).find((e) => e.kind === 'crash');
  t.regex(crashEvent!.message, /; restarting \(restart 1 of 3 allowed in 10 min\)$/);
});

test('a browser opening a crashed instance gets the waiting page, which then opens the restarted one', async (t) => {
  const fixture = await startRouterFixture(t, ['bob'], { SWEEP_INTERVAL: '1h' });
  const cookie = await fixture.signIn('bob');
  // The restart waits a moment (the worker polls rarely), so the browser sees it under way.
  await fixture.platform.worker.stop();
  await crash(fixture, 'bob');
  const page = await fixture.send({ host: `bob.localhost:${fixture.port}`, path: '/', headers: { cookie, accept: 'text/html' } });
  t.is(page.status, 503);
  t.is(page.headers['content-type'], 'text/html; charset=utf-8');
  t.regex(page.text, /Status: <span id="status" class="status">starting<\/span>/);
  fixture.platform.worker.start();
  await waitUntil(() => fixture.platform.edge.routes.get('bob')?.status === 'running', { timeoutMs: 30_000 });
  const opened = await fixture.send({ host: `bob.localhost:${fixture.port}`, path: '/', headers: { cookie, accept: 'text/html' } });
  t.is(opened.status, 200);
});

test('a POST to a crashed instance gets 503 with Retry-After (never replayed), and the instance is restarted', async (t) => {
  const fixture = await startRouterFixture(t, ['carol'], { SWEEP_INTERVAL: '1h' });
  await crash(fixture, 'carol');
  const posted = await api(fixture, 'carol', 'POST', '{"n":1}');
  t.is(posted.status, 503);
  t.is(posted.headers['retry-after'], '5');
  t.is(posted.json<{ error: { code: string } }>().error.code, 'instance_restarting');
  await waitUntil(() => fixture.platform.edge.routes.get('carol')?.status === 'running', { timeoutMs: 30_000 });
  t.is(fixture.echo.get('carol')!.seen.filter((s) => s.method === 'POST').length, 0, 'the POST was not sent again');
  t.is((await api(fixture, 'carol', 'POST', '{"n":2}')).status, 200);
});

test('a connection dropped by a healthy instance is retried for a GET without restarting anything', async (t) => {
  const fixture = await startRouterFixture(t, ['dave'], { SWEEP_INTERVAL: '1h' });
  const instance = fixture.echo.get('dave')!;
  // The first GET's connection is cut before any answer (see /drop-once); the instance itself stays up.
  const dropped = await fixture.send({
    host: `dave.localhost:${fixture.port}`,
    path: '/drop-once',
    headers: { authorization: `Bearer ${fixture.token('dave')}` },
  });
  t.is(instance.seen.filter((s) => s.url === '/drop-once').length, 2, 'the router sent the GET a second time');
  t.is(dropped.status, 200);
  t.is(fixture.platform.edge.routes.get('dave')?.status, 'running');
  t.false((await fixture.platform.store.events('dave', 0, 100)).some((e) => e.kind === 'crash'));
});

test('only a lost connection counts as one: refused, reset, or its pool closed under it (the instance stopped or moved)', (t) => {
  const code = (errorCode: string) => classify(Object.assign(new Error('x'), { code: errorCode }), 1024).code;
  for (const lost of ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_DESTROYED', 'UND_ERR_CLOSED']) t.is(code(lost), 'upstream_reset', lost);
  t.is(code('ECONNREFUSED'), 'upstream_refused');
  // An answer the router could not parse is not a lost connection: never sent again.
  t.is(code('HPE_INVALID_HEADER_TOKEN'), 'upstream_failed');
  t.is(code('UND_ERR_HEADERS_TIMEOUT'), 'upstream_timeout');
});
