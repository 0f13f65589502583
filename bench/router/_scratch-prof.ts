// scratch (not committed): profile the router child under wrk
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deriveCredential } from '../../control/credentials.ts';
import { benchSecret } from '../lib.ts';
import { benchHandles, BENCH_HANDLE } from './plan.ts';
import { cleanupAll, cpuMs, spawnNode, stopChild } from './procs.ts';
import { seedRunning } from './seed.ts';
import { runWrk } from './wrk.ts';
const dir = path.dirname(new URL(import.meta.url).pathname);
try {
  const up = await spawnNode<{ url: string; pid: number }>(path.join(dir, 'upstream-server.ts'), { PATH: process.env.PATH });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-router-prof-'));
  const db = `sqlite:${dataDir}/p.sqlite`;
  await seedRunning(db, benchHandles(10000), up.ready.url);
  const key = benchSecret('key');
  const extra = process.env.PROF_NODE_OPTIONS ?? '';
  const p = await spawnNode<{ listenUrl: string; pid: number }>(path.join(dir, process.env.PROF_WRAP ? process.env.PROF_WRAP : 'platform-child.ts'), {
    PATH: process.env.PATH, DATA_DIR: dataDir, DATABASE_URL: db, LOG_LEVEL: 'silent', PUBLIC_PORT: '0', API_PORT: '0',
    PLATFORM_SECRET: benchSecret('p'), SECRET_KEY: key, SWEEP_INTERVAL: '1h', BENCH_UPSTREAM: up.ready.url, BENCH_ROUTER_USERS: '10000', NODE_OPTIONS: extra, NO_FLUSH: process.env.NO_FLUSH ?? '',
  });
  console.log('router pid', p.ready.pid, p.ready.listenUrl);
  const headers = { Host: `${BENCH_HANDLE}.localhost`, Authorization: `Bearer ${deriveCredential(key, 'instance-token', BENCH_HANDLE, 1)}` };
  const base = { wrk: '/usr/bin/wrk', url: `${p.ready.listenUrl}${process.env.PROF_PATH ?? '/'}`, headers, threads: 1, connections: 50 };
  await runWrk({ ...base, seconds: 2 });
  if (process.env.PROF_HOOK) fs.writeFileSync('/tmp/rprof/pid', String(p.ready.pid));
  const c0 = cpuMs([p.ready.pid]);
  const r = await runWrk({ ...base, seconds: Number(process.env.PROF_SECONDS ?? 10) });
  const c1 = cpuMs([p.ready.pid]);
  console.log(r.requestsPerSec, 'cpu ms/1k', ((c1 - c0) / (r.requests / 1000)).toFixed(1), JSON.stringify(r.latencyMs), r.non2xx);
  await stopChild(p.child, 10000);
  fs.rmSync(dataDir, { recursive: true, force: true });
} finally {
  await cleanupAll();
}
process.exit(0);
