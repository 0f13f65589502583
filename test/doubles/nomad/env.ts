/**
 * The environment Nomad gives a task (NOMAD_* variables, NOMAD_META_*, then
 * the task's Env with ${...} interpolated) and the AllocationInfo the hooks get.
 */
import { findGroup } from './alloc-views.ts';
import { isObj, num, objs, str } from './canonicalize.ts';
import type { Runtime } from './runtime.ts';
import type { AllocationInfo, AllocRecord, Obj } from './types.ts';
import { renderTemplateEnv } from './variables.ts';
import { allocJobView } from './views.ts';

const clean = (key: string) => key.replace(/[^a-zA-Z0-9_]/g, '_');

function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\{([^}]+)\}/g, (whole, name: string) => env[name.trim()] ?? whole);
}

export function taskEnv(rt: Runtime, alloc: AllocRecord, task: Obj): Record<string, string> {
  const job = alloc.job;
  const group = findGroup(job, alloc.group) ?? {};
  const resources = isObj(task.Resources) ? task.Resources : {};
  const env: Record<string, string> = {
    NOMAD_ALLOC_DIR: '/alloc',
    NOMAD_TASK_DIR: '/local',
    NOMAD_SECRETS_DIR: '/secrets',
    NOMAD_ALLOC_ID: alloc.id,
    NOMAD_SHORT_ALLOC_ID: alloc.id.slice(0, 8),
    NOMAD_ALLOC_NAME: alloc.name,
    NOMAD_ALLOC_INDEX: String(alloc.index),
    NOMAD_GROUP_NAME: alloc.group,
    NOMAD_TASK_NAME: str(task.Name),
    NOMAD_JOB_ID: alloc.jobId,
    NOMAD_JOB_NAME: str(job.Name),
    NOMAD_JOB_PARENT_ID: str(job.ParentID),
    NOMAD_NAMESPACE: alloc.namespace,
    NOMAD_REGION: str(job.Region),
    NOMAD_DC: rt.options.datacenter,
    NOMAD_CPU_LIMIT: String(num(resources.CPU)),
    NOMAD_MEMORY_LIMIT: String(num(resources.MemoryMB)),
  };
  if (rt.options.memoryOversubscription && num(resources.MemoryMaxMB) > 0) {
    env.NOMAD_MEMORY_MAX_LIMIT = String(num(resources.MemoryMaxMB));
  }
  for (const port of alloc.ports) {
    const label = clean(port.Label);
    const inside = port.To > 0 ? port.To : port.Value;
    Object.assign(env, {
      [`NOMAD_IP_${label}`]: port.HostIP,
      [`NOMAD_PORT_${label}`]: String(inside),
      [`NOMAD_ADDR_${label}`]: `${port.HostIP}:${inside}`,
      [`NOMAD_HOST_IP_${label}`]: port.HostIP,
      [`NOMAD_HOST_PORT_${label}`]: String(port.Value),
      [`NOMAD_HOST_ADDR_${label}`]: `${port.HostIP}:${port.Value}`,
      [`NOMAD_ALLOC_PORT_${label}`]: String(inside),
    });
  }
  const meta = { ...(isObj(job.Meta) ? job.Meta : {}), ...(isObj(group.Meta) ? group.Meta : {}), ...(isObj(task.Meta) ? task.Meta : {}) };
  for (const [key, value] of Object.entries(meta)) {
    env[`NOMAD_META_${clean(key)}`] = String(value);
    env[`NOMAD_META_${clean(key).toUpperCase()}`] = String(value);
  }
  const base = { ...env };
  for (const [key, value] of Object.entries(isObj(task.Env) ? task.Env : {})) env[key] = interpolate(String(value), base);
  // Templates with env = true come last: Nomad lets them win over the task's Env.
  Object.assign(env, renderTemplateEnv(rt.state, alloc.namespace, task));
  return env;
}

/** The task the hooks stand for: the leader, else the first task. */
export function primaryTask(alloc: AllocRecord): Obj {
  const tasks = objs(findGroup(alloc.job, alloc.group)?.Tasks);
  return tasks.find((t) => t.Leader === true) ?? tasks[0] ?? {};
}

export function allocationInfo(rt: Runtime, alloc: AllocRecord): AllocationInfo {
  const task = primaryTask(alloc);
  return {
    jobId: alloc.jobId,
    namespace: alloc.namespace,
    allocId: alloc.id,
    allocName: alloc.name,
    group: alloc.group,
    task: str(task.Name),
    ports: Object.fromEntries(alloc.ports.map((p) => [p.Label, p.Value])),
    hostIP: rt.options.hostIP,
    env: taskEnv(rt, alloc, task),
    config: isObj(task.Config) ? structuredClone(task.Config) : {},
    job: allocJobView(rt.state, alloc),
  };
}
