/**
 * Self-healing: notices an instance that stopped running behind the platform's back
 * and restarts it, with backoff and a limit, so a crash costs its user seconds.
 *
 * News arrives three ways: the orchestrator's watch (the local driver's exit events,
 * Nomad's allocation changes), the router's health check after a refused or reset
 * connection (check()), and reconcile (crashed()). All three end in one guarded
 * transition from `running`, so a user's stop, a destroy or a re-deploy under way is
 * never undone, and several replicas hearing the same news restart it once.
 *
 * Limit: RESTART_LIMIT restarts in RESTART_WINDOW (default 3 in 10 min) since the
 * instance last rested; the first restart is at once, the next after RESTART_BACKOFF,
 * each later one 4 times longer. One crash more and the instance is `failed`, with
 * the reason, until someone starts it again.
 */
import { Op } from 'sequelize';
import { describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { Orchestrator, RuntimeStatus } from '../orchestrator/types.ts';
import type { InstanceStore, TransitionChange } from './store.ts';

interface RestartPolicy {
  restartLimit: number;
  restartWindowMs: number;
  restartBackoffMs: number;
}

export type CrashOutcome = 'restarting' | 'failed' | 'unchanged';

/** A check that found the instance running is not repeated for this long: a tenant cannot keep the orchestrator busy. */
const CHECK_REUSE_MS = 5000;

export class Supervisor {
  private unwatch: (() => void) | null = null;
  private readonly checks = new Map<string, Promise<void>>();
  /** News about one instance is handled one piece at a time, in the order it came. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** When a check last found each instance running as recorded. */
  private readonly fine = new Map<string, number>();
  /** Handles whose process went away while they were still starting: checked again once they run. */
  private readonly exitedWhileStarting = new Set<string>();
  private readonly onTransition = (change: TransitionChange) => {
    if (change.to === 'running' && this.exitedWhileStarting.delete(change.handle)) void this.check(change.handle);
  };

  constructor(
    private readonly deps: {
      store: InstanceStore;
      orchestrator: Orchestrator;
      policy: RestartPolicy;
      logger: Logger;
      metrics: Metrics;
    },
  ) {}

  /** Listens to the orchestrator (when its driver can watch) and to this process's transitions. */
  start(): void {
    const { orchestrator, store } = this.deps;
    this.unwatch = orchestrator.watch?.((status) => this.inOrder(status.handle, () => this.observe(status, new Date(), { confirm: true }))) ?? null;
    store.bus.on('transition', this.onTransition);
  }

  stop(): void {
    this.unwatch?.();
    this.unwatch = null;
    this.deps.store.bus.off('transition', this.onTransition);
  }

  /**
   * Asks the orchestrator about `handle` now and acts on the answer. Single-flight per
   * instance: however many failed requests ask at once, the orchestrator is asked once.
   * Never throws.
   */
  check(handle: string): Promise<void> {
    const running = this.checks.get(handle);
    if (running !== undefined) return running;
    const fineAt = this.fine.get(handle);
    if (fineAt !== undefined && Date.now() - fineAt < CHECK_REUSE_MS) return Promise.resolve();
    const observedAt = new Date();
    const done = this.deps.orchestrator
      .status(handle)
      .then(async (status) => {
        if ((await this.observe(status, observedAt)) === 'fine') {
          if (this.fine.size >= 10_000) this.fine.clear();
          this.fine.set(handle, Date.now());
        }
      })
      .catch((err) => this.deps.logger.warn({ handle, err: describeError(err) }, 'could not check an instance; reconcile will'))
      .finally(() => this.checks.delete(handle));
    this.checks.set(handle, done);
    return done;
  }

  private inOrder(handle: string, task: () => Promise<unknown>): void {
    const next = (this.queues.get(handle) ?? Promise.resolve()).then(task, task);
    this.queues.set(handle, next);
    void next.finally(() => {
      if (this.queues.get(handle) === next) this.queues.delete(handle);
    });
  }

  /**
   * Compares what the orchestrator says with the database and acts; never throws.
   * 'fine': a running instance is running where the route says. `confirm`: news from a
   * watch that says it is not running is checked with the orchestrator first (a lost
   * allocation may already have a replacement running elsewhere).
   */
  private async observe(reported: RuntimeStatus, observedAt: Date, options: { confirm?: boolean } = {}): Promise<'fine' | 'acted' | 'ignored'> {
    const { store, logger, orchestrator } = this.deps;
    let status = reported;
    try {
      const row = await store.findByHandle(status.handle);
      if (!row) return 'ignored';
      if (row.status === 'starting' && status.state !== 'running' && status.state !== 'starting') this.exitedWhileStarting.add(row.handle);
      if (row.status !== 'running') return 'ignored';
      if (options.confirm && status.state !== 'running') {
        // Still down: the report says best what happened (the exit signal). Up again, or being placed: that wins.
        const now = await orchestrator.status(status.handle).catch(() => reported);
        if (now.state === 'running' || now.state === 'starting') status = now;
      }
      // Being placed or started by the orchestrator itself (Nomad): not a crash; news follows when it runs or fails.
      if (status.state === 'starting') return 'ignored';
      if (status.state === 'running') {
        const address = status.address;
        if (!address || (address.gateway === row.gateway_url && address.shell === row.shell_url)) return 'fine';
        await store.moveAddress(row.handle, address, `The instance moved to a new address (${status.detail}); requests now go there`);
        return 'acted';
      }
      this.fine.delete(row.handle);
      await this.crashed(row.handle, status.detail, observedAt);
      return 'acted';
    } catch (err) {
      logger.warn({ handle: status.handle, err: describeError(err) }, 'could not act on an instance change; reconcile will');
      return 'ignored';
    }
  }

  /**
   * A `running` instance is not running: restart it (with backoff), or past the limit
   * mark it `failed` with the reason. `observedAt`: an instance (re)started after that
   * moment is not the one that crashed, and is left alone.
   */
  async crashed(handle: string, detail: string, observedAt: Date): Promise<CrashOutcome> {
    const { store, orchestrator, policy, logger, metrics } = this.deps;
    const what = sentence(detail);
    const window = describeDuration(policy.restartWindowMs);
    const recent = await store.recentCrashes(handle, new Date(observedAt.getTime() - policy.restartWindowMs));
    const notRestartedSince = { [Op.or]: [{ started_at: null }, { started_at: { [Op.lt]: observedAt } }] };
    // A suspended owner's instance is not brought back: it rests until the suspension is lifted.
    const suspended = await store.transition(handle, ['running'], 'stopped', `${what}; not restarted while its owner is suspended`, {
      kind: 'crash',
      where: { [Op.and]: [notRestartedSince, { owner_suspended: true }] },
      patch: { gateway_url: null, shell_url: null, stopped_at: new Date() },
    });
    if (suspended) return 'unchanged';
    if (recent >= policy.restartLimit) {
      const reason =
        policy.restartLimit === 0
          ? `${what}. Automatic restarts are off (RESTART_LIMIT=0); start it again to bring it back.`
          : `${what}. It was restarted ${recent} times in ${window} and crashed again, so it was not restarted; start it again once the cause is fixed.`;
      const moved = await store.transition(handle, ['running'], 'failed', `Failed: ${reason}`, {
        kind: 'crash',
        where: notRestartedSince,
        patch: { last_error: reason, gateway_url: null, shell_url: null, stopped_at: new Date() },
      });
      if (!moved) return 'unchanged';
      metrics.crashes.inc({ outcome: 'failed' });
      logger.warn({ handle, detail, restarts: recent }, 'instance crashed past the restart limit: failed');
      // Nothing half-alive is left behind (Nomad would otherwise keep restarting it), unless
      // someone started it again meanwhile. Not awaited: a check does not wait for a stop.
      void store
        .findByHandle(handle)
        .then((row) => (row?.status === 'failed' ? orchestrator.stop(handle) : undefined))
        .catch((err) => logger.warn({ handle, err: describeError(err) }, 'could not stop a failed instance; reconcile will'));
      return 'failed';
    }
    const restart = recent + 1;
    const delayMs = restart === 1 ? 0 : Math.min(policy.restartWindowMs, policy.restartBackoffMs * 4 ** Math.min(restart - 2, 20));
    const when = delayMs > 0 ? ` in ${describeDuration(delayMs)}` : '';
    const moved = await store.transition(
      handle,
      ['running'],
      'starting',
      `${what}; restarting${when} (restart ${restart} of ${policy.restartLimit} allowed in ${window})`,
      {
        kind: 'crash',
        where: notRestartedSince,
        patch: {
          requested_at: new Date(),
          gateway_url: null,
          shell_url: null,
          attempts: 0,
          next_attempt_at: delayMs > 0 ? new Date(Date.now() + delayMs) : null,
        },
      },
    );
    if (!moved) return 'unchanged';
    metrics.crashes.inc({ outcome: 'restarted' });
    logger.warn({ handle, detail, restart, delayMs }, 'instance crashed: restarting');
    return 'restarting';
  }
}

/** "the instance exited with signal SIGKILL" → "The instance exited with signal SIGKILL" (no final period). */
function sentence(detail: string): string {
  const trimmed = detail.trim().replace(/[.\s]+$/, '') || 'The instance stopped running';
  return trimmed[0]!.toUpperCase() + trimmed.slice(1);
}

function describeDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.round(ms / 100) / 10} s`;
}
