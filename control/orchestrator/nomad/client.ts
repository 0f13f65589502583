/**
 * A thin typed client for Nomad's HTTP API (no maintained one exists on npm).
 * Token, namespace and region go on every call; connection errors and 5xx (but
 * validation 500s) are retried with backoff; Nomad's plain-text errors become typed errors that
 * carry Nomad's own message.
 */
import { OrchestratorError, OrchestratorUnavailableError } from '../types.ts';
import type { Allocation, AllocationStub, Evaluation, Indexed, JobListStub, JobRead, RegisterResponse, ServiceRegistration } from './api-types.ts';

export interface NomadClientOptions {
  address: string;
  token: string | null;
  namespace: string;
  region: string | null;
  /** Per request, on top of a blocking query's wait. */
  timeoutMs?: number;
  retries?: number;
  retryBaseMs?: number;
}

/** Nomad answered with an error that retrying will not fix (4xx, or 500 from its validation). */
export class NomadApiError extends OrchestratorError {
  constructor(
    readonly httpStatus: number,
    readonly nomadMessage: string,
    readonly request: string,
  ) {
    super(httpStatus === 403 ? 'nomad_forbidden' : 'nomad_rejected', `Nomad rejected ${request}: ${nomadMessage}`, {
      detail: `HTTP ${httpStatus}`,
    });
  }
}

/** Nomad is unreachable, timing out or failing (5xx) even after retries. */
export class NomadUnavailableError extends OrchestratorUnavailableError {
  constructor(address: string, request: string, detail: string, cause?: unknown) {
    super('nomad', `${request} at ${address}: ${detail}`, cause);
  }
}

interface BlockingOptions {
  /** Answer only once the index moved past this (or the wait elapsed). */
  index?: number;
  /** Longest wait in ms (Nomad's default is 5 min, its maximum 10 min). */
  waitMs?: number;
  signal?: AbortSignal;
}

const RETRYABLE_STATUS = new Set([500, 502, 503, 504]);
/** Nomad also answers 500 for its own validation ("1 error occurred: ..."): no retry fixes that. */
const VALIDATION_BODY = /\berrors? occurred\b|validation failed|not found/i;

export class NomadClient {
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryBaseMs: number;
  /** Requests sent, for benchmarks and tests. */
  requestCount = 0;

  constructor(private readonly options: NomadClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retries = options.retries ?? 3;
    this.retryBaseMs = options.retryBaseMs ?? 200;
  }

  get address(): string {
    return this.options.address;
  }

  /**
   * Cheap health check, without retries: the cluster has a leader (which also proves the
   * address is Nomad, not whatever else answers HTTP there), and the token may read jobs
   * (a job that never exists).
   */
  async ping(): Promise<void> {
    const leader = await this.call<unknown>('GET', '/v1/status/leader', { retries: 0, timeoutMs: 3000 });
    if (typeof leader.value !== 'string' || leader.value === '') {
      throw new NomadUnavailableError(this.options.address, 'GET /v1/status/leader', 'no cluster leader (or the address does not answer like Nomad)');
    }
    await this.call('GET', '/v1/job/matrixos-platform-health-probe', { notFoundIsNull: true, retries: 0, timeoutMs: 3000 });
  }

  register(job: object): Promise<RegisterResponse> {
    return this.call<RegisterResponse>('PUT', '/v1/jobs', { body: { Job: job } }).then((r) => r.value!);
  }

  async readJob(id: string, blocking?: BlockingOptions): Promise<Indexed<JobRead | null>> {
    return this.call<JobRead>('GET', `/v1/job/${encodeURIComponent(id)}`, { blocking, notFoundIsNull: true });
  }

  async listJobs(prefix: string): Promise<JobListStub[]> {
    return (await this.call<JobListStub[]>('GET', '/v1/jobs', { query: { prefix, meta: 'true' } })).value ?? [];
  }

  async jobAllocations(id: string, blocking?: BlockingOptions): Promise<Indexed<AllocationStub[]>> {
    const answer = await this.call<AllocationStub[]>('GET', `/v1/job/${encodeURIComponent(id)}/allocations`, { blocking });
    return { value: answer.value ?? [], index: answer.index };
  }

  /** Every allocation of the namespace (stubs), e.g. for one shared blocking query. */
  async listAllocations(blocking?: BlockingOptions): Promise<Indexed<AllocationStub[]>> {
    const answer = await this.call<AllocationStub[]>('GET', '/v1/allocations', { blocking });
    return { value: answer.value ?? [], index: answer.index };
  }

