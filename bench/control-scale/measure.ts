/**
 * The measuring child of control-scale: started on a seeded database in a process
 * that did nothing else (honest RSS), it starts the platform behind the in-memory
 * orchestrator, runs the sweeps and writes its figures to BENCH_RESULT_FILE.
 */
import fs from 'node:fs';
import { startPlatform } from '../../control/compose.ts';
import { loadConfig } from '../../control/config.ts';
import type { Database } from '../../control/db/database.ts';
import { createLogger } from '../../control/logger.ts';
import { MemoryOrchestrator } from '../../test/doubles/memory-orchestrator.ts';
import { mb, median, REPO_ROOT, round } from '../lib.ts';
import { CHILD_TIMEOUT_MS, FAKE_ADDRESS_BASE, fakeAddress, IDLE_TIMEOUT_MS, params, seedPlan } from './plan.ts';

export interface ChildFigures {
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
  /** Drift "fixed" by the idle sweeps: should be 0 (nothing drifts here); see the notes. */
  idleSweepFixes: number;
  idleSweepFixLines: string[];
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

/** BENCH_VERBOSE=1: phase lines on stderr from the measuring child. */
let phase = 'loading';
function progress(message: string): void {
  phase = message;
  if (process.env.BENCH_VERBOSE === '1') process.stderr.write(`  [child ${round(performance.now())} ms] ${message}\n`);
}

export async function measure(): Promise<void> {
  const processBootMs = round(performance.now());
  const resultFile = process.env.BENCH_RESULT_FILE;
  if (!resultFile) throw new Error('BENCH_RESULT_FILE is not set');
  // Bounded: a stuck phase is reported (with what the event loop still waits on) instead of hanging.
  setTimeout(() => {
    process.stderr.write(
      `control-scale child: stuck for ${(CHILD_TIMEOUT_MS - 30_000) / 1000} s; last phase done: "${phase}"; pending: ${JSON.stringify(process.getActiveResourcesInfo())}\n`,
    );
    process.exit(2);
  }, CHILD_TIMEOUT_MS - 30_000).unref();
  progress('starting the platform');
  const plan = seedPlan(params.users, params.running, params.idlePercent);
  const config = loadConfig(process.env, REPO_ROOT);
  const orchestrator = new MemoryOrchestrator();
  orchestrator.address = fakeAddress;
  for (const handle of plan.running) orchestrator.adopt(handle);
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
    const idleFixLines: string[] = [];
    for (let i = 0; i < params.sweepRuns; i++) {
      await reseedIdle(platform.db, plan.idle, orchestrator);
      const report = await platform.lifecycle.sweep();
      idleRuns.push(round(report.durationMs));
      idleStopped.push(report.stopped.length);
      idleFixLines.push(...report.fixes);
      await platform.worker.idle();
      await waitForNoTransient(platform.db);
      progress(`idle sweep ${round(report.durationMs)} ms, ${report.stopped.length} stopped`);
    }

    // Breakdown: the sweep's parts timed separately, then stopIdle with the worker paused (no contention).
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
      idleSweepFixes: idleFixLines.length,
      idleSweepFixLines: idleFixLines.slice(0, 10),
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
      orchestratorCalls: countCalls(orchestrator),
    };
    fs.writeFileSync(resultFile, JSON.stringify(figures));
  } finally {
    clearInterval(rssTimer);
    await platform.close();
  }
}

function countCalls(orchestrator: MemoryOrchestrator): Record<string, number> {
  const counts: Record<string, number> = { ensure: 0, start: 0, stop: 0, destroy: 0, status: 0, list: 0 };
  for (const { method } of orchestrator.calls) counts[method] = (counts[method] ?? 0) + 1;
  return counts;
}

/** Puts the idle set back to running-and-idle in one UPDATE, and tells the orchestrator they run. */
async function reseedIdle(db: Database, idle: string[], orchestrator: MemoryOrchestrator): Promise<void> {
  if (idle.length === 0) return;
  const old = new Date(Date.now() - IDLE_TIMEOUT_MS - 3600_000);
  const started = new Date(Date.now() - 2 * 3600_000);
  const { Instance } = db.models;
  // Same URLs as fakeAddress(handle), built in SQL.
  const url = (suffix: string) => db.sequelize.literal(`'${FAKE_ADDRESS_BASE}' || handle || '/${suffix}'`) as unknown as string;
  await Instance.update(
    { status: 'running', gateway_url: url('gateway'), shell_url: url('shell'), last_active_at: old, started_at: started, stopped_at: null },
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
