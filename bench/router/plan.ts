/**
 * Router benchmark parameters, targets and fixed names, shared by the parent and its
 * child processes (which must not load anything heavier than this).
 */
import os from 'node:os';
import { intEnv } from '../lib.ts';

export const NAME = 'router';

/** The handle wrk talks to through the router (Host: bench.localhost). */
export const BENCH_HANDLE = 'bench';
/** The instance the wake measurement provisions on the local driver. */
export const WAKE_HANDLE = 'wakebench';
export const UPSTREAM_BODY = 'hello from the benchmark upstream\n';

export const params = {
  users: intEnv('BENCH_ROUTER_USERS', 10_000),
  wrkThreads: 1,
  wrkConnections: intEnv('BENCH_ROUTER_CONNECTIONS', 50),
  wrkSeconds: intEnv('BENCH_ROUTER_SECONDS', 10),
  /** A short wrk run before each measured one (JIT, pools, connections), not recorded. */
  warmupSeconds: intEnv('BENCH_ROUTER_WARMUP_SECONDS', 2, 0),
  path: '/',
  wsWarmup: 200,
  wsRoundTrips: intEnv('BENCH_ROUTER_WS_ROUNDTRIPS', 2000),
  wsMessageBytes: 32,
  wakeRuns: intEnv('BENCH_ROUTER_WAKE_RUNS', 5),
  bootPollMs: 5,
  /** ROUTER_PROCESSES of the measured router: one per core, as docs/router.md advises (nginx runs one worker per core too). */
  routerProcesses: intEnv('BENCH_ROUTER_PROCESSES', os.cpus().length),
};

export const TARGETS = {
  /** router req/s >= this x nginx req/s */
  vsNginxThroughput: 0.5,
  /** router req/s >= this x configurable-http-proxy req/s */
  vsChpThroughput: 3,
  /** router p99 <= this x nginx p99 */
  vsNginxP99: 3,
  wakeOverheadMs: 150,
};

/** bench, then user-00001 ... : `users` handles in all. */
export function benchHandles(users: number): string[] {
  const handles = [BENCH_HANDLE];
  for (let i = 1; handles.length < users; i++) handles.push(`user-${String(i).padStart(5, '0')}`);
  return handles;
}

export const APT_INSTALL = 'apt-get install -y wrk nginx-light';
