/**
 * MAX_RUNNING_INSTANCES: a burst never runs more instances than the limit, everyone
 * is served in the order they asked, positions in line are right, nothing fails; API
 * clients of a waiting instance get 503 with Retry-After; the idlest instance is
 * stopped to make room when EVICT_IDLE_WHEN_FULL is on.
 */
import test from 'ava';
import { Op } from 'sequelize';
import { startHealthServer } from '../../doubles/health-server.ts';
import { MemoryOrchestrator } from '../../doubles/memory-orchestrator.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { sendRaw } from '../../helpers/router.ts';
import { siteClient } from '../../helpers/site.ts';
import { waitUntil } from '../../helpers/wait.ts';

async function fullPlatform(t: import('ava').ExecutionContext, env: Record<string, string>) {
  const server = await startHealthServer();
  t.teardown(() => server.close());
  const orchestrator = new MemoryOrchestrator();
  orchestrator.address = () => ({ gateway: server.url, shell: server.url });
  const platform = await startTestPlatform(t, { orchestrator: () => orchestrator, env });
  return { platform, orchestrator };
}

/** Watches every transition: the most instances ever running at once. */
function watchRunning(platform: TestPlatform) {
  const running = new Set<string>();
  let most = 0;
  platform.store.bus.on('transition', (change: { handle: string; to: string }) => {
    if (change.to === 'running') running.add(change.handle);
    else running.delete(change.handle);
    most = Math.max(most, running.size);
  });
  return { most: () => most };
}

const handles = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);

test('a burst of 20 provisions and wakes with a limit of 5: never more than 5 running, served in order, positions right, nothing fails', async (t) => {
  const { platform, orchestrator } = await fullPlatform(t, { MAX_RUNNING_INSTANCES: '5' });
  const seen = watchRunning(platform);
  // Five instances that ran and sleep: their wakes join the burst.
  const sleepers = handles(5, 'sleep');
  for (const handle of sleepers) {
    await platform.api('/containers/provision', { method: 'POST', json: { handle, userId: `u-${handle}` } });
    await platform.waitFor(handle, 'running');
    await platform.api(`/containers/${handle}/stop`, { method: 'POST' });
    await platform.waitFor(handle, 'stopped');
  }
  const fresh = handles(15, 'new');
  // Asked in this order: wakes and provisions interleaved.
  const order = fresh.flatMap((h, i) => (i < sleepers.length ? [sleepers[i]!, h] : [h]));
  await platform.worker.stop(); // hold the worker so every request is queued before any is served
  for (const handle of order) {
    const response = sleepers.includes(handle)
      ? await platform.api(`/containers/${handle}/start`, { method: 'POST' })
      : await platform.api('/containers/provision', { method: 'POST', json: { handle, userId: `u-${handle}` } });
    t.true(response.status < 300, `${handle} accepted`);
  }
  const marker = ((await platform.db.models.InstanceEvent.max('id')) as number) ?? 0;
  platform.worker.start();

  // The first five get places; the rest wait, each told its place in line.
  await waitUntil(async () => (await platform.capacity.view()).waiting === 15, { message: '15 waiting' });
  const positions = await Promise.all(order.map((h) => platform.capacity.position(h)));
  t.deepEqual(positions, [null, null, null, null, null, ...Array.from({ length: 15 }, (_, i) => i + 1)]);
  const dashboardNote = await platform.store.latestEvents(order[7]!, 5);
  t.true(dashboardNote.some((e) => /Waiting for a place: 3rd in line \(5 of 5 instances are running\)/.test(e.message)));

  // Each visit is short: whoever runs is stopped, and the next in line starts.
  const served: string[] = [];
  await waitUntil(
    async () => {
      for (const handle of order) {
        if (served.includes(handle)) continue;
        const row = await platform.store.findByHandle(handle);
        if (row?.status === 'running') {
          served.push(handle);
          await platform.api(`/containers/${handle}/stop`, { method: 'POST' });
        }
      }
      return served.length === order.length;
    },
    { timeoutMs: 60_000, message: () => `served ${served.length} of ${order.length}` },
  );
  t.true(seen.most() <= 5, `at most 5 running at once (saw ${seen.most()})`);
  // Served in the order asked: nobody overtaken by more than the places given at once.
  const placeOrder = (await platform.db.models.InstanceEvent.findAll({ where: { to_status: 'running', id: { [Op.gt]: marker } }, order: [['id', 'ASC']] }))
    .map((e) => e.handle)
    .filter((h, i, all) => all.indexOf(h) === i);
  t.deepEqual([...placeOrder].sort(), [...order].sort(), 'everyone ran');
  const overtaken = placeOrder.filter((h, i) => Math.abs(order.indexOf(h) - i) > 4);
  t.deepEqual(overtaken, []);
  const failed = await platform.db.models.Instance.count({ where: { status: 'failed' } });
  t.is(failed, 0);
  t.is(orchestrator.running.size, 0);
});

