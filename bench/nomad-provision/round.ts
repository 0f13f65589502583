/**
 * One round of nomad-provision: a fresh Nomad double and platform, N provisions at
 * once, wait until running, timings from the instances' events, the Nomad requests
 * they cost, destroy with purge, and check nothing is left. Everything it starts is
 * registered with `cleanup` so a signal can take it down.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type Platform, startPlatform } from '../../control/compose.ts';
import { loadConfig } from '../../control/config.ts';
import { createLogger } from '../../control/logger.ts';
import { createOrchestrator } from '../../control/main.ts';
import { NomadClient } from '../../control/orchestrator/nomad/index.ts';
import { type NomadDouble, startNomadDouble } from '../../test/doubles/nomad/index.ts';
import { benchPlatformEnv, round } from '../lib.ts';
import { destroyAll, handleOf, platformClient, pollUntilSettled, readEvents, submitProvisions } from '../platform-client.ts';
import { DatabaseMeter } from './db-meter.ts';
import { HealthServers } from './health-servers.ts';
import { breakdown, perJobSpread } from './requests.ts';
import { applyEvents, type Timeline, timingFigures } from './timings.ts';

export interface RoundOptions {
  count: number;
  concurrency: number;
  schedulingLatencyMs: number;
  capMs: number;
  pollMs: number;
}

/** Stops and removes what the running round started; set while a round runs. */
export const cleanup: { current: (() => Promise<void>) | null } = { current: null };

const NOMAD_TOKEN = 'bench-nomad-acl-token';
const DESTROY_CAP_MS = 5 * 60_000;
/** Large enough for 500 instances of 1,000 MHz / 256 MB (the double's default node fits 160). */
const NODE_RESOURCES = { cpu: 10_000_000, memoryMB: 10_000_000 };

