/**
 * A Nomad HTTP API double: a real HTTP server on 127.0.0.1 (port 0) speaking
 * Nomad's /v1 API as README.md beside this file describes it: Go-style
 * JSON decoding checked against the api structs, server-side validation with
 * go-multierror texts, evaluations, allocations that start and stop with task
 * events, Nomad-native service registrations, blocking queries, ACLs,
 * namespaces, and faults to inject.
 *
 *   const nomad = await startNomadDouble({ token: 'secret' });
 *   ... point the Nomad driver at nomad.url ...
 *   await nomad.close();
 */
import { AllocRunner } from './alloc-runner.ts';
import { allocView } from './alloc-views.ts';
import { HttpFront } from './http-front.ts';
import { type NomadDoubleOptions, resolveOptions } from './options.ts';
import { createHandler } from './router.ts';
import { Runtime } from './runtime.ts';
import { Scheduler } from './scheduler.ts';
import type { LoggedRequest, Obj, RegistrationReport, ServiceRecord } from './types.ts';
import type { VariableRecord } from './variables.ts';
import { evalView, jobView } from './views.ts';

export type { AllocationInfo, NomadDoubleOptions } from './options.ts';
export type { LoggedRequest, RegistrationReport, ServiceRecord } from './types.ts';

export interface NomadDouble {
  /** Base URL, e.g. "http://127.0.0.1:41234" (the API is under /v1). */
  readonly url: string;
  readonly port: number;
  /** Every request received, oldest first. */
  readonly requests: LoggedRequest[];
  /** Every job registration attempt, oldest first. */
  readonly registrations: RegistrationReport[];
  /** The newest registration report (unknown keys, driver config problems, warnings). */
  readonly lastRegisterWarnings: RegistrationReport | undefined;
  /** Errors thrown by onAllocationStopped, and unexpected internal errors. */
  readonly errors: Error[];
  /** The current Raft index. */
  readonly index: number;
  /** Jobs as GET /v1/job/:id shows them; namespace "*" for all. Default "default". */
  jobs(namespace?: string): Obj[];
  /** Nomad Variables, items included (what an operator with read access would see). */
  variables(namespace?: string): VariableRecord[];
  /** Allocations as GET /v1/allocation/:id shows them, optionally of one job. */
  allocations(jobId?: string, namespace?: string): Obj[];
  /** Evaluations as GET /v1/evaluation/:id shows them, optionally of one job. */
  evaluations(jobId?: string, namespace?: string): Obj[];
  /** Nomad-native service registrations, optionally of one service name. */
  services(name?: string): ServiceRecord[];
  /** Resolves once no evaluation, task start or task stop is pending. */
  settled(): Promise<void>;
  /** Closes the listener and drops every connection; the port stays reserved for up(). */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  /** The next n requests (any endpoint) get `status` with `body` as plain text. */
  failNext(n: number, status?: number, body?: string): void;
  /** Adds `ms` of latency to every request (0 to stop). */
  slow(ms: number): void;
  /**
   * While on, registrations succeed but placements fail: the evaluation completes with
   * FailedTGAllocs {group: {DimensionExhausted: {[reason]: 1}, ...}} and a blocked evaluation.
   * Switching it off retries blocked evaluations.
   */
  placementFailure(on: boolean, reason?: string): void;
  /** The next allocation of a matching job (ID, or "-handle" suffix/prefix segment) crashes at start. */
  crashNext(handleOrJobId: string | ((jobId: string) => boolean), message?: string): void;
  /** Pulls of `image` ("repo" for every tag, or "repo:tag") fail; pass message false to undo. */
  imagePullFailure(image: string, message?: string | false): void;
  /** A running allocation's task exits with code 1 and is not restarted. */
  crashAllocation(allocId: string, message?: string): void;
  /**
   * The node under a running allocation is lost: the allocation turns `lost` and Nomad
   * reschedules it (a node-update evaluation places a replacement, on new ports).
   */
  loseAllocation(allocId: string): void;
  /** Undoes failNext, slow, placementFailure, crashNext and imagePullFailure. */
  clearFaults(): void;
  /** Stops the server; calls onAllocationStopped for allocations still running. */
  close(): Promise<void>;
}

