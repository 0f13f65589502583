/**
 * signup-burst: N provisions submitted at once on the LOCAL driver (real reference
 * instance processes), until every one is running or failed.
 *
 *   npx tsx bench/signup-burst.ts
 *
 * Starts the platform in-process (fresh temp DATA_DIR, API on port 0, bearer secret),
 * fires N concurrent POST /containers/provision over HTTP for user-001..user-N, polls
 * GET /containers?status=running|failed every 250 ms, then reads each instance's
 * events for exact timings (requested -> starting -> running). Afterwards destroys
 * every instance with purge, waits until destroyed, closes the platform and checks
 * that no instance process is left.
 *
 * Knobs (environment): BENCH_SIGNUP_COUNT (200), BENCH_WORKER_CONCURRENCY (config
 * default, 16), BENCH_SIGNUP_CAP_S (600).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type Platform, startPlatform } from '../control/compose.ts';
import { loadConfig } from '../control/config.ts';
import { createLogger } from '../control/logger.ts';
import { createOrchestrator, localDriverId } from '../control/main.ts';
import { scanProcesses, terminateGroup } from '../control/orchestrator/local-processes.ts';
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
import { destroyAll, firstTransitionAt, handleOf, platformClient, pollUntilSettled, readEvents, submitProvisions } from './platform-client.ts';

const NAME = 'signup-burst';

const COUNT = intEnv('BENCH_SIGNUP_COUNT', 200);
const CAP_MS = intEnv('BENCH_SIGNUP_CAP_S', 600) * 1000;
const DESTROY_CAP_MS = 5 * 60_000;
const POLL_MS = 250;
const MEMORY_SAMPLE_MS = 2000;

interface PerHandle {
  handle: string;
  submitAt: number;
  submitStatus: number;
  submitMs: number;
  seenRunningAt?: number;
  seenFailedAt?: number;
  requestedAt?: number;
  startingAt?: number;
  runningAt?: number;
  lastError?: string | null;
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-signup-'));
  const env: Record<string, string | undefined> = {
    ...benchPlatformEnv(dataDir, 'bench-signup'),
    ORCHESTRATOR: 'local',
    INSTANCE_START_TIMEOUT: '120s',
    ...(process.env.BENCH_WORKER_CONCURRENCY ? { WORKER_CONCURRENCY: process.env.BENCH_WORKER_CONCURRENCY } : {}),
  };
  const config = loadConfig(env, REPO_ROOT);
  const driverId = localDriverId(config.dataDir);
  const notes: string[] = [];
  let platform: Platform | null = null;
  let emergency = false;

  /** Kills every process carrying this run's driver marker (processes this benchmark started). */
  const killOurProcesses = async (graceMs: number): Promise<number> => {
    const found = await scanProcesses(driverId);
    await Promise.all(found.map((p) => terminateGroup(p.pid, graceMs)));
    return found.length;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (emergency) return;
    emergency = true;
    console.error(`${NAME}: ${signal}: stopping instance processes and removing ${dataDir}`);
    void (async () => {
      await platform?.close().catch(() => undefined);
      await killOurProcesses(1000).catch(() => undefined);
      fs.rmSync(dataDir, { recursive: true, force: true });
      process.exit(130);
    })();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const orchestrator = createOrchestrator(config);
    platform = await startPlatform(config, orchestrator, createLogger('silent'));
    const dialect = platform.db.dialect;
    const http = platformClient(platform);

    // Memory: sum over this run's instance processes, system-wide used memory, the control process.
    const memBaseline = systemMemoryUsed();
    const memory = {
      peakInstanceRss: 0,
      peakInstancePss: 0 as number | null,
      peakInstanceProcesses: 0,
      peakSystemUsed: memBaseline,
      peakControlRss: 0,
      samples: 0,
    };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const pids = (await scanProcesses(driverId).catch(() => [])).map((p) => p.pid);
        const m = await processMemory(pids);
        memory.samples++;
        if (m.rss > memory.peakInstanceRss) {
          memory.peakInstanceRss = m.rss;
          memory.peakInstanceProcesses = m.counted;
        }
        if (m.pss === null) memory.peakInstancePss = null;
        else if (memory.peakInstancePss !== null) memory.peakInstancePss = Math.max(memory.peakInstancePss, m.pss);
        memory.peakSystemUsed = Math.max(memory.peakSystemUsed, systemMemoryUsed());
        memory.peakControlRss = Math.max(memory.peakControlRss, process.memoryUsage().rss);
        await sleep(MEMORY_SAMPLE_MS);
      }
    })();
    const loopDelay = monitorEventLoopDelay({ resolution: 20 });
    loopDelay.enable();

    // --- the burst
    const handles = Array.from({ length: COUNT }, (_, i) => handleOf(i));
    const per = new Map<string, PerHandle>();
    console.log(
      `${NAME}: submitting ${COUNT} provisions at once (worker concurrency ${config.provisioning.concurrency}, start timeout ${config.instance.startTimeoutMs / 1000} s)...`,
    );
    const burstStart = Date.now();
    for (const sub of await submitProvisions(http, handles, notes)) per.set(sub.handle, sub);
    const submittedAt = Date.now();
    const rejected = [...per.values()].filter((p) => p.submitStatus !== 201);
    console.log(`  ${COUNT} submissions answered in ${submittedAt - burstStart} ms (${rejected.length} not 201)`);

    // --- wait for running / failed
    const { running, failed } = await pollUntilSettled(http, {
      count: COUNT,
      startedAt: burstStart,
      capMs: CAP_MS,
      pollMs: POLL_MS,
      runningLimit: 1000,
      indent: '  ',
      reportFirstPoll: true,
      onPoll: (r, f, now) => {
        for (const i of r.instances) {
          const p = per.get(i.handle);
          if (p && p.seenRunningAt === undefined) p.seenRunningAt = now;
        }
        for (const i of f.instances) {
          const p = per.get(i.handle);
          if (p && p.seenFailedAt === undefined) {
            p.seenFailedAt = now;
            p.lastError = i.lastError;
          }
        }
      },
    });
    const settledAt = Date.now();
    const timedOut = running + failed < COUNT;
    loopDelay.disable();
    console.log(`  settled after ${round((settledAt - burstStart) / 1000, 1)} s: ${running} running, ${failed} failed${timedOut ? ' (CAP REACHED)' : ''}`);
    const processesAtSettle = await scanProcesses(driverId);
    const instanceMemoryAtSettle = await processMemory(processesAtSettle.map((p) => p.pid));
    if (instanceMemoryAtSettle.rss > memory.peakInstanceRss) {
      memory.peakInstanceRss = instanceMemoryAtSettle.rss;
      memory.peakInstanceProcesses = instanceMemoryAtSettle.counted;
    }
    if (instanceMemoryAtSettle.pss === null) memory.peakInstancePss = null;
    else if (memory.peakInstancePss !== null) memory.peakInstancePss = Math.max(memory.peakInstancePss, instanceMemoryAtSettle.pss);
    // The driver's own view of every instance the database calls running: is its process alive?
    const driverStates = await Promise.all(handles.map(async (h) => ({ handle: h, state: (await orchestrator.status(h)).state })));
    const notAlive = driverStates.filter((d) => d.state !== 'running' && per.get(d.handle)?.seenRunningAt !== undefined);
    const handlesWithProcess = new Set(processesAtSettle.map((p) => p.handle));
    const withoutProcess = handles.filter((h) => !handlesWithProcess.has(h));
    if (notAlive.length)
      notes.push(`running in the database but not alive per the driver at settle: ${notAlive.map((d) => `${d.handle} (${d.state})`).join(', ')}`);

    // --- exact timings from each instance's events
    await readEvents(http, handles, (handle, events) => {
      const p = per.get(handle)!;
      p.requestedAt = firstTransitionAt(events, 'requested');
      p.startingAt = firstTransitionAt(events, 'starting');
      p.runningAt = firstTransitionAt(events, 'running');
    });
    const all = [...per.values()];
    const ok = all.filter((p) => p.runningAt !== undefined && p.requestedAt !== undefined);
    const requestedToRunning = ok.map((p) => p.runningAt! - p.requestedAt!);
    const submitToRunning = ok.map((p) => p.runningAt! - p.submitAt);
    const queueWait = ok.filter((p) => p.startingAt !== undefined).map((p) => p.startingAt! - p.requestedAt!);
    const boot = ok.filter((p) => p.startingAt !== undefined).map((p) => p.runningAt! - p.startingAt!);
    const polledSubmitToRunning = all.filter((p) => p.seenRunningAt !== undefined).map((p) => p.seenRunningAt! - p.submitAt);
    const lastRunning = ok.length ? Math.max(...ok.map((p) => p.runningAt!)) : null;
    const firstRunning = ok.length ? Math.min(...ok.map((p) => p.runningAt!)) : null;
    const failures = all.filter((p) => p.seenFailedAt !== undefined);
    const notFinished = all.filter((p) => p.seenRunningAt === undefined && p.seenFailedAt === undefined);
    for (const p of failures.slice(0, 5)) notes.push(`failed: ${p.handle}: ${p.lastError ?? 'no error recorded'}`);
    if (notFinished.length)
      notes.push(
        `not running or failed after the ${CAP_MS / 1000} s cap: ${notFinished.length} (${notFinished
          .slice(0, 5)
          .map((p) => p.handle)
          .join(', ')}...)`,
      );

    sampling = false;
    await sampler;

    // --- tear down: destroy with purge, wait until destroyed
    console.log(`  destroying ${COUNT} instances (purge)...`);
    const { startedAt: destroyStart, rejected: destroyRejected, destroyed } = await destroyAll(http, handles, POLL_MS, DESTROY_CAP_MS);
    const destroyMs = Date.now() - destroyStart;
    console.log(`  ${destroyed}/${COUNT} destroyed in ${round(destroyMs / 1000, 1)} s`);

    const closeStart = Date.now();
    await platform.close();
    const closeMs = Date.now() - closeStart;
    platform = null;

    // --- nothing may be left: a fresh driver for the same DATA_DIR lists nothing, no process carries our marker
    const fresh = createOrchestrator(config);
    const leftoverListed = (await fresh.list()).filter((s) => s.state === 'running' || s.state === 'starting');
    await fresh.close();
    const leftoverProcesses = await scanProcesses(driverId);
    const usersDir = path.join(dataDir, 'users');
    const leftoverUserDirs = fs.existsSync(usersDir) ? fs.readdirSync(usersDir).length : 0;
    if (leftoverProcesses.length) {
      notes.push(`${leftoverProcesses.length} instance processes were still alive after destroy + close: killed by the benchmark`);
      await killOurProcesses(2000);
    }

    const figures = {
      workerConcurrency: config.provisioning.concurrency,
      submitted: COUNT,
      submitRejected: rejected.length,
      submitWallMs: submittedAt - burstStart,
      submitLatencyMs: stats(all.map((p) => p.submitMs)),
      running,
      failed,
      timedOut: notFinished.length,
      totalWallMs: lastRunning === null ? null : lastRunning - burstStart,
      settledWallMs: settledAt - burstStart,
      firstRunningMs: firstRunning === null ? null : firstRunning - burstStart,
      throughputPerMinute: lastRunning === null ? null : round((ok.length / ((lastRunning - burstStart) / 1000)) * 60, 1),
      requestedToRunningMs: stats(requestedToRunning),
      submitToRunningMs: stats(submitToRunning),
      queueWaitMs: stats(queueWait),
      bootMs: stats(boot),
      polledSubmitToRunningMs: stats(polledSubmitToRunning),
      memory: {
        samples: memory.samples,
        sampleEveryMs: MEMORY_SAMPLE_MS,
        peakInstanceProcesses: memory.peakInstanceProcesses,
        peakInstanceRssSumMB: mb(memory.peakInstanceRss),
        peakInstancePssSumMB: memory.peakInstancePss === null ? null : mb(memory.peakInstancePss),
        instanceRssSumAtSettleMB: mb(instanceMemoryAtSettle.rss),
        instancePssSumAtSettleMB: instanceMemoryAtSettle.pss === null ? null : mb(instanceMemoryAtSettle.pss),
        instanceProcessesAtSettle: instanceMemoryAtSettle.counted,
        avgInstanceRssAtSettleMB: instanceMemoryAtSettle.counted ? mb(instanceMemoryAtSettle.rss / instanceMemoryAtSettle.counted) : null,
        avgInstancePssAtSettleMB:
          instanceMemoryAtSettle.counted && instanceMemoryAtSettle.pss !== null ? mb(instanceMemoryAtSettle.pss / instanceMemoryAtSettle.counted) : null,
        systemUsedBaselineMB: mb(memBaseline),
        peakSystemUsedMB: mb(memory.peakSystemUsed),
        peakSystemUsedDeltaMB: mb(memory.peakSystemUsed - memBaseline),
        peakControlProcessRssMB: mb(memory.peakControlRss),
      },
      eventLoopDelayMs: { p50: round(loopDelay.percentile(50) / 1e6), p99: round(loopDelay.percentile(99) / 1e6), max: round(loopDelay.max / 1e6) },
      destroy: { rejected: destroyRejected, destroyed, wallMs: destroyMs, closeMs },
      atSettle: {
        driverRunning: driverStates.filter((d) => d.state === 'running').length,
        runningInDbButNotAlive: notAlive.map((d) => `${d.handle}:${d.state}`),
        instanceProcessesFound: processesAtSettle.length,
        handlesWithoutProcess: withoutProcess.slice(0, 20),
      },
      leftovers: { listedByFreshDriver: leftoverListed.length, processes: leftoverProcesses.length, userDirs: leftoverUserDirs },
    };
    const targets = [
      target('failures (failed + not settled in cap)', failed + notFinished.length + rejected.length, '==', 0, 'instances'),
      target('running instances whose process is not alive at settle', notAlive.length, '==', 0, 'instances'),
      target('instances left after destroy + close', leftoverListed.length + leftoverProcesses.length, '==', 0, 'instances'),
    ];
    notes.push(
      'requestedToRunning: from the "requested" event to the "running" event of each instance (database timestamps, exact). submitToRunning: from the HTTP submit to the "running" event (same clock: the platform runs in this process). queueWait: requested -> starting (waiting for a worker slot, plus provisioning). boot: starting -> running (process spawn until its /health answers).',
      "Instance memory: sum over processes carrying this run's local-driver marker, sampled every 2 s from /proc (RSS double-counts shared pages; PSS does not).",
      `The control service and the HTTP client share this process; eventLoopDelayMs covers both.`,
    );
    const result = writeResult({
      name: NAME,
      parameters: {
        count: COUNT,
        workerConcurrency: config.provisioning.concurrency,
        startTimeoutMs: config.instance.startTimeoutMs,
        capMs: CAP_MS,
        pollMs: POLL_MS,
        orchestrator: 'local',
        database: dialect,
        instanceMemoryMB: config.instance.memoryMB,
      },
      figures,
      targets,
      notes,
    });

    const s = figures.requestedToRunningMs;
    console.log(`\n${NAME}: ${COUNT} provisions at once, local driver, worker concurrency ${figures.workerConcurrency}`);
    console.log(
      `  running ${running}, failed ${failed}, unfinished ${notFinished.length}; last running after ${figures.totalWallMs === null ? 'n/a' : `${round(figures.totalWallMs / 1000, 1)} s`} (${figures.throughputPerMinute}/min)`,
    );
    console.log(`  requested -> running: p50 ${s.p50} ms, p90 ${s.p90} ms, p99 ${s.p99} ms, max ${s.max} ms`);
    console.log(`  of which queue wait p50 ${figures.queueWaitMs.p50} ms / boot p50 ${figures.bootMs.p50} ms (boot p99 ${figures.bootMs.p99} ms)`);
    console.log(
      `  peak instance memory: RSS sum ${figures.memory.peakInstanceRssSumMB} MB, PSS sum ${figures.memory.peakInstancePssSumMB} MB over ${figures.memory.peakInstanceProcesses} processes; system used +${figures.memory.peakSystemUsedDeltaMB} MB`,
    );
    console.log(`  destroy: ${destroyed}/${COUNT} in ${round(destroyMs / 1000, 1)} s; leftovers: ${JSON.stringify(figures.leftovers)}`);
    printTargets(targets);
    console.log(`  -> bench/results/${NAME}.json (${result.pass ? 'all targets met' : 'some targets missed'})`);
  } finally {
    if (platform) await platform.close().catch(() => undefined);
    if (!emergency) {
      const killed = await killOurProcesses(1000).catch(() => 0);
      if (killed) console.error(`${NAME}: killed ${killed} leftover instance processes during clean-up`);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`${NAME} failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
