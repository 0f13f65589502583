/**
 * The subset of Nomad's API job JSON that jobs/ produces. Field names are the JSON
 * names of the Go `api` structs (api/jobs.go, tasks.go, services.go, resources.go),
 * exact case: see test/doubles/nomad/nomad-api-fields.json (its origin: test/doubles/nomad/README.md), which the schema test
 * checks every builder against. Nomad ignores unknown keys silently, so a typo here
 * would be a setting that quietly never applies.
 *
 * Durations (`Ns`) are integer nanoseconds: build them with jobs/duration.ts.
 */

/** time.Duration in JSON: an integer number of nanoseconds. */
export type Ns = number;

export interface NomadJob {
  ID: string;
  Name: string;
  Type: 'service' | 'batch' | 'system' | 'sysbatch';
  Namespace?: string;
  Region?: string;
  Datacenters: string[];
  NodePool?: string;
  Priority?: number;
  /** Visible to anyone who may read the job: never put secrets here. */
  Meta?: Record<string, string>;
  Update?: UpdateStrategy;
  TaskGroups: TaskGroup[];
}

export interface TaskGroup {
  Name: string;
  Count: number;
  Networks?: NetworkResource[];
  Volumes?: Record<string, VolumeRequest>;
  RestartPolicy?: RestartPolicy;
  /** Group level is `ReschedulePolicy`; the job-level field is named `Reschedule`. */
  ReschedulePolicy?: ReschedulePolicy;
  Update?: UpdateStrategy;
  EphemeralDisk?: EphemeralDisk;
  Services?: Service[];
  ShutdownDelay?: Ns;
  Meta?: Record<string, string>;
  Tasks: Task[];
}

export interface NetworkResource {
  Mode: 'host' | 'bridge' | 'none' | string;
  /** Static ports: Value is the host port. */
  ReservedPorts?: Port[];
  /** Dynamic ports: Nomad picks the host port, To is the port inside. */
  DynamicPorts?: Port[];
}

export interface Port {
  Label: string;
  /** Host port (static ports only; HCL calls it `static`). */
  Value?: number;
  /** Port inside the task (bridge/docker port mapping). */
  To?: number;
  HostNetwork?: string;
}

export interface VolumeRequest {
  Name: string;
  Type: 'host' | 'csi';
  Source: string;
  ReadOnly: boolean;
}

export interface VolumeMount {
  Volume: string;
  Destination: string;
  ReadOnly: boolean;
}

export interface RestartPolicy {
  Attempts: number;
  Interval: Ns;
  Delay: Ns;
  Mode: 'fail' | 'delay';
}

export interface ReschedulePolicy {
  Attempts: number;
  Interval: Ns;
  Delay: Ns;
  DelayFunction: 'constant' | 'exponential' | 'fibonacci';
  MaxDelay: Ns;
  Unlimited: boolean;
}

export interface UpdateStrategy {
  MaxParallel?: number;
  HealthCheck?: 'checks' | 'task_states' | 'manual';
  MinHealthyTime?: Ns;
  HealthyDeadline?: Ns;
  ProgressDeadline?: Ns;
  AutoRevert?: boolean;
  Canary?: number;
}

export interface Service {
  Name: string;
  PortLabel: string;
  /** An address to advertise instead of the port's (a listener bound elsewhere). */
  Address?: string;
  Provider: 'nomad' | 'consul';
  Tags?: string[];
  Meta?: Record<string, string>;
  Checks?: ServiceCheck[];
}

export interface ServiceCheck {
  Name: string;
  Type: 'http' | 'tcp';
  Path?: string;
  Method?: string;
  PortLabel?: string;
  Interval: Ns;
  Timeout: Ns;
}

export interface Task {
  Name: string;
  Driver: 'docker';
  Config: DockerTaskConfig;
  Env?: Record<string, string>;
  Resources: Resources;
  VolumeMounts?: VolumeMount[];
  Templates?: Template[];
  KillTimeout?: Ns;
  LogConfig?: LogConfig;
  Meta?: Record<string, string>;
}

export interface Resources {
  /** MHz. */
  CPU: number;
  MemoryMB: number;
  /** Only honoured with memory oversubscription enabled (otherwise a register warning). */
  MemoryMaxMB?: number;
}

export interface Template {
  EmbeddedTmpl?: string;
  DestPath: string;
  ChangeMode?: 'restart' | 'noop' | 'signal' | 'script';
  /** Export the rendered file's KEY=value lines as task environment. */
  Envvars?: boolean;
}

export interface EphemeralDisk {
  SizeMB: number;
  Sticky?: boolean;
  Migrate?: boolean;
}

export interface LogConfig {
  MaxFiles: number;
  MaxFileSizeMB: number;
}

/**
 * The docker driver's task config (drivers/docker/config.go hclspec). These keys are
 * snake_case: Task.Config is a map decoded by the driver, not a Go api struct.
 */
export interface DockerTaskConfig {
  image: string;
  args?: string[];
  command?: string;
  entrypoint?: string[];
  /** Port labels from the group network to publish. */
  ports?: string[];
  /** true: CPU is a hard CFS quota instead of soft shares. */
  cpu_hard_limit?: boolean;
  network_mode?: string;
  force_pull?: boolean;
  mount?: DockerMount[];
  /** Most processes the container may run: a fork bomb stays inside it. */
  pids_limit?: number;
}

/** A docker `mount` block; named volumes need `volumes.enabled` in the docker plugin config. */
export interface DockerMount {
  type: 'volume' | 'bind' | 'tmpfs';
  target: string;
  source: string;
  readonly: boolean;
}

/** Body of PUT /v1/jobs. */
export interface NomadJobRegisterRequest {
  Job: NomadJob;
  EnforceIndex?: boolean;
  JobModifyIndex?: number;
}
