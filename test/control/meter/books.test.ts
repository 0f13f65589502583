import { type Database, openDatabase } from '../../../control/db/database.ts';
import { BudgetExhaustedError, MeterBooks } from '../../../control/meter/books.ts';
import { databaseTargets } from '../../helpers/databases.ts';
import { booksSettings, charge } from '../../helpers/meter-books.ts';

const targets = await databaseTargets();

const settings = booksSettings;

async function open(t: import('ava').ExecutionContext, url: string): Promise<Database> {
  const db = await openDatabase(url);
  t.teardown(() => db.close());
  await db.models.User.create({ id: 'u-alice', handle: 'alice' }).catch(() => undefined);
  return db;
}

for (const target of targets) {
  target.test(`[${target.name}] 100 concurrent calls when 10 are affordable: exactly 10 are admitted, none overshoots`, async (t) => {
    const created = await target.create();
    t.teardown(created.cleanup);
    const books = new MeterBooks(await open(t, created.url), settings());
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => books.reserve('u-alice', 'alice', 100_000)));
    const admitted = results.filter((r) => r.status === 'fulfilled');
    t.is(admitted.length, 10);
    for (const r of results) if (r.status === 'rejected') t.true(r.reason instanceof BudgetExhaustedError, String(r.reason));
    const budget = await books.budget('u-alice');
    t.is(budget.reserved, 1_000_000);
    t.is(budget.remaining, 0);
    // Parallel settlements sum exactly.
    await Promise.all(admitted.map((r, i) => books.settle((r as PromiseFulfilledResult<{ id: string }>).value.id, charge(1_000 * (i + 1)))));
    const after = await books.budget('u-alice');
    t.is(after.reserved, 0);
    t.is(after.spent, 55_000, '1,000 + 2,000 + ... + 10,000');
  });

  target.test(`[${target.name}] settling twice charges once; an expired lease is released and a late settlement still charges`, async (t) => {
    const created = await target.create();
    t.teardown(created.cleanup);
    const db = await open(t, created.url);
    const books = new MeterBooks(db, settings());
    const { id } = await books.reserve('u-alice', 'alice', 300_000);
    const settled = await Promise.all([books.settle(id, charge(1234)), books.settle(id, charge(1234)), books.settle(id, charge(999_999))]);
    t.deepEqual(settled.filter(Boolean).length, 1, 'exactly one settlement counts');
    t.like(await books.budget('u-alice'), { spent: 1234, reserved: 0 });
    const [rows] = await db.sequelize.query('SELECT COUNT(*) AS n FROM meter_ledger');
    t.is(Number((rows as Array<{ n: number }>)[0]!.n), 1, 'one ledger row');

    // Another replica's lease that was not renewed before it expired.
    const late = new MeterBooks(db, settings({ owner: 'replica-b:boot-1' }));
    const { id: stale } = await late.reserve('u-alice', 'alice', 200_000, new Date(Date.now() - 120_000));
    t.is(await books.releaseStale(), 1, 'past its expiry');
    t.like(await books.budget('u-alice'), { reserved: 0 });
    t.true(await late.settle(stale, charge(500)), 'its call finished after all');
    t.like(await books.budget('u-alice'), { spent: 1734, reserved: 0 }, 'charged, and nothing released twice');
  });

  target.test(`[${target.name}] a restarted replica releases what its earlier run held`, async (t) => {
    const created = await target.create();
    t.teardown(created.cleanup);
    const db = await open(t, created.url);
    const before = new MeterBooks(db, settings({ owner: 'replica-a:boot-1' }));
    await before.reserve('u-alice', 'alice', 400_000);
    await new MeterBooks(db, settings({ owner: 'replica-b:boot-1' })).reserve('u-alice', 'alice', 100_000);
    const after = new MeterBooks(db, settings({ owner: 'replica-a:boot-2' }));
    t.is(await after.releaseStale(new Date(), 'replica-a:'), 1, "only replica-a's earlier boot");
    t.like(await after.budget('u-alice'), { reserved: 100_000 });
    // A replica id is matched literally: "_" is no wildcard.
    await new MeterBooks(db, settings({ owner: 'replicaXb:boot-1' })).reserve('u-alice', 'alice', 1_000);
    t.is(await new MeterBooks(db, settings({ owner: 'replica_b:boot-2' })).releaseStale(new Date(), 'replica_b:'), 0);
  });

  target.test(`[${target.name}] the platform ceiling holds for everyone together`, async (t) => {
    const created = await target.create();
    t.teardown(created.cleanup);
    const db = await open(t, created.url);
    await db.models.User.create({ id: 'u-bob', handle: 'bob' });
    const books = new MeterBooks(db, settings({ platformBudgetMicro: 500_000 }));
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => books.reserve(i % 2 ? 'u-bob' : 'u-alice', i % 2 ? 'bob' : 'alice', 100_000)),
    );
    t.is(results.filter((r) => r.status === 'fulfilled').length, 5);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    t.regex(refused.reason.message, /event's total budget/);
    t.like(await books.platform(), { limit: 500_000, reserved: 500_000 });
    const alice = await books.budget('u-alice');
    const bob = await books.budget('u-bob');
    t.is(alice.reserved + bob.reserved, 500_000, 'a refusal by the ceiling rolled back the user hold too');
  });

  target.test(`[${target.name}] budgets: a set budget, zero, and a daily window that resets`, async (t) => {
    const created = await target.create();
    t.teardown(created.cleanup);
    const db = await open(t, created.url);
    const books = new MeterBooks(db, settings({ period: 'daily' }));
    await books.setBudget('u-alice', { limit: 0 }, 'admin:root');
    const zero = await t.throwsAsync(books.reserve('u-alice', 'alice', 1), { instanceOf: BudgetExhaustedError });
    t.regex(zero.message, /\$0\.00 remaining of \$0\.00/);
    t.is(zero.headers['x-should-retry'], 'false');
    await books.setBudget('u-alice', { limit: 250_000 }, 'admin:root');
    const day1 = new Date('2026-12-05T23:59:00Z');
    await books.settle((await books.reserve('u-alice', 'alice', 250_000, day1)).id, charge(250_000), day1);
    const exhausted = await t.throwsAsync(books.reserve('u-alice', 'alice', 1, day1), { instanceOf: BudgetExhaustedError });
    t.regex(exhausted.message, /resets at 2026-12-06T00:00:00\.000Z/);
    const day2 = new Date('2026-12-06T00:01:00Z');
    t.truthy(await books.reserve('u-alice', 'alice', 250_000, day2), 'a new day, a whole budget');
    const audit = await db.models.AuditEntry.findAll({ where: { action: 'set_budget' } });
    t.is(audit.length, 2);
  });

  target.test(`[${target.name}] a budget change keeps what it leaves out; null restores the default; concurrent changes do not collide`, async (t) => {
    const created = await target.create();
    t.teardown(created.cleanup);
    const db = await open(t, created.url);
    const books = new MeterBooks(db, settings({ defaultBudgetMicro: 5_000_000, period: 'none' }));
    await Promise.all([books.setBudget('u-alice', { period: 'monthly' }, 'a'), books.setBudget('u-alice', { period: 'monthly' }, 'b')]);
    t.like(await books.budget('u-alice'), { limit: 5_000_000, period: 'monthly' });
    await books.setBudget('u-alice', { limit: 2_000_000 }, 'a');
    t.like(await books.budget('u-alice'), { limit: 2_000_000, period: 'monthly' }, 'the period stayed');
    await books.setBudget('u-alice', { period: null }, 'a');
    t.like(await books.budget('u-alice'), { limit: 2_000_000, period: 'none' }, 'the period is the default again; the limit stayed');
    await books.setBudget('u-alice', { limit: null }, 'a');
    t.like(await books.budget('u-alice'), { limit: 5_000_000 });
  });
}

const pg = targets.find((x) => x.name === 'postgres')!;
pg.test('[postgres] two replicas sharing the database never overshoot together', async (t) => {
  const created = await pg.create();
  t.teardown(created.cleanup);
  const a = new MeterBooks(await open(t, created.url), settings({ owner: 'replica-a:1' }));
  const b = new MeterBooks(await open(t, created.url), settings({ owner: 'replica-b:1' }));
  const results = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).reserve('u-alice', 'alice', 100_000)));
  t.is(results.filter((r) => r.status === 'fulfilled').length, 10);
  t.like(await a.budget('u-alice'), { reserved: 1_000_000, remaining: 0 });
});
