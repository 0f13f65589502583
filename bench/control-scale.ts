/**
 * control-scale: the control service with 10,000 users and 2,000 running instances,
 * behind a no-op orchestrator (so only the control service itself is measured).
 *
 *   npx tsx bench/control-scale.ts
 *
 * Per database dialect (SQLite always; PostgreSQL when TEST_PG_ADMIN_URL is set or a
 * throwaway cluster can be started, unless BENCH_SKIP_PG=1):
 *   1. seed a fresh database through Sequelize bulkCreate (timed separately);
 *   2. in a fresh child process (honest RSS): time startPlatform() until GET /health
 *      answers 200, run sweeps (first one, then steady-state ones, then ones with
 *      re-seeded idle instances), and read RSS after start-up and after the sweeps.
 *
 * Knobs (environment): BENCH_USERS (10000), BENCH_RUNNING (2000), BENCH_IDLE_PERCENT
 * (10), BENCH_SWEEP_RUNS (5), BENCH_EVENTS_PER_INSTANCE (4), BENCH_SKIP_PG=1.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../control/config.ts';
import { openDatabase, type Database } from '../control/db/database.ts';
import { createLogger } from '../control/logger.ts';
import { startPlatform } from '../control/platform.ts';
import { createTestDatabase, postgresAvailable, startPostgresCluster, type PostgresCluster, type TestDatabase } from '../test/helpers/postgres.ts';
import { benchSecret, mb, median, printTargets, REPO_ROOT, round, target, writeResult, type TargetResult } from './lib.ts';
import { fakeAddress, NoopOrchestrator } from './noop-orchestrator.ts';

const NAME = 'control-scale';
const SELF = fileURLToPath(import.meta.url);
const IDLE_TIMEOUT_MS = 30 * 60_000;
const CHILD_TIMEOUT_MS = 5 * 60_000;
const TARGETS = { startupMs: 2000, sweepMs: 200, rssMB: 200 };

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number, got "${raw}"`);
  return value;
}

const params = {
  users: intEnv('BENCH_USERS', 10_000),
  running: intEnv('BENCH_RUNNING', 2_000),
  idlePercent: intEnv('BENCH_IDLE_PERCENT', 10),
  sweepRuns: intEnv('BENCH_SWEEP_RUNS', 5),
  eventsPerInstance: intEnv('BENCH_EVENTS_PER_INSTANCE', 4),
  idleTimeoutMs: IDLE_TIMEOUT_MS,
  workerPollIntervalMs: 1000,
};

// ---------------------------------------------------------------------------
// The seed plan: deterministic, so the child can tell the no-op driver what runs.

interface SeedPlan {
  handles: string[];
  running: string[];
  idle: string[];
}

function handleOf(i: number): string {
  return `user-${String(i + 1).padStart(5, '0')}`;
}

function seedPlan(users: number, running: number, idlePercent: number): SeedPlan {
  if (running > users) throw new Error('BENCH_RUNNING must not exceed BENCH_USERS');
  const handles = Array.from({ length: users }, (_, i) => handleOf(i));
  // Spread the running ones over the table rather than taking the first N.
  const stride = users / Math.max(1, running);
  const runningIdx = new Set<number>();
  for (let k = 0; k < running; k++) runningIdx.add(Math.floor(k * stride));
  const runningHandles = handles.filter((_, i) => runningIdx.has(i));
  const idleEvery = idlePercent > 0 ? Math.max(1, Math.round(100 / idlePercent)) : 0;
  const idle = idleEvery ? runningHandles.filter((_, k) => k % idleEvery === 0) : [];
  return { handles, running: runningHandles, idle };
}

// ---------------------------------------------------------------------------
// Parent: seed, spawn the measuring child, collect, compare dialects.

interface SeedFigures {
  seedMs: number;
  users: number;
  instances: number;
  running: number;
  idle: number;
  events: number;
  auditEntries: number;
}

async function seed(databaseUrl: string, plan: SeedPlan): Promise<SeedFigures> {
  const started = performance.now();
  const db = await openDatabase(databaseUrl);
  try {
    const { User, Instance, InstanceEvent, AuditEntry } = db.models;
    const now = Date.now();
    const runningSet = new Set(plan.running);
    const idleSet = new Set(plan.idle);
    const CHUNK = 1000;
    let events = 0;
    for (let offset = 0; offset < plan.handles.length; offset += CHUNK) {
      const slice = plan.handles.slice(offset, offset + CHUNK);
      await db.sequelize.transaction(async (transaction) => {
        await User.bulkCreate(
          slice.map((handle) => ({ id: `uid-${handle}`, handle, email: `${handle}@bench.invalid`, display_name: handle })),
          { transaction },
        );
        await Instance.bulkCreate(
          slice.map((handle, k) => {
            const id = offset + k + 1;
            const requested = new Date(now - 7 * 24 * 3600_000 + id * 1000);
            if (runningSet.has(handle)) {
              const address = fakeAddress(handle);
              const lastActive = idleSet.has(handle)
                ? new Date(now - IDLE_TIMEOUT_MS - 3600_000 - (id % 600) * 1000) // idle well past the timeout
                : new Date(now - (id % 600) * 1000); // active within the last 10 minutes
              return {
                id, handle, owner_id: `uid-${handle}`, driver: 'noop', job_id: `matrixos-${handle}`, status: 'running' as const,
                gateway_url: address.gateway, shell_url: address.shell, last_active_at: lastActive, requested_at: requested,
                started_at: new Date(now - 2 * 3600_000 - (id % 600) * 1000), spec_hash: 'bench',
              };
            }
            return {
              id, handle, owner_id: `uid-${handle}`, driver: 'noop', job_id: `matrixos-${handle}`, status: 'stopped' as const,
              last_active_at: new Date(now - 3 * 24 * 3600_000), requested_at: requested,
              started_at: new Date(now - 4 * 24 * 3600_000), stopped_at: new Date(now - 3 * 24 * 3600_000 + 1800_000), spec_hash: 'bench',
            };
          }),
          { transaction },
        );
        const history: Array<{ from: string | null; to: string; message: string }> = [
          { from: null, to: 'requested', message: 'Instance requested' },
          { from: 'requested', to: 'provisioning', message: 'Provisioning started' },
          { from: 'provisioning', to: 'starting', message: 'Storage and instance definition ready' },
          { from: 'starting', to: 'running', message: 'Running: health check passed' },
          { from: 'running', to: 'stopping', message: 'Stopping: idle for more than 30 min; the next visit wakes it' },
          { from: 'stopping', to: 'stopped', message: 'Stopped; data kept' },
        ];
        const rows = slice.flatMap((handle, k) =>
          history.slice(0, params.eventsPerInstance).map((h) => ({
            instance_id: offset + k + 1, handle, kind: 'transition' as const, from_status: h.from, to_status: h.to, message: h.message,
          })),
        );
        events += rows.length;
        if (rows.length) await InstanceEvent.bulkCreate(rows, { transaction });
        await AuditEntry.bulkCreate(
          slice.map((handle) => ({ actor: 'platform-api', action: 'provision', target: handle, detail: JSON.stringify({ userId: `uid-${handle}` }) })),
          { transaction },
        );
      });
    }
    if (db.dialect === 'postgres') {
      // Explicit ids do not move the serial sequence: move it so later inserts do not collide.
      await db.sequelize.query(`SELECT setval(pg_get_serial_sequence('instances', 'id'), (SELECT MAX(id) FROM instances))`);
      await db.sequelize.query('ANALYZE');
    } else {
      await db.sequelize.query('PRAGMA wal_checkpoint(TRUNCATE)');
    }
    return {
      seedMs: round(performance.now() - started),
      users: plan.handles.length,
      instances: plan.handles.length,
      running: plan.running.length,
      idle: plan.idle.length,
      events,
      auditEntries: plan.handles.length,
    };
  } finally {
    await db.close();
  }
}

interface ChildFigures {
  processBootMs: number;
  startPlatformMs: number;
  startupMs: number;
  healthStatus: number;
  rssAfterStartupMB: number;
  heapUsedAfterStartupMB: number;
  firstSweep: { durationMs: number; stopped: number; fixes: number; fixLines: string[] };
  workerDrainAfterFirstSweepMs: number;
  steadySweepsMs: number[];
  steadySweepMedianMs: number | null;
  steadySweepFixes: number;
  idleSweepsMs: number[];
  idleSweepMedianMs: number | null;
  idleSweepStopped: number[];
  /** One idle round timed part by part: where a sweep's time goes. */
  breakdown: { stopIdleMs: number; stopIdlePerInstanceMs: number | null; reconcileMs: number; stopIdleWithoutWorkerMs: number; stopped: number };
  activityFlushMs: number;
  activityFlushRows: number;
  rssAfterSweepsMB: number;
  heapUsedAfterSweepsMB: number;
  peakRssMB: number;
  closeMs: number;
  countsAfter: Record<string, number>;
  orchestratorCalls: Record<string, number>;
}