export async function runRound(opts: RoundOptions) {
  const { count, concurrency } = opts;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-nomad-'));
  const servers = new HealthServers();
  let double: NomadDouble | null = null;
  let platform: Platform | null = null;
  const teardown = async () => {
    await platform?.close().catch(() => undefined);
    platform = null;
    await double?.close().catch(() => undefined);
    double = null;
    await servers.closeAll();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  cleanup.current = teardown;
  const notes: string[] = [];
  try {
    const nomad = await startNomadDouble({
      token: NOMAD_TOKEN,
      schedulingLatencyMs: opts.schedulingLatencyMs,
      dockerVolumesEnabled: true,
      nodeResources: NODE_RESOURCES,
      // Only instances get stand-ins: destroy --purge also runs a one-shot batch job (jobs/purge.ts) without ports.
      onAllocationRunning: (info) => (info.jobId.startsWith('matrixos-') ? servers.start(info) : undefined),
      onAllocationStopped: (info) => servers.stop(info),
    });
    double = nomad;
    const config = loadConfig(
      {
        ...benchPlatformEnv(dataDir, 'bench-nomad'),
        ORCHESTRATOR: 'nomad',
        NOMAD_ADDR: nomad.url,
        NOMAD_TOKEN,
        WORKER_POLL_INTERVAL: '100ms',
        WORKER_CONCURRENCY: String(concurrency),
        // No periodic sweep (reconcile lists every job) inside the measured window.
        SWEEP_INTERVAL: '1h',
      },
      dataDir,
    );
    const orchestrator = createOrchestrator(config);
    const client = (orchestrator as unknown as { client?: unknown }).client;
    const clientCount = () => (client instanceof NomadClient ? client.requestCount : null);
    platform = await startPlatform(config, orchestrator, createLogger('silent'));
    const dbMeter = new DatabaseMeter(platform.db);
    // The worker's slots in use (a private field, read for this figure only): claimed rows, whatever step they wait in.
    const inflight = (platform.worker as unknown as { inflight?: unknown }).inflight;
    const slotsHeld = () => (inflight instanceof Map ? inflight.size : null);
    const slotSamples: number[] = [];
    const http = platformClient(platform);
    const startupRequests = nomad.requests.slice();
    const burstFrom = nomad.requests.length;
    const clientFrom = clientCount();

    // --- the burst
    const handles = Array.from({ length: count }, (_, i) => handleOf(i));
    const per = new Map<string, Timeline>();
    const loopDelay = monitorEventLoopDelay({ resolution: 20 });
    loopDelay.enable();
    console.log(`  worker concurrency ${concurrency}: submitting ${count} provisions at once...`);
    const burstStart = Date.now();
    dbMeter.reset();
    for (const { handle, submitAt, submitStatus } of await submitProvisions(http, handles, notes)) per.set(handle, { handle, submitAt, submitStatus });
    const submitWallMs = Date.now() - burstStart;

    // --- wait until every one is running or failed
    const { running, failed } = await pollUntilSettled(http, {
      count,
      startedAt: burstStart,
      capMs: opts.capMs,
      pollMs: opts.pollMs,
      runningLimit: 1,
      indent: '    ',
      reportFirstPoll: false,
      onPoll: (_r, f) => {
        const held = slotsHeld();
        if (held !== null) slotSamples.push(held);
        for (const i of f.instances) {
          const t = per.get(i.handle);
          if (t) t.failedError = i.lastError;
        }
      },
    });
    const settledAt = Date.now();
    const database = dbMeter.read(settledAt - burstStart);
    const burstRequests = nomad.requests.slice(burstFrom);
    const clientBurst = clientFrom === null ? null : clientCount()! - clientFrom;
    loopDelay.disable();
    const unfinished = count - running - failed;
    console.log(`    settled after ${round((settledAt - burstStart) / 1000, 1)} s: ${running} running, ${failed} failed, ${unfinished} unfinished`);

    // --- exact timings from each instance's events
    await readEvents(http, handles, (handle, events) => applyEvents(per.get(handle)!, events));
    const all = [...per.values()];
    const rejected = all.filter((t) => t.submitStatus !== 201).length;
    for (const t of all.filter((x) => x.failedError !== undefined).slice(0, 5)) notes.push(`failed: ${t.handle}: ${t.failedError ?? 'no error recorded'}`);
    const timings = timingFigures(all, burstStart, concurrency, slotSamples);

    // --- destroy with purge; the double must end with no job and no allocation serving
    const destroyFrom = nomad.requests.length;
    const destroy = await destroyAll(http, handles, opts.pollMs, DESTROY_CAP_MS);
    const destroyed = destroy.destroyed;
    await nomad.settled();
    const destroyMs = Date.now() - destroy.startedAt;
    const destroyRequests = nomad.requests.slice(destroyFrom);
    // Instance jobs must be gone; the purge batch jobs finish (dead) and stay until Nomad's GC, as in real Nomad.
    const jobsLeft = nomad.jobs('*').filter((j) => String(j.ID).startsWith('matrixos-') || j.Status !== 'dead').length;
    const allocsNotTerminal = nomad.allocations(undefined, '*').filter((a) => a.ClientStatus === 'running' || a.ClientStatus === 'pending').length;
    const serversOpenAfterDestroy = servers.open;
    const doubleErrors = nomad.errors.map((e) => e.message);
    console.log(
      `    destroyed ${destroyed}/${count} in ${round(destroyMs / 1000, 1)} s; Nomad jobs left ${jobsLeft}, health servers open ${serversOpenAfterDestroy}`,
    );

    await teardown();
    cleanup.current = null;
    const tempDirRemoved = !fs.existsSync(dataDir);

    return {
      workerConcurrency: concurrency,
      submitted: count,
      submitRejected: rejected,
      submitWallMs,
      running,
      failed,
      unfinished,
      failures: failed + unfinished + rejected,
      settledWallMs: settledAt - burstStart,
      ...timings,
      nomad: {
        startupRequests: startupRequests.length,
        startupBreakdown: breakdown(startupRequests, 1).map(({ endpoint, requests }) => ({ endpoint, requests })),
        burstRequests: burstRequests.length,
        burstRequestsByClient: clientBurst,
        requestsPerProvision: round(burstRequests.length / count, 2),
        perInstance: perJobSpread(burstRequests, 'matrixos-'),
        burstBreakdown: breakdown(burstRequests, count),
        destroyRequests: destroyRequests.length,
        destroyRequestsPerInstance: round(destroyRequests.length / count, 2),
        destroyBreakdown: breakdown(destroyRequests, count),
        errors: doubleErrors.slice(0, 10),
      },
      database,
      healthServers: { started: servers.started, probesAnswered: servers.probes, openAfterDestroy: serversOpenAfterDestroy },
      eventLoopDelayMs: { p50: round(loopDelay.percentile(50) / 1e6), p99: round(loopDelay.percentile(99) / 1e6), max: round(loopDelay.max / 1e6) },
      destroy: { rejected: destroy.rejected, destroyed, wallMs: destroyMs },
      leftovers: { nomadJobs: jobsLeft, allocationsNotTerminal: allocsNotTerminal, healthServersOpen: serversOpenAfterDestroy, tempDirRemoved },
      notes,
    };
  } finally {
    if (cleanup.current === teardown) {
      await teardown();
      cleanup.current = null;
    }
  }
}

export type RoundResult = Awaited<ReturnType<typeof runRound>>;
