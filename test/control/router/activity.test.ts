import test from 'ava';
import WebSocket from 'ws';
import { startRouterFixture, waitForRoute } from '../../helpers/router.ts';
import { waitUntil } from '../../helpers/wait.ts';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

test('every proxied request is recorded as activity for its instance (and /health is not)', async (t) => {
  const f = await startRouterFixture(t, ['alice', 'bob'], { ACTIVITY_FLUSH_INTERVAL: '20m' });
  await f.platform.activity.flush();
  await f.send({ host: `bob.localhost:${f.port}`, path: '/health' });
  t.is(f.platform.activity.pendingCount, 0);
  const before = Date.now();
  await f.send({ host: `alice.localhost:${f.port}`, path: '/api/x', headers: bearer(f.token('alice')) });
  t.is(f.platform.activity.pendingCount, 1);
  await f.platform.activity.flush();
  const alice = await f.platform.db.models.Instance.findOne({ where: { handle: 'alice' } });
  t.true(alice!.last_active_at!.getTime() >= Math.floor(before / 1000) * 1000);
});

test('an open WebSocket keeps its instance awake past the idle limit; once closed, the instance is stopped', async (t) => {
  // Activity is stored rounded down to the second and the socket speaks every 200 ms:
  // 3 s leaves well over a second of slack for timers running late on a busy machine.
  const IDLE_MS = 3000;
  const f = await startRouterFixture(t, ['alice', 'bob'], {
    IDLE_TIMEOUT: `${IDLE_MS}ms`,
    ACTIVITY_FLUSH_INTERVAL: '100ms',
    SWEEP_INTERVAL: '200ms',
    WS_ACTIVITY_INTERVAL: '200ms',
  });
  const ws = new WebSocket(`ws://127.0.0.1:${f.port}/ws`, { headers: { host: `alice.localhost:${f.port}`, ...bearer(f.token('alice')) } });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  t.is(f.platform.edge.sockets.count('alice'), 1);
  // The upgrade was alice's last request: from here on only the open socket speaks for her.
  const silentSince = Date.now();
  await waitForRoute(f.platform, 'bob', 'stopped', 10_000);
  // Once the idle limit has passed, two more sweeps end: the second began after the limit, so without the socket it would have stopped her.
  await waitUntil(() => Date.now() > silentSince + IDLE_MS, { message: 'the idle limit to pass' });
  const sweeps = async () => (await f.platform.metrics.sweepSeconds.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
  const sweepsAtLimit = await sweeps();
  await waitUntil(async () => (await sweeps()) >= sweepsAtLimit + 2, {
    message: async () => `2 sweeps after the idle limit (${(await sweeps()) - sweepsAtLimit} so far)`,
  });
  t.is((await f.platform.service.get('alice')).status, 'running', 'alice stayed awake with her socket open');
  t.is(f.platform.edge.routes.get('alice')?.status, 'running', 'alice stayed awake with her socket open');
  ws.close();
  await waitForRoute(f.platform, 'alice', 'stopped', 10_000);
  t.is(f.platform.edge.sockets.count('alice'), 0);
});
