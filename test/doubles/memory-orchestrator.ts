/**
 * An in-memory Orchestrator for worker and lifecycle tests: it behaves like a driver
 * (idempotent calls, missing instances are no-ops, state survives across calls) and
 * lets a test inject faults and latency. Not a stand-in for an external system.
 * Benchmarks seed it with adopt(): instances already running without a spec.
 */
import type { DestroyResult, EnsureResult, InstanceSpec, Orchestrator, RuntimeStatus } from '../../control/orchestrator/types.ts';
import { OrchestratorError, OrchestratorUnavailableError } from '../../control/orchestrator/types.ts';

type Method = 'ensure' | 'start' | 'stop' | 'destroy' | 'status' | 'list';

export class MemoryOrchestrator implements Orchestrator {
  readonly name = 'memory';
  readonly specs = new Map<string, InstanceSpec>();
  /** specHash is absent for instances adopted without a spec. */
  readonly running = new Map<string, { gateway: string; shell: string; specHash?: string }>();
  readonly calls: Array<{ method: Method; handle?: string }> = [];
  /** Faults to raise on the next calls of a method: each entry is used once. */
  private readonly faults = new Map<Method, Error[]>();
  /** Handles adopted without a spec: known (listed, `stopped` once stopped) until destroyed. */
  private readonly adopted = new Set<string>();
  down = false;
  latencyMs = 0;
  /** Address given to started instances; tests point it at a real /health server. */
  address: (handle: string) => { gateway: string; shell: string } = (h) => ({ gateway: `http://127.0.0.1:1/${h}`, shell: `http://127.0.0.1:1/${h}` });

  failNext(method: Method, error: Error = new OrchestratorError('injected', 'Injected failure'), times = 1): void {
    const queue = this.faults.get(method) ?? [];
    for (let i = 0; i < times; i++) queue.push(error);
    this.faults.set(method, queue);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /**
   * Marks `handle` as already running without a spec, e.g. a database row seeded as
   * running before the control service starts. Not recorded in `calls`.
   */
  adopt(handle: string, address: { gateway: string; shell: string } = this.address(handle)): void {
    this.adopted.add(handle);
    this.running.set(handle, { gateway: address.gateway, shell: address.shell });
  }

  /** What a process killed behind the platform's back looks like. */
  crash(handle: string): void {
    this.running.delete(handle);
  }

  private async enter(method: Method, handle?: string): Promise<void> {
    this.calls.push({ method, handle });
    if (this.latencyMs) await new Promise((r) => setTimeout(r, this.latencyMs));
    if (this.down) throw new OrchestratorUnavailableError('memory', 'injected outage');
    const fault = this.faults.get(method)?.shift();
    if (fault) throw fault;
  }

  async ensure(spec: InstanceSpec): Promise<EnsureResult> {
    await this.enter('ensure', spec.handle);
    this.specs.set(spec.handle, spec);
    return { ref: `memory:${spec.handle}` };
  }

  async start(handle: string): Promise<void> {
    await this.enter('start', handle);
    const spec = this.specs.get(handle);
    if (!spec) throw new OrchestratorError('spec_missing', `No definition for instance "${handle}"`);
    if (this.running.get(handle)?.specHash === spec.hash) return;
    this.running.set(handle, { ...this.address(handle), specHash: spec.hash });
  }

  async stop(handle: string): Promise<void> {
    await this.enter('stop', handle);
    this.running.delete(handle);
  }

  async destroy(handle: string, options: { purge: boolean }): Promise<DestroyResult> {
    await this.enter('destroy', handle);
    this.running.delete(handle);
    this.adopted.delete(handle);
    const existed = this.specs.delete(handle);
    return { archivePath: existed && !options.purge ? `/archive/${handle}` : null };
  }

  async status(handle: string): Promise<RuntimeStatus> {
    await this.enter('status', handle);
    const run = this.running.get(handle);
    if (run) return { handle, state: 'running', address: { gateway: run.gateway, shell: run.shell }, detail: 'in memory', specHash: run.specHash };
    return { handle, state: this.specs.has(handle) || this.adopted.has(handle) ? 'stopped' : 'missing', detail: 'in memory' };
  }

  async list(): Promise<RuntimeStatus[]> {
    await this.enter('list');
    const handles = new Set([...this.specs.keys(), ...this.running.keys(), ...this.adopted]);
    return Promise.all(
      [...handles].map(async (h) => {
        const run = this.running.get(h);
        return run
          ? { handle: h, state: 'running' as const, address: { gateway: run.gateway, shell: run.shell }, detail: 'in memory' }
          : { handle: h, state: 'stopped' as const, detail: 'in memory' };
      }),
    );
  }

  async health() {
    return this.down ? { ok: false, detail: 'memory orchestrator is down (injected)' } : { ok: true, detail: 'in memory' };
  }

  async close(): Promise<void> {}
}
