/**
 * The client side of an allocation: tasks start (pending -> running, with
 * Received / Task Setup / Driver / Started events and Nomad-native service
 * registrations) or fail (Failed Validation, Driver Failure, Terminated, with
 * restarts per the restart policy, then Not Restarting); stopping kills the
 * tasks (Killing / Terminated / Killed) and deregisters services first.
 */
import { findGroup } from './alloc-views.ts';
import { isObj, num, objs, str } from './canonicalize.ts';
import { driverConfigDiagnostics, driverConfigError } from './driver-config.ts';
import { allocationInfo, primaryTask } from './env.ts';
import { formatGoDuration } from './goformat.ts';
import type { Runtime } from './runtime.ts';
import { deregisterServices, registerServices } from './services.ts';
import { nowNs, nowRfc3339 } from './state.ts';
import { ev } from './task-events.ts';
import type { AllocRecord, Obj, TaskEvent } from './types.ts';
import { templateVariablePaths, variableKey } from './variables.ts';

/** validation and driver: unrecoverable; pull: a failing image pull; crash: the task exits 1. */
export interface TaskFailure {
  kind: 'validation' | 'driver' | 'pull' | 'crash';
  message: string;
}

const errMessage = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class AllocRunner {
  private readonly starting = new Map<string, Promise<void>>();
  /** Allocations whose onAllocationRunning hook was entered and not yet answered by onAllocationStopped. */
  private readonly hooked = new Set<string>();
  /** Called when an allocation stops, so blocked evaluations can retry. */
  onCapacityFreed: () => void = () => {};

  constructor(private readonly rt: Runtime) {}

  start(alloc: AllocRecord): void {
    this.rt.later(this.rt.options.startLatencyMs, () => {
      const run = this.run(alloc.id);
      this.starting.set(alloc.id, run);
      return run.finally(() => this.starting.delete(alloc.id));
    });
  }

  private async run(id: string): Promise<void> {
    const alloc = this.rt.state.allocs.get(id);
    if (alloc?.desiredStatus !== 'run' || alloc.clientStatus !== 'pending') return;
    for (const task of objs(findGroup(alloc.job, alloc.group)?.Tasks)) {
      const failure = this.startupFailure(alloc, task);
      if (failure) return this.fail(alloc, str(task.Name), failure);
    }
    const primary = str(primaryTask(alloc).Name);
    const crash = this.rt.faults.takeCrash(alloc.jobId);
    if (crash !== null) return this.fail(alloc, primary, { kind: 'crash', message: crash });
    const hook = this.rt.options.onAllocationRunning;
    if (hook) {
      this.hooked.add(id);
      try {
        await hook(allocationInfo(this.rt, alloc));
      } catch (err) {
        this.hooked.delete(id);
        if (alloc.desiredStatus === 'run') this.fail(alloc, primary, { kind: 'driver', message: errMessage(err) });
        return;
      }
      // Stopped while starting: the stop path calls onAllocationStopped.
      if (this.rt.closed || alloc.desiredStatus !== 'run') return;
    }
    this.rt.state.write(['allocs', 'services'], (index) => {
      for (const [name, state] of Object.entries(alloc.taskStates)) {
        const task = objs(findGroup(alloc.job, alloc.group)?.Tasks).find((t) => str(t.Name) === name) ?? {};
        if (str(task.Driver) === 'docker') state.Events.push(ev.downloading());
        state.Events.push(ev.started());
        state.State = 'running';
        state.StartedAt = nowRfc3339();
      }
      alloc.clientStatus = 'running';
      registerServices(this.rt, alloc, index);
      touch(alloc, index);
    });
    this.rt.refreshJobStatus(alloc.namespace, alloc.jobId);
    // A batch task runs to its end (the double runs no command: it exits 0 at once), then
    // the allocation is complete and, once all are, the job is dead, as in Nomad.
    const type = str(alloc.job.Type);
    if (type === 'batch' || type === 'sysbatch') this.rt.later(0, () => this.finishBatch(alloc.id));
  }

  private async finishBatch(id: string): Promise<void> {
    const alloc = this.rt.state.allocs.get(id);
    if (alloc?.clientStatus !== 'running' || alloc.desiredStatus !== 'run') return;
    this.rt.state.write(['allocs'], (index) => {
      for (const state of Object.values(alloc.taskStates)) {
        if (state.State === 'dead') continue;
        state.Events.push(ev.terminated(0, ''));
        state.State = 'dead';
        state.FinishedAt = nowRfc3339();
      }
      alloc.clientStatus = 'complete';
      touch(alloc, index);
    });
    this.rt.refreshJobStatus(alloc.namespace, alloc.jobId);
    await this.afterStop(alloc);
  }

  /** Why a task cannot start, checked the way the client and the docker driver do. */
  private startupFailure(alloc: AllocRecord, task: Obj): TaskFailure | null {
    const driver = str(task.Driver);
    const diags = driverConfigDiagnostics(driver, task.Config);
    if (diags.length > 0) return { kind: 'validation', message: driverConfigError(diags) };
    // Nomad keeps such a task waiting for its variable; the double fails it, so a missing secret shows.
    for (const path of templateVariablePaths(task))
      if (!this.rt.state.variables.has(variableKey(alloc.namespace, path)))
        return { kind: 'driver', message: `Template failed: nomad.var.block(${path}@${alloc.namespace}.global): Missing: variable not found` };
    if (driver !== 'docker') return null;
    const config = isObj(task.Config) ? task.Config : {};
    const image = String(config.image ?? '');
    const pull = this.rt.faults.pullError(image);
    if (pull !== null) return { kind: 'pull', message: pull };
    const prefix = `Failed to create container configuration for image ${JSON.stringify(image)}: `;
    const labels = alloc.ports.map((p) => p.Label);
    for (const port of Array.isArray(config.ports) ? config.ports.map(String) : []) {
      if (!labels.includes(port)) return { kind: 'driver', message: `${prefix}Port ${JSON.stringify(port)} not found, check network block` };
    }
    if (!this.rt.options.dockerVolumesEnabled) {
      const binds = [
        ...(Array.isArray(config.volumes) ? config.volumes.map((v) => String(v).split(':')[0] ?? '') : []),
        ...objs(config.mount)
          .filter((m) => str(m.type) === 'bind')
          .map((m) => str(m.source)),
      ];
      const hostPath = binds.find((p) => p.startsWith('/'));
      if (hostPath !== undefined) return { kind: 'driver', message: `${prefix}volumes are not enabled; cannot mount host paths: ${JSON.stringify(hostPath)}` };
    }
    return null;
  }

  /** Fails `taskName` (its siblings are killed) and the allocation with it. */
  fail(alloc: AllocRecord, taskName: string, failure: TaskFailure): void {
    const task = objs(findGroup(alloc.job, alloc.group)?.Tasks).find((t) => str(t.Name) === taskName) ?? {};
    const policy = isObj(task.RestartPolicy) ? task.RestartPolicy : {};
    const attempts = num(policy.Attempts);
    const docker = str(task.Driver) === 'docker';
    let stillTrying = false;
    const wasRunning = alloc.clientStatus === 'running';
    this.rt.state.write(['allocs', 'services'], (index) => {
      const state = alloc.taskStates[taskName];
      if (!state) return;
      const events: TaskEvent[] = [];
      if (failure.kind === 'validation') {
        events.push(ev.failedValidation(failure.message), ev.notRestarting('Error was unrecoverable'));
      } else if (failure.kind === 'driver') {
        if (docker) events.push(ev.downloading());
        events.push(ev.driverFailure(failure.message), ev.notRestarting('Error was unrecoverable'));
      } else {
        const attempt = (first: boolean): TaskEvent[] =>
          failure.kind === 'pull'
            ? [ev.downloading(), ev.driverFailure(failure.message)]
            : [
                ...(first && docker && !wasRunning ? [ev.downloading()] : []),
                ...(wasRunning && first ? [] : [ev.started()]),
                ev.terminated(1, failure.message),
              ];
        events.push(...attempt(true));
        if (failure.kind === 'crash' && state.StartedAt === '0001-01-01T00:00:00Z') state.StartedAt = nowRfc3339();
        for (let r = 0; r < attempts; r += 1) events.push(ev.restarting(num(policy.Delay)), ...attempt(false));
        state.Restarts += attempts;
        if (attempts > 0) state.LastRestart = nowRfc3339();
        if (str(policy.Mode) === 'delay') {
          stillTrying = true;
          events.push(ev.restarting(num(policy.Delay), `Exceeded allowed attempts, applying a delay - Interval of ${formatGoDuration(num(policy.Interval))}`));
        } else {
          events.push(
            ev.notRestarting(
              attempts === 0
                ? 'Policy allows no restarts'
                : `Exceeded allowed attempts ${attempts} in interval ${formatGoDuration(num(policy.Interval))} and mode is "fail"`,
            ),
          );
        }
      }
      state.Events.push(...events);
      if (stillTrying) {
        state.State = 'pending';
        alloc.clientStatus = 'pending';
      } else {
        state.State = 'dead';
        state.Failed = true;
        state.FinishedAt = nowRfc3339();
        for (const [name, sibling] of Object.entries(alloc.taskStates)) {
          if (name === taskName || sibling.State === 'dead') continue;
          sibling.Events.push(ev.siblingFailed(taskName), ev.killed());
          sibling.State = 'dead';
          sibling.FinishedAt = nowRfc3339();
        }
        alloc.clientStatus = 'failed';
        deregisterServices(this.rt, alloc, index);
      }
      touch(alloc, index);
    });
    this.rt.refreshJobStatus(alloc.namespace, alloc.jobId);
    if (!stillTrying) void this.afterStop(alloc);
  }

  /** A running allocation's task exits with code 1 (a crash after start). */
  crashRunning(alloc: AllocRecord, message: string): void {
    this.fail(alloc, str(primaryTask(alloc).Name), { kind: 'crash', message });
  }

  /**
   * The node under a running allocation went down: Nomad marks the allocation `lost`
   * and stops it (desired status stop), and the scheduler places a replacement.
   */
  lose(alloc: AllocRecord): void {
    const reason = 'alloc is lost since its node is down';
    this.rt.state.write(['allocs', 'services'], (index) => {
      for (const state of Object.values(alloc.taskStates)) {
        if (state.State === 'dead') continue;
        state.State = 'dead';
        state.FinishedAt = nowRfc3339();
      }
      alloc.clientStatus = 'lost';
      alloc.clientDescription = reason;
      alloc.desiredStatus = 'stop';
      alloc.desiredDescription = reason;
      alloc.allocModifyIndex = index;
      deregisterServices(this.rt, alloc, index);
      touch(alloc, index);
    });
    this.rt.refreshJobStatus(alloc.namespace, alloc.jobId);
    void this.afterStop(alloc);
  }

  /** Desired status stop: services go first, the tasks die after stopLatencyMs. */
  stop(alloc: AllocRecord, description: string): void {
    this.rt.state.write(['allocs', 'services'], (index) => {
      alloc.desiredStatus = 'stop';
      alloc.desiredDescription = description;
      alloc.allocModifyIndex = index;
      deregisterServices(this.rt, alloc, index);
      touch(alloc, index);
    });
    this.rt.later(this.rt.options.stopLatencyMs, () => this.finishStop(alloc.id));
  }

  private async finishStop(id: string): Promise<void> {
    await this.starting.get(id);
    const alloc = this.rt.state.allocs.get(id);
    if (!alloc) return;
    if (alloc.clientStatus === 'pending' || alloc.clientStatus === 'running') {
      this.rt.state.write(['allocs'], (index) => {
        for (const [name, state] of Object.entries(alloc.taskStates)) {
          if (state.State === 'dead') continue;
          const task = objs(findGroup(alloc.job, alloc.group)?.Tasks).find((t) => str(t.Name) === name) ?? {};
          state.Events.push(ev.killing(num(task.KillTimeout)));
          if (state.State === 'running') state.Events.push(ev.terminated(0, ''));
          state.Events.push(ev.killed());
          state.State = 'dead';
          state.FinishedAt = nowRfc3339();
        }
        alloc.clientStatus = 'complete';
        touch(alloc, index);
      });
      this.rt.refreshJobStatus(alloc.namespace, alloc.jobId);
    }
    await this.afterStop(alloc);
  }

  private async afterStop(alloc: AllocRecord): Promise<void> {
    this.onCapacityFreed();
    if (!this.hooked.delete(alloc.id)) return;
    const hook = this.rt.options.onAllocationStopped;
    if (!hook) return;
    try {
      await hook(allocationInfo(this.rt, alloc));
    } catch (err) {
      this.rt.errors.push(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** On close: onAllocationStopped for every allocation whose onAllocationRunning succeeded or is running. */
  async shutdown(): Promise<void> {
    await Promise.allSettled([...this.starting.values()]);
    const ids = [...this.hooked];
    this.hooked.clear();
    const hook = this.rt.options.onAllocationStopped;
    for (const id of ids) {
      const alloc = this.rt.state.allocs.get(id);
      if (!hook || !alloc) continue;
      try {
        await hook(allocationInfo(this.rt, alloc));
      } catch (err) {
        this.rt.errors.push(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }
}

function touch(alloc: AllocRecord, index: number): void {
  alloc.modifyIndex = index;
  alloc.modifyTime = nowNs();
}
