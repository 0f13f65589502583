/**
 * site: the dashboard and the admin list pages with 10,000 users. The platform runs
 * in this process on a seeded SQLite database (10,000 users, each with a running
 * instance, behind the in-memory orchestrator); an admin and a user sign in through
 * the development provider like a browser; then each page is requested sequentially
 * on loopback and timed from request to the end of the response.
 * Target: p99 under 50 ms for the dashboard and the admin list pages.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPlatform } from '../control/compose.ts';
import { loadConfig } from '../control/config.ts';
import { createLogger } from '../control/logger.ts';
import { MemoryOrchestrator } from '../test/doubles/memory-orchestrator.ts';
import { sendRaw } from '../test/helpers/router.ts';
import { providerDance } from '../test/helpers/site.ts';
import { benchSecret, intEnv, msStats, printTargets, REPO_ROOT, round, target, writeResult } from './lib.ts';
import { benchHandles } from './router/plan.ts';
import { seedRunning } from './router/seed.ts';

const params = {
  users: intEnv('BENCH_SITE_USERS', 10_000),
  requests: intEnv('BENCH_SITE_REQUESTS', 500),
  warmup: intEnv('BENCH_SITE_WARMUP', 50),
};

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-site-'));
  try {
    const databaseUrl = `sqlite:${path.join(dataDir, 'platform.sqlite')}`;
    const handles = benchHandles(params.users);
    const seeded = await seedRunning(databaseUrl, handles, 'http://127.0.0.1:1');
    const config = loadConfig(
      {
        DATA_DIR: dataDir,
        DATABASE_URL: databaseUrl,
        API_PORT: '0',
        METER_PORT: '0',
        PUBLIC_PORT: '0',
        DEV_IDP_PORT: '0',
        LOG_LEVEL: 'silent',
        PLATFORM_SECRET: benchSecret('platform'),
        SECRET_KEY: benchSecret('key'),
        ADMIN_EMAILS: 'root@bench.example',
        SWEEP_INTERVAL: '1h',
      },
      REPO_ROOT,
    );
    const orchestrator = new MemoryOrchestrator();
    for (const handle of handles) orchestrator.adopt(handle);
    const platform = await startPlatform(config, orchestrator, createLogger('silent'));
    try {
      const port = Number(new URL(platform.publicListenUrl).port);
      const host = new URL(config.public.url).host;
      const send = (p: string, cookie: string) => sendRaw(port, { host, path: p, headers: { cookie } });
      const signIn = async (email: string) => {
        const start = await sendRaw(port, { host, path: '/login' });
        const callback = await providerDance(start.headers.location!, email);
        const done = await sendRaw(port, {
          host,
          path: callback.pathname + callback.search,
          headers: { cookie: String(start.headers['set-cookie']![0]).split(';')[0]! },
        });
        return done.headers['set-cookie']!.map((c) => c.split(';')[0]!).find((c) => c.startsWith('mxos_site='))!;
      };
      const admin = await signIn('root@bench.example');
      const user = await signIn('dash@bench.example');
      const dashUser = (await platform.db.models.User.findOne({ where: { email: 'dash@bench.example' } }))!;
      await platform.service.provision({ handle: 'dashbench', userId: dashUser.id }, 'bench');

      const pages: Array<{ name: string; path: string; cookie: string; targeted: boolean }> = [
        { name: 'dashboard', path: '/dashboard', cookie: user, targeted: true },
        { name: 'admin users, page 1', path: '/admin/users', cookie: admin, targeted: true },
        { name: 'admin users, page 100', path: '/admin/users?page=100', cookie: admin, targeted: true },
        { name: 'admin users, search', path: '/admin/users?q=user-0999', cookie: admin, targeted: true },
        { name: 'admin audit log', path: '/admin/audit', cookie: admin, targeted: true },
        { name: 'community', path: '/community', cookie: user, targeted: false },
      ];
      const figures: Record<string, ReturnType<typeof msStats> & { bytes: number }> = {};
      for (const page of pages) {
        const first = await send(page.path, page.cookie);
        if (first.status !== 200) throw new Error(`${page.path} answered ${first.status}: ${first.text.slice(0, 200)}`);
        for (let i = 0; i < params.warmup; i++) await send(page.path, page.cookie);
        const times: number[] = [];
        for (let i = 0; i < params.requests; i++) {
          const started = performance.now();
          const r = await send(page.path, page.cookie);
          times.push(performance.now() - started);
          if (r.status !== 200) throw new Error(`${page.path} answered ${r.status} under load`);
        }
        const stats = msStats(times);
        figures[page.name] = { ...stats, p50: round(percentileOf(times, 50), 2), p99: round(percentileOf(times, 99), 2), bytes: first.text.length };
        console.log(`  ${page.name.padEnd(24)} p50 ${figures[page.name]!.p50} ms  p99 ${figures[page.name]!.p99} ms  (${first.text.length} bytes)`);
      }
      const targets = pages.filter((p) => p.targeted).map((p) => target(`${p.name} p99`, figures[p.name]!.p99, '<', 50, 'ms'));
      writeResult({
        name: 'site',
        parameters: { ...params, seedMs: seeded.seedMs, database: 'sqlite' },
        figures: { pages: figures },
        targets,
        notes: [
          'Sequential requests on loopback from the same process as the platform; each time runs from sending the request to the end of the response, so it includes the client side (a fraction of a millisecond).',
          'Every request is signed in: a session lookup (two indexed queries) precedes the page. The admin list page is one page query (50 rows, ordered by created_at) plus one count over users and one query for the 50 instances.',
        ],
      });
      printTargets(targets);
    } finally {
      await platform.close();
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function percentileOf(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`site benchmark failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
