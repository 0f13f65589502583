/**
 * Evaluations and the scheduler. Evaluations are processed one at a time,
 * schedulingLatencyMs after they are created: allocations of stopped or
 * purged jobs stop, changed groups are replaced (destructive update) or
 * updated in place, counts are scaled, missing allocations are placed. When
 * placement fails the evaluation completes with FailedTGAllocs and a blocked
 * evaluation that is retried when capacity frees or faults clear.
 */
import { randomUUID } from 'node:crypto';
import type { AllocRunner } from './alloc-runner.ts';
import { num, objs, stableJson, str } from './canonicalize.ts';
import { allocationMetric, assignPorts, capacityExhausted, infeasible } from './placement.ts';
import { allocTerminal, type Runtime } from './runtime.ts';
import { nowNs } from './state.ts';
import { pendingTaskState } from './task-events.ts';
import type { AllocRecord, EvalRecord, JobRecord, Obj } from './types.ts';

const NOT_NEEDED = 'alloc not needed due to job update';
const UPDATING = 'alloc is being updated due to job update';

/** The parts of a group whose change replaces its allocations. */
function destructiveSpec(job: Obj, group: Obj | undefined): string {
  if (!group) return '';
  const { Count: _c, Update: _u, Migrate: _m, ReschedulePolicy: _r, Scaling: _s, ...rest } = group;
  return stableJson({ group: rest, meta: job.Meta ?? null });
}

