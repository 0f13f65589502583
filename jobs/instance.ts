/**
 * The per-user instance job: one Matrix OS container (gateway + shell) with its home
 * on a persistent volume. The nomad orchestrator driver registers this JSON; infra
 * never does (instances are created on signup).
 *
 * Secrets (spec.secrets) are not in the job at all: the driver writes them to the job's
 * own Nomad Variable (instanceSecretsVariable) and a template renders them into the
 * task's environment, so `read-job` and the UI show their names, never their values.
 * Nor are they in Meta, service tags or names: Meta is listed by GET /v1/jobs.
 */
import { attachVolume, dockerTask, dynamicPorts, httpCheck, jobVariablePath, nomadService, serviceJob, singleTaskGroup } from './common.ts';
import type { NomadJob } from './types.ts';

/**
 * What the job is built from. The control service's InstanceSpec has this shape (and
 * more); jobs/ declares its own input so it depends on nothing in control/.
 */
export interface InstanceJobInput {
  handle: string;
  /** The owning user's id: recorded in Meta, never a secret. */
  owner: string;
  image: string;
  /** Ports inside the container: the gateway (4000) and the shell (3000). */
  ports: { gateway: number; shell: number };
  /** Cores. */
  cpu: number;
  memoryMB: number;
  env: Readonly<Record<string, string>>;
  /** Only ever in the task's Env. */
  secrets: Readonly<Record<string, string>>;
  /** Hash of everything the instance is built from; a change means re-register. */
  hash: string;
}

export interface InstanceJobOptions {
  /** Nomad namespace; the caller applies the default ('default'). */
  namespace: string;
  region?: string;
  /** e.g. ['*']. */
  datacenters: string[];
  /** Resources.CPU = spec.cpu (cores) x this, rounded, at least 100 MHz. */
  cpuMhzPerCore: number;
  /** Resources.MemoryMaxMB, only when set (needs memory oversubscription on the cluster). */
  memoryMaxMB: number | null;
  /** Where the home lives: a docker named volume, or a Nomad host volume (see jobs/common.ts VolumeMode). */
  volume: { mode: 'docker-volume' } | { mode: 'host' };
  /** Mount target inside the container (DEFAULT_HOME_PATH unless the image says otherwise). */
  homePath: string;
}

export const DEFAULT_HOME_PATH = '/home/matrixos';
export const INSTANCE_GROUP = 'instance';
export const INSTANCE_TASK = 'matrixos';
/** Smallest CPU Nomad accepts for a task, in MHz. */
export const MIN_CPU_MHZ = 100;
export const INSTANCE_META_KEYS = { handle: 'matrixos_handle', owner: 'matrixos_owner', specHash: 'matrixos_spec_hash' } as const;

/** Port labels, as in the group network, the docker `ports` list and NOMAD_PORT_<label>. */
export type InstancePortLabel = 'gateway' | 'shell';

// Same shape as control/handles.ts, repeated here only as a guard: IDs, volume and service names derive from it.
const SAFE_HANDLE = /^[a-z][a-z0-9-]{1,31}$/;

export function instanceJobId(handle: string): string {
  return `matrixos-${handle}`;
}

/** Name of the docker volume or Nomad host volume holding the user's home. */
export function instanceVolumeName(handle: string): string {
  return `matrixos-${handle}`;
}

export function instanceServiceName(handle: string, port: InstancePortLabel): string {
  return `matrixos-${handle}-${port}`;
}

export function instanceCpuMhz(cores: number, mhzPerCore: number): number {
  return Math.max(MIN_CPU_MHZ, Math.round(cores * mhzPerCore));
}

/** The spec hash a job was built from (also works on a job read back from Nomad, whose Meta may be null). */
export function specHashOf(job: { Meta?: Record<string, string> | null }): string | undefined {
  return job.Meta?.[INSTANCE_META_KEYS.specHash];
}

