/**
 * The provisioning worker: takes due transient instances under a lease, runs their
 * step, and moves them on. Safe with several control replicas (leases + guarded
 * transitions); after a crash, expired leases let any replica finish the work.
 */
import crypto from 'node:crypto';
import { Op, type WhereOperators } from 'sequelize';
import type { Config } from '../config.ts';
import type { Instance } from '../db/models.ts';
import { describeError, PlatformError, UnavailableError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { buildInstanceSpec } from '../orchestrator/spec.ts';
import type { Orchestrator } from '../orchestrator/types.ts';
import { type Capacity, ordinal } from './capacity.ts';
import { StartTimeoutError } from './health.ts';
import { isTransient, shouldNotRun, type TransientStatus } from './states.ts';
import { type InstanceHooks, STEPS } from './steps.ts';
import type { InstanceStore, TransitionChange } from './store.ts';

interface WorkerDeps {
  store: InstanceStore;
  orchestrator: Orchestrator;
  config: Config;
  secretKey: string;
  logger: Logger;
  metrics: Metrics;
  hooks?: InstanceHooks | null;
  /** MAX_RUNNING_INSTANCES; none: no limit. */
  capacity?: Capacity | null;
}

class LeaseLost extends Error {}

/** How many in line are asked again when a place frees (the next, and one more in case it moved on). */
const WAKE_ON_FREE = 2;
/** A waiting instance asks again this often even when no stop wakes it. */
const WAITING_RETRY_MS = 10_000;
class ShuttingDown extends Error {}

export function backoffMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential * (0.8 + 0.4 * random()));
}

export class ProvisioningWorker {
  /** `{replicaId}:{boot nonce}`: unique per run, recognisable across restarts of one replica. */
  readonly id: string;
  private readonly inflight = new Map<number, { handle: string; done: Promise<void>; abort: AbortController }>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private again = false;
  private running = false;
  private readonly onTransition = (change: TransitionChange) => {
    // A request moved an instance we are working on: stop that step now, not at the next lease renewal.
    if (change.by !== this.id) {
      for (const run of this.inflight.values()) if (run.handle === change.handle) run.abort.abort(new LeaseLost());
    }
    // A place freed: whoever waits for one asks again now, in order.
    if (this.deps.capacity?.limit && shouldNotRun(change.to)) {
      this.deps.store.wakeWaiting(WAKE_ON_FREE).then(
        () => this.kick(),
        () => undefined,
      );
      return;
    }
    this.kick();
  };

