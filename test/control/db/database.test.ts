import test from 'ava';
import { openDatabase } from '../../../control/db/database.ts';
import { InstanceStore } from '../../../control/provisioning/store.ts';
import { databaseTargets } from '../../helpers/databases.ts';
import { waitUntil } from '../../helpers/wait.ts';

const targets = await databaseTargets();

for (const target of targets) {
  target.test(`[${target.name}] migrations create every column the models use, and run once`, async (t) => {
    const created = await target.create();
    t.teardown(created.cleanup);
    const first = await openDatabase(created.url);
    await first.close();
    const db = await openDatabase(created.url); // second start: nothing left to migrate
    t.teardown(() => db.close());
    const q = db.sequelize.getQueryInterface();
    for (const model of Object.values(db.models)) {
      const columns = Object.keys(await q.describeTable(model.getTableName() as string));
      for (const attribute of Object.keys(model.getAttributes())) t.true(columns.includes(attribute), `${model.name}.${attribute}`);
    }
    const [applied] = await db.sequelize.query('SELECT name FROM schema_migrations');
    t.deepEqual(
      (applied as Array<{ name: string }>).map((r) => r.name),
      [
        '0001-initial',
        '0002-router',
        '0003-site',
        '0004-user-order',
        '0005-runtime-ref',
        '0006-suspension',
        '0007-meter',
        '0008-social',
        '0009-admission',
        '0010-sign-out',
      ],
    );
  });

  target.test(`[${target.name}] of many concurrent guarded transitions from one state exactly one wins`, async (t) => {
    const created = await target.create();
    t.teardown(created.cleanup);
    const db = await openDatabase(created.url);
    t.teardown(() => db.close());
    const store = new InstanceStore(db);
    await db.models.User.create({ id: 'u', handle: 'contested' });
    await db.transaction((tx) => store.create({ handle: 'contested', owner_id: 'u', driver: 'test' }, tx));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.transition('contested', ['requested'], i % 2 ? 'provisioning' : 'destroying', `racer ${i}`)),
    );
    t.is(results.filter(Boolean).length, 1);
    const events = await store.events('contested', 0, 100);
    t.is(events.length, 2, 'one creation event and one transition event, nothing half-written');
  });

  target.test(`[${target.name}] a lease is held by one worker at a time and expires`, async (t) => {
    const created = await target.create();
    t.teardown(created.cleanup);
    const db = await openDatabase(created.url);
    t.teardown(() => db.close());
    const store = new InstanceStore(db);
    await db.models.User.create({ id: 'u', handle: 'leased' });
    const row = await db.transaction((tx) => store.create({ handle: 'leased', owner_id: 'u', driver: 'test' }, tx));
    const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => store.claim(row.id, 'requested', `w${i}`, 300)));
    t.is(claims.filter(Boolean).length, 1);
    const owner = `w${claims.indexOf(true)}`;
    t.false(await store.renewLease(row.id, 'requested', 'intruder', 300));
    t.true(await store.renewLease(row.id, 'requested', owner, 300));
    // Due-ness is asked at explicit times on either side of the expiry, not after a sleep.
    const expiresAt = (await store.findByHandle('leased'))!.lease_expires_at!.getTime();
    t.deepEqual(
      (await store.findDue(10, new Date(expiresAt - 1))).map((r) => r.handle),
      [],
      'a leased row is not due',
    );
    t.deepEqual(
      (await store.findDue(10, new Date(expiresAt + 1))).map((r) => r.handle),
      ['leased'],
      'an expired lease makes it due again',
    );
    // claim() reads the clock itself: it is asked once the clock has passed the expiry.
    await waitUntil(() => Date.now() > expiresAt, { message: 'the clock to pass the lease expiry' });
    t.true(await store.claim(row.id, 'requested', 'successor', 300));
    t.false(await store.transition('leased', ['requested'], 'provisioning', 'stale owner', { leaseOwner: owner }), 'the old owner can no longer move it');
    t.true(await store.transition('leased', ['requested'], 'provisioning', 'new owner', { leaseOwner: 'successor' }));
  });
}

test('SQLite runs in WAL mode', async (t) => {
  const created = await targets[0]!.create();
  t.teardown(created.cleanup);
  const db = await openDatabase(created.url);
  t.teardown(() => db.close());
  const [rows] = await db.sequelize.query('PRAGMA journal_mode');
  t.is((rows as Array<{ journal_mode: string }>)[0]!.journal_mode, 'wal');
});

test('an unreachable PostgreSQL gives a clear error naming the database without its password', async (t) => {
  const error = await t.throwsAsync(openDatabase('postgres://user:hunter2@127.0.0.1:1/platform'));
  t.regex(error!.message, /Cannot open the database at postgres:\/\/user:\*\*\*@127\.0\.0\.1:1\/platform/);
  t.false(error!.message.includes('hunter2'));
});
