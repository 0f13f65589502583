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
import test, { type Implementation } from 'ava';
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
  /**
   * Declares an ava test for this target. When the target cannot run here it is
   * declared as skipped, with the reason in its title, so `npm test` counts and shows it.
   */
  test(title: string, implementation: Implementation<[]>): void;
}

function declare(skipReason: string | null): DatabaseTarget['test'] {
  return (title, implementation) => (skipReason === null ? test(title, implementation) : test.skip(`${title} (skipped: ${skipReason})`, implementation));
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
  test: declare(null),
};

function postgresTarget(skipReason: string | null): DatabaseTarget {
  return {
    name: 'postgres',
    async create() {
      const db = await createTestDatabase();
      if (!db) throw new Error('PostgreSQL became unavailable');
      return { url: db.url, cleanup: db.drop };
    },
    test: declare(skipReason),
  };
}

/**
 * Every dialect: sqlite always runs; postgres runs when a cluster is (or can be)
 * running, and otherwise its cases are declared as skipped with the reason.
 */
export async function databaseTargets(): Promise<DatabaseTarget[]> {
  const admin = await postgresAdminUrl();
  return [sqliteTarget, postgresTarget(admin.url === null ? `PostgreSQL is not available: ${admin.reason}` : null)];
}
