/**
 * Server-side job validation (Nomad's admission validators: job.Validate(),
 * namespace and node pool checks, memory_max warnings). Errors come back as
 * the flat list Job.Register joins into "N errors occurred:"; nested group and
 * task failures are embedded strings, as go-multierror renders them:
 *   Task group web validation failed: 1 error occurred:\n\t* Task web validation failed: ...
 */
import { isObj, num, objs, str } from './canonicalize.ts';
import { driverConfigDiagnostics, driverConfigError } from './driver-config.ts';
import { formatGoDuration, formatMultiError, SECOND } from './goformat.ts';
import type { Obj, ResolvedOptions } from './types.ts';

const SERVICE_NAME = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]{0,61}[a-zA-Z0-9])$/;
const JOB_TYPES = ['service', 'batch', 'system', 'sysbatch'];

function nested(prefix: string, errors: string[]): string[] {
  return errors.length > 0 ? [`${prefix}${formatMultiError(errors)}`] : [];
}

function restartPolicyErrors(policy: Obj): string[] {
  const errors: string[] = [];
  const mode = str(policy.Mode);
  if (mode !== 'delay' && mode !== 'fail') errors.push(`Unsupported restart mode: ${JSON.stringify(mode)}`);
  const attempts = num(policy.Attempts);
  if (attempts === 0 && mode !== 'fail') errors.push(`Restart policy ${JSON.stringify(mode)} with ${attempts} attempts is ambiguous`);
  const interval = num(policy.Interval);
  const delay = num(policy.Delay);
  if (interval < 5 * SECOND) errors.push(`Interval can not be less than 5s (got ${formatGoDuration(interval)})`);
  if (attempts * delay > interval) {
    errors.push(
      `Nomad can't restart the TaskGroup ${attempts} times in an interval of ${formatGoDuration(interval)} with a delay of ${formatGoDuration(delay)}`,
    );
  }
  return errors;
}

function checkErrors(service: Obj, check: Obj): string[] {
  const name = str(check.Name);
  const type = str(check.Type).toLowerCase();
  const nomadProvider = str(service.Provider) === 'nomad';
  if (!str(service.PortLabel) && !str(check.PortLabel) && ['http', 'tcp', 'grpc'].includes(type)) {
    return [`Check ${name} invalid: check requires a port but neither check nor service ${JSON.stringify(str(service.Name))} have a port`];
  }
  let problem = '';
  if (nomadProvider && type !== 'http' && type !== 'tcp')
    problem = `invalid type (${JSON.stringify(str(check.Type))}), must be one of "http" or "tcp" type for the nomad provider`;
  else if (!['http', 'tcp', 'grpc', 'script'].includes(type))
    problem = `invalid type (${JSON.stringify(str(check.Type))}), must be one of "http", "tcp", or "script" type`;
  else if (type === 'http' && !str(check.Path)) problem = 'http type must have http path';
  else if (num(check.Interval) === 0) problem = 'missing required value interval. Interval cannot be less than 1s';
  else if (num(check.Interval) < SECOND) problem = `interval (${formatGoDuration(num(check.Interval))}) cannot be lower than 1s`;
  else if (num(check.Timeout) === 0) problem = 'missing required value timeout. Timeout cannot be less than 1s';
  else if (num(check.Timeout) < SECOND) problem = `timeout (${formatGoDuration(num(check.Timeout))}) is lower than required minimum timeout 1s`;
  return problem ? [`Check ${name} invalid: ${problem}`] : [];
}

function serviceErrors(service: Obj): string[] {
  const errors: string[] = [];
  const name = str(service.Name);
  if (!SERVICE_NAME.test(name))
    errors.push(`Service name must be valid per RFC 1123 and can contain only alphanumeric characters or dashes: ${JSON.stringify(name)}`);
  const provider = str(service.Provider);
  if (provider !== 'consul' && provider !== 'nomad') errors.push(`Service provider must be one of "consul" or "nomad"; got ${JSON.stringify(provider)}`);
  const mode = str(service.AddressMode);
  if (!['', 'alloc', 'auto', 'driver', 'host'].includes(mode))
    errors.push(`Service address_mode must be "alloc", "auto", "driver", or "host"; not ${JSON.stringify(mode)}`);
  for (const check of objs(service.Checks)) errors.push(...checkErrors(service, check));
  return errors;
}

/** Port labels of a list of network resources. */
export function portLabels(networks: unknown): string[] {
  return objs(networks).flatMap((n) => [...objs(n.ReservedPorts), ...objs(n.DynamicPorts)].map((p) => str(p.Label)));
}

