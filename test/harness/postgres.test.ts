// The throwaway PostgreSQL harness works end to end.
import test, { type ExecutionContext } from 'ava';
import pg from 'pg';
import { createTestDatabase, postgresAvailable } from '../helpers/postgres.ts';

const available = process.env.TEST_PG_ADMIN_URL ? ({ ok: true } as const) : postgresAvailable();
if (!available.ok) console.log(`postgres: skipping PostgreSQL cases: ${available.reason}`);
// Without the binaries these cases are not registered at all (the reason is printed above).
const pgTest = (title: string, fn: (t: ExecutionContext) => Promise<unknown>) => {
  if (available.ok) test(title, fn);
};

pgTest('createTestDatabase gives a fresh database that can be used and dropped', async (t) => {
  const db = await createTestDatabase();
  if (!db) return t.fail('createTestDatabase returned null although PostgreSQL is available');
  t.teardown(() => db.drop());
  t.regex(db.url, /^postgres:\/\/[^/]+\/t_[0-9a-f]{16}$/);

  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const one = await client.query('select 1 as one');
    t.is(one.rows[0].one, 1);

    const current = await client.query('select current_database() as name');
    t.is(`/${current.rows[0].name}`, new URL(db.url).pathname);

    await client.query('create table widgets (id serial primary key, name text not null)');
    await client.query("insert into widgets (name) values ('a'), ('b')");
    const count = await client.query('select count(*)::int as n from widgets');
    t.is(count.rows[0].n, 2);
  } finally {
    await client.end();
  }

  // Dropping removes the database (even with a connection still open) and is idempotent.
  const lingering = new pg.Client({ connectionString: db.url });
  lingering.on('error', () => {}); // terminated by drop()
  await lingering.connect();
  await db.drop();
  await db.drop();
  lingering.end().catch(() => {});

  const again = new pg.Client({ connectionString: db.url });
  await t.throwsAsync(again.connect(), { message: /does not exist/ });
  await again.end().catch(() => {});
});

pgTest('two test databases are independent', async (t) => {
  const [a, b] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  if (!a || !b) return t.fail('createTestDatabase returned null');
  t.teardown(async () => {
    await a.drop();
    await b.drop();
  });
  t.not(a.url, b.url);
});
