/**
 * Router benchmark results: ratios, targets, the result file (bench/results/router.json)
 * and the printed summary.
 */
import path from 'node:path';
import { type BenchResult, printTargets, REPO_ROOT, round, target, writeResult } from '../lib.ts';
import { NAME, params, TARGETS } from './plan.ts';
import type { TargetName, TargetRun } from './throughput.ts';
import type { WakeFigures } from './wake.ts';
import type { RttResult } from './ws-rtt.ts';

export interface RouterBenchData {
  setup: Record<string, unknown>;
  runs: Record<TargetName, TargetRun>;
  routerStats: Record<string, unknown>;
  websocket: { direct: RttResult; router: RttResult };
  wake: WakeFigures;
  notes: string[];
}

const ratio = (a: number, b: number) => (b === 0 ? NaN : round(a / b, 2));

const NOTES = [
  'One machine runs everything: wrk (1 thread), the upstream (one Node process), and the proxy under test. With 2 cores they compete for CPU, so req/s measures the whole loop; cpu.proxyMsPerKReq (user+system CPU of the proxy processes during the measured run, from /proc) is the cost of the proxy itself.',
  'Every target gets the same request bytes: GET / with Host: bench.localhost and Authorization: Bearer <instance token>. Only the router uses them (route lookup, token check); the others pass them on.',
  'Each measured wrk run is preceded by an unrecorded warm-up run of the same shape (JIT, keep-alive pools).',
  'router: the real platform (startPlatform) in its own process, SQLite, 10,000 users each with a running instance seeded in the database (all at the upstream), behind the in-memory orchestrator; the route table is checked to hold every route before measuring. It runs with ROUTER_PROCESSES = the core count (router worker processes sharing the port, as nginx runs one worker per core); router1 is the same platform with the router inside the control process (ROUTER_PROCESSES=1, the embedded default), measured after it for reference. CPU per request counts the control process and every router worker.',
  'nginx: Debian nginx-light, worker_processes auto (one per core), upstream keepalive 64, HTTP/1.1 with an empty Connection header, access log off.',
  'configurable-http-proxy: installed on demand outside the repository, --default-target at the upstream, log level warn.',
  'bare: http.createServer + http.request through a keepAlive Agent (maxSockets 64), bodies piped; no routing, auth or header rules.',
  'websocket: one client, one 32-byte message in flight, 200 warm-up round trips then 2,000 timed, through the router on the same Host + Authorization as the HTTP runs.',
  "wake: the local driver and the reference instance (tsx), default WORKER_POLL_INTERVAL (1 s; a start request kicks the worker, so it is not waited for) and the worker's fixed health-probe interval (PROBE_INTERVAL_MS in control/provisioning/health.ts). wake = send -> first response byte of GET /api/system/info while the instance is stopped; boot = spawn of the same command with the same environment -> first 200 on /health, polled every 5 ms.",
];