  constructor(private readonly deps: WorkerDeps) {
    this.id = `${deps.config.replicaId}:${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  }

  /** Matches leases taken by earlier runs of this replica (and this one). */
  replicaLeasePattern(): WhereOperators {
    return { [Op.like]: `${this.deps.config.replicaId}:%` };
  }

  start(): void {
    this.running = true;
    this.deps.store.bus.on('transition', this.onTransition);
    this.kick();
  }

  /** Look for work now instead of at the next poll. */
  kick(): void {
    if (!this.running) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), 0);
  }

  /** Stops taking work, aborts running steps and gives their leases back for the next process. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.deps.store.bus.off('transition', this.onTransition);
    for (const { abort } of this.inflight.values()) abort.abort(new ShuttingDown());
    await Promise.allSettled([...this.inflight.values()].map((i) => i.done));
  }

  /** Resolves when no step is running; for tests and benchmarks. */
  async idle(): Promise<void> {
    while (this.inflight.size > 0 || this.ticking) {
      await Promise.allSettled([...this.inflight.values()].map((i) => i.done));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private async tick(): Promise<void> {
    if (!this.running) return;
    this.ticking = true;
    try {
      const capacity = this.deps.config.provisioning.concurrency - this.inflight.size;
      if (capacity > 0) {
        const due = await this.deps.store.findDue(capacity + this.inflight.size);
        for (const row of due) {
          if (this.inflight.size >= this.deps.config.provisioning.concurrency) break;
          if (this.inflight.has(row.id)) continue;
          if (!(await this.deps.store.claim(row.id, row.status, this.id, this.deps.config.provisioning.leaseMs))) continue;
          const abort = new AbortController();
          const done = this.run(row, abort).finally(() => {
            this.inflight.delete(row.id);
            this.kick();
          });
          this.inflight.set(row.id, { handle: row.handle, done, abort });
        }
      }
    } catch (err) {
      this.deps.logger.error({ err: describeError(err) }, 'provisioning worker: could not read due work; retrying');
    } finally {
      this.ticking = false;
      if (this.running) {
        const delay = this.again ? 0 : this.deps.config.provisioning.pollIntervalMs;
        this.again = false;
        clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.tick(), delay);
      }
    }
  }

  /** Runs steps for one instance until it reaches a stable state or the lease is lost. */
  private async run(row: Instance, abort: AbortController): Promise<void> {
    const { store, config, logger } = this.deps;
    let current = row;
    while (isTransient(current.status)) {
      const status = current.status as TransientStatus;
      const renew = setInterval(
        () => {
          store.renewLease(current.id, status, this.id, config.provisioning.leaseMs).then(
            (held) => held || abort.abort(new LeaseLost()),
            () => undefined,
          );
        },
        Math.max(100, Math.floor(config.provisioning.leaseMs / 3)),
      );
      try {
        if (this.deps.capacity?.needsPlace(current) && !(await this.takePlace(current))) return;
        const hooks = this.deps.hooks ?? null;
        const spec = buildInstanceSpec(config, this.deps.secretKey, {
          handle: current.handle,
          owner: current.owner_id,
          tokenGeneration: current.token_generation,
          ...(hooks && status === 'starting' ? await hooks.specExtras(current.handle, current.token_generation) : {}),
        });
        const outcome = await STEPS[status]({
          row: current,
          hooks,
          spec,
          orchestrator: this.deps.orchestrator,
          startTimeoutMs: config.instance.startTimeoutMs,
          signal: abort.signal,
          progress: (message) => store.note(current.handle, 'progress', message),
        });
        abort.signal.throwIfAborted();
        const moved = await store.transition(current.handle, [status], outcome.to, outcome.message, { patch: outcome.patch, leaseOwner: this.id });
        if (!moved) return; // someone asked for something else meanwhile; their request wins
        this.deps.metrics.transitions.inc({ from: status, to: outcome.to });
        if (outcome.to === 'running' && current.requested_at) {
          this.deps.metrics.provisioningSeconds.observe((Date.now() - new Date(current.requested_at).getTime()) / 1000);
        }
        logger.info({ handle: current.handle, from: status, to: outcome.to }, 'instance transition');
        if (!isTransient(outcome.to)) return;
        if (!(await store.claim(current.id, outcome.to, this.id, config.provisioning.leaseMs))) return;
        const next = await store.findByHandle(current.handle);
        if (!next) return;
        current = next;
      } catch (err) {
        const reason = abort.signal.reason;
        if (reason instanceof ShuttingDown) {
          await store.release(current.id, this.id, {}).catch(() => undefined);
          return;
        }
        if (reason instanceof LeaseLost) return;
        await this.handleFailure(current, status, err);
        return;
      } finally {
        clearInterval(renew);
      }
    }
  }

  /**
   * Asks for one of MAX_RUNNING_INSTANCES places. Without one the instance waits (the
   * dashboard shows its place in line), its lease goes back, and it asks again when a
   * place frees or at the next poll; with EVICT_IDLE_WHEN_FULL the longest-idle running
   * instance is asked to stop first.
   */
  private async takePlace(row: Instance): Promise<boolean> {
    const { store, capacity, logger } = this.deps;
    try {
      return await this.askForPlace(row, capacity!);
    } catch (err) {
      // The database did not answer: wait and ask again; a waiting instance never fails for it.
      logger.warn({ handle: row.handle, err: describeError(err) }, 'could not ask for a place; asking again shortly');
      await store.release(row.id, this.id, { next_attempt_at: new Date(Date.now() + WAITING_RETRY_MS) }).catch(() => undefined);
      return false;
    }
  }

  private async askForPlace(row: Instance, capacity: Capacity): Promise<boolean> {
    const { store, config } = this.deps;
    const answer = await capacity.admit(row);
    if (answer.admitted) {
      // The route tables learn it no longer waits (API clients stop getting "full").
      if (answer.wasWaiting) await store.note(row.handle, 'progress', 'A place is free: starting now');
      return true;
    }
    if (answer.position === 0) {
      await store.release(row.id, this.id, {});
      return false;
    }
    if (answer.newlyWaiting)
      await store.note(
        row.handle,
        'progress',
        `Waiting for a place: ${ordinal(answer.position)} in line (${answer.holding} of ${answer.limit} instances are running); it starts when one stops`,
      );
    // Only the first in line evicts, and only an instance idle for a good while (half the idle timeout).
    const idlest = answer.position === 1 ? await capacity.evictionCandidate(Math.floor(config.lifecycle.idleTimeoutMs / 2)) : null;
    if (idlest)
      await store.transition(
        idlest,
        ['running'],
        'stopping',
        'Stopping to make room: it was idle the longest and someone is waiting; the next visit wakes it',
        {
          audit: { actor: 'platform:capacity', action: 'instance.evict', target: idlest, detail: { for: row.handle } },
        },
      );
    // Asked again when a place frees (wakeWaiting), else after a while: waiting costs the database little.
    await store.release(row.id, this.id, { next_attempt_at: new Date(Date.now() + WAITING_RETRY_MS) });
    return false;
  }

  private async handleFailure(row: Instance, status: TransientStatus, err: unknown): Promise<void> {
    const { store, config, logger, metrics, orchestrator } = this.deps;
    const code = err instanceof PlatformError ? err.code : 'internal';
    // PlatformError messages are written for users; anything else stays in the log.
    const message = err instanceof PlatformError ? err.message : 'An internal error occurred; the operator can find details in the logs.';
    metrics.failures.inc({ reason: code });
    logger.warn(
      { handle: row.handle, step: status, code, err: describeError(err), detail: err instanceof PlatformError ? err.detail : undefined },
      'provisioning step failed',
    );
    const attempts = row.attempts + 1;
    // A dependency outage is retried for as long as it lasts; nothing is lost.
    const retryForever = err instanceof UnavailableError;
    const giveUp = err instanceof StartTimeoutError || (!retryForever && attempts >= config.provisioning.maxAttempts);
    try {
      if (giveUp) {
        if (status === 'starting') await orchestrator.stop(row.handle).catch(() => undefined);
        await store.transition(row.handle, [status], 'failed', `Failed while ${status}: ${message}`, {
          patch: { last_error: message, attempts },
          leaseOwner: this.id,
          kind: 'error',
        });
        metrics.transitions.inc({ from: status, to: 'failed' });
        return;
      }
      const delay = backoffMs(attempts, config.provisioning.backoffBaseMs, config.provisioning.backoffMaxMs);
      await store.note(row.handle, 'error', `Attempt ${attempts} failed while ${status}: ${message} Retrying in ${Math.ceil(delay / 1000)} s.`);
      await store.release(row.id, this.id, { attempts, last_error: message, next_attempt_at: new Date(Date.now() + delay) });
    } catch (persistErr) {
      // The database is away (say, restarting): give the lease back as soon as it answers, so the
      // step is retried from the database's truth then, not when the lease expires.
      logger.error({ handle: row.handle, err: describeError(persistErr) }, 'could not record a provisioning failure; retrying once the database answers');
      await this.releaseWhenPossible(row);
    }
  }

  /** Tries to give `row`'s lease back with backoff, for as long as the lease would have lasted. */
  private async releaseWhenPossible(row: Instance): Promise<void> {
    const { store, config } = this.deps;
    const giveUpAt = Date.now() + config.provisioning.leaseMs;
    for (let wait = 100; this.running && Date.now() < giveUpAt; wait = Math.min(wait * 2, 2000)) {
      await new Promise((resolve) => setTimeout(resolve, wait));
      try {
        await store.release(row.id, this.id, {});
        return;
      } catch {
        /* still away: wait longer */
      }
    }
  }
}
