/**
 * control-scale parameters and the seed plan. The plan is deterministic, so the
 * measuring child can tell the in-memory orchestrator which handles the seeded
 * database has running, at the same fake addresses (no drift to reconcile).
 */
import { intEnv } from '../lib.ts';

export const NAME = 'control-scale';
export const IDLE_TIMEOUT_MS = 30 * 60_000;
export const CHILD_TIMEOUT_MS = 5 * 60_000;
export const TARGETS = { startupMs: 2000, sweepMs: 200, rssMB: 200 };

export const params = {
  users: intEnv('BENCH_USERS', 10_000, 0),
  running: intEnv('BENCH_RUNNING', 2_000, 0),
  idlePercent: intEnv('BENCH_IDLE_PERCENT', 10, 0),
  sweepRuns: intEnv('BENCH_SWEEP_RUNS', 5, 0),
  eventsPerInstance: intEnv('BENCH_EVENTS_PER_INSTANCE', 4, 0),
  idleTimeoutMs: IDLE_TIMEOUT_MS,
  workerPollIntervalMs: 1000,
};

/** Prefix of the fake addresses; reseedIdle builds the same URLs in SQL from it. */
export const FAKE_ADDRESS_BASE = 'http://bench.invalid/';

/** The address the orchestrator reports for `handle`; the seed writes the same into gateway_url/shell_url. */
export function fakeAddress(handle: string): { gateway: string; shell: string } {
  return { gateway: `${FAKE_ADDRESS_BASE}${handle}/gateway`, shell: `${FAKE_ADDRESS_BASE}${handle}/shell` };
}

export interface SeedPlan {
  handles: string[];
  running: string[];
  idle: string[];
}

function handleOf(i: number): string {
  return `user-${String(i + 1).padStart(5, '0')}`;
}

export function seedPlan(users: number, running: number, idlePercent: number): SeedPlan {
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
