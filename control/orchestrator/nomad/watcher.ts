/**
 * One blocking query on the namespace's allocations, shared by everyone waiting for
 * an instance to run. Nomad wakes allocation queries on any allocation change in
 * the cluster, so one watcher per driver costs a request per change instead of a
 * request per change per waiting instance.
 */
import type { AllocationStub } from './api-types.ts';
import type { NomadClient } from './client.ts';

const WAIT_MS = 30_000;
const RETRY_MS = 1000;

export class AllocationWatcher {
  private byJob = new Map<string, AllocationStub[]>();
  private index = 0;
  private loaded = false;
  private waiters = new Set<() => void>();
  private subscribers = new Set<(byJob: ReadonlyMap<string, AllocationStub[]>) => void>();
  private looping = false;
  private readonly abort = new AbortController();

  constructor(private readonly client: NomadClient) {}

  /** Allocations of a job as of the last answer (empty until the first one). */
  allocationsOf(jobId: string): AllocationStub[] {
    return this.byJob.get(jobId) ?? [];
  }

  /**
   * Resolves at the next answer of the shared query (at once if there is none yet),
   * or after maxWaitMs. Rejects when signal aborts.
   */
  next(maxWaitMs: number, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.waiters.delete(done);
        resolve();
      };
      const onAbort = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        reject(signal.reason);
      };
      const timer = setTimeout(done, Math.max(1, maxWaitMs));
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(done);
      if (!this.looping) void this.loop();
    });
  }

  /**
   * Calls `listener` with every job's allocations at each answer of the shared query,
   * which keeps running while anyone listens. Returns the unsubscribe function.
   */
  subscribe(listener: (byJob: ReadonlyMap<string, AllocationStub[]>) => void): () => void {
    this.subscribers.add(listener);
    if (!this.looping) void this.loop();
    return () => this.subscribers.delete(listener);
  }

  close(): void {
    this.abort.abort();
    for (const done of [...this.waiters]) done();
  }

  private async loop(): Promise<void> {
    this.looping = true;
    try {
      while ((this.waiters.size > 0 || this.subscribers.size > 0) && !this.abort.signal.aborted) {
        try {
          const answer = await this.client.listAllocations(this.loaded ? { index: this.index, waitMs: WAIT_MS, signal: this.abort.signal } : undefined);
          this.loaded = true;
          this.index = Math.max(this.index, answer.index);
          const byJob = new Map<string, AllocationStub[]>();
          for (const alloc of answer.value) byJob.set(alloc.JobID, [...(byJob.get(alloc.JobID) ?? []), alloc]);
          this.byJob = byJob;
          for (const listener of [...this.subscribers]) listener(byJob);
        } catch {
          if (this.abort.signal.aborted) return;
          // Waiters time out on their own; the next round retries.
          await new Promise((r) => setTimeout(r, RETRY_MS));
        }
        for (const done of [...this.waiters]) done();
      }
    } finally {
      this.looping = false;
    }
  }
}
