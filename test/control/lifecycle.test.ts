import test from 'ava';
import { buildInstanceSpec } from '../../control/orchestrator/spec.ts';
import { startHealthServer } from '../doubles/health-server.ts';
import { MemoryOrchestrator } from '../doubles/memory-orchestrator.ts';
import { databaseTargets } from '../helpers/databases.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';

const HOUR = 3_600_000;
// Declared before any test: ava needs every test registered synchronously after this.
const targets = await databaseTargets();

async function memoryPlatform(t: import('ava').ExecutionContext, env: Record<string, string> = {}) {
  const server = await startHealthServer();
  t.teardown(() => server.close());
  const orchestrator = new MemoryOrchestrator();
  orchestrator.address = () => ({ gateway: server.url, shell: server.url });
  const platform = await startTestPlatform(t, { orchestrator: () => orchestrator, env });
  return { platform, orchestrator };
}

async function runningInstance(platform: TestPlatform, handle: string, lastActiveAgoMs: number): Promise<void> {
  await platform.api('/containers/provision', { method: 'POST', json: { handle, userId: `u-${handle}` } });
  await platform.waitFor(handle, 'running');
  const at = new Date(Date.now() - lastActiveAgoMs);
  await platform.db.models.Instance.update({ last_active_at: at, started_at: at }, { where: { handle } });
}

test('the sweep stops an instance idle past the limit and keeps the others', async (t) => {
  const { platform, orchestrator } = await memoryPlatform(t);
  await runningInstance(platform, 'idle-one', 2 * HOUR);
  await runningInstance(platform, 'busy-one', 60_000);
  const report = await platform.lifecycle.sweep();
  t.deepEqual(report.stopped, ['idle-one']);
  await platform.waitFor('idle-one', 'stopped');
  t.false(orchestrator.running.has('idle-one'));
  t.is((await platform.service.get('busy-one')).status, 'running');
  const events = (await (await platform.api('/containers/idle-one/events')).json()) as { events: Array<{ message: string }> };
  t.true(events.events.some((e) => /idle for more than 30 min; the next visit wakes it/.test(e.message)));
});

test('activity recorded in memory keeps an instance awake: the sweep flushes it first', async (t) => {
  const { platform } = await memoryPlatform(t);
  await runningInstance(platform, 'fresh', 2 * HOUR);
  platform.activity.record('fresh');
  t.is(platform.activity.pendingCount, 1);
  const report = await platform.lifecycle.sweep();
  t.deepEqual(report.stopped, []);
  t.is((await platform.service.get('fresh')).status, 'running');
  t.is(platform.activity.pendingCount, 0);
});

test('activity that lands between choosing and stopping wins the race', async (t) => {
  const { platform } = await memoryPlatform(t);
  await runningInstance(platform, 'racer', 2 * HOUR);
  // Another replica flushes fresh activity after this sweep computed its cutoff and
  // right before its guarded UPDATE: the UPDATE must see it and leave the instance alone.
  const store = platform.store;
  const original = store.transitionWhere.bind(store);
  store.transitionWhere = async (...args: Parameters<typeof store.transitionWhere>) => {
    await platform.db.models.Instance.update({ last_active_at: new Date() }, { where: { handle: 'racer' } });
    return original(...args);
  };
  const stopped = await platform.lifecycle.stopIdle();
  store.transitionWhere = original;
  t.deepEqual(stopped, []);
  t.is((await platform.service.get('racer')).status, 'running');
});

for (const target of targets) {
  target.test(`[${target.name}] concurrent flushes and sweeps never stop an instance whose activity was flushed`, async (t) => {
    const db = await target.create();
    t.teardown(db.cleanup);
    const { platform } = await memoryPlatform(t, { DATABASE_URL: db.url });
    const handles = Array.from({ length: 10 }, (_, i) => `busy-${i}`);
    for (const handle of handles) await runningInstance(platform, handle, 2 * HOUR);
    await runningInstance(platform, 'truly-idle', 2 * HOUR);
    for (const handle of handles) platform.activity.record(handle);
    // Three "replicas" race: each flushes, then decides. Some flushes find nothing left
    // to write and decide while another's flush is still committing.
    const decisions = await Promise.all([
      platform.lifecycle.sweep().then((r) => r.stopped),
      platform.activity.flush().then(() => platform.lifecycle.stopIdle()),
      platform.activity.flush().then(() => platform.lifecycle.stopIdle()),
    ]);
    const stopped = decisions.flat();
    t.deepEqual(stopped, ['truly-idle']);
    for (const handle of handles) t.is((await platform.service.get(handle)).status, 'running', handle);
  });
}

