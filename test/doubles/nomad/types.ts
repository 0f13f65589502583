/** Public options of the Nomad double and the records its state keeps. */

export type Obj = Record<string, unknown>;

export type { AllocationInfo, NomadDoubleOptions, ResolvedOptions } from './options.ts';

/** One logged HTTP request. */
export interface LoggedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Status the double answered with (undefined while a blocking query is held or when the socket was dropped). */
  status?: number;
}

/** What the double noticed about one job registration (PUT/POST /v1/jobs or /v1/job/:id, also plans). */
export interface RegistrationReport {
  jobId: string | null;
  namespace: string;
  /** Keys real Nomad would silently drop, e.g. "Job.TaskGroups[0].Tasks[0].Resources.memory". */
  unknownKeys: string[];
  /** Driver config problems per task ("group/task: Invalid label: ..."), whatever driverConfigValidation says. */
  driverConfigErrors: string[];
  /** The Warnings string of the response. */
  warnings: string;
  /** HTTP status of the response. */
  status: number;
  /** Response body text for errors, "" on success. */
  error: string;
}

export type ClientStatus = 'pending' | 'running' | 'complete' | 'failed' | 'lost' | 'unknown';
export type EvalStatus = 'pending' | 'complete' | 'failed' | 'blocked' | 'canceled';

export interface JobRecord {
  namespace: string;
  id: string;
  /** Canonical job spec (JSON field names), without server-maintained fields. */
  spec: Obj;
  version: number;
  status: 'pending' | 'running' | 'dead';
  stable: boolean;
  submitTime: number;
  createIndex: number;
  modifyIndex: number;
  jobModifyIndex: number;
  /** Specs by version (allocations keep the version they were placed with). */
  versions: Map<number, Obj>;
}

export interface EvalRecord {
  id: string;
  namespace: string;
  jobId: string;
  type: string;
  priority: number;
  triggeredBy: string;
  jobModifyIndex: number;
  status: EvalStatus;
  statusDescription: string;
  previousEval: string;
  blockedEval: string;
  failedTGAllocs: Record<string, Obj> | null;
  queuedAllocations: Record<string, number> | null;
  createIndex: number;
  modifyIndex: number;
  createTime: number;
  modifyTime: number;
}

export interface TaskEvent extends Obj {
  Type: string;
  Time: number;
  DisplayMessage: string;
}

export interface TaskState {
  State: 'pending' | 'running' | 'dead';
  Failed: boolean;
  Restarts: number;
  LastRestart: string;
  StartedAt: string;
  FinishedAt: string;
  Events: TaskEvent[];
}

export interface AllocPort {
  Label: string;
  Value: number;
  To: number;
  HostIP: string;
  reserved: boolean;
}

export interface AllocRecord {
  id: string;
  namespace: string;
  evalId: string;
  name: string;
  index: number;
  jobId: string;
  jobVersion: number;
  jobCreateIndex: number;
  /** The job spec this allocation runs (a version of the job). */
  job: Obj;
  group: string;
  nodeId: string;
  nodeName: string;
  desiredStatus: 'run' | 'stop' | 'evict';
  desiredDescription: string;
  clientStatus: ClientStatus;
  clientDescription: string;
  taskStates: Record<string, TaskState>;
  ports: AllocPort[];
  metrics: Obj;
  createIndex: number;
  modifyIndex: number;
  allocModifyIndex: number;
  createTime: number;
  modifyTime: number;
}

export interface ServiceRecord {
  ID: string;
  ServiceName: string;
  Namespace: string;
  NodeID: string;
  Datacenter: string;
  JobID: string;
  AllocID: string;
  Tags: string[] | null;
  Address: string;
  Port: number;
  CreateIndex: number;
  ModifyIndex: number;
}