/** Services whose PortLabel names no port: "port label \"x\" referenced by services a, b does not exist". */
function missingPortErrors(services: Obj[], labels: string[]): string[] {
  const byPort = new Map<string, string[]>();
  for (const s of services) {
    const port = str(s.PortLabel);
    if (!port || /^\d+$/.test(port) || labels.includes(port)) continue;
    byPort.set(port, [...(byPort.get(port) ?? []), str(s.Name)]);
  }
  return [...byPort].map(([port, names]) => `port label ${JSON.stringify(port)} referenced by services ${names.join(', ')} does not exist`);
}

function networkErrors(group: Obj): string[] {
  const errors: string[] = [];
  const networks = objs(group.Networks);
  if (networks.length > 1) errors.push('Only one network resource may be defined per task group');
  const labels = new Set<string>();
  const statics = new Map<number, string>();
  for (const network of networks) {
    const mode = str(network.Mode);
    if (!['', 'host', 'bridge', 'none'].includes(mode) && !mode.startsWith('cni/')) errors.push(`invalid network mode ${JSON.stringify(mode)}`);
    for (const port of [...objs(network.ReservedPorts), ...objs(network.DynamicPorts)]) {
      const label = str(port.Label);
      if (labels.has(label)) errors.push(`Port label ${label} already in use by taskgroup network`);
      labels.add(label);
      const value = num(port.Value);
      if (objs(network.ReservedPorts).includes(port) && value !== 0) {
        const other = statics.get(value);
        if (other !== undefined) errors.push(`Static port ${value} already reserved by ${other}`);
        else if (value > 65535) errors.push(`Port ${label} (${value}) cannot be greater than 65535`);
        else statics.set(value, `taskgroup network:${label}`);
      }
      const to = num(port.To);
      if (to < -1) errors.push(`Port ${JSON.stringify(label)} cannot be mapped to negative value ${to}`);
      else if (to > 65535) errors.push(`Port ${JSON.stringify(label)} cannot be mapped to a port (${to}) greater than 65535`);
    }
  }
  return errors;
}

function taskErrors(task: Obj, group: Obj, options: ResolvedOptions): string[] {
  const errors: string[] = [];
  if (!str(task.Name)) errors.push('Missing task name');
  if (str(task.Name).includes('/')) errors.push('Task name cannot include slashes');
  if (!str(task.Driver)) errors.push('Missing task driver');
  if (num(task.KillTimeout) < 0) errors.push('KillTimeout must be a positive value');
  if (num(task.ShutdownDelay) < 0) errors.push('ShutdownDelay must be a positive value');
  const resources = isObj(task.Resources) ? task.Resources : {};
  const cpu = num(resources.CPU);
  const memory = num(resources.MemoryMB);
  const memoryMax = num(resources.MemoryMaxMB);
  if (cpu < 1 && num(resources.Cores) === 0) errors.push(`minimum CPU value is 1; got ${cpu}`);
  if (memory < 10) errors.push(`minimum MemoryMB value is 10; got ${memory}`);
  if (memoryMax !== 0 && memoryMax < memory) errors.push(`MemoryMaxMB value (${memoryMax}) should be larger than MemoryMB value (${memory})`);
  const services = objs(task.Services);
  for (const service of services) errors.push(...nested(`Service ${str(service.Name)} validation failed: `, serviceErrors(service)));
  errors.push(...missingPortErrors(services, [...portLabels(group.Networks), ...portLabels(resources.Networks)]));
  const volumes = isObj(group.Volumes) ? group.Volumes : {};
  objs(task.VolumeMounts).forEach((mount, idx) => {
    const volume = str(mount.Volume);
    if (!volume) errors.push(`Volume Mount (${idx}) references an empty volume`);
    else if (!(volume in volumes)) errors.push(`Volume Mount (${idx}) references undefined volume ${volume}`);
  });
  if (options.driverConfigValidation === 'register') {
    const diags = driverConfigDiagnostics(str(task.Driver), task.Config);
    if (diags.length > 0) errors.push(driverConfigError(diags));
  }
  return errors;
}

