/**
 * The nomad driver: each instance is the Nomad job `matrixos-{handle}` built by
 * jobs/instance.ts. It registers only when the spec hash in the job's Meta differs,
 * stops without purge (volume and history kept), and watches allocations with
 * blocking queries instead of polling.
 */
import { jobVariablePath } from '../../../jobs/common.ts';
import { buildInstanceJob, INSTANCE_META_KEYS, type InstanceJobOptions, instanceJobId, instanceSecretsVariable } from '../../../jobs/instance.ts';
import { buildVolumePurgeJob } from '../../../jobs/purge.ts';
import {
  type DestroyResult,
  type EnsureResult,
  type InstanceSpec,
  type Orchestrator,
  OrchestratorError,
  type OrchestratorHealth,
  type RuntimeStatus,
} from '../types.ts';
import type { AllocationStub, Evaluation, JobRead } from './api-types.ts';
import type { NomadClient } from './client.ts';
import { deriveStatus, newestAllocation, placementFailureReason } from './status.ts';
import { AllocationWatcher } from './watcher.ts';

interface Registered {
  hash: string;
  stopped: boolean;
  /** Registered by this process (so start() may trust it runs) rather than read back. */
  ours: boolean;
  /** Allocations changing past this index are news to awaitRunning. */
  index: number;
}

const LIST_CONCURRENCY = 8;
/** Longest single blocking query while waiting: short enough to notice a blocked evaluation. */
const WATCH_SLICE_MS = 2000;
const PLACEMENT_CHECK_MS = 1000;
/** Stands for a job this process registered and has not stopped: the fields deriveStatus reads. */
const RUNNING_JOB = { Stop: false } as JobRead;

export class NomadOrchestrator implements Orchestrator {
  readonly name = 'nomad';
  private readonly specs = new Map<string, InstanceSpec>();
  private readonly registered = new Map<string, Registered>();
  /** Archives (kept volumes) of instances this process destroyed, for retried destroys. */
  private readonly archived = new Map<string, string>();
  /** The evaluation of each handle's last registration: where a placement failure shows. */
  private readonly lastEval = new Map<string, string>();

  private readonly watcher: AllocationWatcher;

  constructor(
    private readonly client: NomadClient,
    private readonly jobOptions: InstanceJobOptions,
  ) {
    this.watcher = new AllocationWatcher(client);
  }

  async ensure(spec: InstanceSpec): Promise<EnsureResult> {
    const ref = { ref: instanceJobId(spec.handle) };
    this.specs.set(spec.handle, spec);
    const known = this.registered.get(spec.handle);
    if (known && known.hash === spec.hash) return ref;
    const { value: job } = await this.client.readJob(ref.ref);
    const hash = job?.Meta?.[INSTANCE_META_KEYS.specHash] ?? '';
    if (job && hash === spec.hash) {
      this.registered.set(spec.handle, { hash, stopped: job.Stop, ours: false, index: job.JobModifyIndex });
      return ref;
    }
    // A stopped job keeps its old definition until start() registers the new one.
    if (job?.Stop) {
      this.registered.set(spec.handle, { hash, stopped: true, ours: false, index: job.JobModifyIndex });
      return ref;
    }
    await this.register(spec);
    return ref;
  }

  async start(handle: string): Promise<void> {
    const spec = this.specs.get(handle);
    if (!spec) throw new OrchestratorError('spec_missing', `No definition for instance "${handle}": it must be provisioned first.`);
    const known = this.registered.get(handle);
    if (known && known.hash === spec.hash && !known.stopped && known.ours) return;
    const id = instanceJobId(handle);
    const { value: job } = await this.client.readJob(id);
    if (job && !job.Stop && job.Meta?.[INSTANCE_META_KEYS.specHash] === spec.hash) {
      const newest = newestAllocation((await this.client.jobAllocations(id)).value);
      if (!newest || !['failed', 'lost'].includes(newest.ClientStatus)) {
        this.registered.set(handle, { hash: spec.hash, stopped: false, ours: false, index: job.JobModifyIndex });
        return;
      }
      // Same job, failed allocation: stop and register again for a fresh placement now
      // rather than after Nomad's reschedule delay.
      await this.client.stopJob(id, false);
    }
    await this.register(spec);
  }

