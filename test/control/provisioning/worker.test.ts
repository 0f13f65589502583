import test from 'ava';
import { UnavailableError } from '../../../control/errors.ts';
import { OrchestratorError } from '../../../control/orchestrator/types.ts';
import { backoffMs } from '../../../control/provisioning/worker.ts';
import { startHealthServer } from '../../doubles/health-server.ts';
import { MemoryOrchestrator } from '../../doubles/memory-orchestrator.ts';
import { databaseTargets } from '../../helpers/databases.ts';
import { makeDataDir, startTestPlatform } from '../../helpers/platform.ts';
import { waitUntil } from '../../helpers/wait.ts';

// Declared before any test: ava needs every test registered synchronously after this.
const targets = await databaseTargets();

async function healthyMemoryOrchestrator(t: import('ava').ExecutionContext) {
  const server = await startHealthServer();
  t.teardown(() => server.close());
  const orchestrator = new MemoryOrchestrator();
  orchestrator.address = () => ({ gateway: server.url, shell: server.url });
  return { orchestrator, server };
}

async function eventMessages(platform: { api(p: string): Promise<Response> }, handle: string): Promise<string[]> {
  const body = (await (await platform.api(`/containers/${handle}/events`)).json()) as { events: Array<{ message: string }> };
  return body.events.map((e) => e.message);
}

test('backoff grows exponentially with jitter and stays under the maximum', (t) => {
  t.is(
    backoffMs(1, 1000, 60_000, () => 0.5),
    1000,
  );
  t.is(
    backoffMs(2, 1000, 60_000, () => 0.5),
    2000,
  );
  t.is(
    backoffMs(4, 1000, 60_000, () => 0.5),
    8000,
  );
  t.is(
    backoffMs(20, 1000, 60_000, () => 0.5),
    60_000,
  );
  t.is(
    backoffMs(1, 1000, 60_000, () => 0),
    800,
  );
  t.is(
    backoffMs(1, 1000, 60_000, () => 1),
    1200,
  );
});

test('a failing step is retried with backoff until it succeeds', async (t) => {
  const { orchestrator } = await healthyMemoryOrchestrator(t);
  orchestrator.failNext('ensure', new OrchestratorError('disk_full', 'The volume could not be created.'), 2);
  const platform = await startTestPlatform(t, { orchestrator: () => orchestrator });
  await platform.api('/containers/provision', { method: 'POST', json: { handle: 'retry', userId: 'u-1' } });
  const running = await platform.waitFor('retry', 'running');
  t.is(running.attempts, 0);
  t.is(running.lastError, null);
  const messages = await eventMessages(platform, 'retry');
  t.true(messages.some((m) => m.startsWith('Attempt 1 failed while provisioning: The volume could not be created.')));
  t.true(messages.some((m) => m.startsWith('Attempt 2 failed while provisioning')));
  t.is(orchestrator.calls.filter((c) => c.method === 'ensure' && c.handle === 'retry').length, 4); // 3 provisioning + 1 starting
});

test('after the maximum attempts the instance is failed with the reason', async (t) => {
  const { orchestrator } = await healthyMemoryOrchestrator(t);
  orchestrator.failNext('ensure', new OrchestratorError('bad_image', 'Image "nope" was not found.'), 10);
  const platform = await startTestPlatform(t, { orchestrator: () => orchestrator, env: { PROVISION_MAX_ATTEMPTS: '3' } });
  await platform.api('/containers/provision', { method: 'POST', json: { handle: 'doomed', userId: 'u-1' } });
  const failed = await platform.waitFor('doomed', 'failed');
  t.is(failed.lastError, 'Image "nope" was not found.');
  t.is(failed.attempts, 3);
  t.is(orchestrator.calls.filter((c) => c.method === 'ensure').length, 3);
  const metrics = await (await platform.api('/metrics')).text();
  t.regex(metrics, /mxos_instance_failures_total\{reason="bad_image"\} 3/);

  // "provision again" after a failure starts over.
  orchestrator.clearFaults();
  const again = await platform.api('/containers/provision', { method: 'POST', json: { handle: 'doomed', userId: 'u-1' } });
  t.is(again.status, 201);
  await platform.waitFor('doomed', 'running');
});

test('an orchestrator outage is retried past the attempt limit and recovers by itself', async (t) => {
  const { orchestrator } = await healthyMemoryOrchestrator(t);
  const platform = await startTestPlatform(t, { orchestrator: () => orchestrator, env: { PROVISION_MAX_ATTEMPTS: '2' } });
  orchestrator.down = true;
  await platform.api('/containers/provision', { method: 'POST', json: { handle: 'patient', userId: 'u-1' } });
  // Attempt 2 is where any other error fails the instance: wait until the worker has recorded it.
  const during = await waitUntil(
    async () => {
      const row = await platform.service.get('patient');
      return row.attempts >= 2 && row;
    },
    {
      timeoutMs: 30_000,
      message: async () =>
        `2 recorded attempts (attempts ${(await platform.service.get('patient')).attempts}, ${orchestrator.calls.length} orchestrator calls)`,
    },
  );
  t.true(['provisioning', 'requested'].includes(during.status), during.status);
  t.true(during.attempts >= 2, `attempts ${during.attempts}`);
  t.regex(during.last_error ?? '', /unreachable right now/);
  orchestrator.down = false;
  await platform.waitFor('patient', 'running');
});

