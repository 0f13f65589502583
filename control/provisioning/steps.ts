/**
 * One step per transient state: what the worker does to move an instance forward.
 * Every step is idempotent, so a step cut short by a crash is simply run again.
 */
import type { Instance } from '../db/models.ts';
import type { SpecInput } from '../orchestrator/spec.ts';
import type { InstanceSpec, Orchestrator } from '../orchestrator/types.ts';
import { waitUntilHealthy } from './health.ts';
import type { InstanceStatus, TransientStatus } from './states.ts';
import type { InstancePatch } from './store.ts';

/**
 * What other capabilities add to an instance's life, without provisioning knowing them
 * (the social layer's Matrix accounts). Each is idempotent, like the steps.
 */
export interface InstanceHooks {
  /** Before the instance is defined; may report progress. Must not fail for a dependency's outage. */
  provisioning(handle: string, progress: (message: string) => Promise<void>): Promise<void>;
  /** What the instance's spec gets from the hooks (credentials for its Matrix account); never fails a start. */
  specExtras(handle: string, tokenGeneration: number): Promise<Pick<SpecInput, 'matrix'>>;
  /** After the instance is destroyed: schedule what is owed elsewhere (deactivations). */
  destroyed(handle: string): Promise<void>;
}

interface StepContext {
  row: Instance;
  hooks: InstanceHooks | null;
  spec: InstanceSpec;
  orchestrator: Orchestrator;
  startTimeoutMs: number;
  signal: AbortSignal;
  progress(message: string): Promise<void>;
}

interface StepOutcome {
  to: InstanceStatus;
  message: string;
  patch?: InstancePatch;
}

export const STEPS: Record<TransientStatus, (ctx: StepContext) => Promise<StepOutcome>> = {
  async requested() {
    return { to: 'provisioning', message: 'Provisioning started' };
  },

  async provisioning({ spec, orchestrator, hooks, row, progress }) {
    await hooks?.provisioning(row.handle, progress);
    const { ref } = await orchestrator.ensure(spec);
    return { to: 'starting', message: 'Storage and instance definition ready', patch: { spec_hash: spec.hash, runtime_ref: ref } };
  },

  async starting({ spec, orchestrator, row, startTimeoutMs, signal, progress }) {
    // ensure() again: after a control restart the driver may have forgotten the definition.
    await orchestrator.ensure(spec);
    await orchestrator.start(row.handle);
    await progress('Instance process started; waiting for its health check');
    const address = await waitUntilHealthy(orchestrator, row.handle, startTimeoutMs, signal);
    const now = new Date();
    return {
      to: 'running',
      message: 'Running: health check passed',
      patch: {
        gateway_url: address.gateway,
        shell_url: address.shell,
        started_at: now,
        last_active_at: now,
        spec_hash: spec.hash,
        last_error: null,
        attempts: 0,
      },
    };
  },

  async stopping({ orchestrator, row }) {
    await orchestrator.stop(row.handle);
    return { to: 'stopped', message: 'Stopped; data kept', patch: { stopped_at: new Date(), gateway_url: null, shell_url: null, attempts: 0 } };
  },

  async destroying({ orchestrator, row, hooks }) {
    const { archivePath } = await orchestrator.destroy(row.handle, { purge: row.purge_on_destroy });
    await hooks?.destroyed(row.handle);
    return {
      to: 'destroyed',
      message: row.purge_on_destroy ? 'Destroyed; data purged' : 'Destroyed; data archived',
      patch: { archive_path: archivePath, stopped_at: new Date(), gateway_url: null, shell_url: null, attempts: 0 },
    };
  },
};
