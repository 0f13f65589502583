/**
 * Pieces shared by every job builder (instance, control, cloudflared, conduit), so a
 * policy is decided in one place. All durations are nanoseconds (jobs/duration.ts).
 */
import { minutes, seconds } from './duration.ts';
import type {
  DockerMount,
  DockerTaskConfig,
  LogConfig,
  NetworkResource,
  NomadJob,
  ReschedulePolicy,
  Resources,
  RestartPolicy,
  Service,
  ServiceCheck,
  Task,
  TaskGroup,
  Template,
  UpdateStrategy,
  VolumeMount,
  VolumeRequest,
} from './types.ts';

/** Where a job runs. Platform jobs default to namespace "default" and every datacenter. */
export interface Placement {
  namespace?: string;
  region?: string;
  datacenters?: string[];
}

export const DEFAULT_NAMESPACE = 'default';
export const DEFAULT_DATACENTERS: readonly string[] = ['*'];

/** Restart in place up to 3 times per 5 minutes, 15 s apart, then fail the allocation (so it is rescheduled). */
export function restartPolicy(): RestartPolicy {
  return { Attempts: 3, Interval: minutes(5), Delay: seconds(15), Mode: 'fail' };
}

/** Reschedule a failed allocation at most 3 times an hour, backing off 30 s -> 10 min. */
export function reschedulePolicy(): ReschedulePolicy {
  return { Attempts: 3, Interval: minutes(60), Delay: seconds(30), DelayFunction: 'exponential', MaxDelay: minutes(10), Unlimited: false };
}

/** Platform jobs: one at a time, healthy by their checks, rolled back automatically when a new version never gets healthy. */
export function platformUpdateStrategy(): UpdateStrategy {
  return {
    MaxParallel: 1,
    HealthCheck: 'checks',
    MinHealthyTime: seconds(10),
    HealthyDeadline: minutes(5),
    ProgressDeadline: minutes(10),
    AutoRevert: true,
  };
}

/** At most 3 x 10 MB of stdout/stderr kept per task. */
export function logConfig(): LogConfig {
  return { MaxFiles: 3, MaxFileSizeMB: 10 };
}

/** Time between SIGTERM (or the task's kill signal) and SIGKILL. */
export const KILL_TIMEOUT = seconds(10);

/** HTTP GET check every 10 s with a 2 s timeout, on the service's own port. */
export function httpCheck(name: string, path: string): ServiceCheck {
  return { Name: name, Type: 'http', Path: path, Interval: seconds(10), Timeout: seconds(2) };
}

/** TCP connect check every 10 s with a 2 s timeout, for listeners without a health route. */
export function tcpCheck(name: string): ServiceCheck {
  return { Name: name, Type: 'tcp', Interval: seconds(10), Timeout: seconds(2) };
}

/** A Nomad-native service (no Consul needed) on a port label, with its checks. */
export function nomadService(name: string, portLabel: string, tags: string[], checks: ServiceCheck[]): Service {
  return { Name: name, PortLabel: portLabel, Provider: 'nomad', Tags: tags, Checks: checks };
}

/** Host-mode network with ports Nomad picks on the host, mapped to fixed ports inside the container. */
export function dynamicPorts(ports: Record<string, number>): NetworkResource {
  return { Mode: 'host', DynamicPorts: Object.entries(ports).map(([Label, To]) => ({ Label, To })) };
}

/** Host-mode network with fixed host ports, the same port inside the container. */
export function staticPorts(ports: Record<string, number>): NetworkResource {
  return { Mode: 'host', ReservedPorts: Object.entries(ports).map(([Label, port]) => ({ Label, Value: port, To: port })) };
}

/**
 * How persistent data reaches a task:
 * - `docker-volume`: a docker named volume, created on first use on whichever client
 *   runs the task (needs `volumes.enabled = true` in the docker plugin config; the
 *   data stays on that client).
 * - `host`: a Nomad host volume of that name, which must exist on the client (a
 *   `host_volume` block in the client config, or a dynamic host volume); the
 *   scheduler only places the task on clients that have it.
 */
export type VolumeMode = 'docker-volume' | 'host';

export interface AttachedVolume {
  groupVolumes?: Record<string, VolumeRequest>;
  volumeMounts?: VolumeMount[];
  dockerMounts?: DockerMount[];
}

