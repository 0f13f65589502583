/** Options of the Nomad double, their defaults, and what the allocation hooks receive. */
import type { Obj } from './types.ts';

/** What onAllocationRunning / onAllocationStopped receive. */
export interface AllocationInfo {
  jobId: string;
  namespace: string;
  allocId: string;
  /** "job.group[0]" */
  allocName: string;
  group: string;
  /** The task the hook stands for: the leader task, else the group's first task. */
  task: string;
  /** Host port per port label (what service registrations advertise). */
  ports: Record<string, number>;
  hostIP: string;
  /** The task's environment as Nomad builds it: NOMAD_* variables, NOMAD_META_*, then the task's Env. */
  env: Record<string, string>;
  /** The task's driver config (for docker: image, ports, ...). */
  config: Obj;
  /** The job as GET /v1/job/:id would show it (the version this allocation runs). */
  job: Obj;
}

export interface NomadDoubleOptions {
  /** ACL token required on every request (X-Nomad-Token or Authorization: Bearer). Default null: ACLs off. */
  token?: string | null;
  /** Tokens that may read but get 403 "Permission denied" on writes. */
  readOnlyTokens?: string[];
  /** Namespaces that exist. Default ["default"]. */
  namespaces?: string[];
  /** The agent's region; ?region= naming another one gets 500 "No path to region". Default "global". */
  region?: string;
  /** The single client node's datacenter. Default "dc1". */
  datacenter?: string;
  /** Node pools that exist. Default ["default", "all"]. */
  nodePools?: string[];
  /** Scheduler configuration: memory oversubscription (MemoryMaxMB honoured). Default false. */
  memoryOversubscription?: boolean;
  /** Delay before an evaluation is processed. Default 0. */
  schedulingLatencyMs?: number;
  /** Delay before a placed allocation's tasks start (pending -> running). Default 0. */
  startLatencyMs?: number;
  /** Delay before a stopping allocation's tasks are dead (desired stop -> complete). Default 0. */
  stopLatencyMs?: number;
  /** Address allocations get (ports' HostIP, service Address). Default "127.0.0.1". */
  hostIP?: string;
  /** Dynamic port range of the client. Default [20000, 32000]. */
  dynamicPorts?: [number, number];
  /** Task drivers the client has. Jobs using another one are not placed ("missing drivers"). Default ["docker", "exec"]. */
  drivers?: string[];
  /** Whether a Consul agent is available. Without it, groups with provider "consul" services are not placed. Default false. */
  consul?: boolean;
  /** Host volumes the client offers; "*" means any name. Default "*". */
  hostVolumes?: string[] | '*';
  /** Docker plugin `volumes { enabled = true }`: without it host-path binds fail at task start. Default false. */
  dockerVolumesEnabled?: boolean;
  /** Client capacity for placement (a large node, so only tests that want exhaustion hit it). Default { cpu: 160000 (MHz), memoryMB: 524288 }. */
  nodeResources?: { cpu: number; memoryMB: number };
  /**
   * Where task driver config (e.g. docker `config`) is checked against the driver's schema.
   * "client" (default, what Nomad does): registration succeeds and the task fails at start with a
   * "Failed Validation" event. "register": the registration itself gets the 500 validation error.
   */
  driverConfigValidation?: 'client' | 'register';
  /**
   * Awaited before an allocation is marked running; a test can start a real server on
   * info.ports here. If it throws, the allocation fails ("Driver Failure" with the message).
   */
  onAllocationRunning?: (info: AllocationInfo) => Promise<void> | void;
  /** Awaited when an allocation that reached onAllocationRunning stops (or fails later). Errors are ignored. */
  onAllocationStopped?: (info: AllocationInfo) => Promise<void> | void;
}

export interface ResolvedOptions {
  token: string | null;
  readOnlyTokens: string[];
  namespaces: string[];
  region: string;
  datacenter: string;
  nodePools: string[];
  memoryOversubscription: boolean;
  schedulingLatencyMs: number;
  startLatencyMs: number;
  stopLatencyMs: number;
  hostIP: string;
  dynamicPorts: [number, number];
  drivers: string[];
  consul: boolean;
  hostVolumes: string[] | '*';
  dockerVolumesEnabled: boolean;
  nodeResources: { cpu: number; memoryMB: number };
  driverConfigValidation: 'client' | 'register';
  onAllocationRunning: NomadDoubleOptions['onAllocationRunning'];
  onAllocationStopped: NomadDoubleOptions['onAllocationStopped'];
}

export function resolveOptions(options: NomadDoubleOptions = {}): ResolvedOptions {
  return {
    token: options.token ?? null,
    readOnlyTokens: options.readOnlyTokens ?? [],
    namespaces: options.namespaces ?? ['default'],
    region: options.region ?? 'global',
    datacenter: options.datacenter ?? 'dc1',
    nodePools: options.nodePools ?? ['default', 'all'],
    memoryOversubscription: options.memoryOversubscription ?? false,
    schedulingLatencyMs: options.schedulingLatencyMs ?? 0,
    startLatencyMs: options.startLatencyMs ?? 0,
    stopLatencyMs: options.stopLatencyMs ?? 0,
    hostIP: options.hostIP ?? '127.0.0.1',
    dynamicPorts: options.dynamicPorts ?? [20000, 32000],
    drivers: options.drivers ?? ['docker', 'exec'],
    consul: options.consul ?? false,
    hostVolumes: options.hostVolumes ?? '*',
    dockerVolumesEnabled: options.dockerVolumesEnabled ?? false,
    nodeResources: options.nodeResources ?? { cpu: 160_000, memoryMB: 524_288 },
    driverConfigValidation: options.driverConfigValidation ?? 'client',
    onAllocationRunning: options.onAllocationRunning,
    onAllocationStopped: options.onAllocationStopped,
  };
}
