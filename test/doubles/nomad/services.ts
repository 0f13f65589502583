/**
 * Nomad-native service registrations (provider "nomad") of an allocation:
 * added when its tasks run, removed when it stops or fails. Services with
 * provider "consul" are Consul's business and never show up here.
 */
import { findGroup } from './alloc-views.ts';
import { objs, str } from './canonicalize.ts';
import type { Runtime } from './runtime.ts';
import { jobKey } from './state.ts';
import type { AllocRecord, ServiceRecord } from './types.ts';

/** Registers the allocation's services; call inside a state write at `index`. */
export function registerServices(rt: Runtime, alloc: AllocRecord, index: number): void {
  const group = findGroup(alloc.job, alloc.group) ?? {};
  const entries = [
    ...objs(group.Services).map((s) => ({ s, owner: `group-${alloc.group}` })),
    ...objs(group.Tasks).flatMap((t) => objs(t.Services).map((s) => ({ s, owner: str(t.Name) }))),
  ];
  for (const { s, owner } of entries) {
    if (str(s.Provider) !== 'nomad') continue;
    const label = str(s.PortLabel);
    const port = /^\d+$/.test(label) ? Number(label) : (alloc.ports.find((p) => p.Label === label)?.Value ?? 0);
    const record: ServiceRecord = {
      ID: `_nomad-task-${alloc.id}-${owner}-${str(s.Name)}-${label}`,
      ServiceName: str(s.Name),
      Namespace: alloc.namespace,
      NodeID: alloc.nodeId,
      Datacenter: rt.options.datacenter,
      JobID: alloc.jobId,
      AllocID: alloc.id,
      Tags: Array.isArray(s.Tags) && s.Tags.length > 0 ? s.Tags.map(String) : null,
      Address: rt.options.hostIP,
      Port: port,
      CreateIndex: index,
      ModifyIndex: index,
    };
    rt.state.services.set(record.ID, record);
    rt.state.serviceNameIndex.set(jobKey(alloc.namespace, record.ServiceName), index);
  }
}

/** Removes the allocation's services; call inside a state write at `index`. */
export function deregisterServices(rt: Runtime, alloc: AllocRecord, index: number): void {
  for (const [id, service] of rt.state.services) {
    if (service.AllocID !== alloc.id) continue;
    rt.state.services.delete(id);
    rt.state.serviceNameIndex.set(jobKey(service.Namespace, service.ServiceName), index);
  }
}
