/**
 * Wake latency on the real local driver: a small platform in this process
 * (createOrchestrator with ORCHESTRATOR=local, the reference instance in instance/,
 * default worker poll and probe settings), one instance provisioned through the API.
 * Each run: stop it through the API, wait until the API and the route table both say
 * stopped, time the reference instance's own boot (boot.ts), then time a GET
 * /api/system/info through the router from send to first byte. The platform's events
 * (from its in-process bus) split each wake into its steps.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deriveCredential } from '../../control/access/credentials.ts';
import { type Platform, startPlatform } from '../../control/compose.ts';
import { loadConfig } from '../../control/config.ts';
import { createLogger } from '../../control/logger.ts';
import { createOrchestrator } from '../../control/main.ts';
import { terminateGroup } from '../../control/orchestrator/local-processes.ts';
import type { StoredEvent } from '../../control/provisioning/store.ts';
import { benchPlatformEnv, median, REPO_ROOT, round, sleep } from '../lib.ts';
import { onCleanup } from '../procs.ts';
import { bootOnce, liveBoots, timeFirstByte } from './boot.ts';
import { params, WAKE_HANDLE } from './plan.ts';

export interface WakeRun {
  wakeMs: number;
  status: number;
  bootMs: number;
  /** Steps of the wake, ms from the request's send. */
  steps: { startRequested: number | null; processSpawned: number | null; runningCommitted: number | null; routeRunning: number | null; firstByte: number };
}

export interface WakeFigures {
  runs: WakeRun[];
  wakeMedianMs: number;
  bootMedianMs: number;
  wakeOverheadMs: number;
  /** Medians of the step durations. */
  stepMedians: Record<string, number | null>;
  provisionMs: number;
  workerPollIntervalMs: number;
}

