/**
 * Prometheus metrics, served on the internal listener at GET /metrics.
 * One registry per control service (created in main.ts), so tests never share state.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { INSTANCE_STATUSES, type InstanceStatus } from './provisioning/states.ts';

export interface Metrics {
  registry: Registry;
  instancesByState: Gauge<'state'>;
  provisioningSeconds: Histogram<string>;
  transitions: Counter<'from' | 'to'>;
  failures: Counter<'reason'>;
  crashes: Counter<'outcome'>;
  sweepSeconds: Histogram<string>;
  apiRequests: Counter<'method' | 'route' | 'status'>;
  apiLatencySeconds: Histogram<'method' | 'route'>;
}

/** countByState is read at scrape time, so the gauge is never stale. */
export function createMetrics(countByState: () => Promise<Record<InstanceStatus, number>>, options: { defaults?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaults !== false) collectDefaultMetrics({ register: registry, prefix: 'mxos_control_' });
  const instancesByState = new Gauge({
    name: 'mxos_instances',
    help: 'Instances by state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const counts = await countByState();
      for (const state of INSTANCE_STATUSES) this.set({ state }, counts[state] ?? 0);
    },
  });
  return {
    registry,
    instancesByState,
    provisioningSeconds: new Histogram({
      name: 'mxos_provisioning_duration_seconds',
      help: 'Time from a provision or start request to the instance answering /health',
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120],
      registers: [registry],
    }),
    transitions: new Counter({
      name: 'mxos_instance_transitions_total',
      help: 'Instance state transitions',
      labelNames: ['from', 'to'] as const,
      registers: [registry],
    }),
    failures: new Counter({
      name: 'mxos_instance_failures_total',
      help: 'Failed provisioning steps by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    crashes: new Counter({
      name: 'mxos_instance_crashes_total',
      help: "Instances found not running behind the platform's back, by what was done (restarted, failed past the limit)",
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    sweepSeconds: new Histogram({
      name: 'mxos_idle_sweep_duration_seconds',
      help: 'Duration of one idle sweep including reconcile',
      buckets: [0.01, 0.05, 0.1, 0.2, 0.5, 1, 5],
      registers: [registry],
    }),
    apiRequests: new Counter({
      name: 'mxos_api_requests_total',
      help: 'Platform API requests',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    }),
    apiLatencySeconds: new Histogram({
      name: 'mxos_api_request_duration_seconds',
      help: 'Platform API latency',
      labelNames: ['method', 'route'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
  };
}
