/**
 * The meter's Prometheus metrics (on the control service's registry, GET /metrics):
 * what calls ended as, what was refused and why, what was spent, how long admission
 * took (a new lease is a transaction; a lease admits in microseconds), and how the
 * settlement writes go.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface MeterMetrics {
  calls: Counter<'outcome'>;
  refusals: Counter<'reason'>;
  spentMicro: Counter<string>;
  inFlight: Gauge<string>;
  admissionSeconds: Histogram<string>;
  writeBatches: Counter<'result'>;
  writeBatchSize: Histogram<string>;
}

export type RefusalReason = 'unauthenticated' | 'budget' | 'ceiling' | 'unpriced' | 'bad_request' | 'unavailable';

export function createMeterMetrics(registry: Registry): MeterMetrics {
  const registers = [registry];
  return {
    calls: new Counter({
      name: 'mxos_meter_calls_total',
      help: 'Metered calls settled, by outcome (ok, error, disconnected, capped)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    refusals: new Counter({
      name: 'mxos_meter_refusals_total',
      help: 'Calls refused before reaching the model API, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    spentMicro: new Counter({ name: 'mxos_meter_spend_microdollars_total', help: 'What settled calls were charged, in micro-dollars', registers }),
    inFlight: new Gauge({ name: 'mxos_meter_calls_in_flight', help: 'Metered calls admitted and not yet settled', registers }),
    admissionSeconds: new Histogram({
      name: 'mxos_meter_admission_seconds',
      help: 'Time to admit a call against its budget (in memory from a lease; a new lease is a transaction)',
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
      registers,
    }),
    writeBatches: new Counter({
      name: 'mxos_meter_write_batches_total',
      help: 'Settlement writes, by result (ok, failed: retried)',
      labelNames: ['result'] as const,
      registers,
    }),
    writeBatchSize: new Histogram({
      name: 'mxos_meter_write_batch_size',
      help: 'Settled calls per write',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
      registers,
    }),
  };
}
