/**
 * Defaults Nomad fills in on registration (api Canonicalize plus the server's
 * own): Name from ID, Priority 50, Datacenters ["*"], NodePool "default",
 * Count 1, per-type restart/reschedule/update/migrate policies, task
 * Resources (CPU 100, MemoryMB 300), KillTimeout 5s, LogConfig, services'
 * Provider "consul" and default names. Works on the decoded body (JSON field
 * names); the result is what the job spec compares and shows as.
 */
import { HOUR, MINUTE, SECOND } from './goformat.ts';
import { materialize } from './materialize.ts';
import type { Obj } from './types.ts';

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const objs = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);
export const str = (v: unknown): string => (typeof v === 'string' ? v : '');
export const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

/** The keys of `o` that are set (not null/undefined). */
function defined(o: unknown): Obj {
  if (!isObj(o)) return {};
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));
}

const emptyToNull = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.length === 0 ? null : v;
  if (isObj(v)) return Object.keys(v).length === 0 ? null : v;
  return v ?? null;
};

const DEFAULT_UPDATE: Obj = {
  Stagger: 30 * SECOND,
  MaxParallel: 1,
  HealthCheck: 'checks',
  MinHealthyTime: 10 * SECOND,
  HealthyDeadline: 5 * MINUTE,
  ProgressDeadline: 10 * MINUTE,
  AutoRevert: false,
  AutoPromote: false,
  Canary: 0,
};

const DEFAULT_MIGRATE: Obj = { MaxParallel: 1, HealthCheck: 'checks', MinHealthyTime: 10 * SECOND, HealthyDeadline: 5 * MINUTE };

function defaultRestart(type: string): Obj {
  return type === 'batch' || type === 'sysbatch'
    ? { Interval: 24 * HOUR, Attempts: 3, Delay: 15 * SECOND, Mode: 'fail', RenderTemplates: false }
    : { Interval: 30 * MINUTE, Attempts: 2, Delay: 15 * SECOND, Mode: 'fail', RenderTemplates: false };
}

function defaultReschedule(type: string): Obj | null {
  if (type === 'service') return { Attempts: 0, Interval: 0, Delay: 30 * SECOND, DelayFunction: 'exponential', MaxDelay: HOUR, Unlimited: true };
  if (type === 'batch') return { Attempts: 1, Interval: 24 * HOUR, Delay: 5 * SECOND, DelayFunction: 'constant', MaxDelay: 0, Unlimited: false };
  return null;
}

/** Fields the server owns; whatever the client sends for them is replaced. */
const SERVER_FIELDS = [
  'Status',
  'StatusDescription',
  'Stable',
  'Version',
  'SubmitTime',
  'CreateIndex',
  'ModifyIndex',
  'JobModifyIndex',
  'NomadTokenID',
  'VersionTag',
];

export interface CanonicalizeContext {
  namespace: string;
  region: string;
}

export function canonicalizeJob(input: Obj, ctx: CanonicalizeContext): Obj {
  const job: Obj = structuredClone(input);
  for (const field of SERVER_FIELDS) delete job[field];
  job.ID ??= '';
  job.Name ??= job.ID;
  job.ParentID ??= '';
  job.Namespace = ctx.namespace;
  job.Region = ctx.region;
  job.Priority ??= 50;
  job.Stop ??= false;
  job.Type ??= 'service';
  job.NodePool = str(job.NodePool) || 'default';
  job.AllAtOnce ??= false;
  job.ConsulNamespace ??= '';
  job.VaultNamespace ??= '';
  if (!Array.isArray(job.Datacenters) || job.Datacenters.length === 0) job.Datacenters = ['*'];
  job.Meta = emptyToNull(job.Meta);
  const type = str(job.Type);
  const update = isObj(job.Update) ? { ...DEFAULT_UPDATE, ...defined(job.Update) } : type === 'service' ? { ...DEFAULT_UPDATE } : null;
  job.Update = update ? { Stagger: update.Stagger, MaxParallel: update.MaxParallel } : null;
  job.TaskGroups = emptyToNull(job.TaskGroups);
  for (const group of objs(job.TaskGroups)) canonicalizeGroup(group, job, type, update);
  return job;
}

