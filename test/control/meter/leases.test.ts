/**
 * Leases: a replica admits calls from what it holds of a user's budget without a database
 * round trip, and still never overspends, follows budget changes, gives idle budget back,
 * and survives a sweep that released its lease.
 */
import test from 'ava';
import { QueryTypes } from 'sequelize';
import { type Database, openDatabase } from '../../../control/db/database.ts';
import { BookStore } from '../../../control/meter/book-store.ts';
import { type BooksSettings, BudgetExhaustedError, LEASE_IDLE_MS, leaseHeadroom, MeterBooks } from '../../../control/meter/books.ts';
import { databaseTargets } from '../../helpers/databases.ts';
import { booksSettings, charge, TEST_USAGE } from '../../helpers/meter-books.ts';

const targets = await databaseTargets();

const usage = TEST_USAGE;
// A budget far from its end: calls admitted from leases.
const settings = (over: Partial<BooksSettings> = {}) => booksSettings({ defaultBudgetMicro: 100_000_000, ...over });

async function open(t: import('ava').ExecutionContext, url: string): Promise<Database> {
  const db = await openDatabase(url);
  t.teardown(() => db.close());
  return db;
}

/** Counts the statements a piece of work sends to the database. */
async function statements<T>(db: Database, work: () => Promise<T>): Promise<{ result: T; count: number }> {
  let count = 0;
  const hook = `count-${Math.random()}`;
  db.sequelize.addHook('beforeQuery', hook, () => {
    count++;
  });
  try {
    return { result: await work(), count };
  } finally {
    db.sequelize.removeHook('beforeQuery', hook);
  }
}

async function openLeases(db: Database): Promise<Array<{ owner: string; amount_micro: number | string }>> {
  return db.sequelize.query('SELECT owner, amount_micro FROM meter_reservations WHERE settled_at IS NULL AND released_at IS NULL', {
    type: QueryTypes.SELECT,
  });
}

test('headroom: none near the end of a budget, else room for many calls, at most an eighth of what is left', (t) => {
  t.is(leaseHeadroom(31 * 1000, 1000, 0), 0, 'fewer than 32 of the largest call left: held exactly');
  t.is(leaseHeadroom(1_000_000, 1000, 0), 16_000);
  t.is(leaseHeadroom(1_000_000, 1000, 50_000), 100_000, 'twice what is in flight');
  t.is(leaseHeadroom(400_000, 1000, 90_000), 50_000, 'an eighth of what is left');
  t.is(leaseHeadroom(1_000_000, 0, 0), 0);
});

