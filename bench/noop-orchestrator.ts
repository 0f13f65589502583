/**
 * An in-memory Orchestrator for benchmarks: every call records state instantly and
 * nothing is run. Started instances report `running` at a fake, deterministic
 * address (fakeAddress), so a database seeded with the same addresses shows no drift.
 */
import { OrchestratorError, type DestroyResult, type InstanceAddress, type InstanceSpec, type Orchestrator, type OrchestratorHealth, type RuntimeStatus } from '../control/orchestrator/types.ts';

/** The address the no-op driver reports for `handle`; seeders write the same into gateway_url/shell_url. */
export function fakeAddress(handle: string): InstanceAddress {
  return { gateway: `http://noop.invalid/${handle}/gateway`, shell: `http://noop.invalid/${handle}/shell` };
}

export class NoopOrchestrator implements Orchestrator {
  readonly name: string;
  private readonly specs = new Map<string, string>();
  private readonly running = new Set<string>();
  /** Handles known but not running (stopped after a start, or ensured only). */
  private readonly known = new Set<string>();
  readonly calls = { ensure: 0, start: 0, stop: 0, destroy: 0, status: 0, list: 0 };

  constructor(options: { name?: string; running?: Iterable<string> } = {}) {
    this.name = options.name ?? 'noop';
    for (const handle of options.running ?? []) this.adopt(handle);
  }

  /** Marks `handle` as already running (e.g. seeded before the control service starts). */
  adopt(handle: string): void {
    this.known.add(handle);
    this.running.add(handle);
  }

  get runningCount(): number {
    return this.running.size;
  }

  async ensure(spec: InstanceSpec): Promise<void> {
    this.calls.ensure++;
    this.specs.set(spec.handle, spec.hash);
    this.known.add(spec.handle);
  }

  async start(handle: string): Promise<void> {
    this.calls.start++;
    if (!this.specs.has(handle) && !this.running.has(handle)) {
      throw new OrchestratorError('spec_missing', `No definition for instance "${handle}": it must be provisioned first.`);
    }
    this.running.add(handle);
  }

  async stop(handle: string): Promise<void> {
    this.calls.stop++;
    this.running.delete(handle);
  }

  async destroy(handle: string, _options: { purge: boolean }): Promise<DestroyResult> {
    this.calls.destroy++;
    this.running.delete(handle);
    this.known.delete(handle);
    this.specs.delete(handle);
    return { archivePath: null };
  }

  async status(handle: string): Promise<RuntimeStatus> {
    this.calls.status++;
    return this.statusOf(handle);
  }

  async list(): Promise<RuntimeStatus[]> {
    this.calls.list++;
    return [...this.known].map((h) => this.statusOf(h));
  }

  async health(): Promise<OrchestratorHealth> {
    return { ok: true, detail: 'no-op driver (benchmark)' };
  }

  async close(): Promise<void> {}

  private statusOf(handle: string): RuntimeStatus {
    if (this.running.has(handle)) {
      const specHash = this.specs.get(handle);
      return { handle, state: 'running', address: fakeAddress(handle), detail: 'no-op', ...(specHash ? { specHash } : {}) };
    }
    if (this.known.has(handle)) return { handle, state: 'stopped', detail: 'not running' };
    return { handle, state: 'missing', detail: 'unknown to the no-op driver' };
  }
}