  async stop(handle: string): Promise<void> {
    await this.client.stopJob(instanceJobId(handle), false);
    const known = this.registered.get(handle);
    if (known) known.stopped = true;
  }

  /** Purges the job. The user's volume is kept as the archive, or emptied (purge) by a batch job. */
  async destroy(handle: string, options: { purge: boolean }): Promise<DestroyResult> {
    const { value: job } = await this.client.readJob(instanceJobId(handle));
    await this.client.stopJob(instanceJobId(handle), true);
    await this.client.deleteVariable(jobVariablePath(instanceJobId(handle)));
    this.specs.delete(handle);
    this.registered.delete(handle);
    this.lastEval.delete(handle);
    if (options.purge) {
      // Nomad cannot delete a volume: a one-shot batch job empties it instead.
      await this.client.register(buildVolumePurgeJob(handle, this.jobOptions));
      return { archivePath: null };
    }
    // A retried destroy (the job already gone) reports the archive its first attempt made.
    if (!job) return { archivePath: this.archived.get(handle) ?? null };
    const archivePath = `${this.jobOptions.volume.mode}:matrixos-${handle}`;
    this.archived.set(handle, archivePath);
    return { archivePath };
  }

  async status(handle: string): Promise<RuntimeStatus> {
    const id = instanceJobId(handle);
    const { value: job } = await this.client.readJob(id);
    const specHash = job?.Meta?.[INSTANCE_META_KEYS.specHash];
    if (!job) this.registered.delete(handle);
    if (!job || job.Stop) return deriveStatus({ handle, job, specHash, newest: null });
    const { value: allocs } = await this.client.jobAllocations(id);
    return this.fromAllocations(handle, job, specHash, allocs);
  }

  /**
   * Waits (on the shared blocking query of the AllocationWatcher) until the newest
   * allocation runs or fails, a placement failure shows, or the timeout passes.
   */
  async awaitRunning(handle: string, timeoutMs: number, signal: AbortSignal): Promise<RuntimeStatus> {
    const id = instanceJobId(handle);
    const deadline = Date.now() + timeoutMs;
    const registered = this.registered.get(handle);
    const since = registered?.index ?? 0;
    let placementCheckedAt = Date.now(); // a placement takes a moment: first look after PLACEMENT_CHECK_MS
    for (let first = true; ; first = false) {
      // The watcher's last answer may already tell (say, after a restart); otherwise wait for the next.
      if (!first) await this.watcher.next(Math.max(1, Math.min(WATCH_SLICE_MS, deadline - Date.now())), signal);
      // Allocations older than the registration we wait for (say, a failed one being replaced) are history.
      const current = this.watcher.allocationsOf(id).filter((a) => a.CreateIndex > since);
      const newest = newestAllocation(current);
      if ((newest && newest.ClientStatus !== 'pending') || Date.now() >= deadline) {
        // A job this process registered and did not stop needs no read-back.
        const ours = registered?.ours && !registered.stopped && this.registered.get(handle) === registered;
        const job = ours ? null : (await this.client.readJob(id)).value;
        const specHash = ours ? registered!.hash : job?.Meta?.[INSTANCE_META_KEYS.specHash];
        return this.fromAllocations(handle, ours ? RUNNING_JOB : job, specHash, current);
      }
      // Nomad wakes blocking queries on any allocation change in the cluster: look for
      // a placement failure at most once a second, not on every wake-up.
      if (!newest && Date.now() - placementCheckedAt >= PLACEMENT_CHECK_MS) {
        placementCheckedAt = Date.now();
        const failure = await this.placementFailure(handle);
        if (failure) return { handle, state: 'failed', detail: failure };
      }
    }
  }

  /**
   * Reports, from the watcher's blocking queries, each instance whose newest allocation
   * changed (failed, lost, completed, or replaced by one at a new address). Allocations
   * of jobs this process is stopping or re-registering are the platform's own doing and
   * show as a changed newest allocation too; the listener compares with what it expects.
   */
  watch(listener: (status: RuntimeStatus) => void): () => void {
    let seen: Map<string, string> | null = null;
    return this.watcher.subscribe((byJob) => {
      const first = seen === null;
      const previous = seen ?? new Map<string, string>();
      seen = new Map();
      for (const [jobId, allocs] of byJob) {
        const handle = instanceHandleOf(jobId);
        const newest = newestAllocation(allocs);
        if (!handle || !newest) continue;
        const signature = `${newest.ID}:${newest.ClientStatus}`;
        seen.set(jobId, signature);
        if (first || previous.get(jobId) === signature || newest.ClientStatus === 'pending') continue;
        void this.changed(handle, newest).then(listener, () => undefined);
      }
    });
  }