for (const target of targets) {
  target.test(`[${target.name}] calls far from the end of a budget are admitted without the database; the money still adds up`, async (t) => {
    const created = await target.create();
    t.teardown(created.cleanup);
    const db = await open(t, created.url);
    const books = new MeterBooks(db, settings());
    // The first call takes a lease with room for more.
    await books.settle((await books.reserve('u-alice', 'alice', 10_000)).id, charge(1_000));
    await books.flushed();
    const { count } = await statements(db, async () => {
      for (let i = 0; i < 5; i++) {
        const { id } = await books.reserve('u-alice', 'alice', 10_000);
        void books.settle(id, charge(1_000));
      }
    });
    t.is(count, 0, 'five admissions, no statement');
    await books.flushed();
    t.like(await books.budget('u-alice'), { spent: 6_000, reserved: 0, remaining: 100_000_000 - 6_000 });
    const [ledger] = await db.sequelize.query('SELECT COUNT(*) AS n FROM meter_ledger', { type: QueryTypes.SELECT });
    t.is(Number((ledger as { n: number }).n), 6);
    // The database holds exactly what the lease says it holds.
    const [lease] = await openLeases(db);
    const window = await new BookStore(db, { ...settings(), owner: 'x' }).window('u-alice', '1970-01-01');
    t.is(window.reserved, Number(lease!.amount_micro));
    t.is(window.spent, 6_000);
  });

  target.test(`[${target.name}] a lowered budget applies at once on this replica, and at the next upkeep on another`, async (t) => {
    const created = await target.create();
    t.teardown(created.cleanup);
    const db = await open(t, created.url);
    const a = new MeterBooks(db, settings({ owner: 'replica-a:1' }));
    const b = new MeterBooks(db, settings({ owner: 'replica-b:1' }));
    await a.settle((await a.reserve('u-alice', 'alice', 10_000)).id, charge(1_000));
    await b.settle((await b.reserve('u-alice', 'alice', 10_000)).id, charge(1_000));
    t.is((await openLeases(db)).length, 2, 'each replica holds a lease with room to spare');

    await a.setBudget('u-alice', { limit: 0 }, 'admin:root');
    await t.throwsAsync(a.reserve('u-alice', 'alice', 10_000), { instanceOf: BudgetExhaustedError }, 'at once where it was changed');
    await b.upkeep();
    const refused = await t.throwsAsync(b.reserve('u-alice', 'alice', 10_000), { instanceOf: BudgetExhaustedError });
    t.regex(refused.message, /\$0\.00 remaining of \$0\.00/);
    await a.flushed();
    await b.flushed();
    t.deepEqual(await openLeases(db), [], 'both leases gave their budget back');
    t.like(await new MeterBooks(db, settings({ owner: 'replica-c:1' })).budget('u-alice'), { spent: 2_000, reserved: 0 });
  });

  target.test(`[${target.name}] an idle lease gives its budget back at upkeep; a lease a sweep released is replaced`, async (t) => {
    const created = await target.create();
    t.teardown(created.cleanup);
    const db = await open(t, created.url);
    const books = new MeterBooks(db, settings());
    await books.settle((await books.reserve('u-alice', 'alice', 10_000)).id, charge(1_000));
    await books.upkeep();
    t.is((await openLeases(db)).length, 1, 'not idle long enough');
    await books.upkeep(new Date(Date.now() + LEASE_IDLE_MS + 1000));
    await books.flushed();
    t.deepEqual(await openLeases(db), []);
    const other = new MeterBooks(db, settings({ owner: 'replica-b:1' }));
    t.like(await other.budget('u-alice'), { spent: 1_000, reserved: 0 }, 'seen from another replica too');

    // A lease that another replica's sweep released (this one looked dead) holds nothing any more.
    const { id } = await books.reserve('u-alice', 'alice', 10_000);
    t.is(await other.releaseStale(new Date(Date.now() + 10 * 60_000)), 1);
    await books.upkeep();
    t.true(await books.settle(id, charge(2_000)), 'the call in flight is still charged');
    await books.flushed();
    t.like(await other.budget('u-alice'), { spent: 3_000, reserved: 0 }, 'and nothing given back twice');
    await books.settle((await books.reserve('u-alice', 'alice', 10_000)).id, charge(500));
    await books.flushed();
    const leases = await openLeases(db);
    t.is(leases.length, 1, 'a new lease');
    t.like(await other.budget('u-alice'), { spent: 3_500, reserved: Number(leases[0]!.amount_micro) });
  });

  target.test(`[${target.name}] a write retried after a lost commit charges nothing twice`, async (t) => {
    const created = await target.create();
    t.teardown(created.cleanup);
    const db = await open(t, created.url);
    const store = new BookStore(db, { ...settings(), owner: 'replica-a:1' });
    const extended = await store.extend({
      lease: null,
      newLeaseId: 'lease-1',
      userId: 'u-alice',
      handle: 'alice',
      amounts: [50_000],
      free: 0,
      now: new Date(),
      headroom: () => 0,
    });
    t.deepEqual(extended.verdicts, ['held']);
    const entry = {
      callId: 'call-1',
      lease: extended.lease!,
      userId: 'u-alice',
      handle: 'alice',
      model: 'claude-haiku-4-5',
      priceVersion: 'test-1',
      usage,
      cost: 4_000,
      released: 4_000,
      outcome: 'ok',
      at: new Date(),
    };
    const first = await store.write([entry], [], new Date());
    await t.throwsAsync(store.write([entry], [], new Date()), undefined, 'the ledger refuses a second row for a call');
    const again = await store.write([entry], [], new Date(), true);
    t.deepEqual([...first.written], ['call-1']);
    t.deepEqual([...again.written], []);
    t.deepEqual(await store.window('u-alice', '1970-01-01'), { spent: 4_000, reserved: 46_000 });
  });
}