export async function startNomadDouble(options: NomadDoubleOptions = {}): Promise<NomadDouble> {
  const rt = new Runtime(resolveOptions(options));
  const runner = new AllocRunner(rt);
  const scheduler = new Scheduler(rt, runner);
  const requests: LoggedRequest[] = [];
  const front = new HttpFront(createHandler(rt, scheduler, requests));
  await front.up();
  const inNamespace = (wanted: string | undefined, actual: string) => (wanted ?? 'default') === '*' || (wanted ?? 'default') === actual;

  return {
    get url() {
      return front.url;
    },
    get port() {
      return front.port;
    },
    requests,
    registrations: rt.registrations,
    get lastRegisterWarnings() {
      return rt.registrations.at(-1);
    },
    errors: rt.errors,
    get index() {
      return rt.state.index;
    },
    jobs: (namespace) => [...rt.state.jobs.values()].filter((j) => inNamespace(namespace, j.namespace)).map((j) => jobView(j)),
    variables: (namespace) => [...rt.state.variables.values()].filter((v) => inNamespace(namespace, v.Namespace)).map((v) => structuredClone(v)),
    allocations: (jobId, namespace) =>
      [...rt.state.allocs.values()]
        .filter((a) => (jobId === undefined || a.jobId === jobId) && inNamespace(namespace, a.namespace))
        .sort((a, b) => a.createIndex - b.createIndex)
        .map((a) => allocView(rt.state, a, rt.options)),
    evaluations: (jobId, namespace) =>
      [...rt.state.evals.values()]
        .filter((e) => (jobId === undefined || e.jobId === jobId) && inNamespace(namespace, e.namespace))
        .sort((a, b) => a.createIndex - b.createIndex)
        .map(evalView),
    services: (name) => [...rt.state.services.values()].filter((s) => name === undefined || s.ServiceName === name),
    settled: () => rt.idle(),
    down: () => front.down(),
    up: () => front.up(),
    failNext: (n, status = 500, body = 'rpc error: No cluster leader') => rt.faults.failNext(n, status, body),
    slow: (ms) => {
      rt.faults.slowMs = ms;
    },
    placementFailure: (on, reason = 'memory') => {
      rt.faults.placement = on ? { reason } : null;
      if (!on) scheduler.retryBlocked();
    },
    crashNext: (key, message = '') => rt.faults.crashNext(key, message),
    imagePullFailure: (image, message) => rt.faults.imagePullFailure(image, message),
    crashAllocation: (allocId, message = '') => {
      const alloc = rt.state.allocs.get(allocId);
      if (!alloc) throw new Error(`nomad double: no allocation ${allocId}`);
      if (alloc.clientStatus !== 'running') throw new Error(`nomad double: allocation ${allocId} is ${alloc.clientStatus}, not running`);
      runner.crashRunning(alloc, message);
    },
    loseAllocation: (allocId) => {
      const alloc = rt.state.allocs.get(allocId);
      if (!alloc) throw new Error(`nomad double: no allocation ${allocId}`);
      if (alloc.clientStatus !== 'running') throw new Error(`nomad double: allocation ${allocId} is ${alloc.clientStatus}, not running`);
      runner.lose(alloc);
      const job = rt.state.getJob(alloc.namespace, alloc.jobId);
      if (job && job.spec.Stop !== true) scheduler.createEval(job.namespace, job.id, job.spec, 'node-update', job.jobModifyIndex);
    },
    clearFaults: () => {
      const hadPlacement = rt.faults.placement !== null;
      rt.faults.clear();
      if (hadPlacement) scheduler.retryBlocked();
    },
    close: async () => {
      await front.down();
      await runner.shutdown();
      rt.close();
    },
  };
}