export function report(data: RouterBenchData): BenchResult {
  const { runs, websocket: ws, wake } = data;
  const { router, nginx, chp, direct, bare } = runs;
  const ratios = {
    routerOverNginxThroughput: ratio(router.requestsPerSec, nginx.requestsPerSec),
    routerOverChpThroughput: ratio(router.requestsPerSec, chp.requestsPerSec),
    routerP99OverNginxP99: ratio(router.latencyMs.p99, nginx.latencyMs.p99),
    routerOverDirectThroughput: ratio(router.requestsPerSec, direct.requestsPerSec),
    routerOverBareThroughput: ratio(router.requestsPerSec, bare.requestsPerSec),
    singleProcessRouterOverNginxThroughput: ratio(runs.router1.requestsPerSec, nginx.requestsPerSec),
    routerCpuPerRequestOverBare:
      router.cpu.proxyMsPerKReq !== null && bare.cpu.proxyMsPerKReq ? ratio(router.cpu.proxyMsPerKReq, bare.cpu.proxyMsPerKReq) : null,
    wsRouterOverDirectP50: ratio(ws.router.p50Ms, ws.direct.p50Ms),
    wsRouterOverDirectP99: ratio(ws.router.p99Ms, ws.direct.p99Ms),
  };
  // lib's target() compares "at most"; the two throughput floors are kept as their inverses,
  // compared unrounded
  // (router >= 0.5x nginx <=> nginx/router <= 2; router >= 3x chp <=> chp/router <= 0.333).
  const targets = [
    target(
      `nginx req/s / router req/s (router >= ${TARGETS.vsNginxThroughput}x nginx)`,
      nginx.requestsPerSec / router.requestsPerSec,
      '<=',
      round(1 / TARGETS.vsNginxThroughput, 3),
      'x',
    ),
    target(
      `chp req/s / router req/s (router >= ${TARGETS.vsChpThroughput}x configurable-http-proxy)`,
      chp.requestsPerSec / router.requestsPerSec,
      '<=',
      round(1 / TARGETS.vsChpThroughput, 3),
      'x',
    ),
    target('router p99 / nginx p99', ratios.routerP99OverNginxP99, '<=', TARGETS.vsNginxP99, 'x'),
    target('router non-2xx responses + socket errors', router.non2xx + Object.values(router.socketErrors).reduce((a, b) => a + b, 0), '==', 0, 'responses'),
    target('wake overhead (median wake - median boot)', wake.wakeOverheadMs, '<=', TARGETS.wakeOverheadMs, 'ms'),
  ];

  const result = writeResult({
    name: NAME,
    parameters: { ...params, wrk: `wrk -t${params.wrkThreads} -c${params.wrkConnections} -d${params.wrkSeconds}s --latency`, ...data.setup },
    figures: { throughput: runs, ratios, routerProcess: data.routerStats, websocket: ws, wake },
    targets,
    notes: [...NOTES, ...data.notes],
  });

  console.log(`\n${NAME}: ${params.users} routes, wrk -t${params.wrkThreads} -c${params.wrkConnections} -d${params.wrkSeconds}s, same upstream for all`);
  console.log(
    `  ${'target'.padEnd(8)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p90 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'non-2xx'.padStart(8)} ${'cpu ms/1k'.padStart(10)}`,
  );
  for (const [name, r] of Object.entries(runs)) {
    const l = r.latencyMs;
    console.log(
      `  ${name.padEnd(8)} ${String(r.requestsPerSec).padStart(8)} ${String(l.p50).padStart(8)} ${String(l.p90).padStart(8)} ${String(l.p99).padStart(8)} ${String(r.non2xx).padStart(8)} ${String(r.cpu.proxyMsPerKReq ?? '-').padStart(10)}`,
    );
  }
  console.log(
    `  ratios: router/nginx ${ratios.routerOverNginxThroughput}x, router/chp ${ratios.routerOverChpThroughput}x, router p99/nginx p99 ${ratios.routerP99OverNginxP99}x, router/direct ${ratios.routerOverDirectThroughput}x, router/bare ${ratios.routerOverBareThroughput}x`,
  );
  console.log(
    `  websocket round trip p50/p99: direct ${ws.direct.p50Ms}/${ws.direct.p99Ms} ms, router ${ws.router.p50Ms}/${ws.router.p99Ms} ms (${ratios.wsRouterOverDirectP50}x / ${ratios.wsRouterOverDirectP99}x)`,
  );
  console.log(
    `  wake: median ${wake.wakeMedianMs} ms to first byte, boot alone ${wake.bootMedianMs} ms, overhead ${wake.wakeOverheadMs} ms; steps (medians): ${Object.entries(
      wake.stepMedians,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  printTargets(targets);
  console.log(
    `  -> ${path.relative(process.cwd(), path.join(REPO_ROOT, 'bench', 'results', `${NAME}.json`))} (${result.pass ? 'all targets met' : 'some targets missed'})`,
  );
  return result;
}
