/** Per-instance timelines from the platform's events, and the time figures of a round. */
import { msStats, percentile, round } from '../lib.ts';
import { type EventJson, firstTransitionAt } from '../platform-client.ts';

export interface Timeline {
  handle: string;
  submitAt: number;
  submitStatus: number;
  requested?: number;
  provisioning?: number;
  starting?: number;
  running?: number;
  failedError?: string | null;
}

/** Fills in the requested / provisioning / starting / running times from an instance's events. */
export function applyEvents(t: Timeline, events: readonly EventJson[]): void {
  t.requested = firstTransitionAt(events, 'requested');
  t.provisioning = firstTransitionAt(events, 'provisioning');
  t.starting = firstTransitionAt(events, 'starting');
  t.running = firstTransitionAt(events, 'running');
}

/** msStats plus the mean. */
export function stats(values: number[]) {
  return { ...msStats(values), mean: values.length ? round(values.reduce((a, b) => a + b, 0) / values.length, 0) : null };
}

/** Largest number of [from, to] intervals open at once. */
function maxOverlap(intervals: Array<[number, number]>): number {
  const points = intervals
    .flatMap(
      ([a, b]) =>
        [
          [a, 1],
          [b, -1],
        ] as Array<[number, number]>,
    )
    .sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let open = 0;
  let max = 0;
  for (const [, d] of points) {
    open += d;
    max = Math.max(max, open);
  }
  return max;
}

/** Time figures of a round; `slotSamples` are the worker's slots in use, sampled every poll. */
export function timingFigures(timelines: Timeline[], burstStart: number, concurrency: number, slotSamples: number[]) {
  const ok = timelines.filter((t) => t.requested !== undefined && t.running !== undefined);
  const full = ok.filter((t) => t.provisioning !== undefined && t.starting !== undefined);
  const lastRunning = ok.length ? Math.max(...ok.map((t) => t.running!)) : null;
  const firstRunning = ok.length ? Math.min(...ok.map((t) => t.running!)) : null;
  const slot = stats(full.map((t) => t.running! - t.provisioning!));
  return {
    totalWallMs: lastRunning === null ? null : lastRunning - burstStart,
    firstRunningMs: firstRunning === null ? null : firstRunning - burstStart,
    throughputPerSecond: lastRunning === null ? null : round(ok.length / ((lastRunning - burstStart) / 1000), 1),
    requestedToRunningMs: stats(ok.map((t) => t.running! - t.requested!)),
    submitToRunningMs: stats(ok.map((t) => t.running! - t.submitAt)),
    queueWaitMs: stats(full.map((t) => t.provisioning! - t.requested!)),
    ensureMs: stats(full.map((t) => t.starting! - t.provisioning!)),
    startMs: stats(full.map((t) => t.running! - t.starting!)),
    workerSlotMs: slot,
    /** Worker slots in use, sampled every poll (claimed rows, including those still waiting to write "provisioning"). */
    workerSlotsHeld: slotSamples.length ? { max: Math.max(...slotSamples), p50: percentile(slotSamples, 50), samples: slotSamples.length } : null,
    /** Most instances between their "provisioning" and "running" events at once. */
    maxInFlight: maxOverlap(full.map((t) => [t.provisioning!, t.running!])),
    /** What N / concurrency * mean (provisioning -> running) predicts for the whole burst. */
    predictedTotalMs: slot.mean === null ? null : round((timelines.length / concurrency) * slot.mean, 0),
  };
}