export class Scheduler {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly rt: Runtime,
    private readonly runner: AllocRunner,
  ) {
    runner.onCapacityFreed = () => this.retryBlocked();
  }

  /** Creates a pending evaluation for a job and queues it. */
  createEval(namespace: string, jobId: string, spec: Obj, triggeredBy: string, jobModifyIndex: number): EvalRecord {
    const now = nowNs();
    const evaluation: EvalRecord = {
      id: randomUUID(),
      namespace,
      jobId,
      type: str(spec.Type) || 'service',
      priority: num(spec.Priority) || 50,
      triggeredBy,
      jobModifyIndex,
      status: 'pending',
      statusDescription: '',
      previousEval: '',
      blockedEval: '',
      failedTGAllocs: null,
      queuedAllocations: null,
      createIndex: 0,
      modifyIndex: 0,
      createTime: now,
      modifyTime: now,
    };
    this.rt.state.write(['evals'], (index) => {
      evaluation.createIndex = index;
      evaluation.modifyIndex = index;
      this.rt.state.evals.set(evaluation.id, evaluation);
    });
    this.rt.refreshJobStatus(namespace, jobId);
    this.enqueue(evaluation.id);
    return evaluation;
  }

  private enqueue(evalId: string): void {
    this.rt.later(this.rt.options.schedulingLatencyMs, () => {
      this.chain = this.chain.then(() => this.process(evalId));
      return this.chain;
    });
  }

  /** Re-queues blocked evaluations (capacity freed, a fault cleared). */
  retryBlocked(): void {
    for (const e of this.rt.state.evals.values()) if (e.status === 'blocked') this.enqueue(e.id);
  }

  private async process(evalId: string): Promise<void> {
    const { state } = this.rt;
    const evaluation = state.evals.get(evalId);
    if (!evaluation || (evaluation.status !== 'pending' && evaluation.status !== 'blocked')) return;
    const { namespace, jobId } = evaluation;
    if (evaluation.status === 'pending') this.cancelBlocked(evaluation);
    const job = state.getJob(namespace, jobId);
    const live = state.allocsOfJob(namespace, jobId).filter((a) => a.desiredStatus === 'run');
    const failed: Record<string, Obj> = {};
    const queued: Record<string, number> = {};
    if (!job || job.spec.Stop === true) {
      for (const alloc of live) this.runner.stop(alloc, NOT_NEEDED);
    } else {
      const groups = objs(job.spec.TaskGroups);
      for (const alloc of live) {
        if (alloc.jobCreateIndex !== job.createIndex || !groups.some((g) => str(g.Name) === alloc.group)) this.runner.stop(alloc, NOT_NEEDED);
      }
      for (const group of groups) {
        const result = await this.reconcileGroup(evaluation, job, group);
        queued[str(group.Name)] = result.queued;
        if (result.metric) failed[str(group.Name)] = result.metric;
      }
    }
    this.finish(evaluation, failed, queued);
    this.rt.refreshJobStatus(namespace, jobId);
  }

  private async reconcileGroup(evaluation: EvalRecord, job: JobRecord, group: Obj): Promise<{ queued: number; metric?: Obj }> {
    const name = str(group.Name);
    let live = this.rt.state
      .allocsOfJob(job.namespace, job.id)
      .filter((a) => a.desiredStatus === 'run' && a.group === name && a.jobCreateIndex === job.createIndex);
    for (const alloc of live) {
      if (alloc.jobVersion === job.version) continue;
      const before = objs(alloc.job.TaskGroups).find((g) => str(g.Name) === name);
      if (destructiveSpec(alloc.job, before) !== destructiveSpec(job.spec, group)) this.runner.stop(alloc, UPDATING);
      else this.updateInPlace(alloc, job);
    }
    live = live.filter((a) => a.desiredStatus === 'run');
    const active = live.filter((a) => !allocTerminal(a));
    const count = num(group.Count);
    for (const extra of [...active].sort((a, b) => b.index - a.index).slice(0, Math.max(0, active.length - count))) {
      this.runner.stop(extra, NOT_NEEDED);
    }
    const need = count - active.length;
    if (need <= 0) return { queued: 0 };
    const blocked = infeasible(this.rt, job.spec, group);
    if (blocked) return { queued: need, metric: { ...blocked, CoalescedFailures: need - 1 } };
    const taken = new Set(active.map((a) => a.index));
    for (let placed = 0; placed < need; placed += 1) {
      const full = capacityExhausted(this.rt, group);
      const ports = full ? null : await assignPorts(this.rt, group);
      const metric = full ?? (ports && 'metric' in ports ? ports.metric : null);
      if (metric || !ports || !('ports' in ports)) {
        return { queued: need - placed, metric: { ...(metric ?? allocationMetric(this.rt)), CoalescedFailures: need - placed - 1 } };
      }
      let index = 0;
      while (taken.has(index)) index += 1;
      taken.add(index);
      this.place(evaluation, job, group, index, ports.ports);
    }
    return { queued: 0 };
  }

  private place(evaluation: EvalRecord, job: JobRecord, group: Obj, index: number, ports: AllocRecord['ports']): void {
    const now = nowNs();
    const alloc: AllocRecord = {
      id: randomUUID(),
      namespace: job.namespace,
      evalId: evaluation.id,
      name: `${job.id}.${str(group.Name)}[${index}]`,
      index,
      jobId: job.id,
      jobVersion: job.version,
      jobCreateIndex: job.createIndex,
      job: job.spec,
      group: str(group.Name),
      nodeId: this.rt.nodeId,
      nodeName: this.rt.nodeName,
      desiredStatus: 'run',
      desiredDescription: '',
      clientStatus: 'pending',
      clientDescription: '',
      taskStates: Object.fromEntries(objs(group.Tasks).map((t) => [str(t.Name), pendingTaskState()])),
      ports,
      metrics: allocationMetric(this.rt),
      createIndex: 0,
      modifyIndex: 0,
      allocModifyIndex: 0,
      createTime: now,
      modifyTime: now,
    };
    this.rt.state.write(['allocs'], (i) => {
      alloc.createIndex = i;
      alloc.modifyIndex = i;
      alloc.allocModifyIndex = i;
      this.rt.state.allocs.set(alloc.id, alloc);
    });
    this.runner.start(alloc);
  }

  private updateInPlace(alloc: AllocRecord, job: JobRecord): void {
    this.rt.state.write(['allocs'], (index) => {
      alloc.job = job.spec;
      alloc.jobVersion = job.version;
      alloc.modifyIndex = index;
      alloc.allocModifyIndex = index;
      alloc.modifyTime = nowNs();
    });
  }

  /** A newer evaluation of the job supersedes its blocked ones. */
  private cancelBlocked(current: EvalRecord): void {
    for (const e of this.rt.state.evals.values()) {
      if (e.id === current.id || e.status !== 'blocked' || e.jobId !== current.jobId || e.namespace !== current.namespace) continue;
      this.rt.state.write(['evals'], (index) => {
        e.status = 'canceled';
        e.statusDescription = `evaluation ${JSON.stringify(current.id)} successful`;
        e.modifyIndex = index;
        e.modifyTime = nowNs();
      });
    }
  }

  private finish(evaluation: EvalRecord, failed: Record<string, Obj>, queued: Record<string, number>): void {
    const failures = Object.keys(failed).length > 0 ? failed : null;
    const { state } = this.rt;
    if (evaluation.status === 'blocked') {
      state.write(['evals'], (index) => {
        if (!failures) evaluation.status = 'complete';
        evaluation.failedTGAllocs = failures;
        evaluation.queuedAllocations = queued;
        evaluation.modifyIndex = index;
        evaluation.modifyTime = nowNs();
      });
      return;
    }
    let blocked: EvalRecord | null = null;
    if (failures) {
      blocked = {
        ...evaluation,
        id: randomUUID(),
        status: 'blocked',
        statusDescription: 'created to place remaining allocations',
        previousEval: evaluation.id,
        triggeredBy: 'queued-allocs',
        failedTGAllocs: failures,
        queuedAllocations: queued,
      };
    }
    state.write(['evals'], (index) => {
      const now = nowNs();
      if (blocked) {
        Object.assign(blocked, { createIndex: index, modifyIndex: index, createTime: now, modifyTime: now });
        state.evals.set(blocked.id, blocked);
        evaluation.blockedEval = blocked.id;
      }
      evaluation.status = 'complete';
      evaluation.failedTGAllocs = failures;
      evaluation.queuedAllocations = queued;
      evaluation.modifyIndex = index;
      evaluation.modifyTime = now;
    });
  }
}
