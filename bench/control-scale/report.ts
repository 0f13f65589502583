/**
 * control-scale results: targets per dialect, PostgreSQL/SQLite ratios, the result
 * file (bench/results/control-scale.json) and the printed summary.
 */
import path from 'node:path';
import { printTargets, REPO_ROOT, round, type TargetResult, target, writeResult } from '../lib.ts';
import type { ChildFigures } from './measure.ts';
import { NAME, params, type SeedPlan, TARGETS } from './plan.ts';
import type { SeedFigures } from './seed.ts';

export interface DialectRun {
  dialect: 'sqlite' | 'postgres';
  seed: SeedFigures;
  measured: ChildFigures;
}

const NOTES = [
  'Orchestrator: MemoryOrchestrator (test/doubles/memory-orchestrator.ts), every seeded running instance adopt()ed at the address the seed wrote, so only the control service is measured.',
  'start-up = startPlatform() call until it resolves and GET /health answers 200 (module loading excluded; see processBootMs).',
  'firstSweep: the first sweep after start-up, stopping the seeded idle instances. steadySweeps: sweeps with nothing idle. idleSweeps: before each, the idle set is put back to running and idle (one UPDATE), so each sweep stops them again.',
  'The provisioning worker runs during sweeps (it takes the instances the sweep moves to stopping); sweep figures include that contention, as in production.',
  'breakdown: one more idle round timed part by part (Lifecycle.stopIdle, then Lifecycle.reconcile), and stopIdle again with the provisioning worker stopped, to separate the cost of the set-based stop (one guarded UPDATE + one bulk insert of events) from contention with the worker.',
  'idleSweepFixes: drift the idle sweeps reported fixing. Nothing drifts here, so any fix is a false positive: reconcile lists the orchestrator, then reads the rows; a stop the worker finishes in between looks like "running although the database says stopped".',
  'activityFlush: ActivityRecorder.flush() after recording activity for every active running instance (one UPDATE per distinct second, in one transaction); not part of the targets.',
];

function ratios(runs: DialectRun[]): Record<string, number | null> | null {
  const sqlite = runs.find((r) => r.dialect === 'sqlite');
  const pg = runs.find((r) => r.dialect === 'postgres');
  if (!sqlite || !pg) return null;
  const ratio = (a: number | null, b: number | null) => (a == null || b == null || b === 0 ? null : round(a / b, 2));
  const [s, p] = [sqlite.measured, pg.measured];
  return {
    seedMs: ratio(pg.seed.seedMs, sqlite.seed.seedMs),
    startupMs: ratio(p.startupMs, s.startupMs),
    firstSweepMs: ratio(p.firstSweep.durationMs, s.firstSweep.durationMs),
    idleSweepMedianMs: ratio(p.idleSweepMedianMs, s.idleSweepMedianMs),
    steadySweepMedianMs: ratio(p.steadySweepMedianMs, s.steadySweepMedianMs),
    activityFlushMs: ratio(p.activityFlushMs, s.activityFlushMs),
    stopIdleMs: ratio(p.breakdown.stopIdleMs, s.breakdown.stopIdleMs),
    reconcileMs: ratio(p.breakdown.reconcileMs, s.breakdown.reconcileMs),
    rssAfterStartupMB: ratio(p.rssAfterStartupMB, s.rssAfterStartupMB),
    rssAfterSweepsMB: ratio(p.rssAfterSweepsMB, s.rssAfterSweepsMB),
  };
}

function targetsOf(run: DialectRun): TargetResult[] {
  const { measured: m, dialect: d } = run;
  return [
    target(`[${d}] start-up (startPlatform -> /health 200)`, m.startupMs, '<', TARGETS.startupMs, 'ms'),
    target(`[${d}] first sweep (${m.firstSweep.stopped} idle stops)`, m.firstSweep.durationMs, '<', TARGETS.sweepMs, 'ms'),
    target(`[${d}] sweep median, ${run.seed.idle} re-seeded idle stops`, m.idleSweepMedianMs, '<', TARGETS.sweepMs, 'ms'),
    target(`[${d}] sweep median, steady state (nothing idle)`, m.steadySweepMedianMs, '<', TARGETS.sweepMs, 'ms'),
    target(`[${d}] RSS after start-up`, m.rssAfterStartupMB, '<', TARGETS.rssMB, 'MB'),
    target(`[${d}] RSS after sweeps`, m.rssAfterSweepsMB, '<', TARGETS.rssMB, 'MB'),
    target(`[${d}] drift fixes in first sweep`, m.firstSweep.fixes, '==', 0, 'fixes'),
  ];
}

const ROWS: Array<[string, (m: ChildFigures, s: SeedFigures) => string]> = [
  ['seed (bulkCreate)', (_m, s) => `${s.seedMs} ms`],
  ['start-up', (m) => `${m.startupMs} ms`],
  ['first sweep', (m) => `${m.firstSweep.durationMs} ms (${m.firstSweep.stopped} stopped, ${m.firstSweep.fixes} fixes)`],
  ['sweep median, idle work', (m) => `${m.idleSweepMedianMs} ms (${m.idleSweepFixes} fixes in ${m.idleSweepsMs.length} sweeps)`],
  ['sweep median, steady', (m) => `${m.steadySweepMedianMs} ms`],
  ['  stopIdle / reconcile', (m) => `${m.breakdown.stopIdleMs} (${m.breakdown.stopIdlePerInstanceMs}/stop) / ${m.breakdown.reconcileMs} ms`],
  ['  stopIdle, worker paused', (m) => `${m.breakdown.stopIdleWithoutWorkerMs} ms`],
  ['activity flush', (m) => `${m.activityFlushMs} ms / ${m.activityFlushRows} rows`],
  ['RSS start-up / sweeps', (m) => `${m.rssAfterStartupMB} / ${m.rssAfterSweepsMB} MB`],
];

/** Writes bench/results/control-scale.json and prints the summary. */
export function report(plan: SeedPlan, runs: DialectRun[], setupNotes: string[]): void {
  const targets = runs.flatMap(targetsOf);
  const dialects = Object.fromEntries(runs.map((r) => [r.dialect, { seed: r.seed, ...r.measured }]));
  const pgOverSqlite = ratios(runs);
  const result = writeResult({
    name: NAME,
    parameters: { ...params, dialects: runs.map((r) => r.dialect) },
    figures: { ...dialects, ratioPostgresOverSqlite: pgOverSqlite },
    targets,
    notes: [...setupNotes, ...NOTES],
  });

  console.log(`\n${NAME}: ${params.users} users, ${params.running} running (${plan.idle.length} idle), in-memory orchestrator`);
  for (const [label, fmt] of ROWS) {
    console.log(`  ${label.padEnd(27)} ${runs.map((r) => `${r.dialect}: ${fmt(r.measured, r.seed)}`).join('   ')}`);
  }
  if (pgOverSqlite)
    console.log(
      `  postgres/sqlite: ${Object.entries(pgOverSqlite)
        .map(([k, v]) => `${k} ${v}x`)
        .join(', ')}`,
    );
  printTargets(targets);
  console.log(
    `  -> ${path.relative(process.cwd(), path.join(REPO_ROOT, 'bench', 'results', `${NAME}.json`))} (${result.pass ? 'all targets met' : 'some targets missed'})`,
  );
}
