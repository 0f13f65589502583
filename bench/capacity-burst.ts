/**
 * capacity-burst: N provisions at once with MAX_RUNNING_INSTANCES=L on the LOCAL driver
 * (real reference instance processes); each instance is stopped by the benchmark 5 s
 * after it first runs (a short visit), so the queue drains place by place.
 *
 *   npx tsx bench/capacity-burst.ts
 *
 * Measures: the time until every instance has run once, the wait in line (requested ->
 * starting: the place given, plus the quick provisioning step), the most instances
 * ever running at once (from the store's transitions, exact; must be <= L), the host's
 * peak memory, and that nothing fails and nothing is left afterwards.
 *
 * Knobs (environment): BENCH_CAPACITY_COUNT (200), BENCH_CAPACITY_LIMIT (20),
 * BENCH_CAPACITY_VISIT_S (5), BENCH_CAPACITY_CAP_S (900).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Platform, startPlatform } from '../control/compose.ts';
import { loadConfig } from '../control/config.ts';
import { createLogger } from '../control/logger.ts';
import { createOrchestrator, localDriverId } from '../control/main.ts';
import { scanProcesses, terminateGroup } from '../control/orchestrator/local-processes.ts';
import type { TransitionChange } from '../control/provisioning/store.ts';
import {
  benchPlatformEnv,
  intEnv,
  mb,
  printTargets,
  processMemory,
  REPO_ROOT,
  round,
  sleep,
  msStats as stats,
  systemMemoryUsed,
  target,
  writeResult,
} from './lib.ts';
import { destroyAll, handleOf, platformClient, submitProvisions } from './platform-client.ts';

const NAME = 'capacity-burst';
const COUNT = intEnv('BENCH_CAPACITY_COUNT', 200);
const LIMIT = intEnv('BENCH_CAPACITY_LIMIT', 20);
const VISIT_MS = intEnv('BENCH_CAPACITY_VISIT_S', 5) * 1000;
const CAP_MS = intEnv('BENCH_CAPACITY_CAP_S', 900) * 1000;
const MEMORY_SAMPLE_MS = 1000;

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-capacity-'));
  const config = loadConfig(
    { ...benchPlatformEnv(dataDir, 'bench-capacity'), ORCHESTRATOR: 'local', INSTANCE_START_TIMEOUT: '120s', MAX_RUNNING_INSTANCES: String(LIMIT) },
    REPO_ROOT,
  );
  const driverId = localDriverId(config.dataDir);
  const notes: string[] = [];
  let platform: Platform | null = null;
  const timers = new Set<NodeJS.Timeout>();
  try {
    platform = await startPlatform(config, createOrchestrator(config), createLogger('silent'));
    const http = platformClient(platform);
    const handles = Array.from({ length: COUNT }, (_, i) => handleOf(i));

    // Exact from the store's own transitions: who runs now, the most at once, when each first ran.
    const running = new Set<string>();
    const requestedAt = new Map<string, number>();
    const startingAt = new Map<string, number>();
    const firstRunAt = new Map<string, number>();
    let mostRunning = 0;
    let allRan: () => void;
    const allRanOnce = new Promise<void>((resolve) => {
      allRan = resolve;
    });
    platform.store.bus.on('transition', (change: TransitionChange) => {
      const now = Date.now();
      if (change.to === 'starting' && !startingAt.has(change.handle)) startingAt.set(change.handle, now);
      if (change.to === 'running') {
        running.add(change.handle);
        mostRunning = Math.max(mostRunning, running.size);
        if (!firstRunAt.has(change.handle)) {
          firstRunAt.set(change.handle, now);
          // A short visit: the benchmark stops it VISIT_MS after it first runs.
          const timer = setTimeout(() => {
            timers.delete(timer);
            void fetch(`${http.api}/containers/${change.handle}/stop`, { method: 'POST', headers: http.auth })
              .then((res) => res.body?.cancel())
              .catch((err) => notes.push(`stop ${change.handle}: ${(err as Error).message}`));
          }, VISIT_MS);
          timers.add(timer);
          if (firstRunAt.size === COUNT) allRan();
        }
      } else running.delete(change.handle);
    });

    const memBaseline = systemMemoryUsed();
    const memory = { peakInstanceRss: 0, peakInstanceProcesses: 0, peakSystemUsed: memBaseline };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const pids = (await scanProcesses(driverId).catch(() => [])).map((p) => p.pid);
        const m = await processMemory(pids);
        if (m.rss > memory.peakInstanceRss) {
          memory.peakInstanceRss = m.rss;
          memory.peakInstanceProcesses = m.counted;
        }
        memory.peakSystemUsed = Math.max(memory.peakSystemUsed, systemMemoryUsed());
        await sleep(MEMORY_SAMPLE_MS);
      }
    })();

    console.log(`${NAME}: ${COUNT} provisions at once, MAX_RUNNING_INSTANCES=${LIMIT}, each stopped ${VISIT_MS / 1000} s after it first runs...`);
    const burstStart = Date.now();
    for (const sub of await submitProvisions(http, handles, notes)) requestedAt.set(sub.handle, sub.submitAt);
    const progress = setInterval(
      () => console.log(`  +${round((Date.now() - burstStart) / 1000, 0)} s: ${firstRunAt.size} have run, ${running.size} running now`),
      10_000,
    );
    const capped = await Promise.race([allRanOnce.then(() => false), sleep(CAP_MS).then(() => true)]);
    clearInterval(progress);
    const allRanMs = Date.now() - burstStart;
    sampling = false;
    await sampler;
    const failed = await platform.db.models.Instance.count({ where: { status: 'failed' } });
    console.log(
      `  ${firstRunAt.size}/${COUNT} ran once after ${round(allRanMs / 1000, 1)} s${capped ? ' (CAP REACHED)' : ''}; most running at once: ${mostRunning}`,
    );

    for (const timer of timers) clearTimeout(timer);
    const { destroyed } = await destroyAll(http, handles, 250, 5 * 60_000);
    await platform.close();
    platform = null;
    const leftover = await scanProcesses(driverId);
    if (leftover.length) await Promise.all(leftover.map((p) => terminateGroup(p.pid, 1000)));

    const waits = handles.filter((h) => startingAt.has(h)).map((h) => startingAt.get(h)! - requestedAt.get(h)!);
    const figures = {
      count: COUNT,
      limit: LIMIT,
      visitMs: VISIT_MS,
      ranOnce: firstRunAt.size,
      allRanOnceMs: capped ? null : allRanMs,
      queueWaitMs: stats(waits),
      mostRunningAtOnce: mostRunning,
      failed,
      destroyed,
      memory: {
        peakInstanceRssSumMB: mb(memory.peakInstanceRss),
        peakInstanceProcesses: memory.peakInstanceProcesses,
        systemUsedBaselineMB: mb(memBaseline),
        peakSystemUsedDeltaMB: mb(memory.peakSystemUsed - memBaseline),
      },
      leftoverProcesses: leftover.length,
    };
    const targets = [
      target('most instances running at once', mostRunning, '<=', LIMIT, 'instances'),
      target('instances that never ran within the cap', COUNT - firstRunAt.size, '==', 0, 'instances'),
      target('failed instances', failed, '==', 0, 'instances'),
      target('instance processes left after destroy + close', leftover.length, '==', 0, 'processes'),
    ];
    notes.push(
      'queueWait: from the HTTP submit to the "starting" transition (the place given, plus the provisioning step, which is quick on the local driver).',
      'mostRunningAtOnce: counted from the store transitions in this process (to running adds, anything else removes).',
      "Instance memory: sum of RSS over the processes carrying this run's local-driver marker, sampled every second.",
    );
    writeResult({ name: NAME, parameters: { count: COUNT, limit: LIMIT, visitMs: VISIT_MS, orchestrator: 'local', capMs: CAP_MS }, figures, targets, notes });
    console.log(
      `  queue wait p50 ${figures.queueWaitMs.p50} ms, p99 ${figures.queueWaitMs.p99} ms; peak instance RSS ${figures.memory.peakInstanceRssSumMB} MB over ${figures.memory.peakInstanceProcesses} processes; system +${figures.memory.peakSystemUsedDeltaMB} MB`,
    );
    printTargets(targets);
  } finally {
    for (const timer of timers) clearTimeout(timer);
    if (platform) await platform.close().catch(() => undefined);
    for (const p of await scanProcesses(driverId).catch(() => [])) await terminateGroup(p.pid, 1000).catch(() => undefined);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`${NAME} failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
