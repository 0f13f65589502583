/**
 * router: the edge router against nginx, configurable-http-proxy and a bare Node
 * proxy, side by side in front of the SAME upstream, plus WebSocket round trips and
 * wake latency on the local driver.
 *
 *   npm run bench -- router      (or: npx tsx bench/router.ts)
 *
 * Needs wrk and nginx (apt-get install -y wrk nginx-light); installs
 * configurable-http-proxy@4 on demand into ~/.cache/mxos-bench/chp (not the repo).
 *
 * 1. upstream (bench/router/upstream-server.ts): its own Node process, keep-alive,
 *    a short fixed body on every path, WebSocket echo on /ws.
 * 2. router: startPlatform() in its own process (platform-child.ts) on SQLite seeded
 *    with 10,000 users, each with a running instance at the upstream (seed.ts);
 *    checks the route table holds them all, a request with the instance token gets
 *    the upstream's 200 and one without gets 401.
 * 3. nginx (nginx.ts), 4. configurable-http-proxy (chp.ts), 5. bare Node proxy
 *    (bare-proxy.ts); then wrk -t1 -c50 -d10s --latency at each and at the upstream
 *    directly (throughput.ts, wrk.ts), with the proxies' CPU time from /proc.
 * 6. WebSocket echo round trips, direct and through the router (ws-rtt.ts).
 * 7. wake latency vs the instance's own boot on the local driver (wake.ts, boot.ts).
 * Results: report.ts -> bench/results/router.json. Every child, nginx and temp dir is
 * removed in a finally block and on SIGINT/SIGTERM (procs.ts).
 *
 * Knobs: BENCH_ROUTER_USERS (10000), BENCH_ROUTER_CONNECTIONS (50),
 * BENCH_ROUTER_SECONDS (10), BENCH_ROUTER_WARMUP_SECONDS (2),
 * BENCH_ROUTER_WS_ROUNDTRIPS (2000), BENCH_ROUTER_WAKE_RUNS (5), BENCH_CHP_PREFIX.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deriveCredential } from '../control/access/credentials.ts';
import { BENCH_DIR, benchSecret, codeUnderTest, round } from './lib.ts';
import { cleanupAll, get, onCleanup, spawnNode, stopChild } from './procs.ts';
import { ensureChp, startChp } from './router/chp.ts';
import { startNginx } from './router/nginx.ts';
import { APT_INSTALL, BENCH_HANDLE, benchHandles, params, UPSTREAM_BODY } from './router/plan.ts';
import { report } from './router/report.ts';
import { seedRunning } from './router/seed.ts';
import { checkAnswers, type HttpTarget, runTarget, type TargetName, type TargetRun } from './router/throughput.ts';
import { measureWake } from './router/wake.ts';
import { findTool, NGINX, WRK } from './router/wrk.ts';
import { measureRtt } from './router/ws-rtt.ts';

const dir = path.join(BENCH_DIR, 'router');
type Ready = { url: string; pid: number };
type PlatformReady = { listenUrl: string; apiUrl: string; routes: number; startMs: number; pid: number; pids: number[] };

async function main(): Promise<void> {
  const wrk = findTool('wrk', WRK);
  const nginxBin = findTool('nginx', NGINX);
  if (!wrk || !nginxBin) {
    throw new Error(`${!wrk ? 'wrk' : 'nginx'} is not installed. Install both with:\n  ${APT_INSTALL}`);
  }
  const started = performance.now();
  const code = codeUnderTest(); // before any child loads control/: it is being edited
  const notes: string[] = [];
  const chpInfo = await ensureChp();
  if (chpInfo.installedNow) notes.push(`configurable-http-proxy ${chpInfo.version} was installed for this run (${chpInfo.installMs} ms, not in the timings).`);

  console.log('router: starting the upstream and seeding the platform database...');
  const upstream = await spawnNode<Ready>(path.join(dir, 'upstream-server.ts'), { PATH: process.env.PATH });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-router-'));
  onCleanup(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const databaseUrl = `sqlite:${path.join(dataDir, 'platform.sqlite')}`;
  const seeded = await seedRunning(databaseUrl, benchHandles(params.users), upstream.ready.url);
  const secretKey = benchSecret('key');
  const startRouterPlatform = (processes: number) =>
    spawnNode<PlatformReady>(path.join(dir, 'platform-child.ts'), {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'silent',
      PUBLIC_PORT: '0',
      DEV_IDP_PORT: '0',
      API_PORT: '0',
      METER_PORT: '0',
      PLATFORM_SECRET: benchSecret('platform'),
      SECRET_KEY: secretKey,
      ROUTER_PROCESSES: String(processes),
      SWEEP_INTERVAL: '1h',
      REPLICA_ID: 'bench-router',
      BENCH_UPSTREAM: upstream.ready.url,
      BENCH_ROUTER_USERS: String(params.users),
    });
  const platform = await startRouterPlatform(params.routerProcesses);
  const routes = platform.ready.routes;
  if (routes !== params.users) throw new Error(`the route table holds ${routes} routes, expected ${params.users}`);
  console.log(`  seeded ${seeded.instances} users in ${seeded.seedMs} ms; platform up in ${platform.ready.startMs} ms with ${routes} routes`);

  const token = deriveCredential(secretKey, 'instance-token', BENCH_HANDLE, 1);
  const headers = { Host: `${BENCH_HANDLE}.localhost`, Authorization: `Bearer ${token}` };
  const routerUrl = platform.ready.listenUrl;
  const viaRouter = await get(`${routerUrl}/`, headers);
  if (viaRouter.status !== 200 || viaRouter.body !== UPSTREAM_BODY || viaRouter.headers['x-bench-upstream'] !== '1') {
    throw new Error(`a request through the router answered ${viaRouter.status} "${viaRouter.body.slice(0, 200)}", not the upstream's 200`);
  }
  const noToken = await get(`${routerUrl}/`, { Host: headers.Host });
  if (noToken.status !== 401) throw new Error(`a request without the token answered ${noToken.status}, expected 401: is auth on?`);
  const otherHandle = benchHandles(params.users).at(-1)!;
  const other = await get(`${routerUrl}/`, { Host: `${otherHandle}.localhost`, Authorization: headers.Authorization });
  if (other.status !== 401) throw new Error(`bench's token on ${otherHandle} answered ${other.status}, expected 401`);
  console.log(`  checked: 200 from the upstream with the token, 401 without it, 401 with bench's token on ${otherHandle}`);

  const bare = await spawnNode<Ready>(path.join(dir, 'bare-proxy.ts'), { PATH: process.env.PATH, BENCH_UPSTREAM: upstream.ready.url });
  const nginx = await startNginx(nginxBin, upstream.ready.url);
  onCleanup(() => nginx.stop());
  const chp = await startChp(chpInfo.bin, upstream.ready.url);
  const targets: HttpTarget[] = [
    { name: 'direct', label: 'upstream directly', url: upstream.ready.url, pids: () => [] },
    {
      name: 'router',
      label: `Matrix OS router, ${params.routerProcesses} processes (10,000 routes, auth on)`,
      url: routerUrl,
      pids: () => platform.ready.pids,
    },
    { name: 'nginx', label: 'nginx-light, keepalive 64', url: nginx.url, pids: nginx.pids },
    { name: 'chp', label: `configurable-http-proxy ${chpInfo.version}`, url: chp.url, pids: () => [chp.child.pid!] },
    { name: 'bare', label: 'bare Node keep-alive proxy', url: bare.ready.url, pids: () => [bare.ready.pid] },
  ];
  for (const t of targets) await checkAnswers(t, headers, UPSTREAM_BODY);
  const nginxWorkers = nginx.pids().length - 1;

  console.log(
    `router: wrk -t${params.wrkThreads} -c${params.wrkConnections} -d${params.wrkSeconds}s --latency (after a ${params.warmupSeconds} s warm-up) at each target`,
  );
  const runs = {} as Record<TargetName, TargetRun>;
  for (const t of targets) runs[t.name] = await runTarget(wrk, t, headers, upstream.ready.pid);
  const routerStats = await platform.ask<Record<string, unknown>>('stats');

  console.log('router: WebSocket echo round trips');
  const wsDirect = await measureRtt(`${upstream.ready.url.replace('http', 'ws')}/ws`, headers, params.wsWarmup, params.wsRoundTrips, params.wsMessageBytes);
  const wsRouter = await measureRtt(`${routerUrl.replace('http', 'ws')}/ws`, headers, params.wsWarmup, params.wsRoundTrips, params.wsMessageBytes);
  console.log(`  direct p50 ${wsDirect.p50Ms} ms p99 ${wsDirect.p99Ms} ms; router p50 ${wsRouter.p50Ms} ms p99 ${wsRouter.p99Ms} ms`);

  // The same router in one process (ROUTER_PROCESSES=1, the embedded default), for reference.
  await stopChild(platform.child);
  const single = await startRouterPlatform(1);
  if (single.ready.routes !== params.users) throw new Error(`the single-process route table holds ${single.ready.routes} routes`);
  const singleTarget: HttpTarget = {
    name: 'router1',
    label: 'Matrix OS router, 1 process (reference)',
    url: single.ready.listenUrl,
    pids: () => single.ready.pids,
  };
  await checkAnswers(singleTarget, headers, UPSTREAM_BODY);
  runs.router1 = await runTarget(wrk, singleTarget, headers, upstream.ready.pid);

  // The wake runs on a quiet machine: everything above stops first.
  await Promise.all([stopChild(single.child), stopChild(bare.child), stopChild(chp.child), stopChild(upstream.child), nginx.stop()]);
  console.log(`router: wake latency on the local driver (${params.wakeRuns} runs)`);
  const wake = await measureWake();

  const result = report({
    setup: {
      routes,
      seedMs: seeded.seedMs,
      platformStartMs: platform.ready.startMs,
      nginxWorkers,
      versions: { wrk: toolVersion(wrk, ['-v']), nginx: toolVersion(nginxBin, ['-v']), configurableHttpProxy: chpInfo.version },
      code,
      wallS: round((performance.now() - started) / 1000, 0),
    },
    runs,
    routerStats,
    websocket: { direct: wsDirect, router: wsRouter },
    wake,
    notes,
  });
  if (!result.pass && runs.router.non2xx > 0) throw new Error(`the router answered ${runs.router.non2xx} non-2xx responses under load: the benchmark failed`);
}

function toolVersion(bin: string, args: string[]): string {
  // nginx -v prints to stderr; wrk -v too, and exits 1.
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  return (
    `${r.stdout ?? ''}${r.stderr ?? ''}`
      .split('\n')
      .find((l) => l.trim())
      ?.trim() ?? 'unknown'
  );
}

let exiting = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (exiting) return;
    exiting = true;
    console.error(`router: ${signal}: stopping every child, nginx and instance, removing temp dirs`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

async function run(): Promise<void> {
  try {
    await main();
  } finally {
    await cleanupAll();
  }
}

run().then(
  () => process.exit(0),
  (err) => {
    console.error(`router benchmark failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