test('an instance that never answers /health fails with the start timeout', async (t) => {
  const { orchestrator, server } = await healthyMemoryOrchestrator(t);
  server.status = 500;
  const platform = await startTestPlatform(t, { orchestrator: () => orchestrator, env: { INSTANCE_START_TIMEOUT: '1s' } });
  await platform.api('/containers/provision', { method: 'POST', json: { handle: 'sleepy', userId: 'u-1' } });
  const failed = await platform.waitFor('sleepy', 'failed');
  t.regex(String(failed.lastError), /did not become healthy within 1 s \(\/health answered 500\)/);
  t.false(orchestrator.running.has('sleepy'), 'the half-started instance is stopped');
});

test('a stop requested while starting wins', async (t) => {
  const { orchestrator, server } = await healthyMemoryOrchestrator(t);
  server.status = 503;
  const platform = await startTestPlatform(t, { orchestrator: () => orchestrator });
  await platform.api('/containers/provision', { method: 'POST', json: { handle: 'fickle', userId: 'u-1' } });
  await platform.waitFor('fickle', 'starting');
  const stop = await platform.api('/containers/fickle/stop', { method: 'POST' });
  t.is(stop.status, 202);
  await platform.waitFor('fickle', 'stopped');
  // Once the worker has no step left in flight, nothing can undo the stop any more.
  await platform.worker.idle();
  t.is((await platform.service.get('fickle')).status, 'stopped');
  t.false(orchestrator.running.has('fickle'));
});

for (const target of targets) {
  target.test(`[${target.name}] two replicas share the work without doing any step twice`, async (t) => {
    const db = await target.create();
    t.teardown(db.cleanup);
    const dataDir = await makeDataDir();
    const a = await healthyMemoryOrchestrator(t);
    const b = await healthyMemoryOrchestrator(t);
    const env = { DATABASE_URL: db.url, WORKER_CONCURRENCY: '4' };
    const one = await startTestPlatform(t, { orchestrator: () => a.orchestrator, env: { ...env, REPLICA_ID: 'one' }, dataDir, keepDataDir: true });
    const two = await startTestPlatform(t, { orchestrator: () => b.orchestrator, env: { ...env, REPLICA_ID: 'two' }, dataDir });
    a.orchestrator.latencyMs = 20;
    b.orchestrator.latencyMs = 20;
    const handles = Array.from({ length: 20 }, (_, i) => `user-${i}`);
    await Promise.all(handles.map((handle, i) => (i % 2 ? one : two).api('/containers/provision', { method: 'POST', json: { handle, userId: handle } })));
    for (const handle of handles) await one.waitFor(handle, 'running');
    const starts = [...a.orchestrator.calls, ...b.orchestrator.calls].filter((c) => c.method === 'start');
    t.is(starts.length, 20, 'each instance started exactly once');
    t.is(new Set(starts.map((c) => c.handle)).size, 20);
    t.true(a.orchestrator.running.size > 0 && b.orchestrator.running.size > 0, 'both replicas took work');
  });
}

test('a step whose outcome cannot be written (the database is away) is retried once it answers, not when its lease expires', async (t) => {
  const { orchestrator } = await healthyMemoryOrchestrator(t);
  const platform = await startTestPlatform(t, { orchestrator: () => orchestrator, env: { PROVISION_LEASE: '10m' } });
  await platform.api('/containers/provision', { method: 'POST', json: { handle: 'blip', userId: 'u-1' } });
  await platform.waitFor('blip', 'running');
  // The stop step succeeds, then the database goes away for the worker's next three writes.
  const { store } = platform;
  let away = 3;
  const original = { transition: store.transition.bind(store), note: store.note.bind(store), release: store.release.bind(store) };
  const unavailable = () => {
    away -= 1;
    return Promise.reject(new UnavailableError('database_unavailable', 'The database is not answering.'));
  };
  Object.assign(store, {
    transition: (...args: Parameters<typeof store.transition>) => (away > 0 && args[4]?.leaseOwner ? unavailable() : original.transition(...args)),
    note: (...args: Parameters<typeof store.note>) => (away > 0 ? unavailable() : original.note(...args)),
    release: (...args: Parameters<typeof store.release>) => (away > 0 ? unavailable() : original.release(...args)),
  });
  await platform.api('/containers/blip/stop', { method: 'POST' });
  await platform.waitFor('blip', 'stopped', 15_000);
  t.is(away, 0, 'the outage was seen');
  t.false(orchestrator.running.has('blip'));
});
