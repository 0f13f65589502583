/**
 * What the double's parts share: options, state, faults, the node identity,
 * tracked timers (so tests can wait until the scheduler is idle and close()
 * leaves nothing behind) and the job status rule.
 */
import { randomUUID } from 'node:crypto';
import { num, objs, str } from './canonicalize.ts';
import { Faults } from './faults.ts';
import { NomadState } from './state.ts';
import type { AllocRecord, JobRecord, RegistrationReport, ResolvedOptions } from './types.ts';

export class Runtime {
  readonly state = new NomadState();
  readonly faults = new Faults();
  readonly nodeId = randomUUID();
  readonly nodeName = 'nomad-double';
  readonly registrations: RegistrationReport[] = [];
  /** Errors thrown by onAllocationStopped, and unexpected internal errors. */
  readonly errors: Error[] = [];
  closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private busy = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(readonly options: ResolvedOptions) {}

  /** Runs `fn` after `ms`, counted as scheduler work until its promise settles. */
  later(ms: number, fn: () => unknown): void {
    if (this.closed) return;
    this.busy += 1;
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        if (this.closed) return this.done();
        Promise.resolve()
          .then(fn)
          .catch((err: unknown) => this.errors.push(err instanceof Error ? err : new Error(String(err))))
          .finally(() => this.done());
      },
      Math.max(0, ms),
    );
    this.timers.add(timer);
  }

  private done(): void {
    if (this.closed) return;
    this.busy -= 1;
    if (this.busy > 0) return;
    // Let follow-up work scheduled in the same tick register before declaring idle.
    setImmediate(() => {
      if (this.busy > 0) return;
      const waiting = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiting) resolve();
    });
  }

  /** Resolves once no evaluation, start or stop is pending. */
  idle(): Promise<void> {
    if (this.busy === 0) return new Promise((resolve) => setImmediate(resolve));
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.busy = 0;
    const waiting = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiting) resolve();
    this.state.notify();
  }

  /** Re-derives a job's Status (Nomad's getJobStatus) and writes it when it changed. */
  refreshJobStatus(namespace: string, jobId: string): void {
    const job = this.state.getJob(namespace, jobId);
    if (!job) return;
    const status = this.jobStatus(job);
    if (status === job.status) return;
    this.state.write(['jobs'], (index) => {
      job.status = status;
      job.modifyIndex = index;
    });
  }

  private jobStatus(job: JobRecord): JobRecord['status'] {
    const spec = job.spec;
    const type = str(spec.Type);
    if (type === 'system' || spec.Periodic || spec.ParameterizedJob) return spec.Stop ? 'dead' : 'running';
    const allocs = this.state.allocsOfJob(job.namespace, job.id).filter((a) => a.jobCreateIndex === job.createIndex);
    if (allocs.some((a) => !allocTerminal(a))) return 'running';
    const evals = this.state.evalsOfJob(job.namespace, job.id).filter((e) => e.createIndex >= job.createIndex);
    if (evals.some((e) => e.status === 'pending' || e.status === 'blocked')) return 'pending';
    return evals.length > 0 || allocs.length > 0 ? 'dead' : 'pending';
  }
}

/** Nomad's Allocation.TerminalStatus. */
export function allocTerminal(alloc: AllocRecord): boolean {
  return alloc.desiredStatus !== 'run' || ['complete', 'failed', 'lost'].includes(alloc.clientStatus);
}

/** Resources a group's allocation uses (sum over its tasks). */
export function groupUsage(group: Record<string, unknown>): { cpu: number; memoryMB: number } {
  let cpu = 0;
  let memoryMB = 0;
  for (const task of objs(group.Tasks)) {
    const r = task.Resources as Record<string, unknown> | undefined;
    cpu += num(r?.CPU);
    memoryMB += num(r?.MemoryMB);
  }
  return { cpu, memoryMB };
}
