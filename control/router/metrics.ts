/** Router metrics, registered on the control service's registry (GET /metrics). */
import { Counter, Histogram, type Registry } from 'prom-client';

export interface RouterMetrics {
  requests: Counter<'outcome'>;
  wakes: Counter<string>;
  wakeSeconds: Histogram<string>;
}

export function createRouterMetrics(registry: Registry): RouterMetrics {
  return {
    requests: new Counter({
      name: 'mxos_router_requests_total',
      help: 'Requests on instance hosts by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    wakes: new Counter({ name: 'mxos_router_wakes_total', help: 'Starts requested by the router for sleeping instances', registers: [registry] }),
    wakeSeconds: new Histogram({
      name: 'mxos_router_wake_duration_seconds',
      help: 'From a wake request to the instance being ready',
      buckets: [0.25, 0.5, 1, 2, 5, 10, 20, 30, 60],
      registers: [registry],
    }),
  };
}
