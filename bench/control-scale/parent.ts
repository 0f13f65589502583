/**
 * The control-scale parent: per dialect, seed a fresh database, spawn the measuring
 * child on it, collect its figures; then report. Cleans up what it created (data
 * directories, the PostgreSQL database and any throwaway cluster it started).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type PostgresCluster, postgresAvailable, startPostgresCluster, type TestDatabase } from '../../test/helpers/postgres.ts';
import { BENCH_DIR, benchSecret, REPO_ROOT } from '../lib.ts';
import type { ChildFigures } from './measure.ts';
import { CHILD_TIMEOUT_MS, IDLE_TIMEOUT_MS, NAME, params, type SeedPlan, seedPlan } from './plan.ts';
import { type DialectRun, report } from './report.ts';
import { seed } from './seed.ts';

/** The entry point; `--measure` makes it the measuring child. */
const ENTRY = path.join(BENCH_DIR, `${NAME}.ts`);

function runChild(env: NodeJS.ProcessEnv, resultFile: string): Promise<ChildFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, '--measure'], {
      cwd: REPO_ROOT,
      env: { ...env, BENCH_RESULT_FILE: resultFile },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`measuring child did not finish within ${CHILD_TIMEOUT_MS / 1000} s`));
    }, CHILD_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`measuring child exited with ${signal ?? `code ${code}`}`));
      try {
        resolve(JSON.parse(fs.readFileSync(resultFile, 'utf8')) as ChildFigures);
      } catch (err) {
        reject(err);
      }
    });
  });
}

async function runDialect(dialect: 'sqlite' | 'postgres', plan: SeedPlan): Promise<DialectRun> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-scale-${dialect}-`));
  let pgDb: TestDatabase | null = null;
  try {
    let databaseUrl = `sqlite:${path.join(dataDir, 'platform.sqlite')}`;
    if (dialect === 'postgres') {
      pgDb = await createTestDatabase();
      if (!pgDb) throw new Error('PostgreSQL became unavailable');
      databaseUrl = pgDb.url;
    }
    console.log(`[${dialect}] seeding ${plan.handles.length} users / ${plan.running.length} running (${plan.idle.length} idle)...`);
    const seeded = await seed(databaseUrl, plan);
    console.log(`[${dialect}] seeded in ${seeded.seedMs} ms; measuring in a fresh process...`);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      BENCH_VERBOSE: process.env.BENCH_VERBOSE,
      DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl,
      API_PORT: '0',
      METER_PORT: '0',
      PUBLIC_PORT: '0',
      DEV_IDP_PORT: '0',
      LOG_LEVEL: 'silent',
      PLATFORM_SECRET: benchSecret('platform'),
      SECRET_KEY: benchSecret('key'),
      WORKER_POLL_INTERVAL: `${params.workerPollIntervalMs}ms`,
      IDLE_TIMEOUT: `${IDLE_TIMEOUT_MS / 60_000}m`,
      BENCH_USERS: String(params.users),
      BENCH_RUNNING: String(params.running),
      BENCH_IDLE_PERCENT: String(params.idlePercent),
      BENCH_SWEEP_RUNS: String(params.sweepRuns),
      REPLICA_ID: 'bench-scale',
      // Sign-in as in production: a real issuer (discovered lazily, so never contacted here),
      // not the development provider, which production never loads.
      OIDC_ISSUER: 'https://id.bench.invalid',
      OIDC_CLIENT_SECRET: benchSecret('oidc-client'),
    };
    const measured = await runChild(env, path.join(dataDir, 'result.json'));
    return { dialect, seed: seeded, measured };
  } finally {
    await pgDb?.drop().catch((err) => console.error(`could not drop the benchmark database: ${(err as Error).message}`));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function parent(): Promise<void> {
  const plan = seedPlan(params.users, params.running, params.idlePercent);
  const notes: string[] = [];
  const runs: DialectRun[] = [];
  let cluster: PostgresCluster | null = null;
  try {
    runs.push(await runDialect('sqlite', plan));

    let pgReason: string | null = null;
    if (process.env.BENCH_SKIP_PG === '1') pgReason = 'BENCH_SKIP_PG=1';
    else if (!process.env.TEST_PG_ADMIN_URL) {
      const available = postgresAvailable();
      if (!available.ok) pgReason = available.reason;
      else {
        cluster = await startPostgresCluster();
        process.env.TEST_PG_ADMIN_URL = cluster.adminUrl;
        notes.push('PostgreSQL: throwaway local cluster (fsync=off, synchronous_commit=off, full_page_writes=off) on the same machine.');
      }
    } else notes.push('PostgreSQL: cluster from TEST_PG_ADMIN_URL.');
    if (pgReason === null) runs.push(await runDialect('postgres', plan));
    else {
      console.log(`[postgres] skipped: ${pgReason}`);
      notes.push(`PostgreSQL skipped: ${pgReason}`);
    }
  } finally {
    await cluster?.stop();
  }
  report(plan, runs, notes);
}
