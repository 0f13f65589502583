/**
 * The platform under test, in its own process: startPlatform() on the seeded SQLite
 * database (config from the environment the parent sets), behind the in-memory
 * orchestrator whose every instance answers at the upstream (BENCH_UPSTREAM).
 * Reports {listenUrl, apiUrl, routes} over IPC; answers "stats" with memory, the
 * route-table size and the router's request counters by outcome.
 */

import { type Platform, startPlatform } from '../../control/compose.ts';
import { loadConfig } from '../../control/config.ts';
import { createLogger } from '../../control/logger.ts';
import { MemoryOrchestrator } from '../../test/doubles/memory-orchestrator.ts';
import { REPO_ROOT, round } from '../lib.ts';
import { benchHandles, params } from './plan.ts';

let platform: Platform | null = null;

async function main(): Promise<void> {
  const upstream = process.env.BENCH_UPSTREAM;
  if (!upstream) throw new Error('BENCH_UPSTREAM is not set');
  const config = loadConfig(process.env, REPO_ROOT);
  const orchestrator = new MemoryOrchestrator();
  orchestrator.address = () => ({ gateway: upstream, shell: upstream });
  // The seeded rows say running: the orchestrator must agree, or reconcile would "fix" them.
  for (const handle of benchHandles(params.users)) orchestrator.adopt(handle);
  const started = performance.now();
  platform = await startPlatform(config, orchestrator, createLogger('silent'));
  const startMs = round(performance.now() - started);
  const p = platform;

  process.on('message', (msg: { type: string }) => {
    if (msg.type !== 'stats') return;
    void (async () => {
      const counter = p.metrics.registry.getSingleMetric('mxos_router_requests_total');
      const outcomes: Record<string, number> = {};
      if (counter) for (const v of (await counter.get()).values) outcomes[String(v.labels.outcome)] = v.value;
      const mem = process.memoryUsage();
      process.send?.({
        type: 'stats',
        body: { rssMB: round(mem.rss / 1048576), heapUsedMB: round(mem.heapUsed / 1048576), routes: p.edge?.routes.size ?? null, outcomes },
      });
    })();
  });
  // With ROUTER_PROCESSES > 1 the router runs in worker processes: their CPU counts too.
  const routes = p.edge ? p.edge.routes.size : Math.min(...p.routerWorkers!.routesAtStart);
  const pids = [process.pid, ...(p.routerWorkers?.pids ?? [])];
  process.send?.({ type: 'ready', body: { listenUrl: p.publicListenUrl, apiUrl: p.apiUrl, routes, startMs, pid: process.pid, pids } });
}

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(1), 5000).unref();
  void (platform?.close() ?? Promise.resolve()).finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);

main().catch((err) => {
  console.error(`router benchmark platform failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