export async function measureWake(): Promise<WakeFigures> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-router-wake-'));
  const config = loadConfig({ ...benchPlatformEnv(dataDir, 'bench-router-wake'), ORCHESTRATOR: 'local', SWEEP_INTERVAL: '1h' }, REPO_ROOT);
  const orchestrator = createOrchestrator(config);
  let platform: Platform | null = null;
  let tornDown: Promise<void> | null = null;
  const teardown = () =>
    (tornDown ??= (async () => {
      await platform?.close().catch((err) => console.error(`closing the wake platform: ${(err as Error).message}`));
      for (const pid of liveBoots) await terminateGroup(pid, 3000);
      // Instances outlive the control service by design: stop them explicitly.
      const cleanup = createOrchestrator(config);
      for (const instance of await cleanup.list().catch(() => [])) await cleanup.stop(instance.handle).catch(() => undefined);
      fs.rmSync(dataDir, { recursive: true, force: true });
    })());
  onCleanup(teardown);
  try {
    platform = await startPlatform(config, orchestrator, createLogger('silent'));
    const p = platform;
    const auth = { authorization: `Bearer ${p.platformSecret}`, 'content-type': 'application/json' };
    const api = async (method: string, pathname: string, body?: unknown) => {
      const res = await fetch(`${p.apiUrl}${pathname}`, { method, headers: auth, body: body === undefined ? undefined : JSON.stringify(body) });
      const json = (await res.json()) as { instance?: { status: string } };
      if (res.status >= 400) throw new Error(`${method} ${pathname} answered ${res.status}: ${JSON.stringify(json)}`);
      return json;
    };
    const waitFor = async (status: string, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { instance } = await api('GET', `/containers/${WAKE_HANDLE}`);
        if (instance?.status === status && p.edge!.routes.get(WAKE_HANDLE)?.status === status) return;
        if (instance?.status === 'failed') throw new Error(`${WAKE_HANDLE} failed`);
        if (Date.now() > deadline)
          throw new Error(`${WAKE_HANDLE} not ${status} after ${timeoutMs} ms (API: ${instance?.status}, route: ${p.edge!.routes.get(WAKE_HANDLE)?.status})`);
        await sleep(20);
      }
    };

    const provisionStart = performance.now();
    await api('POST', '/containers/provision', { handle: WAKE_HANDLE, userId: `uid-${WAKE_HANDLE}` });
    await waitFor('running');
    const provisionMs = performance.now() - provisionStart;
    const port = Number(new URL(p.edge!.listenUrl).port);
    const headers = {
      Host: `${WAKE_HANDLE}.localhost`,
      Authorization: `Bearer ${deriveCredential(p.secretKey, 'instance-token', WAKE_HANDLE, 1)}`,
      Accept: 'application/json',
    };
    const warm = await timeFirstByte(port, '/api/system/info', headers, 10_000);
    if (warm.status !== 200) throw new Error(`GET /api/system/info through the router answered ${warm.status}: ${warm.body.slice(0, 300)}`);

    const runs: WakeRun[] = [];
    for (let i = 0; i < params.wakeRuns; i++) {
      await api('POST', `/containers/${WAKE_HANDLE}/stop`);
      await waitFor('stopped');
      await sleep(300);
      const bootMs = await bootOnce(config, p.secretKey, `bootbench${i}`, params.bootPollMs);
      await sleep(300);

      const marks: Array<{ t: number; e: StoredEvent }> = [];
      const onEvent = (e: StoredEvent) => e.handle === WAKE_HANDLE && marks.push({ t: performance.now(), e });
      let routeRunningAt: number | null = null;
      p.store.bus.on('event', onEvent);
      const unwatch = p.edge!.routes.watch(WAKE_HANDLE, (r) => {
        if (r?.status === 'running' && routeRunningAt === null) routeRunningAt = performance.now();
      });
      const sentAt = performance.now();
      let answer: Awaited<ReturnType<typeof timeFirstByte>>;
      try {
        answer = await timeFirstByte(port, '/api/system/info', headers, 60_000);
      } finally {
        p.store.bus.off('event', onEvent);
        unwatch();
      }
      if (answer.status !== 200) throw new Error(`wake ${i + 1}: GET /api/system/info answered ${answer.status}: ${answer.body.slice(0, 300)}`);
      const at = (match: (e: StoredEvent) => boolean) => {
        const m = marks.find((x) => match(x.e));
        return m ? round(m.t - sentAt) : null;
      };
      runs.push({
        wakeMs: round(answer.firstByteMs),
        status: answer.status,
        bootMs: round(bootMs),
        steps: {
          startRequested: at((e) => e.kind === 'transition' && e.to === 'starting'),
          processSpawned: at((e) => e.kind === 'progress'),
          runningCommitted: at((e) => e.kind === 'transition' && e.to === 'running'),
          routeRunning: routeRunningAt === null ? null : round(routeRunningAt - sentAt),
          firstByte: round(answer.firstByteMs),
        },
      });
      console.log(`  wake ${i + 1}/${params.wakeRuns}: ${round(answer.firstByteMs)} ms to first byte (boot alone ${round(bootMs)} ms)`);
    }

    const wakeMedianMs = median(runs.map((r) => r.wakeMs))!;
    const bootMedianMs = median(runs.map((r) => r.bootMs))!;
    const diff = (a: keyof WakeRun['steps'], b: keyof WakeRun['steps'] | null) =>
      median(runs.flatMap((r) => (r.steps[a] === null || (b && r.steps[b] === null) ? [] : [r.steps[a]! - (b ? r.steps[b]! : 0)])));
    const rounded = (v: number | null) => (v === null ? null : round(v));
    return {
      runs,
      wakeMedianMs,
      bootMedianMs,
      wakeOverheadMs: round(wakeMedianMs - bootMedianMs),
      stepMedians: {
        sendToStartRequested: rounded(diff('startRequested', null)),
        startRequestedToSpawned: rounded(diff('processSpawned', 'startRequested')),
        spawnedToRunningCommitted: rounded(diff('runningCommitted', 'processSpawned')),
        runningCommittedToRouteRunning: rounded(diff('routeRunning', 'runningCommitted')),
        routeRunningToFirstByte: rounded(diff('firstByte', 'routeRunning')),
      },
      provisionMs: round(provisionMs),
      workerPollIntervalMs: config.provisioning.pollIntervalMs,
    };
  } finally {
    await teardown();
  }
}
