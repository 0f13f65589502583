/** Groups the Nomad double's request log by endpoint: method + path with ids replaced. */
import type { LoggedRequest } from '../../test/doubles/nomad/index.ts';
import { round } from '../lib.ts';

/** Path segments after these name one object: the next segment is an id. */
const ID_AFTER = new Set(['job', 'allocation', 'evaluation', 'service', 'node', 'deployment', 'namespace', 'client']);

/** "GET /v1/job/:id/allocations (blocking)" for GET /v1/job/matrixos-user-001/allocations?index=42&wait=2000ms. */
export function endpointOf(request: LoggedRequest): string {
  const segments = request.path.split('/');
  const pattern = segments.map((segment, i) => (i > 0 && ID_AFTER.has(segments[i - 1]!) && segment !== '' ? ':id' : segment)).join('/');
  const blocking = request.query.index !== undefined ? ' (blocking)' : '';
  return `${request.method} ${pattern}${blocking}`;
}

export interface EndpointCount {
  endpoint: string;
  requests: number;
  perProvision: number;
  /** HTTP status -> count ("none": socket dropped or still held). */
  statuses: Record<string, number>;
}

/** Counts by endpoint, most requested first; perProvision = requests / `per`. */
export function breakdown(requests: readonly LoggedRequest[], per: number): EndpointCount[] {
  const map = new Map<string, EndpointCount>();
  for (const r of requests) {
    const endpoint = endpointOf(r);
    let entry = map.get(endpoint);
    if (!entry) {
      entry = { endpoint, requests: 0, perProvision: 0, statuses: {} };
      map.set(endpoint, entry);
    }
    entry.requests++;
    const status = r.status === undefined ? 'none' : String(r.status);
    entry.statuses[status] = (entry.statuses[status] ?? 0) + 1;
  }
  const list = [...map.values()].sort((a, b) => b.requests - a.requests);
  for (const e of list) e.perProvision = round(e.requests / per, 2);
  return list;
}

/** How many times each job id was named, as a distribution: min / median / max requests per instance. */
export function perJobSpread(
  requests: readonly LoggedRequest[],
  jobPrefix: string,
): { jobs: number; min: number; median: number; max: number; unattributed: number } {
  const counts = new Map<string, number>();
  let unattributed = 0;
  for (const r of requests) {
    const m = /^\/v1\/job\/([^/]+)/.exec(r.path);
    if (m && m[1]!.startsWith(jobPrefix)) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
    else unattributed++;
  }
  const values = [...counts.values()].sort((a, b) => a - b);
  const mid = Math.floor(values.length / 2);
  const median = values.length === 0 ? 0 : values.length % 2 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
  return { jobs: values.length, min: values[0] ?? 0, median, max: values.at(-1) ?? 0, unattributed };
}
