import test from 'ava';
import { createLogger } from '../../../control/logger.ts';
import { InstanceBus } from '../../../control/provisioning/store.ts';
import { RouteCache } from '../../../control/router/route-cache.ts';
import { databaseTargets } from '../../helpers/databases.ts';
import { startTestPlatform, TEST_KEY } from '../../helpers/platform.ts';
import { startRouterFixture, waitForRoute } from '../../helpers/router.ts';

// Asked before any test is declared: ava needs every test declared synchronously after this.
const targets = await databaseTargets();

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

test('proxied requests do not touch the database', async (t) => {
  const f = await startRouterFixture(t, ['alice'], { ROUTE_SYNC_INTERVAL: '1h', ACTIVITY_FLUSH_INTERVAL: '20m' });
  const cookie = await f.signIn('alice');
  const queries: string[] = [];
  const sequelize = f.platform.db.sequelize as unknown as { options: { logging: unknown } };
  const previous = sequelize.options.logging;
  sequelize.options.logging = (sql: string) => queries.push(sql);
  t.teardown(() => {
    sequelize.options.logging = previous;
  });
  for (let i = 0; i < 50; i++) {
    const r = await f.send({ host: `alice.localhost:${f.port}`, path: `/api/x${i}`, headers: i % 2 ? bearer(f.token('alice')) : { cookie } });
    t.is(r.status, 200);
  }
  t.deepEqual(
    queries.filter((q) => q.includes("'alice'")),
    [],
    'no query about alice while serving her requests',
  );
  await f.platform.edge.routes.refresh('alice');
  t.true(
    queries.some((q) => q.includes("'alice'")),
    'the query hook does see route reads',
  );
});

test('a restart rebuilds the route table before the listener opens: no route is lost', async (t) => {
  const f = await startRouterFixture(t, ['alice', 'bob']);
  await (await f.platform.api('/containers/bob/stop', { method: 'POST' })).body?.cancel();
  await f.platform.waitFor('bob', 'stopped');
  await f.platform.close();
  const again = await startTestPlatform(t, { dataDir: f.platform.dataDir, keepDataDir: true, orchestrator: () => f.orchestrator });
  t.is(again.edge.routes.size, 2);
  t.is(again.edge.routes.get('alice')?.status, 'running');
  t.is(again.edge.routes.get('bob')?.status, 'stopped');
  const port = Number(new URL(again.edge.listenUrl).port);
  const { sendRaw } = await import('../../helpers/router.ts');
  const r = await sendRaw(port, { host: `alice.localhost:${port}`, path: '/api/x', headers: bearer(f.token('alice')) });
  t.is(r.status, 200);
});

for (const target of targets) {
  target.test(`[${target.name}] another replica's changes reach this route table through the event table, late commits included`, async (t) => {
    const database = await target.create();
    t.teardown(database.cleanup);
    const f = await startRouterFixture(t, ['alice', 'bob'], { DATABASE_URL: database.url });
    // A second replica: same database, its own bus (so it hears nothing in-process).
    const other = new RouteCache({ db: f.platform.db, bus: new InstanceBus(), secretKey: TEST_KEY, syncIntervalMs: 3_600_000, logger: createLogger('silent') });
    await other.load();
    t.teardown(() => other.close());
    t.is(other.get('alice')?.status, 'running');

    await (await f.platform.api('/containers/alice/stop', { method: 'POST' })).body?.cancel();
    await f.platform.waitFor('alice', 'stopped');
    const rotated = (await (await f.platform.api('/containers/bob/token', { method: 'POST' })).json()) as { generation: number };
    t.is(other.get('alice')?.status, 'running', 'not yet synced');
    await other.sync();
    t.is(other.get('alice')?.status, 'stopped');
    t.is(other.get('bob')?.accessGeneration, rotated.generation);

    // A commit that lands with an id below the cursor (PostgreSQL sequences allow it) is still seen:
    // bob's event takes id n+1000 and is synced, then alice's commits with id n+990.
    const { InstanceEvent, Instance } = f.platform.db.models;
    const n = Number(await InstanceEvent.max('id'));
    const base = { kind: 'progress' as const, from_status: null, to_status: null };
    const bob = (await Instance.findOne({ where: { handle: 'bob' } }))!;
    const alice = (await Instance.findOne({ where: { handle: 'alice' } }))!;
    await InstanceEvent.create({ ...base, id: n + 1000, instance_id: bob.id, handle: 'bob', message: 'early' });
    await other.sync();
    await Instance.update({ last_error: 'changed behind the cursor', status: 'failed' }, { where: { handle: 'alice' } });
    await InstanceEvent.create({ ...base, id: n + 990, instance_id: alice.id, handle: 'alice', message: 'late commit' });
    await other.sync();
    t.is(other.get('alice')?.status, 'failed');
    t.is(other.get('alice')?.lastError, 'changed behind the cursor');
  });
}