function groupErrors(group: Obj, job: Obj, options: ResolvedOptions): string[] {
  const errors: string[] = [];
  if (!str(group.Name)) errors.push('Missing task group name');
  if (num(group.Count) < 0) errors.push("Task group count can't be negative");
  const tasks = objs(group.Tasks);
  if (tasks.length === 0) errors.push('Missing tasks for task group');
  if (isObj(group.RestartPolicy)) errors.push(...restartPolicyErrors(group.RestartPolicy));
  errors.push(...networkErrors(group));
  const groupServices = objs(group.Services);
  const seen = new Set<string>();
  for (const service of groupServices) {
    const key = `${str(service.Name)}\u0000${str(service.PortLabel)}`;
    if (seen.has(key)) errors.push(`Service ${str(service.Name)} is duplicate`);
    seen.add(key);
    errors.push(...nested(`Service ${str(service.Name)} validation failed: `, serviceErrors(service)));
  }
  errors.push(...missingPortErrors(groupServices, portLabels(group.Networks)));
  for (const [name, volume] of Object.entries(isObj(group.Volumes) ? group.Volumes : {})) {
    if (!isObj(volume)) continue;
    const type = str(volume.Type);
    if (type !== 'host' && type !== 'csi') errors.push(`Volume ${name} validation failed: volume has unrecognized type ${type}`);
    else if (!str(volume.Source)) errors.push(`Volume ${name} validation failed: volume has an empty source`);
  }
  const names = new Map<string, number>();
  tasks.forEach((task, idx) => {
    const name = str(task.Name);
    if (!name) errors.push(`Task ${idx + 1} missing name`);
    else if (names.has(name)) errors.push(`Task ${idx + 1} redefines '${name}' from task ${names.get(name)! + 1}`);
    else names.set(name, idx);
  });
  if (tasks.filter((t) => t.Leader === true).length > 1) errors.push('Only one task may be marked as leader');
  if (str(job.Type) === 'system' && num(group.Count) > 1) {
    errors.push(`Job task group ${str(group.Name)} has count ${num(group.Count)}. Count cannot exceed 1 with system scheduler`);
  }
  for (const task of tasks) errors.push(...nested(`Task ${str(task.Name)} validation failed: `, taskErrors(task, group, options)));
  return errors;
}

/** structs.Job.Validate() on a canonical job. */
function jobErrors(job: Obj, options: ResolvedOptions): string[] {
  const errors: string[] = [];
  const id = str(job.ID);
  if (!str(job.Region)) errors.push('Missing job region');
  if (!id) errors.push('Missing job ID');
  else if (id.includes(' ')) errors.push('Job ID contains a space');
  else if (id.includes('\u0000')) errors.push('Job ID contains a null character');
  if (!str(job.Name)) errors.push('Missing job name');
  if (!str(job.Namespace)) errors.push('Job must be in a namespace');
  const type = str(job.Type);
  if (!type) errors.push('Missing job type');
  else if (!JOB_TYPES.includes(type)) errors.push(`Invalid job type: ${JSON.stringify(type)}`);
  const priority = num(job.Priority);
  if (priority < 1 || priority > 100) errors.push('Job priority must be between [1, 100]');
  const datacenters = Array.isArray(job.Datacenters) ? job.Datacenters : [];
  if (datacenters.length === 0) errors.push('Missing job datacenters');
  if (datacenters.some((dc) => dc === '')) errors.push('Job datacenter must be non-empty string');
  const groups = objs(job.TaskGroups);
  if (groups.length === 0) errors.push('Missing job task groups');
  const names = new Map<string, number>();
  groups.forEach((group, idx) => {
    const name = str(group.Name);
    if (!name) errors.push(`Job task group ${idx + 1} missing name`);
    else if (names.has(name)) errors.push(`Job task group ${idx + 1} redefines '${name}' from group ${names.get(name)! + 1}`);
    else names.set(name, idx);
  });
  for (const group of groups) {
    errors.push(...nested(`Task group ${str(group.Name)} validation failed: `, groupErrors(group, job, options)));
  }
  return errors;
}

export interface ValidationResult {
  errors: string[];
  warnings: string[];
}

/** What Job.Register's admission controllers say about a canonical job. */
export function validateJob(job: Obj, options: ResolvedOptions): ValidationResult {
  const errors = jobErrors(job, options);
  const id = str(job.ID);
  if (!options.namespaces.includes(str(job.Namespace))) {
    errors.push(`job ${JSON.stringify(id)} is in nonexistent namespace ${JSON.stringify(str(job.Namespace))}`);
  }
  if (!options.nodePools.includes(str(job.NodePool))) {
    errors.push(`job ${JSON.stringify(id)} is in nonexistent node pool ${JSON.stringify(str(job.NodePool))}`);
  }
  const warnings: string[] = [];
  if (!options.memoryOversubscription) {
    for (const group of objs(job.TaskGroups)) {
      for (const task of objs(group.Tasks)) {
        if (isObj(task.Resources) && num(task.Resources.MemoryMaxMB) !== 0) {
          warnings.push(
            `Memory oversubscription is not enabled; Task "${str(group.Name)}.${str(task.Name)}" memory_max value will be ignored. Update the Scheduler Configuration to allow oversubscription.`,
          );
        }
      }
    }
  }
  return { errors, warnings };
}

/** Driver config diagnostics per task, "group/task: ..." (for the registration report). */
export function driverConfigReport(job: Obj): string[] {
  return objs(job.TaskGroups).flatMap((group) =>
    objs(group.Tasks).flatMap((task) => driverConfigDiagnostics(str(task.Driver), task.Config).map((d) => `${str(group.Name)}/${str(task.Name)}: ${d}`)),
  );
}