for (const target of targets) {
  target.test(`[${target.name}] a replica that could not renew its lease admits nothing more on it once a sweep may have released it`, async (t) => {
    const created = await target.create();
    t.teardown(created.cleanup);
    const db = await open(t, created.url);
    const a = new MeterBooks(db, settings({ owner: 'replica-a:1' }));
    await a.settle((await a.reserve('u-alice', 'alice', 10_000)).id, charge(1_000));
    await a.flushed();
    // Replica A was cut off from the database past its lease's expiry; B's sweep released it.
    const b = new MeterBooks(db, settings({ owner: 'replica-b:1' }));
    t.is(await b.releaseStale(new Date(Date.now() + 2 * 60_000)), 1);
    t.like(await b.budget('u-alice'), { reserved: 0 });
    // A's next call, 40 s on, is past what A knows for sure: it goes to the database, which holds it anew.
    const later = new Date(Date.now() + 40_000);
    await a.reserve('u-alice', 'alice', 10_000, later);
    const leases = await openLeases(db);
    t.is(leases.length, 1, 'a new lease');
    t.true(Number(leases[0]!.amount_micro) >= 10_000, 'the database holds the call');
  });

  target.test(`[${target.name}] near the end of a budget a lease gives its free part back for other replicas`, async (t) => {
    const created = await target.create();
    t.teardown(created.cleanup);
    const db = await open(t, created.url);
    const a = new MeterBooks(db, settings({ defaultBudgetMicro: 10_000_000 }));
    await a.settle((await a.reserve('u-alice', 'alice', 100_000)).id, charge(1));
    await a.flushed();
    const [before] = await openLeases(db);
    t.true(Number(before!.amount_micro) > 1_000_000, 'room for many calls while the budget is far from its end');
    // Other replicas spent most of the budget meanwhile.
    await db.sequelize.query("UPDATE meter_windows SET spent_micro = spent_micro + 7500000 WHERE scope = 'u-alice'");
    await a.settle((await a.reserve('u-alice', 'alice', 100_000)).id, charge(1));
    await a.flushed();
    const [after] = await openLeases(db);
    t.is(Number(after?.amount_micro ?? 0), 0, 'the free part went back');
    const b = new MeterBooks(db, settings({ defaultBudgetMicro: 10_000_000, owner: 'replica-b:1' }));
    const results = await Promise.allSettled(Array.from({ length: 30 }, () => b.reserve('u-alice', 'alice', 100_000)));
    t.is(results.filter((r) => r.status === 'fulfilled').length, 24, '2,499,998 left: exactly 24 calls of 0.1');
  });

  target.test(`[${target.name}] two admins changing different fields of a budget at once both count`, async (t) => {
    const created = await target.create();
    t.teardown(created.cleanup);
    const db = await open(t, created.url);
    const books = new MeterBooks(db, settings());
    await Promise.all([books.setBudget('u-alice', { limit: 2_000_000 }, 'a'), books.setBudget('u-alice', { period: 'daily' }, 'b')]);
    t.like(await books.budget('u-alice'), { limit: 2_000_000, period: 'daily' });
  });

  target.test(`[${target.name}] closed books take no more calls`, async (t) => {
    const created = await target.create();
    t.teardown(created.cleanup);
    const db = await open(t, created.url);
    const books = new MeterBooks(db, settings());
    await books.settle((await books.reserve('u-alice', 'alice', 10_000)).id, charge(500));
    await books.close();
    const err = await t.throwsAsync(books.reserve('u-alice', 'alice', 10_000));
    t.regex(err.message, /restarting/);
    t.deepEqual(await openLeases(db), [], 'the lease gave its budget back');
    t.like(await new MeterBooks(db, settings({ owner: 'x:1' })).budget('u-alice'), { spent: 500, reserved: 0 });
  });
}

const pg = targets.find((x) => x.name === 'postgres')!;
pg.test('[postgres] a settlement the database refuses is given up alone; the others are charged', async (t) => {
  const created = await pg.create();
  t.teardown(created.cleanup);
  const db = await open(t, created.url);
  const books = new MeterBooks(db, settings());
  const ids = await Promise.all(Array.from({ length: 4 }, () => books.reserve('u-alice', 'alice', 10_000)));
  const settled = await Promise.all(ids.map(({ id }, i) => books.settle(id, i === 1 ? { ...charge(700), priceVersion: 'v'.repeat(200) } : charge(100))));
  t.deepEqual(settled, [true, false, true, true]);
  t.like(await books.budget('u-alice'), { spent: 300, reserved: 0 });
  const [ledger] = await db.sequelize.query('SELECT COUNT(*) AS n FROM meter_ledger', { type: QueryTypes.SELECT });
  t.is(Number((ledger as { n: number }).n), 3);
});