test("reconcile's address fix reaches this route table at once and other replicas through the event table", async (t) => {
  const f = await startRouterFixture(t, ['alice', 'bob']);
  const other = new RouteCache({ db: f.platform.db, bus: new InstanceBus(), secretKey: TEST_KEY, syncIntervalMs: 3_600_000, logger: createLogger('silent') });
  await other.load();
  t.teardown(() => other.close());
  // The orchestrator placed alice elsewhere behind the platform's back (here: where bob's echo listens).
  const moved = f.echo.get('bob')!;
  const before = f.orchestrator.running.get('alice')!;
  f.orchestrator.running.set('alice', { ...before, gateway: moved.gateway, shell: moved.shell });

  const fixes = await f.platform.lifecycle.reconcile();
  t.deepEqual(fixes, ['alice: address changed: route updated']);
  const deadline = Date.now() + 5000;
  while (f.platform.edge.routes.get('alice')?.gatewayUrl !== moved.gateway && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.is(f.platform.edge.routes.get('alice')?.gatewayUrl, moved.gateway, 'this process: through the bus');
  const r = await f.send({ host: `alice.localhost:${f.port}`, path: '/api/who', headers: bearer(f.token('alice')) });
  t.is(r.status, 200);
  t.is(JSON.parse(r.text).handle, 'bob', 'requests go to the new address');

  t.not(other.get('alice')?.gatewayUrl, moved.gateway, 'the other replica has not synced yet');
  await other.sync();
  t.is(other.get('alice')?.gatewayUrl, moved.gateway, 'another replica: through the event table');
  const events = await f.platform.store.latestEvents('alice', 1);
  t.like(events[0], { kind: 'reconcile', message: 'The instance was found at a new address; requests now go there' });
});

test('a destroyed instance leaves the route table at once and its host answers 404', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  await (await f.platform.api('/containers/alice?confirm=alice', { method: 'DELETE' })).body?.cancel();
  await f.platform.waitFor('alice', 'destroyed');
  const deadline = Date.now() + 5000;
  while (f.platform.edge.routes.get('alice') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.is(f.platform.edge.routes.get('alice'), undefined);
  const r = await f.send({ host: `alice.localhost:${f.port}`, path: '/api/x', headers: bearer(f.token('alice')) });
  t.is(r.status, 404);
});

test('a new instance is routable as soon as it runs, with no restart', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  const echo = f.echo.get('alice')!;
  f.orchestrator.address = (h) =>
    h === 'dave' ? { gateway: echo.gateway, shell: echo.shell } : { gateway: 'http://127.0.0.1:1', shell: 'http://127.0.0.1:1' };
  t.is(f.platform.edge.routes.get('dave'), undefined);
  await (await f.platform.api('/containers/provision', { method: 'POST', json: { handle: 'dave', userId: 'user-dave' } })).body?.cancel();
  await waitForRoute(f.platform, 'dave');
  const r = await f.send({ host: `dave.localhost:${f.port}`, path: '/api/x', headers: bearer(f.token('dave')) });
  t.is(r.status, 200);
});