export function buildInstanceJob(spec: InstanceJobInput, options: InstanceJobOptions): NomadJob {
  checkInputs(spec, options);
  const { handle, ports } = spec;
  const { homePath } = options;
  const volume = attachVolume(options.volume.mode, 'home', instanceVolumeName(handle), homePath);
  const tags = ['matrixos', `handle-${handle}`];
  const service = (label: InstancePortLabel) =>
    nomadService(instanceServiceName(handle, label), label, tags, [httpCheck(`${instanceServiceName(handle, label)}-health`, '/health')]);

  const platformEnv = platformVariables(spec, options);
  const task = dockerTask({
    name: INSTANCE_TASK,
    config: { image: spec.image, ports: ['gateway', 'shell'], cpu_hard_limit: true, pids_limit: INSTANCE_PIDS_LIMIT },
    env: { ...spec.env, ...platformEnv },
    variableSecrets: { jobId: instanceJobId(handle), names: secretNames(spec, platformEnv) },
    resources: {
      CPU: instanceCpuMhz(spec.cpu, options.cpuMhzPerCore),
      MemoryMB: spec.memoryMB,
      ...(options.memoryMaxMB !== null ? { MemoryMaxMB: options.memoryMaxMB } : {}),
    },
    volume,
  });

  return serviceJob({
    id: instanceJobId(handle),
    placement: { namespace: options.namespace, region: options.region, datacenters: options.datacenters },
    meta: {
      [INSTANCE_META_KEYS.handle]: handle,
      [INSTANCE_META_KEYS.owner]: spec.owner,
      [INSTANCE_META_KEYS.specHash]: spec.hash,
    },
    group: singleTaskGroup({
      name: INSTANCE_GROUP,
      network: dynamicPorts({ gateway: ports.gateway, shell: ports.shell }),
      services: [service('gateway'), service('shell')],
      task,
      volume,
    }),
  });
}

/** Refuses inputs Nomad would reject at register time (or, worse, accept and misapply). */
function checkInputs(spec: InstanceJobInput, options: InstanceJobOptions): void {
  const problems: string[] = [];
  if (!SAFE_HANDLE.test(spec.handle)) problems.push(`handle ${JSON.stringify(spec.handle)} is not a valid instance handle`);
  if (!(spec.cpu > 0) || !(options.cpuMhzPerCore > 0)) problems.push('cpu and cpuMhzPerCore must be positive');
  if (!Number.isInteger(spec.memoryMB) || spec.memoryMB <= 0) problems.push(`memoryMB must be a positive integer (got ${spec.memoryMB})`);
  const max = options.memoryMaxMB;
  if (max !== null && (!Number.isInteger(max) || max < spec.memoryMB)) {
    problems.push(`memoryMaxMB must be an integer of at least memoryMB ${spec.memoryMB} (got ${max})`);
  }
  if (!options.homePath.startsWith('/')) problems.push(`homePath must be absolute (got ${JSON.stringify(options.homePath)})`);
  if (options.datacenters.length === 0) problems.push('datacenters must not be empty');
  if (problems.length > 0) throw new RangeError(`Cannot build the Nomad job for instance ${JSON.stringify(spec.handle)}: ${problems.join('; ')}`);
}

/** Processes one instance may run: plenty for an agent, and a fork bomb cannot starve the host. */
export const INSTANCE_PIDS_LIMIT = 1024;

/** What the platform sets in every instance's environment; neither env nor secrets override it. */
function platformVariables(spec: InstanceJobInput, options: InstanceJobOptions): Record<string, string> {
  return {
    PORT: String(spec.ports.gateway),
    SHELL_PORT: String(spec.ports.shell),
    HOST: '0.0.0.0',
    MATRIX_DATA_DIR: options.homePath,
    HOME: options.homePath,
  };
}

/** Secret names the template renders: a template would win over Env, so none may shadow a platform variable. */
function secretNames(spec: InstanceJobInput, platformEnv: Record<string, string>): string[] {
  return Object.keys(spec.secrets)
    .filter((name) => !(name in platformEnv))
    .sort();
}

/** The Nomad Variable the driver writes before registering the job: its template blocks without it. */
export function instanceSecretsVariable(spec: InstanceJobInput, options: InstanceJobOptions): { path: string; items: Record<string, string> } {
  const names = secretNames(spec, platformVariables(spec, options));
  return { path: jobVariablePath(instanceJobId(spec.handle)), items: Object.fromEntries(names.map((name) => [name, spec.secrets[name]!])) };
}