function runChild(env: NodeJS.ProcessEnv, resultFile: string): Promise<ChildFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--measure'], {
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

interface DialectRun {
  dialect: 'sqlite' | 'postgres';
  seed: SeedFigures;
  measured: ChildFigures;
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
    };
    const measured = await runChild(env, path.join(dataDir, 'result.json'));
    return { dialect, seed: seeded, measured };
  } finally {
    await pgDb?.drop().catch((err) => console.error(`could not drop the benchmark database: ${(err as Error).message}`));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function parent(): Promise<void> {
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

  const targets: TargetResult[] = [];
  const dialects: Record<string, unknown> = {};
  for (const run of runs) {
    const m = run.measured;
    const d = run.dialect;
    dialects[d] = { seed: run.seed, ...m };
    targets.push(
      target(`[${d}] start-up (startPlatform -> /health 200)`, m.startupMs, '<', TARGETS.startupMs, 'ms'),
      target(`[${d}] first sweep (${m.firstSweep.stopped} idle stops)`, m.firstSweep.durationMs, '<', TARGETS.sweepMs, 'ms'),
      target(`[${d}] sweep median, ${run.seed.idle} re-seeded idle stops`, m.idleSweepMedianMs, '<', TARGETS.sweepMs, 'ms'),
      target(`[${d}] sweep median, steady state (nothing idle)`, m.steadySweepMedianMs, '<', TARGETS.sweepMs, 'ms'),
      target(`[${d}] RSS after start-up`, m.rssAfterStartupMB, '<', TARGETS.rssMB, 'MB'),
      target(`[${d}] RSS after sweeps`, m.rssAfterSweepsMB, '<', TARGETS.rssMB, 'MB'),
      target(`[${d}] drift fixes in first sweep`, m.firstSweep.fixes, '==', 0, 'fixes'),
    );
  }
  const sqlite = runs.find((r) => r.dialect === 'sqlite')?.measured;
  const pg = runs.find((r) => r.dialect === 'postgres')?.measured;
  const ratio = (a: number | null | undefined, b: number | null | undefined) => (a == null || b == null || b === 0 ? null : round(a / b, 2));
  const sqliteSeed = runs.find((r) => r.dialect === 'sqlite')?.seed;
  const pgSeed = runs.find((r) => r.dialect === 'postgres')?.seed;
  const ratios = pg && sqlite
    ? {
        seedMs: ratio(pgSeed?.seedMs, sqliteSeed?.seedMs),
        startupMs: ratio(pg.startupMs, sqlite.startupMs),
        firstSweepMs: ratio(pg.firstSweep.durationMs, sqlite.firstSweep.durationMs),
        idleSweepMedianMs: ratio(pg.idleSweepMedianMs, sqlite.idleSweepMedianMs),
        steadySweepMedianMs: ratio(pg.steadySweepMedianMs, sqlite.steadySweepMedianMs),
        activityFlushMs: ratio(pg.activityFlushMs, sqlite.activityFlushMs),
        stopIdleMs: ratio(pg.breakdown.stopIdleMs, sqlite.breakdown.stopIdleMs),
        reconcileMs: ratio(pg.breakdown.reconcileMs, sqlite.breakdown.reconcileMs),
        rssAfterStartupMB: ratio(pg.rssAfterStartupMB, sqlite.rssAfterStartupMB),
        rssAfterSweepsMB: ratio(pg.rssAfterSweepsMB, sqlite.rssAfterSweepsMB),
      }
    : null;

  notes.push(
    'start-up = startPlatform() call until it resolves and GET /health answers 200 (module loading excluded; see processBootMs).',
    'firstSweep: the first sweep after start-up, stopping the seeded idle instances. steadySweeps: sweeps with nothing idle. idleSweeps: before each, the idle set is put back to running and idle (one UPDATE), so each sweep stops them again.',
    'The provisioning worker runs during sweeps (it takes the instances the sweep moves to stopping); sweep figures include that contention, as in production.',
    'breakdown: one more idle round timed part by part (Lifecycle.stopIdle, then Lifecycle.reconcile), and stopIdle again with the provisioning worker stopped, to separate the cost of the per-instance transactions from lock contention with the worker.',
    'activityFlush: ActivityRecorder.flush() after recording activity for every active running instance (one UPDATE per handle in one transaction); not part of the targets.',
  );
  const result = writeResult({
    name: NAME,
    parameters: { ...params, dialects: runs.map((r) => r.dialect) },
    figures: { ...dialects, ratioPostgresOverSqlite: ratios },
    targets,
    notes,
  });

  console.log(`\n${NAME}: ${params.users} users, ${params.running} running (${plan.idle.length} idle), no-op orchestrator`);
  const rows: Array<[string, (m: ChildFigures, s: SeedFigures) => string]> = [
    ['seed (bulkCreate)', (_m, s) => `${s.seedMs} ms`],
    ['start-up', (m) => `${m.startupMs} ms`],
    ['first sweep', (m) => `${m.firstSweep.durationMs} ms (${m.firstSweep.stopped} stopped, ${m.firstSweep.fixes} fixes)`],
    ['sweep median, idle work', (m) => `${m.idleSweepMedianMs} ms`],
    ['sweep median, steady', (m) => `${m.steadySweepMedianMs} ms`],
    ['  stopIdle / reconcile', (m) => `${m.breakdown.stopIdleMs} (${m.breakdown.stopIdlePerInstanceMs}/stop) / ${m.breakdown.reconcileMs} ms`],
    ['  stopIdle, worker paused', (m) => `${m.breakdown.stopIdleWithoutWorkerMs} ms`],
    ['activity flush', (m) => `${m.activityFlushMs} ms / ${m.activityFlushRows} rows`],
    ['RSS start-up / sweeps', (m) => `${m.rssAfterStartupMB} / ${m.rssAfterSweepsMB} MB`],
  ];
  for (const [label, fmt] of rows) {
    console.log(`  ${label.padEnd(27)} ${runs.map((r) => `${r.dialect}: ${fmt(r.measured, r.seed)}`).join('   ')}`);
  }
  if (ratios) console.log(`  postgres/sqlite: ${Object.entries(ratios).map(([k, v]) => `${k} ${v}x`).join(', ')}`);
  printTargets(targets);
  console.log(`  -> ${path.relative(process.cwd(), path.join(REPO_ROOT, 'bench', 'results', `${NAME}.json`))} (${result.pass ? 'all targets met' : 'some targets missed'})`);
}

// ---------------------------------------------------------------------------
// Child: the measurement proper, in a process that did nothing else.

/** BENCH_VERBOSE=1: phase lines on stderr from the measuring child. */
let phase = 'loading';
function progress(message: string): void {
  phase = message;
  if (process.env.BENCH_VERBOSE === '1') process.stderr.write(`  [child ${round(performance.now())} ms] ${message}\n`);
}

async function measure(): Promise<void> {
  const processBootMs = round(performance.now());
  const resultFile = process.env.BENCH_RESULT_FILE;
  if (!resultFile) throw new Error('BENCH_RESULT_FILE is not set');
  // Bounded: a stuck phase is reported (with what the event loop still waits on) instead of hanging.
  setTimeout(() => {
    process.stderr.write(`control-scale child: stuck for ${(CHILD_TIMEOUT_MS - 30_000) / 1000} s; last phase done: "${phase}"; pending: ${JSON.stringify(process.getActiveResourcesInfo())}\n`);
    process.exit(2);
  }, CHILD_TIMEOUT_MS - 30_000).unref();
  progress('starting the platform');
  const plan = seedPlan(params.users, params.running, params.idlePercent);
  const config = loadConfig(process.env, REPO_ROOT);
  const orchestrator = new NoopOrchestrator({ running: plan.running });
  const logger = createLogger('silent');
  let peakRss = 0;
  const sampleRss = () => {
    const { rss } = process.memoryUsage();
    peakRss = Math.max(peakRss, rss);
    return rss;
  };
  const rssTimer = setInterval(sampleRss, 50);

  const t0 = performance.now();
  progress('calling startPlatform');
  const platform = await startPlatform(config, orchestrator, logger);
  const t1 = performance.now();
  const health = await fetch(`${platform.apiUrl}/health`);
  await health.body?.cancel();
  const t2 = performance.now();
  if (health.status !== 200) throw new Error(`/health answered ${health.status}`);
  const afterStartup = process.memoryUsage();
  sampleRss();
  progress(`started in ${round(t2 - t0)} ms`);

  try {
    progress('first sweep');
    const first = await platform.lifecycle.sweep();
    progress(`first sweep ${round(first.durationMs)} ms, ${first.stopped.length} stopped, ${first.fixes.length} fixes`);
    const drainStart = performance.now();
    await platform.worker.idle();
    await waitForNoTransient(platform.db);
    const workerDrainMs = performance.now() - drainStart;
    progress(`worker drained in ${round(workerDrainMs)} ms`);

    const steady: number[] = [];
    let steadyFixes = 0;
    for (let i = 0; i < params.sweepRuns; i++) {
      const report = await platform.lifecycle.sweep();
      steady.push(round(report.durationMs));
      steadyFixes += report.fixes.length;
      progress(`steady sweep ${round(report.durationMs)} ms`);
    }

    const idleRuns: number[] = [];
    const idleStopped: number[] = [];
    for (let i = 0; i < params.sweepRuns; i++) {
      await reseedIdle(platform.db, plan.idle, orchestrator);
      const report = await platform.lifecycle.sweep();
      idleRuns.push(round(report.durationMs));
      idleStopped.push(report.stopped.length);
      await platform.worker.idle();
      await waitForNoTransient(platform.db);
      progress(`idle sweep ${round(report.durationMs)} ms, ${report.stopped.length} stopped`);
    }

    // Breakdown: the sweep's parts timed separately, then stopIdle with the worker paused (no lock contention).
    await reseedIdle(platform.db, plan.idle, orchestrator);
    const b0 = performance.now();
    const stoppedNow = await platform.lifecycle.stopIdle();
    const stopIdleMs = performance.now() - b0;
    await platform.worker.idle();
    await waitForNoTransient(platform.db);
    const b1 = performance.now();
    await platform.lifecycle.reconcile();
    const reconcileMs = performance.now() - b1;
    await reseedIdle(platform.db, plan.idle, orchestrator);
    await platform.worker.stop();
    const b2 = performance.now();
    await platform.lifecycle.stopIdle();
    const stopIdleAloneMs = performance.now() - b2;
    platform.worker.start();
    await waitForNoTransient(platform.db);
    await platform.worker.idle();
    progress(`breakdown: stopIdle ${round(stopIdleMs)} ms (${round(stopIdleAloneMs)} ms without the worker), reconcile ${round(reconcileMs)} ms`);

    // Activity from every active running instance, flushed at once.
    const now = Date.now();
    const idleSet = new Set(plan.idle);
    const active = plan.running.filter((h) => !idleSet.has(h));
    for (const handle of active) platform.activity.record(handle, now);
    const f0 = performance.now();
    const flushed = await platform.activity.flush();
    const activityFlushMs = performance.now() - f0;
    progress(`activity flush ${round(activityFlushMs)} ms for ${flushed} rows`);

    const afterSweeps = process.memoryUsage();
    sampleRss();
    const countsAfter = await platform.store.countByState();
    const c0 = performance.now();
    await platform.close();
    const closeMs = performance.now() - c0;
    clearInterval(rssTimer);

    const figures: ChildFigures = {
      processBootMs,
      startPlatformMs: round(t1 - t0),
      startupMs: round(t2 - t0),
      healthStatus: health.status,
      rssAfterStartupMB: mb(afterStartup.rss),
      heapUsedAfterStartupMB: mb(afterStartup.heapUsed),
      firstSweep: { durationMs: round(first.durationMs), stopped: first.stopped.length, fixes: first.fixes.length, fixLines: first.fixes.slice(0, 10) },
      workerDrainAfterFirstSweepMs: round(workerDrainMs),
      steadySweepsMs: steady,
      steadySweepMedianMs: median(steady),
      steadySweepFixes: steadyFixes,
      idleSweepsMs: idleRuns,
      idleSweepMedianMs: median(idleRuns),
      idleSweepStopped: idleStopped,
      breakdown: {
        stopIdleMs: round(stopIdleMs),
        stopIdlePerInstanceMs: stoppedNow.length ? round(stopIdleMs / stoppedNow.length, 2) : null,
        reconcileMs: round(reconcileMs),
        stopIdleWithoutWorkerMs: round(stopIdleAloneMs),
        stopped: stoppedNow.length,
      },
      activityFlushMs: round(activityFlushMs),
      activityFlushRows: flushed,
      rssAfterSweepsMB: mb(afterSweeps.rss),
      heapUsedAfterSweepsMB: mb(afterSweeps.heapUsed),
      peakRssMB: mb(peakRss),
      closeMs: round(closeMs),
      countsAfter: Object.fromEntries(Object.entries(countsAfter).filter(([, n]) => n > 0)),
      orchestratorCalls: { ...orchestrator.calls },
    };
    fs.writeFileSync(resultFile, JSON.stringify(figures));
  } finally {
    clearInterval(rssTimer);
    await platform.close();
  }
}

/** Puts the idle set back to running-and-idle in one UPDATE, and tells the no-op driver they run. */
async function reseedIdle(db: Database, idle: string[], orchestrator: NoopOrchestrator): Promise<void> {
  if (idle.length === 0) return;
  const old = new Date(Date.now() - IDLE_TIMEOUT_MS - 3600_000);
  const started = new Date(Date.now() - 2 * 3600_000);
  const { Instance } = db.models;
  await Instance.update(
    {
      status: 'running',
      gateway_url: db.sequelize.literal(`'http://noop.invalid/' || handle || '/gateway'`) as unknown as string,
      shell_url: db.sequelize.literal(`'http://noop.invalid/' || handle || '/shell'`) as unknown as string,
      last_active_at: old,
      started_at: started,
      stopped_at: null,
    },
    { where: { handle: idle }, silent: true },
  );
  for (const handle of idle) orchestrator.adopt(handle);
}

/** The worker finishes what a sweep handed it (stopping -> stopped) before the next measurement. */
async function waitForNoTransient(db: Database): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const n = await db.models.Instance.count({ where: { status: ['requested', 'provisioning', 'starting', 'stopping', 'destroying'] } });
    if (n === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('the worker did not finish stopping the idle instances within 60 s');
}

if (process.argv.includes('--measure')) {
  measure().then(
    () => process.exit(0),
    (err) => {
      console.error(`control-scale child failed: ${err instanceof Error ? err.stack : String(err)}`);
      process.exit(1);
    },
  );
} else {
  parent().then(
    () => process.exit(0),
    (err) => {
      console.error(`control-scale failed: ${err instanceof Error ? err.stack : String(err)}`);
      process.exit(1);
    },
  );
}
