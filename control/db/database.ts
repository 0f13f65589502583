/**
 * Opens the platform database: a SQLite file (WAL) by default, PostgreSQL when
 * DATABASE_URL says so. Runs pending migrations before anything else touches it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Sequelize, Transaction } from 'sequelize';
import sqlite3 from 'sqlite3';
import { SequelizeStorage, Umzug } from 'umzug';
import { redactUrl } from '../config-parse.ts';
import { describeError, UnavailableError } from '../errors.ts';
import * as initial from './migrations/0001-initial.ts';
import * as router from './migrations/0002-router.ts';
import * as site from './migrations/0003-site.ts';
import * as userOrder from './migrations/0004-user-order.ts';
import * as runtimeRef from './migrations/0005-runtime-ref.ts';
import * as suspension from './migrations/0006-suspension.ts';
import * as meter from './migrations/0007-meter.ts';
import * as social from './migrations/0008-social.ts';
import * as admission from './migrations/0009-admission.ts';
import * as signOut from './migrations/0010-sign-out.ts';
import { defineModels, type Models } from './models.ts';

export interface Database {
  sequelize: Sequelize;
  /**
   * Runs fn in a transaction. Use this, not sequelize.transaction: on SQLite it also
   * takes the in-process lock (see sqliteQueryLock). Every query inside fn must pass
   * { transaction }.
   */
  transaction<T>(fn: (transaction: Transaction) => Promise<T>): Promise<T>;
  models: Models;
  dialect: 'sqlite' | 'postgres';
  /** Cheap liveness probe for /health. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const MIGRATIONS = [
  { name: '0001-initial', up: initial.up, down: initial.down },
  { name: '0002-router', up: router.up, down: router.down },
  { name: '0003-site', up: site.up, down: site.down },
  { name: '0004-user-order', up: userOrder.up, down: userOrder.down },
  { name: '0005-runtime-ref', up: runtimeRef.up, down: runtimeRef.down },
  { name: '0006-suspension', up: suspension.up, down: suspension.down },
  { name: '0007-meter', up: meter.up, down: meter.down },
  { name: '0008-social', up: social.up, down: social.down },
  { name: '0009-admission', up: admission.up, down: admission.down },
  { name: '0010-sign-out', up: signOut.up, down: signOut.down },
];
const SQLITE_BUSY_TIMEOUT_MS = 15_000;
/** Any 64-bit number works; it only has to be the same for every replica. */
const MIGRATION_LOCK_KEY = 40_009_000;

/**
 * sqlite3's Database with a busy timeout and relaxed fsync on every connection:
 * Sequelize opens one connection per transaction and offers no hook for this.
 */
function busyTolerantSqlite(): typeof sqlite3 {
  function Database(file: string, mode: number, callback: (err: Error | null) => void): sqlite3.Database {
    const db: sqlite3.Database = new sqlite3.Database(file, mode, (err) => {
      if (err) return callback(err);
      db.configure('busyTimeout', SQLITE_BUSY_TIMEOUT_MS);
      db.exec('PRAGMA synchronous=NORMAL;', (pragmaErr) => callback(pragmaErr));
    });
    return db;
  }
  return { ...sqlite3, Database } as unknown as typeof sqlite3;
}

export async function openDatabase(databaseUrl: string, options: { logging?: (sql: string) => void } = {}): Promise<Database> {
  const sqliteFile = databaseUrl.startsWith('sqlite:') ? databaseUrl.slice('sqlite:'.length) : null;
  let sequelize: Sequelize;
  if (sqliteFile !== null) {
    fs.mkdirSync(path.dirname(sqliteFile), { recursive: true });
    sequelize = new Sequelize({
      dialect: 'sqlite',
      storage: sqliteFile,
      dialectModule: busyTolerantSqlite(),
      // IMMEDIATE takes the write lock up front, so two writers wait instead of deadlocking.
      transactionType: Transaction.TYPES.IMMEDIATE,
      logging: options.logging ?? false,
    });
  } else {
    sequelize = new Sequelize(databaseUrl, {
      dialect: 'postgres',
      logging: options.logging ?? false,
      pool: { max: 10, min: 0, idle: 10_000, acquire: 30_000 },
    });
  }
  try {
    await sequelize.authenticate();
    if (sqliteFile !== null) await sequelize.query('PRAGMA journal_mode=WAL;');
    await migrate(sequelize);
  } catch (err) {
    await sequelize.close().catch(() => undefined);
    throw new UnavailableError('database_unavailable', `Cannot open the database at ${redactUrl(databaseUrl)}: ${describeError(err)}`, { cause: err });
  }
  const models = defineModels(sequelize);
  const lock = sqliteFile !== null ? sqliteQueryLock(sequelize) : null;
  return {
    sequelize,
    models,
    async transaction(fn) {
      const release = lock ? await lock.acquire() : null;
      try {
        return await sequelize.transaction(fn);
      } finally {
        release?.();
      }
    },
    dialect: sqliteFile !== null ? 'sqlite' : 'postgres',
    async ping() {
      try {
        await sequelize.query('SELECT 1');
      } catch (err) {
        throw new UnavailableError('database_unavailable', 'The database is not answering.', { detail: describeError(err), cause: err });
      }
    },
    close: () => sequelize.close(),
  };
}

/**
 * SQLite allows one writer, and node-sqlite3 waits for locks on libuv's small thread
 * pool: a few blocked statements can starve the one holding the lock (a deadlock
 * until the busy timeout). So one query or transaction at a time per process; other
 * processes on the same file are still handled by the busy timeout.
 */
function sqliteQueryLock(sequelize: Sequelize): { acquire(): Promise<() => void> } {
  let tail: Promise<void> = Promise.resolve();
  const acquire = async (): Promise<() => void> => {
    let release!: () => void;
    const previous = tail;
    tail = new Promise<void>((resolve) => (release = resolve));
    await previous;
    return release;
  };
  const held = new WeakMap<object, () => void>();
  sequelize.addHook('beforeQuery', async (options: { transaction?: unknown }, query: object) => {
    if (!options.transaction) held.set(query, await acquire());
  });
  sequelize.addHook('afterQuery', (_options: unknown, query: object) => {
    held.get(query)?.();
    held.delete(query);
  });
  return { acquire };
}

/** Applies pending migrations; on PostgreSQL an advisory lock keeps replicas from racing. */
async function migrate(sequelize: Sequelize): Promise<void> {
  const umzug = new Umzug({
    migrations: MIGRATIONS.map((m) => ({ name: m.name, up: () => m.up(sequelize.getQueryInterface()), down: () => m.down(sequelize.getQueryInterface()) })),
    storage: new SequelizeStorage({ sequelize, tableName: 'schema_migrations' }),
    logger: undefined,
  });
  if (sequelize.getDialect() !== 'postgres') {
    await umzug.up();
    return;
  }
  // Session-level advisory locks need one pinned connection: hold it in a transaction.
  await sequelize.transaction(async (tx) => {
    await sequelize.query('SELECT pg_advisory_xact_lock(:key)', { replacements: { key: MIGRATION_LOCK_KEY }, transaction: tx });
    await umzug.up();
  });
}