  async allocation(id: string): Promise<Allocation | null> {
    return (await this.call<Allocation>('GET', `/v1/allocation/${encodeURIComponent(id)}`, { notFoundIsNull: true })).value;
  }

  async evaluation(id: string): Promise<Evaluation | null> {
    return (await this.call<Evaluation>('GET', `/v1/evaluation/${encodeURIComponent(id)}`, { notFoundIsNull: true })).value;
  }

  async jobEvaluations(id: string): Promise<Evaluation[]> {
    return (await this.call<Evaluation[]>('GET', `/v1/job/${encodeURIComponent(id)}/evaluations`)).value ?? [];
  }

  async service(name: string): Promise<ServiceRegistration[]> {
    return (await this.call<ServiceRegistration[]>('GET', `/v1/service/${encodeURIComponent(name)}`)).value ?? [];
  }

  /** Creates or replaces a Nomad Variable (its items are secrets: never logged). */
  async putVariable(path: string, items: Record<string, string>): Promise<void> {
    await this.call('PUT', `/v1/var/${variablePath(path)}`, { body: { Namespace: this.options.namespace, Path: path, Items: items } });
  }

  /** Deletes a Nomad Variable; an unknown one is not an error. */
  async deleteVariable(path: string): Promise<void> {
    await this.call('DELETE', `/v1/var/${variablePath(path)}`, { notFoundIsNull: true });
  }

  /** Stops a job; purge also removes it. An unknown job is not an error (Nomad answers 200). */
  async stopJob(id: string, purge: boolean): Promise<{ EvalID: string }> {
    const query = purge ? { purge: 'true' } : undefined;
    return (await this.call<{ EvalID: string }>('DELETE', `/v1/job/${encodeURIComponent(id)}`, { query })).value ?? { EvalID: '' };
  }

  private async call<T>(
    method: string,
    path: string,
    opts: { body?: unknown; query?: Record<string, string>; blocking?: BlockingOptions; notFoundIsNull?: boolean; retries?: number; timeoutMs?: number } = {},
  ): Promise<Indexed<T | null>> {
    const url = new URL(path, this.options.address.endsWith('/') ? this.options.address : `${this.options.address}/`);
    url.searchParams.set('namespace', this.options.namespace);
    if (this.options.region) url.searchParams.set('region', this.options.region);
    for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
    let timeout = opts.timeoutMs ?? this.timeoutMs;
    const retries = opts.retries ?? this.retries;
    if (opts.blocking?.index !== undefined) {
      const waitMs = Math.min(opts.blocking.waitMs ?? 60_000, 600_000);
      url.searchParams.set('index', String(opts.blocking.index));
      url.searchParams.set('wait', `${Math.max(1, Math.ceil(waitMs))}ms`);
      // Nomad adds up to wait/16 of jitter; timers need whole milliseconds.
      timeout += Math.ceil(waitMs + waitMs / 16);
    }
    const request = `${method} ${path}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.token) headers['x-nomad-token'] = this.options.token;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';

    let lastProblem = '';
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await sleep(this.retryBaseMs * 2 ** (attempt - 1), opts.blocking?.signal);
      opts.blocking?.signal?.throwIfAborted();
      let response: Response;
      this.requestCount++;
      try {
        const signals = [AbortSignal.timeout(timeout), ...(opts.blocking?.signal ? [opts.blocking.signal] : [])];
        response = await fetch(url, {
          method,
          headers,
          body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
          signal: AbortSignal.any(signals),
        });
      } catch (err) {
        opts.blocking?.signal?.throwIfAborted();
        lastProblem = describeFetchError(err, timeout);
        continue;
      }
      const text = await response.text();
      if (response.ok) {
        const index = Number(response.headers.get('x-nomad-index') ?? 0);
        return { value: text ? (JSON.parse(text) as T) : null, index };
      }
      if (response.status === 404 && opts.notFoundIsNull) return { value: null, index: Number(response.headers.get('x-nomad-index') ?? 0) };
      if (RETRYABLE_STATUS.has(response.status) && !(response.status === 500 && VALIDATION_BODY.test(text))) {
        lastProblem = `HTTP ${response.status}: ${text.trim().slice(0, 500)}`;
        continue;
      }
      throw new NomadApiError(response.status, text.trim().slice(0, 2000) || response.statusText, request);
    }
    throw new NomadUnavailableError(this.options.address, request, lastProblem);
  }
}

function describeFetchError(err: unknown, timeoutMs: number): string {
  const error = err as Error & { cause?: { code?: string; message?: string } };
  if (error.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  return error.cause?.code ? `${error.cause.code} (${error.cause.message ?? ''})` : error.message;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/** A variable path in a URL: each segment escaped, the slashes kept. */
function variablePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}