/** The group and task fields that mount volume `source` at `target`, read-write. */
export function attachVolume(mode: VolumeMode, label: string, source: string, target: string): AttachedVolume {
  if (mode === 'docker-volume') return { dockerMounts: [{ type: 'volume', target, source, readonly: false }] };
  return {
    groupVolumes: { [label]: { Name: label, Type: 'host', Source: source, ReadOnly: false } },
    volumeMounts: [{ Volume: label, Destination: target, ReadOnly: false }],
  };
}

export interface DockerTaskInput {
  name: string;
  config: DockerTaskConfig;
  env: Record<string, string>;
  resources: Resources;
  volume?: AttachedVolume;
  /** Names of secrets rendered from the job's Nomad Variable (variableSecretsTemplate). */
  variableSecrets?: { jobId: string; names: readonly string[] };
}

/** Where a job's own Nomad Variable lives: its tasks may read it without any ACL policy. */
export function jobVariablePath(jobId: string): string {
  return `nomad/jobs/${jobId}`;
}

/**
 * Secrets from the job's Nomad Variable, rendered into the task's environment at start:
 * the stored job (what `read-job` and the UI show) holds their names, never their values.
 * A changed variable restarts the task with the new values.
 */
export function variableSecretsTemplate(jobId: string, names: readonly string[]): Template {
  const lines = names.map((name) => {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) throw new RangeError(`variableSecretsTemplate: "${name}" is not an environment variable name`);
    return `${name}={{ .${name} | toJSON }}`;
  });
  return {
    EmbeddedTmpl: `{{ with nomadVar "${jobVariablePath(jobId)}" }}\n${lines.join('\n')}\n{{ end }}\n`,
    DestPath: 'secrets/platform.env',
    ChangeMode: 'restart',
    Envvars: true,
  };
}

/** A docker task with the shared kill timeout and log rotation; a volume adds its mounts. */
export function dockerTask(input: DockerTaskInput): Task {
  const { volume } = input;
  const config: DockerTaskConfig = volume?.dockerMounts ? { ...input.config, mount: volume.dockerMounts } : input.config;
  return {
    Name: input.name,
    Driver: 'docker',
    Config: config,
    Env: input.env,
    Resources: input.resources,
    ...(volume?.volumeMounts ? { VolumeMounts: volume.volumeMounts } : {}),
    ...(input.variableSecrets?.names.length ? { Templates: [variableSecretsTemplate(input.variableSecrets.jobId, input.variableSecrets.names)] } : {}),
    KillTimeout: KILL_TIMEOUT,
    LogConfig: logConfig(),
  };
}

export interface GroupInput {
  name: string;
  network: NetworkResource;
  services: Service[];
  task: Task;
  volume?: AttachedVolume;
}

/** One group running one task once, with the shared restart and reschedule policies. */
export function singleTaskGroup(input: GroupInput): TaskGroup {
  return {
    Name: input.name,
    Count: 1,
    Networks: [input.network],
    ...(input.volume?.groupVolumes ? { Volumes: input.volume.groupVolumes } : {}),
    RestartPolicy: restartPolicy(),
    ReschedulePolicy: reschedulePolicy(),
    Services: input.services,
    Tasks: [input.task],
  };
}

export interface ServiceJobInput {
  id: string;
  placement: Placement;
  group: TaskGroup;
  meta?: Record<string, string>;
  update?: UpdateStrategy;
}

/** A service job whose ID and Name are the same, so the CLI, UI and API all show one name. */
export function serviceJob(input: ServiceJobInput): NomadJob {
  const { placement } = input;
  return {
    ID: input.id,
    Name: input.id,
    Type: 'service',
    Namespace: placement.namespace ?? DEFAULT_NAMESPACE,
    ...(placement.region ? { Region: placement.region } : {}),
    Datacenters: [...(placement.datacenters ?? DEFAULT_DATACENTERS)],
    ...(input.meta ? { Meta: input.meta } : {}),
    ...(input.update ? { Update: input.update } : {}),
    TaskGroups: [input.group],
  };
}

/** Drops keys whose value is undefined, so an unset option does not override its default in a spread. */
export function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