  private async changed(handle: string, newest: AllocationStub): Promise<RuntimeStatus> {
    const allocation = newest.ClientStatus === 'running' ? await this.client.allocation(newest.ID) : undefined;
    return deriveStatus({ handle, job: RUNNING_JOB, specHash: this.registered.get(handle)?.hash, newest, allocation });
  }

  async list(): Promise<RuntimeStatus[]> {
    const jobs = (await this.client.listJobs('matrixos-')).filter((j) => j.Meta?.[INSTANCE_META_KEYS.handle]);
    // A job purged behind our back must not be trusted from the cache any more.
    const listed = new Set(jobs.map((j) => j.Meta![INSTANCE_META_KEYS.handle]!));
    for (const handle of this.registered.keys()) if (!listed.has(handle)) this.registered.delete(handle);
    const results: RuntimeStatus[] = [];
    for (let i = 0; i < jobs.length; i += LIST_CONCURRENCY) {
      const batch = jobs.slice(i, i + LIST_CONCURRENCY);
      results.push(
        ...(await Promise.all(
          batch.map((j) => {
            const handle = j.Meta![INSTANCE_META_KEYS.handle]!;
            return j.Stop ? { handle, state: 'stopped' as const, detail: 'Nomad job stopped' } : this.status(handle);
          }),
        )),
      );
    }
    return results;
  }

  async health(): Promise<OrchestratorHealth> {
    try {
      await this.client.ping();
      return { ok: true, detail: `Nomad at ${this.client.address}` };
    } catch (err) {
      const detail = (err as { detail?: string }).detail;
      return { ok: false, detail: detail ? `${(err as Error).message} (${detail})` : (err as Error).message };
    }
  }

  async close(): Promise<void> {
    this.watcher.close();
  }

  private async register(spec: InstanceSpec): Promise<void> {
    // The secrets first: the job's template waits for them, and the jobspec holds none.
    const secrets = instanceSecretsVariable(spec, this.jobOptions);
    await this.client.putVariable(secrets.path, secrets.items);
    const response = await this.client.register(buildInstanceJob(spec, this.jobOptions));
    this.registered.set(spec.handle, { hash: spec.hash, stopped: false, ours: true, index: response.JobModifyIndex });
    if (response.EvalID) this.lastEval.set(spec.handle, response.EvalID);
  }

  private async fromAllocations(handle: string, job: JobRead | null, specHash: string | undefined, allocs: AllocationStub[]): Promise<RuntimeStatus> {
    const newest = newestAllocation(allocs);
    const allocation = newest?.ClientStatus === 'running' ? await this.client.allocation(newest.ID) : undefined;
    let status = deriveStatus({ handle, job, specHash, newest, allocation });
    if (!newest && status.state === 'starting') {
      const failure = await this.placementFailure(handle);
      if (failure) status = { ...status, state: 'failed', detail: failure };
    }
    // A failure means the next start() must look at Nomad again instead of trusting the cache.
    if (status.state === 'failed') this.registered.delete(handle);
    return status;
  }

  /**
   * Nomad's reason when the last registration's evaluation could not place the job.
   * After a restart the id is unknown: the job's newest evaluation stands in for it.
   */
  private async placementFailure(handle: string): Promise<string | null> {
    const evalId = this.lastEval.get(handle);
    const evaluation = evalId
      ? await this.client.evaluation(evalId)
      : (await this.client.jobEvaluations(instanceJobId(handle))).reduce<Evaluation | null>(
          (newest, e) => (!newest || (e.CreateIndex ?? 0) > (newest.CreateIndex ?? 0) ? e : newest),
          null,
        );
    return evaluation ? placementFailureReason(evaluation) : null;
  }
}

/** The handle of an instance job's allocations (from the job id; purge jobs and others are not instances). */
function instanceHandleOf(jobId: string): string | null {
  const handle = jobId.startsWith('matrixos-') ? jobId.slice('matrixos-'.length) : '';
  return handle && instanceJobId(handle) === jobId ? handle : null;
}