test('last_active_at only moves forward, at one-second precision', async (t) => {
  const { platform } = await memoryPlatform(t);
  await runningInstance(platform, 'mono', HOUR);
  const now = Date.now();
  platform.activity.record('mono', now);
  await platform.activity.flush();
  platform.activity.record('mono', now - HOUR);
  await platform.activity.flush();
  t.is((await platform.service.get('mono')).last_active_at!.getTime(), Math.floor(now / 1000) * 1000);
});

test('the periodic sweep stops idle instances on its own', async (t) => {
  const { platform } = await memoryPlatform(t, { IDLE_TIMEOUT: '1s', SWEEP_INTERVAL: '200ms', ACTIVITY_FLUSH_INTERVAL: '100ms' });
  await platform.api('/containers/provision', { method: 'POST', json: { handle: 'napper', userId: 'u-1' } });
  await platform.waitFor('napper', 'running');
  await platform.waitFor('napper', 'stopped', 10_000);
  t.pass();
});

test('reconcile restarts an instance whose process vanished', async (t) => {
  const { platform, orchestrator } = await memoryPlatform(t);
  await runningInstance(platform, 'vanish', 0);
  orchestrator.crash('vanish');
  const report = await platform.lifecycle.sweep();
  t.deepEqual(report.fixes, ['vanish: running in the database but not in the orchestrator: restarting']);
  await platform.waitFor('vanish', 'running');
  t.true(orchestrator.running.has('vanish'));
});

test('reconcile stops an orphan with no database row and never destroys it', async (t) => {
  const { platform, orchestrator } = await memoryPlatform(t);
  const spec = buildInstanceSpec(platform.config, platform.secretKey, { handle: 'orphan', owner: 'nobody', tokenGeneration: 1 });
  await orchestrator.ensure(spec);
  await orchestrator.start('orphan');
  const report = await platform.lifecycle.sweep();
  t.deepEqual(report.fixes, ['orphan: orphan instance with no database row: stopped']);
  t.false(orchestrator.running.has('orphan'));
  t.false(orchestrator.calls.some((c) => c.method === 'destroy'));
});

test('reconcile stops a process the database says is stopped', async (t) => {
  const { platform, orchestrator } = await memoryPlatform(t);
  await runningInstance(platform, 'zombie', 0);
  await platform.api('/containers/zombie/stop', { method: 'POST' });
  await platform.waitFor('zombie', 'stopped');
  await orchestrator.start('zombie');
  const report = await platform.lifecycle.sweep();
  t.deepEqual(report.fixes, ['zombie: running although the database says stopped: stopped']);
  t.false(orchestrator.running.has('zombie'));
});

test('reconcile is skipped, not fatal, while the orchestrator is down', async (t) => {
  const { platform, orchestrator } = await memoryPlatform(t);
  await runningInstance(platform, 'steady', 0);
  orchestrator.down = true;
  const report = await platform.lifecycle.sweep();
  orchestrator.down = false;
  t.deepEqual(report.fixes, []);
  t.is((await platform.service.get('steady')).status, 'running');
});

test('a shutdown that stops instances also finishes stops the sweep or the worker left half done', async (t) => {
  const { platform, orchestrator } = await memoryPlatform(t);
  await runningInstance(platform, 'steady', 60_000);
  await runningInstance(platform, 'halfway', 60_000);
  // The sweep moved "halfway" to stopping, and the worker stopped before it stopped the process.
  await platform.worker.stop();
  t.true(await platform.store.transition('halfway', ['running'], 'stopping', 'Stopping: idle'));
  t.true(orchestrator.running.has('halfway'));

  const { stoppedInstances } = await platform.close({ stopInstances: true });
  t.is(stoppedInstances, 2);
  t.deepEqual([...orchestrator.running.keys()], [], 'no instance is left running');
});
