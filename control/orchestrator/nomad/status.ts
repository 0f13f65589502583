/**
 * Turns what Nomad reports (job, newest allocation, evaluation) into the platform's
 * RuntimeStatus, with failure reasons in words a user can act on.
 */
import type { InstanceAddress, RuntimeStatus } from '../types.ts';
import type { Allocation, AllocationStub, Evaluation, JobRead, TaskState } from './api-types.ts';

const FAILURE_EVENTS = new Set(['Driver Failure', 'Setup Failure', 'Failed Validation', 'Failed Artifact Download', 'Killing', 'Terminated', 'Not Restarting']);

export function newestAllocation(allocs: AllocationStub[]): AllocationStub | null {
  return allocs.reduce<AllocationStub | null>((newest, a) => (!newest || a.CreateIndex > newest.CreateIndex ? a : newest), null);
}

/** The most telling task event of a failed allocation: a driver error (e.g. an image pull), else the exit. */
function taskFailureReason(states: Record<string, TaskState> | null): string {
  for (const [task, state] of Object.entries(states ?? {})) {
    const events = [...(state.Events ?? [])].reverse();
    const telling =
      events.find((e) => e.Type === 'Driver Failure' || e.Type === 'Setup Failure' || e.Type === 'Failed Validation') ??
      events.find((e) => e.Type === 'Terminated') ??
      events.find((e) => FAILURE_EVENTS.has(e.Type));
    if (telling) {
      const text = telling.DisplayMessage || telling.DriverError || telling.Message || '';
      const exit = telling.ExitCode ? ` (exit code ${telling.ExitCode})` : '';
      const gaveUp = state.Restarts > 0 && events.some((e) => e.Type === 'Not Restarting') ? `; gave up after ${state.Restarts} restart(s)` : '';
      return `task ${task}: ${telling.Type}${text ? `: ${text}` : ''}${exit}${gaveUp}`;
    }
    if (state.Failed) return `task ${task} failed after ${state.Restarts} restart(s)`;
  }
  return 'the allocation failed without a task event';
}

/** Why Nomad could not place the job, from an evaluation's FailedTGAllocs. */
export function placementFailureReason(evaluation: Evaluation): string | null {
  const failed = Object.entries(evaluation.FailedTGAllocs ?? {});
  if (failed.length === 0) return evaluation.Status === 'failed' ? `evaluation failed: ${evaluation.StatusDescription ?? 'no reason given'}` : null;
  const parts = failed.map(([group, metric]) => {
    const reasons = [
      ...Object.entries(metric.DimensionExhausted ?? {}).map(([dim, n]) => `${dim} exhausted on ${n} node(s)`),
      ...Object.entries(metric.ConstraintFiltered ?? {}).map(([c, n]) => `constraint ${c} filtered ${n} node(s)`),
      ...Object.entries(metric.ClassExhausted ?? {}).map(([c, n]) => `class ${c} exhausted on ${n} node(s)`),
    ];
    if (metric.NodesEvaluated === 0) reasons.push('no eligible nodes');
    return `group ${group}: ${reasons.join(', ') || 'no node could take it'}`;
  });
  return `Nomad could not place the instance (${parts.join('; ')}); the cluster needs more capacity`;
}

function addressOf(allocation: Allocation): InstanceAddress | null {
  const ports = allocation.AllocatedResources?.Shared.Ports ?? [];
  const gateway = ports.find((p) => p.Label === 'gateway');
  const shell = ports.find((p) => p.Label === 'shell');
  if (!gateway || !shell) return null;
  const host = (ip: string) => (ip.includes(':') ? `[${ip}]` : ip);
  return { gateway: `http://${host(gateway.HostIP)}:${gateway.Value}`, shell: `http://${host(shell.HostIP)}:${shell.Value}` };
}

interface StatusSources {
  handle: string;
  job: JobRead | null;
  specHash?: string;
  newest: AllocationStub | null;
  /** Fetched only when the newest allocation runs. */
  allocation?: Allocation | null;
}

export function deriveStatus(s: StatusSources): RuntimeStatus {
  const base = { handle: s.handle, ...(s.specHash ? { specHash: s.specHash } : {}) };
  if (!s.job) return { ...base, state: 'missing', detail: 'no such Nomad job' };
  if (s.job.Stop) return { ...base, state: 'stopped', detail: 'Nomad job stopped' };
  if (!s.newest) return { ...base, state: 'starting', detail: 'waiting for Nomad to place the instance' };
  switch (s.newest.ClientStatus) {
    case 'pending':
      return { ...base, state: 'starting', detail: `allocation ${s.newest.ID.slice(0, 8)} is starting` };
    case 'running': {
      const address = s.allocation ? addressOf(s.allocation) : null;
      if (!address) return { ...base, state: 'starting', detail: 'allocation running, ports not known yet' };
      return { ...base, state: 'running', address, detail: `allocation ${s.newest.ID.slice(0, 8)}` };
    }
    case 'complete':
      return { ...base, state: 'stopped', detail: 'allocation completed' };
    default:
      return { ...base, state: 'failed', detail: `Nomad allocation ${s.newest.ClientStatus}: ${taskFailureReason(s.newest.TaskStates)}` };
  }
}
