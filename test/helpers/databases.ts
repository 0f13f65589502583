// Run the same test cases against every database dialect the platform supports.
//
//   for (const target of await databaseTargets()) {
//     test(`[${target.name}] does the thing`, async (t) => {
//       const db = await target.create();
//       t.teardown(db.cleanup);
//       ... use db.url ...
//     });
//   }

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, postgresAdminUrl } from './postgres.ts';

export type DatabaseName = 'sqlite' | 'postgres';

export interface DatabaseInstance {
  /** Connection URL: sqlite:/tmp/.../platform.sqlite or postgres://... */
  url: string;
  /** Removes the database (and, for sqlite, its directory). Idempotent. */
  cleanup(): Promise<void>;
}

export interface DatabaseTarget {
  name: DatabaseName;
  /** A fresh, empty database for one test. */
  create(): Promise<DatabaseInstance>;
}

export const sqliteTarget: DatabaseTarget = {
  name: 'sqlite',
  async create() {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'sqlite-test-'));
    return {
      url: `sqlite:${path.join(dir, 'platform.sqlite')}`,
      cleanup: () => fs.promises.rm(dir, { recursive: true, force: true }),
    };
  },
};

export const postgresTarget: DatabaseTarget = {
  name: 'postgres',
  async create() {
    const db = await createTestDatabase();
    if (!db) throw new Error('PostgreSQL became unavailable');
    return { url: db.url, cleanup: db.drop };
  },
};

let skipNoticePrinted = false;

/**
 * sqlite always; postgres too when a cluster is (or can be) running.
 * Otherwise prints `postgres: skipping PostgreSQL cases: <reason>` once.
 */
export async function databaseTargets(): Promise<DatabaseTarget[]> {
  const admin = await postgresAdminUrl();
  if (admin.url !== null) return [sqliteTarget, postgresTarget];
  if (!skipNoticePrinted) {
    skipNoticePrinted = true;
    console.log(`postgres: skipping PostgreSQL cases: ${admin.reason}`);
  }
  return [sqliteTarget];
}

/** Alias of databaseTargets(). */
export const testDatabases = databaseTargets;
