/**
 * JSON shapes the API answers with: the full job (every field of the api
 * struct, zero values included, empty slices/maps as null), job list stubs,
 * job summaries, evaluations.
 */
import { isObj, objs, str } from './canonicalize.ts';
import { materialize } from './materialize.ts';
import type { NomadState } from './state.ts';
import { ZERO_TIME } from './state.ts';
import type { AllocRecord, EvalRecord, JobRecord, Obj } from './types.ts';

/** GET /v1/job/:id */
export function jobView(record: JobRecord, spec: Obj = record.spec, version = record.version): Obj {
  const job = materialize({ kind: 'struct', name: 'Job' }, spec) as Obj;
  Object.assign(job, {
    Status: record.status,
    StatusDescription: '',
    Stable: record.stable,
    Version: version,
    SubmitTime: record.submitTime,
    CreateIndex: record.createIndex,
    ModifyIndex: record.modifyIndex,
    JobModifyIndex: record.jobModifyIndex,
  });
  return job;
}

function groupSummary(state: NomadState, record: JobRecord): Obj {
  const summary: Obj = {};
  const allocs = state.allocsOfJob(record.namespace, record.id).filter((a) => a.jobCreateIndex === record.createIndex);
  const queued = new Map<string, number>();
  for (const e of state.evalsOfJob(record.namespace, record.id)) {
    if (e.status !== 'blocked') continue;
    for (const [group, n] of Object.entries(e.queuedAllocations ?? {})) queued.set(group, n);
  }
  for (const group of objs(record.spec.TaskGroups)) {
    const name = str(group.Name);
    const mine = allocs.filter((a) => a.group === name);
    const count = (status: string) => mine.filter((a) => a.clientStatus === status).length;
    summary[name] = {
      Queued: queued.get(name) ?? 0,
      Complete: count('complete'),
      Failed: count('failed'),
      Running: count('running'),
      Starting: count('pending'),
      Lost: count('lost'),
      Unknown: count('unknown'),
    };
  }
  return summary;
}

/** GET /v1/job/:id/summary */
export function jobSummaryView(state: NomadState, record: JobRecord): Obj {
  return {
    JobID: record.id,
    Namespace: record.namespace,
    Summary: groupSummary(state, record),
    Children: { Pending: 0, Running: 0, Dead: 0 },
    CreateIndex: record.createIndex,
    ModifyIndex: record.modifyIndex,
  };
}

/** An entry of GET /v1/jobs */
export function jobStubView(state: NomadState, record: JobRecord, withMeta: boolean): Obj {
  const spec = record.spec;
  const stub: Obj = {
    ID: record.id,
    ParentID: str(spec.ParentID),
    Name: str(spec.Name),
    Namespace: record.namespace,
    Datacenters: spec.Datacenters,
    Multiregion: null,
    Type: str(spec.Type),
    Priority: spec.Priority,
    NodePool: str(spec.NodePool),
    Periodic: isObj(spec.Periodic),
    ParameterizedJob: isObj(spec.ParameterizedJob),
    Stop: spec.Stop === true,
    Status: record.status,
    StatusDescription: '',
    JobSummary: jobSummaryView(state, record),
    CreateIndex: record.createIndex,
    ModifyIndex: record.modifyIndex,
    JobModifyIndex: record.jobModifyIndex,
    SubmitTime: record.submitTime,
  };
  if (withMeta && isObj(spec.Meta)) stub.Meta = spec.Meta;
  return stub;
}

/** GET /v1/evaluation/:id */
export function evalView(e: EvalRecord): Obj {
  return {
    ID: e.id,
    Namespace: e.namespace,
    Priority: e.priority,
    Type: e.type,
    TriggeredBy: e.triggeredBy,
    JobID: e.jobId,
    JobModifyIndex: e.jobModifyIndex,
    NodeID: '',
    NodeModifyIndex: 0,
    DeploymentID: '',
    Status: e.status,
    StatusDescription: e.statusDescription,
    Wait: 0,
    WaitUntil: ZERO_TIME,
    NextEval: '',
    PreviousEval: e.previousEval,
    BlockedEval: e.blockedEval,
    RelatedEvals: null,
    FailedTGAllocs: e.failedTGAllocs,
    ClassEligibility: null,
    QuotaLimitReached: '',
    EscapedComputedClass: false,
    AnnotatePlan: false,
    QueuedAllocations: e.queuedAllocations,
    LeaderACL: '',
    SnapshotIndex: 0,
    CreateIndex: e.createIndex,
    ModifyIndex: e.modifyIndex,
    CreateTime: e.createTime,
    ModifyTime: e.modifyTime,
  };
}

/** The job spec an allocation runs, as a job view of that version. */
export function allocJobView(state: NomadState, alloc: AllocRecord): Obj {
  const record = state.getJob(alloc.namespace, alloc.jobId);
  const base: JobRecord = record ?? {
    namespace: alloc.namespace,
    id: alloc.jobId,
    spec: alloc.job,
    version: alloc.jobVersion,
    status: 'dead',
    stable: false,
    submitTime: 0,
    createIndex: alloc.jobCreateIndex,
    modifyIndex: alloc.jobCreateIndex,
    jobModifyIndex: alloc.jobCreateIndex,
    versions: new Map(),
  };
  return jobView(base, alloc.job, alloc.jobVersion);
}
