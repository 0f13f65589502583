/** JSON shapes of allocations: the list stub, the full allocation, its checks. */
import { isObj, num, objs, str } from './canonicalize.ts';
import type { NomadState } from './state.ts';
import type { AllocRecord, Obj, ResolvedOptions } from './types.ts';
import { allocJobView } from './views.ts';

export function findGroup(job: Obj, name: string): Obj | undefined {
  return objs(job.TaskGroups).find((g) => str(g.Name) === name);
}

function clientDescription(alloc: AllocRecord): string {
  switch (alloc.clientStatus) {
    case 'pending':
      return 'No tasks have started';
    case 'running':
      return 'Tasks are running';
    case 'complete':
      return 'All tasks have completed';
    case 'failed':
      return 'Failed tasks';
    default:
      return '';
  }
}

function taskStatesView(alloc: AllocRecord): Obj | null {
  return Object.keys(alloc.taskStates).length > 0 ? structuredClone(alloc.taskStates) : null;
}

const DESIRED_TRANSITION = { Migrate: null, Reschedule: null, ForceReschedule: null, NoShutdownDelay: null, MigrateDisablePlacement: null };

/** An entry of GET /v1/job/:id/allocations and /v1/allocations. */
export function allocStubView(alloc: AllocRecord): Obj {
  return {
    ID: alloc.id,
    EvalID: alloc.evalId,
    Name: alloc.name,
    Namespace: alloc.namespace,
    NodeID: alloc.nodeId,
    NodeName: alloc.nodeName,
    JobID: alloc.jobId,
    JobType: str(alloc.job.Type),
    JobVersion: alloc.jobVersion,
    TaskGroup: alloc.group,
    AllocatedResources: null,
    DesiredStatus: alloc.desiredStatus,
    DesiredDescription: alloc.desiredDescription,
    ClientStatus: alloc.clientStatus,
    ClientDescription: alloc.clientDescription || clientDescription(alloc),
    DesiredTransition: DESIRED_TRANSITION,
    TaskStates: taskStatesView(alloc),
    DeploymentStatus: null,
    FollowupEvalID: '',
    NextAllocation: '',
    RescheduleTracker: null,
    PreemptedAllocations: null,
    PreemptedByAllocation: '',
    CreateIndex: alloc.createIndex,
    ModifyIndex: alloc.modifyIndex,
    CreateTime: alloc.createTime,
    ModifyTime: alloc.modifyTime,
  };
}

function allocatedResources(alloc: AllocRecord, options: ResolvedOptions): Obj {
  const group = findGroup(alloc.job, alloc.group) ?? {};
  const tasks: Obj = {};
  const lifecycles: Obj = {};
  for (const task of objs(group.Tasks)) {
    const r = isObj(task.Resources) ? task.Resources : {};
    tasks[str(task.Name)] = {
      Cpu: { CpuShares: num(r.CPU), ReservedCores: null },
      Memory: { MemoryMB: num(r.MemoryMB), MemoryMaxMB: options.memoryOversubscription ? num(r.MemoryMaxMB) : 0 },
      Networks: null,
      Devices: null,
    };
    lifecycles[str(task.Name)] = task.Lifecycle ?? null;
  }
  const network = objs(group.Networks)[0];
  const port = (reserved: boolean) => {
    const list = alloc.ports.filter((p) => p.reserved === reserved).map((p) => ({ Label: p.Label, Value: p.Value, To: p.To, HostNetwork: 'default' }));
    return list.length > 0 ? list : null;
  };
  const disk = isObj(group.EphemeralDisk) ? num(group.EphemeralDisk.SizeMB) : 300;
  return {
    Tasks: tasks,
    TaskLifecycles: lifecycles,
    Shared: {
      DiskMB: disk,
      Networks: network
        ? [
            {
              Mode: str(network.Mode) || 'host',
              Device: '',
              CIDR: '',
              IP: options.hostIP,
              Hostname: '',
              MBits: 0,
              DNS: null,
              ReservedPorts: port(true),
              DynamicPorts: port(false),
            },
          ]
        : null,
      Ports: alloc.ports.length > 0 ? alloc.ports.map((p) => ({ Label: p.Label, Value: p.Value, To: p.To, HostIP: p.HostIP })) : null,
    },
  };
}

/** GET /v1/allocation/:id */
export function allocView(state: NomadState, alloc: AllocRecord, options: ResolvedOptions): Obj {
  const stub = allocStubView(alloc);
  return {
    ID: alloc.id,
    Namespace: alloc.namespace,
    EvalID: alloc.evalId,
    Name: alloc.name,
    NodeID: alloc.nodeId,
    NodeName: alloc.nodeName,
    JobID: alloc.jobId,
    Job: allocJobView(state, alloc),
    TaskGroup: alloc.group,
    Resources: null,
    SharedResources: null,
    TaskResources: null,
    AllocatedResources: allocatedResources(alloc, options),
    Metrics: alloc.metrics,
    DesiredStatus: alloc.desiredStatus,
    DesiredDescription: alloc.desiredDescription,
    DesiredTransition: DESIRED_TRANSITION,
    ClientStatus: alloc.clientStatus,
    ClientDescription: stub.ClientDescription,
    TaskStates: stub.TaskStates,
    AllocStates: null,
    PreviousAllocation: '',
    NextAllocation: '',
    DeploymentID: '',
    DeploymentStatus: null,
    RescheduleTracker: null,
    NetworkStatus: null,
    FollowupEvalID: '',
    PreemptedAllocations: null,
    PreemptedByAllocation: '',
    CreateIndex: alloc.createIndex,
    ModifyIndex: alloc.modifyIndex,
    AllocModifyIndex: alloc.allocModifyIndex,
    CreateTime: alloc.createTime,
    ModifyTime: alloc.modifyTime,
  };
}

/**
 * GET /v1/allocation/:id/checks: Nomad-provider checks of a running allocation,
 * keyed by check ID. The double does not probe; a running allocation's checks pass.
 */
export function allocChecksView(alloc: AllocRecord): Obj {
  const out: Obj = {};
  if (alloc.clientStatus !== 'running') return out;
  const group = findGroup(alloc.job, alloc.group) ?? {};
  const services = [
    ...objs(group.Services).map((s) => ({ s, task: '' })),
    ...objs(group.Tasks).flatMap((t) => objs(t.Services).map((s) => ({ s, task: str(t.Name) }))),
  ].filter(({ s }) => str(s.Provider) === 'nomad');
  for (const { s, task } of services) {
    for (const check of objs(s.Checks)) {
      const id = `${alloc.id.slice(0, 8)}${str(s.Name)}${str(check.Name)}`.replace(/[^a-zA-Z0-9]/g, '').slice(0, 32);
      out[id] = {
        ID: id,
        Check: str(check.Name),
        Group: `${alloc.jobId}.${alloc.group}[${alloc.index}]`,
        Mode: 'healthiness',
        Output: 'nomad: http ok',
        Service: str(s.Name),
        Status: 'success',
        StatusCode: str(check.Type) === 'http' ? 200 : 0,
        Task: task,
        Timestamp: Math.floor(Date.now() / 1000),
      };
    }
  }
  return out;
}
