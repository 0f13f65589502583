/**
 * The benchmarks' HTTP client for an in-process platform: submitting a burst of
 * provisions, polling until every instance is running or failed, reading each
 * instance's event timeline, and destroying them all with purge.
 */
import type { Platform } from '../control/compose.ts';
import { round, sleep } from './lib.ts';

export interface PlatformClient {
  api: string;
  auth: { authorization: string };
  getJson<T>(p: string): Promise<T>;
}

export function platformClient(platform: Platform): PlatformClient {
  const api = platform.apiUrl;
  const auth = { authorization: `Bearer ${platform.platformSecret}` };
  const getJson = async <T>(p: string): Promise<T> => {
    const res = await fetch(`${api}${p}`, { headers: auth });
    if (!res.ok) throw new Error(`GET ${p} answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as T;
  };
  return { api, auth, getJson };
}

/** user-001, user-002, ... */
export function handleOf(i: number): string {
  return `user-${String(i + 1).padStart(3, '0')}`;
}

export interface Submission {
  handle: string;
  submitAt: number;
  /** HTTP status of POST /containers/provision; 0 when the request itself failed. */
  submitStatus: number;
  submitMs: number;
}

/** POST /containers/provision for every handle at once; results in the order they were answered. */
export async function submitProvisions(client: PlatformClient, handles: readonly string[], notes: string[]): Promise<Submission[]> {
  const done: Submission[] = [];
  await Promise.all(
    handles.map(async (handle, i) => {
      const submitAt = Date.now();
      let submitStatus = 0;
      try {
        const res = await fetch(`${client.api}/containers/provision`, {
          method: 'POST',
          headers: { ...client.auth, 'content-type': 'application/json' },
          body: JSON.stringify({ handle, userId: `bench-user-${i + 1}` }),
        });
        submitStatus = res.status;
        await res.body?.cancel();
      } catch (err) {
        notes.push(`provision ${handle}: request failed: ${(err as Error).message}`);
      }
      done.push({ handle, submitAt, submitStatus, submitMs: Date.now() - submitAt });
    }),
  );
  return done;
}

export interface InstanceJson {
  handle: string;
  status: string;
  lastError: string | null;
}

export interface InstanceList {
  instances: InstanceJson[];
  total: number;
}

export interface SettleOptions {
  count: number;
  startedAt: number;
  capMs: number;
  pollMs: number;
  /** How many running instances to list per poll (1 when only the total matters). */
  runningLimit: number;
  /** Prefix of the progress lines. */
  indent: string;
  /** Print a progress line on the first poll too (otherwise first after 10 s). */
  reportFirstPoll: boolean;
  /** Called after every poll with both lists and the time the poll answered. */
  onPoll?: (running: InstanceList, failed: InstanceList, now: number) => void;
}

/** Polls running / failed until `count` instances are one or the other, or the cap passes. */
export async function pollUntilSettled(client: PlatformClient, opts: SettleOptions): Promise<{ running: number; failed: number }> {
  let running = 0;
  let failed = 0;
  let lastReport = opts.reportFirstPoll ? 0 : opts.startedAt;
  while (Date.now() < opts.startedAt + opts.capMs) {
    const [r, f] = await Promise.all([
      client.getJson<InstanceList>(`/containers?status=running&limit=${opts.runningLimit}`),
      client.getJson<InstanceList>('/containers?status=failed&limit=1000'),
    ]);
    const now = Date.now();
    running = r.total;
    failed = f.total;
    opts.onPoll?.(r, f, now);
    if (now - lastReport >= 10_000) {
      lastReport = now;
      console.log(`${opts.indent}+${round((now - opts.startedAt) / 1000, 0)} s: ${running} running, ${failed} failed`);
    }
    if (running + failed >= opts.count) break;
    await sleep(opts.pollMs);
  }
  return { running, failed };
}

export interface EventJson {
  to: string | null;
  at: string;
}

/** Time (ms since epoch) of the first event of an instance that moved it to `to`. */
export function firstTransitionAt(events: readonly EventJson[], to: string): number | undefined {
  const e = events.find((ev) => ev.to === to);
  return e ? Date.parse(e.at) : undefined;
}

/** Every instance's events, fetched at once; `apply` gets each handle's list. */
export async function readEvents(client: PlatformClient, handles: readonly string[], apply: (handle: string, events: EventJson[]) => void): Promise<void> {
  await Promise.all(
    handles.map(async (handle) => {
      const { events } = await client.getJson<{ events: EventJson[] }>(`/containers/${handle}/events?limit=5000`);
      apply(handle, events);
    }),
  );
}

/** DELETE every handle with purge, then polls until `handles.length` instances are destroyed or the cap passes. */
export async function destroyAll(
  client: PlatformClient,
  handles: readonly string[],
  pollMs: number,
  capMs: number,
): Promise<{ startedAt: number; rejected: number; destroyed: number }> {
  const startedAt = Date.now();
  const statuses = await Promise.all(
    handles.map(async (handle) => {
      const res = await fetch(`${client.api}/containers/${handle}?confirm=${handle}&purge=1`, { method: 'DELETE', headers: client.auth });
      await res.body?.cancel();
      return res.status;
    }),
  );
  let destroyed = 0;
  while (Date.now() < startedAt + capMs) {
    destroyed = (await client.getJson<{ total: number }>('/containers?status=destroyed&limit=1')).total;
    if (destroyed >= handles.length) break;
    await sleep(pollMs);
  }
  return { startedAt, rejected: statuses.filter((s) => s !== 202 && s !== 200).length, destroyed };
}
