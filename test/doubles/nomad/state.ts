/**
 * The double's Raft-like state: one global index bumped on every write, a
 * per-table index, the objects, and change notification for blocking queries.
 * Every mutation goes through write(), which bumps the index, runs the change
 * and wakes the waiting queries.
 */
import type { AllocRecord, EvalRecord, JobRecord, ServiceRecord } from './types.ts';
import type { VariableRecord } from './variables.ts';

export type Table = 'jobs' | 'evals' | 'allocs' | 'services' | 'vars';

export const jobKey = (namespace: string, id: string) => `${namespace}\u0000${id}`;

export class NomadState {
  /** Last Raft index; a fresh cluster has already written a few entries. */
  index = 10;
  readonly tables: Record<Table, number> = { jobs: 1, evals: 1, allocs: 1, services: 1, vars: 1 };
  readonly jobs = new Map<string, JobRecord>();
  readonly evals = new Map<string, EvalRecord>();
  readonly allocs = new Map<string, AllocRecord>();
  readonly services = new Map<string, ServiceRecord>();
  readonly variables = new Map<string, VariableRecord>();
  /** Index of the last change per (namespace, service name), so removals also move it forward. */
  readonly serviceNameIndex = new Map<string, number>();
  private readonly waiters = new Set<() => void>();

  /** Applies one write at a new index and wakes blocked queries. Returns the index. */
  write(tables: Table[], change: (index: number) => void): number {
    this.index += 1;
    const index = this.index;
    for (const table of tables) this.tables[table] = index;
    change(index);
    this.notify();
    return index;
  }

  notify(): void {
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiting) wake();
  }

  /** Resolves true on the next write, false when `ms` pass or `signal` aborts first. */
  waitForChange(ms: number, signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve(false);
      const done = (changed: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        signal.removeEventListener('abort', onAbort);
        resolve(changed);
      };
      const wake = () => done(true);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), Math.max(0, ms));
      this.waiters.add(wake);
      signal.addEventListener('abort', onAbort);
    });
  }

  getJob(namespace: string, id: string): JobRecord | undefined {
    return this.jobs.get(jobKey(namespace, id));
  }

  /** Allocations of a job by (namespace, job ID), sorted by allocation ID like Nomad's memdb iterator. */
  allocsOfJob(namespace: string, jobId: string): AllocRecord[] {
    return [...this.allocs.values()].filter((a) => a.namespace === namespace && a.jobId === jobId).sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  evalsOfJob(namespace: string, jobId: string): EvalRecord[] {
    return [...this.evals.values()].filter((e) => e.namespace === namespace && e.jobId === jobId).sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  servicesNamed(namespace: string, name: string): ServiceRecord[] {
    return [...this.services.values()].filter((s) => s.Namespace === namespace && s.ServiceName === name).sort((a, b) => a.CreateIndex - b.CreateIndex);
  }

  /** Index for blocking on one service name: its last change, else the services table. */
  serviceIndex(namespace: string, name: string): number {
    return this.serviceNameIndex.get(jobKey(namespace, name)) ?? this.tables.services;
  }

  /** Index for blocking on a job's allocations: the newest alloc change, else the allocs table. */
  jobAllocsIndex(namespace: string, jobId: string): number {
    const allocs = this.allocsOfJob(namespace, jobId);
    return allocs.length > 0 ? Math.max(...allocs.map((a) => a.modifyIndex)) : this.tables.allocs;
  }
}

/** Nanoseconds since the Unix epoch. */
export const nowNs = (): number => Date.now() * 1e6;

/** RFC 3339 with nanoseconds, like Go's time.Time JSON. */
export const nowRfc3339 = (): string => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');

export const ZERO_TIME = '0001-01-01T00:00:00Z';