test('an API client of a waiting instance gets 503 with Retry-After; the admin page shows capacity', async (t) => {
  const { platform } = await fullPlatform(t, { MAX_RUNNING_INSTANCES: '1', ADMIN_EMAILS: 'root@example.com' });
  await platform.api('/containers/provision', { method: 'POST', json: { handle: 'first', userId: 'u-first' } });
  await platform.waitFor('first', 'running');
  await platform.api('/containers/provision', { method: 'POST', json: { handle: 'second', userId: 'u-second' } });
  await waitUntil(async () => (await platform.store.findByHandle('second'))?.waiting_since, { message: 'second waits' });
  const token = ((await (await platform.api('/containers/second/token', { method: 'POST' })).json()) as { token: string }).token;
  const port = new URL(platform.edge.listenUrl).port;
  await waitUntil(() => platform.edge.routes.get('second')?.waiting, { message: 'the route says it waits' });
  const answer = await sendRaw(Number(port), { host: `second.localhost:${port}`, path: '/api/files/', headers: { authorization: `Bearer ${token}` } });
  t.is(answer.status, 503);
  t.is(answer.headers['retry-after'], '30');
  t.like(answer.json<{ error: { code: string } }>().error, { code: 'waiting_for_capacity' });
  // The waiting page's status says where it is in line.
  const status = await sendRaw(Number(port), { host: `second.localhost:${port}`, path: '/_mxos/status', headers: { authorization: `Bearer ${token}` } });
  t.like(status.json(), { status: 'provisioning', position: 1, ready: false });
  t.like(await platform.capacity.view(), { limit: 1, holding: 1, waiting: 1 });
  const site = siteClient(platform);
  const { cookie } = await site.signIn('root@example.com');
  const admin = await site.send('/admin/users', { cookie });
  t.regex(admin.text, /<dt>Places<\/dt><dd>1 of 1<\/dd>/);
  t.regex(admin.text, /<dt>Waiting<\/dt><dd>1<\/dd>/);
  t.regex(admin.text, /<svg [^>]*aria-labelledby="signups-caption"/);
});

test('EVICT_IDLE_WHEN_FULL stops the longest-idle instance to make room for someone waiting', async (t) => {
  const { platform } = await fullPlatform(t, { MAX_RUNNING_INSTANCES: '2', EVICT_IDLE_WHEN_FULL: '1' });
  for (const handle of ['busy', 'idle']) {
    await platform.api('/containers/provision', { method: 'POST', json: { handle, userId: `u-${handle}` } });
    await platform.waitFor(handle, 'running');
  }
  // Both in use lately: nobody is evicted, the newcomer waits.
  await platform.db.models.Instance.update({ last_active_at: new Date(Date.now() - 60_000) }, { where: { handle: 'idle' } });
  await platform.db.models.Instance.update({ last_active_at: new Date() }, { where: { handle: 'busy' } });
  await platform.api('/containers/provision', { method: 'POST', json: { handle: 'newcomer', userId: 'u-newcomer' } });
  await waitUntil(async () => (await platform.store.findByHandle('newcomer'))?.waiting_since, { message: 'the newcomer waits' });
  t.deepEqual((await platform.store.findByHandle('idle'))!.status, 'running', 'used a minute ago: not evicted');
  // Idle for an hour: stopped to make room when the newcomer asks again.
  await platform.db.models.Instance.update({ last_active_at: new Date(Date.now() - 3_600_000) }, { where: { handle: 'idle' } });
  await platform.waitFor('newcomer', 'running', 60_000);
  t.is((await platform.store.findByHandle('idle'))!.status, 'stopped');
  t.is((await platform.store.findByHandle('busy'))!.status, 'running');
  const events = await platform.store.latestEvents('idle', 5);
  t.true(events.some((e) => /Stopping to make room: it was idle the longest/.test(e.message)));
  const audit = await platform.db.models.AuditEntry.findOne({ where: { action: 'instance.evict' } });
  t.is(audit?.target, 'idle');
});
