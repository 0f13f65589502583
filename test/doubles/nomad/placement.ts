/**
 * Whether a task group fits the double's single client node, as the scheduler
 * decides it: datacenter, driver and Consul constraints, host volumes, the
 * placementFailure fault, CPU/memory capacity, ports. Failures come back as
 * the AllocationMetric Nomad puts in an evaluation's FailedTGAllocs.
 */
import { createServer } from 'node:net';
import { isObj, num, objs, str } from './canonicalize.ts';
import { allocTerminal, groupUsage, type Runtime } from './runtime.ts';
import type { AllocPort, Obj } from './types.ts';

export function allocationMetric(rt: Runtime, over: Obj = {}): Obj {
  return {
    NodesInPool: 1,
    NodesEvaluated: 1,
    NodesFiltered: 0,
    NodesAvailable: { [rt.options.datacenter]: 1 },
    ClassFiltered: null,
    ConstraintFiltered: null,
    NodesExhausted: 0,
    ClassExhausted: null,
    DimensionExhausted: null,
    QuotaExhausted: null,
    ResourcesExhausted: null,
    ScoreMetaData: null,
    AllocationTime: 52_000,
    CoalescedFailures: 0,
    ...over,
  };
}

const glob = (pattern: string) =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );

const filtered = (rt: Runtime, constraint: string) => allocationMetric(rt, { NodesFiltered: 1, ConstraintFiltered: { [constraint]: 1 } });
const exhausted = (rt: Runtime, dimension: string) => allocationMetric(rt, { NodesExhausted: 1, DimensionExhausted: { [dimension]: 1 } });

/** Constraint-level feasibility of a group; null when the node is eligible. */
export function infeasible(rt: Runtime, job: Obj, group: Obj): Obj | null {
  const datacenters = Array.isArray(job.Datacenters) ? job.Datacenters.map(String) : ['*'];
  if (!datacenters.some((dc) => glob(dc).test(rt.options.datacenter))) {
    return allocationMetric(rt, { NodesEvaluated: 0, NodesAvailable: { [rt.options.datacenter]: 0 } });
  }
  const tasks = objs(group.Tasks);
  if (tasks.some((t) => !rt.options.drivers.includes(str(t.Driver)))) return filtered(rt, 'missing drivers');
  const services = [...objs(group.Services), ...tasks.flatMap((t) => objs(t.Services))];
  if (!rt.options.consul && services.some((s) => str(s.Provider) === 'consul')) {
    return filtered(rt, '${attr.consul.version} semver >= 1.8.0');
  }
  const offered = rt.options.hostVolumes;
  const volumes = Object.values(isObj(group.Volumes) ? group.Volumes : {}).filter(isObj);
  if (offered !== '*' && volumes.some((v) => str(v.Type) === 'host' && !offered.includes(str(v.Source)))) {
    return filtered(rt, 'missing compatible host volumes');
  }
  if (rt.faults.placement) return exhausted(rt, rt.faults.placement.reason);
  return null;
}

/** Capacity left for one more allocation of `group`; null when it fits. */
export function capacityExhausted(rt: Runtime, group: Obj): Obj | null {
  let cpu = 0;
  let memoryMB = 0;
  for (const alloc of rt.state.allocs.values()) {
    if (allocTerminal(alloc)) continue;
    const g = objs(alloc.job.TaskGroups).find((x) => str(x.Name) === alloc.group);
    if (!g) continue;
    const usage = groupUsage(g);
    cpu += usage.cpu;
    memoryMB += usage.memoryMB;
  }
  const need = groupUsage(group);
  if (memoryMB + need.memoryMB > rt.options.nodeResources.memoryMB) return exhausted(rt, 'memory');
  if (cpu + need.cpu > rt.options.nodeResources.cpu) return exhausted(rt, 'cpu');
  return null;
}

function portsInUse(rt: Runtime): Set<number> {
  const used = new Set<number>();
  for (const alloc of rt.state.allocs.values()) {
    if (allocTerminal(alloc)) continue;
    for (const port of alloc.ports) used.add(port.Value);
  }
  return used;
}

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** Picks host ports for a group's network; a metric when that fails. */
export async function assignPorts(rt: Runtime, group: Obj): Promise<{ ports: AllocPort[] } | { metric: Obj }> {
  const used = portsInUse(rt);
  const ports: AllocPort[] = [];
  const hostIP = rt.options.hostIP;
  for (const network of objs(group.Networks)) {
    for (const port of objs(network.ReservedPorts)) {
      const value = num(port.Value);
      if (used.has(value)) return { metric: exhausted(rt, `network: reserved port collision ${str(port.Label)}=${value}`) };
      used.add(value);
      ports.push({ Label: str(port.Label), Value: value, To: num(port.To) === -1 ? value : num(port.To), HostIP: hostIP, reserved: true });
    }
    for (const port of objs(network.DynamicPorts)) {
      const [min, max] = rt.options.dynamicPorts;
      let value = 0;
      for (let attempt = 0; attempt < 100 && value === 0; attempt += 1) {
        const candidate = min + Math.floor(Math.random() * (max - min + 1));
        if (used.has(candidate)) continue;
        used.add(candidate);
        if (await bindable(candidate, hostIP)) value = candidate;
      }
      if (value === 0) return { metric: exhausted(rt, 'network: dynamic port selection failed') };
      ports.push({ Label: str(port.Label), Value: value, To: num(port.To) === -1 ? value : num(port.To), HostIP: hostIP, reserved: false });
    }
  }
  return { ports };
}
