/**
 * The parts of Nomad's API responses the driver reads (field names as in Nomad's Go
 * `api` package). Go encodes empty slices and maps as null, hence the `| null`s.
 */
export interface RegisterResponse {
  EvalID: string;
  EvalCreateIndex: number;
  JobModifyIndex: number;
  Warnings: string;
  Index?: number;
}

export interface JobRead {
  ID: string;
  Name: string;
  Namespace: string;
  Status: 'pending' | 'running' | 'dead';
  Stop: boolean;
  Version: number;
  Meta: Record<string, string> | null;
  JobModifyIndex: number;
  ModifyIndex: number;
}

export interface JobListStub {
  ID: string;
  Name: string;
  Namespace: string;
  Status: 'pending' | 'running' | 'dead';
  Stop: boolean;
  Meta?: Record<string, string> | null;
}

export interface TaskEvent {
  Type: string;
  Time: number;
  DisplayMessage?: string;
  Message?: string;
  DriverError?: string;
  ExitCode?: number;
}

export interface TaskState {
  State: 'pending' | 'running' | 'dead';
  Failed: boolean;
  Restarts: number;
  Events: TaskEvent[] | null;
}

export type ClientStatus = 'pending' | 'running' | 'complete' | 'failed' | 'lost' | 'unknown';

export interface AllocationStub {
  ID: string;
  JobID: string;
  TaskGroup: string;
  ClientStatus: ClientStatus;
  DesiredStatus: 'run' | 'stop' | 'evict';
  TaskStates: Record<string, TaskState> | null;
  CreateIndex: number;
  ModifyIndex: number;
}

interface AllocatedPort {
  Label: string;
  Value: number;
  To: number;
  HostIP: string;
}

export interface Allocation extends AllocationStub {
  AllocatedResources: { Shared: { Ports: AllocatedPort[] | null } } | null;
}

export interface AllocationMetric {
  NodesEvaluated?: number;
  NodesFiltered?: number;
  NodesExhausted?: number;
  ClassExhausted?: Record<string, number> | null;
  DimensionExhausted?: Record<string, number> | null;
  ConstraintFiltered?: Record<string, number> | null;
}

export interface Evaluation {
  ID: string;
  Status: 'pending' | 'complete' | 'failed' | 'blocked' | 'canceled';
  StatusDescription?: string;
  FailedTGAllocs: Record<string, AllocationMetric> | null;
  BlockedEval?: string;
  CreateIndex?: number;
}

export interface ServiceRegistration {
  ID: string;
  ServiceName: string;
  JobID: string;
  AllocID: string;
  Address: string;
  Port: number;
  Tags: string[] | null;
}

/** A blocking-query answer: the value and the index to wait past next time. */
export interface Indexed<T> {
  value: T;
  index: number;
}