function canonicalizeGroup(group: Obj, job: Obj, type: string, update: Obj | null): void {
  group.Name ??= '';
  group.Count ??= 1;
  group.EphemeralDisk = { Sticky: false, Migrate: false, SizeMB: 300, ...defined(group.EphemeralDisk) };
  group.RestartPolicy = { ...defaultRestart(type), ...defined(group.RestartPolicy) };
  const reschedule = defaultReschedule(type);
  group.ReschedulePolicy = reschedule ? { ...reschedule, ...defined(group.ReschedulePolicy) } : (group.ReschedulePolicy ?? null);
  group.Migrate = type === 'service' ? { ...DEFAULT_MIGRATE, ...defined(group.Migrate) } : (group.Migrate ?? null);
  group.Update = update ? { ...update, ...defined(group.Update) } : (group.Update ?? null);
  group.Meta = emptyToNull(group.Meta);
  group.Networks = emptyToNull(group.Networks);
  for (const network of objs(group.Networks)) {
    for (const key of ['ReservedPorts', 'DynamicPorts']) {
      network[key] = emptyToNull(network[key]);
      for (const port of objs(network[key])) port.HostNetwork = str(port.HostNetwork) || 'default';
    }
  }
  if (isObj(group.Volumes)) {
    for (const [name, volume] of Object.entries(group.Volumes)) {
      if (isObj(volume)) volume.Name = str(volume.Name) || name;
    }
  }
  group.Volumes = emptyToNull(group.Volumes);
  group.Services = emptyToNull(group.Services);
  for (const service of objs(group.Services)) canonicalizeService(service, `${str(job.Name)}-${str(group.Name)}`);
  group.Tasks = emptyToNull(group.Tasks);
  for (const task of objs(group.Tasks)) canonicalizeTask(task, job, group);
}

function canonicalizeTask(task: Obj, job: Obj, group: Obj): void {
  task.Name ??= '';
  task.Driver ??= '';
  task.Env = emptyToNull(task.Env);
  task.Meta = emptyToNull(task.Meta);
  const resources = defined(task.Resources);
  task.Resources = {
    ...resources,
    CPU: resources.CPU ?? (resources.Cores === undefined ? 100 : 0),
    Cores: resources.Cores ?? 0,
    MemoryMB: resources.MemoryMB ?? 300,
    MemoryMaxMB: resources.MemoryMaxMB ?? 0,
  };
  task.KillTimeout ??= 5 * SECOND;
  task.LogConfig = { MaxFiles: 10, MaxFileSizeMB: 10, Disabled: false, ...defined(task.LogConfig) };
  task.RestartPolicy = { ...(group.RestartPolicy as Obj), ...defined(task.RestartPolicy) };
  task.Services = emptyToNull(task.Services);
  for (const service of objs(task.Services)) {
    canonicalizeService(service, `${str(job.Name)}-${str(group.Name)}-${str(task.Name)}`);
  }
  task.VolumeMounts = emptyToNull(task.VolumeMounts);
  for (const mount of objs(task.VolumeMounts)) {
    mount.Volume ??= '';
    mount.Destination ??= '';
    mount.ReadOnly ??= false;
    mount.PropagationMode ??= 'private';
    mount.SELinuxLabel ??= '';
  }
  if (isObj(task.Lifecycle) && !str(task.Lifecycle.Hook)) task.Lifecycle = null;
}

function canonicalizeService(service: Obj, defaultName: string): void {
  service.Name = str(service.Name) || defaultName;
  service.Provider = str(service.Provider) || 'consul';
  service.AddressMode = str(service.AddressMode) || 'auto';
  service.OnUpdate = str(service.OnUpdate) || 'require_healthy';
  service.Tags = emptyToNull(service.Tags);
  service.Checks = emptyToNull(service.Checks);
  for (const check of objs(service.Checks)) {
    check.Name = str(check.Name) || `service: ${JSON.stringify(service.Name)} check`;
    check.OnUpdate = str(check.OnUpdate) || service.OnUpdate;
  }
}

/** Deterministic JSON (sorted keys) for spec comparison. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (isObj(value)) {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => value[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * Nomad's Job.SpecChanged: anything but server-maintained fields differs.
 * Compared in encoded form, so a job read back (zero values, nulls) and
 * submitted again counts as unchanged.
 */
export function specChanged(a: Obj, b: Obj): boolean {
  const encode = (job: Obj) => stableJson(materialize({ kind: 'struct', name: 'Job' }, job));
  return encode(a) !== encode(b);
}
