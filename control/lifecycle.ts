/**
 * Instance lifecycle outside provisioning: activity tracking, the idle sweep and
 * reconcile (database against the orchestrator, fixing drift both ways).
 *
 * Activity is recorded in memory (router and meter call recordActivity on their hot
 * paths) and flushed in batches. Each replica flushes before it sweeps; activity
 * held by another replica is at most one flush interval old, which config keeps
 * far below the idle timeout.
 */
import { Op } from 'sequelize';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { describeError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import type { Orchestrator, RuntimeStatus } from './orchestrator/types.ts';
import { shouldNotRun } from './provisioning/states.ts';
import type { InstanceStore } from './provisioning/store.ts';
import type { Supervisor } from './provisioning/supervisor.ts';

export class ActivityRecorder {
  private pending = new Map<string, number>();
  private flushing: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly db: Database) {}

  /** Flushes every `intervalMs` until stop(); a failed flush keeps its batch for the next one. */
  startFlushing(intervalMs: number, logger: Logger): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      this.flush().catch((err) => logger.error({ err: describeError(err) }, 'activity flush failed; will retry'));
    }, intervalMs);
  }

  /** Stops the timer and writes what is pending. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush().catch(() => undefined);
  }

  /** Hot path: O(1), no I/O. */
  record(handle: string, at: number = Date.now()): void {
    const previous = this.pending.get(handle);
    if (previous === undefined || previous < at) this.pending.set(handle, at);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Writes pending activity; last_active_at only ever moves forward. Times are
   * rounded down to the second so a batch is a few UPDATEs (one per distinct second),
   * not one per instance: a second is nothing against a 30-minute idle limit.
   */
  flush(): Promise<number> {
    // Serialized: when flush() resolves, everything recorded before the call is committed,
    // even if an earlier flush had taken it and was still writing.
    const run = this.flushing.then(() => this.write());
    this.flushing = run.catch(() => undefined);
    return run;
  }

  private async write(): Promise<number> {
    if (this.pending.size === 0) return 0;
    const batch = this.pending;
    this.pending = new Map();
    const bySecond = new Map<number, string[]>();
    for (const [handle, at] of batch) {
      const second = Math.floor(at / 1000) * 1000;
      bySecond.set(second, [...(bySecond.get(second) ?? []), handle]);
    }
    try {
      await this.db.transaction(async (transaction) => {
        for (const [second, handles] of bySecond) {
          const when = new Date(second);
          for (let i = 0; i < handles.length; i += 1000) {
            await this.db.models.Instance.update(
              { last_active_at: when },
              {
                where: { handle: handles.slice(i, i + 1000), [Op.or]: [{ last_active_at: null }, { last_active_at: { [Op.lt]: when } }] },
                transaction,
                silent: true,
              },
            );
          }
        }
      });
      return batch.size;
    } catch (err) {
      for (const [handle, at] of batch) this.record(handle, at);
      throw err;
    }
  }
}

interface SweepReport {
  stopped: string[];
  fixes: string[];
  durationMs: number;
}

export class Lifecycle {
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<SweepReport> | null = null;

  constructor(
    private readonly deps: {
      db: Database;
      store: InstanceStore;
      orchestrator: Orchestrator;
      activity: ActivityRecorder;
      config: Config;
      logger: Logger;
      metrics: Metrics;
      /** Restarts (or fails) running instances found not running, under the crash limit. */
      supervisor: Supervisor;
    },
  ) {}

  start(): void {
    this.sweepTimer = setInterval(() => void this.sweep().catch(() => undefined), this.deps.config.lifecycle.sweepIntervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.sweeping?.catch(() => undefined);
  }

  /** One sweep: flush activity, stop idle instances, then reconcile. Never runs twice at once. */
  sweep(): Promise<SweepReport> {
    this.sweeping ??= this.runSweep().finally(() => {
      this.sweeping = null;
    });
    return this.sweeping;
  }

  private async runSweep(): Promise<SweepReport> {
    const started = performance.now();
    const { logger, metrics } = this.deps;
    try {
      await this.deps.activity.flush();
      const stopped = await this.stopIdle();
      const fixes = await this.reconcile();
      const durationMs = performance.now() - started;
      metrics.sweepSeconds.observe(durationMs / 1000);
      if (stopped.length || fixes.length) logger.info({ stopped, fixes: fixes.length, durationMs: Math.round(durationMs) }, 'sweep done');
      return { stopped, fixes, durationMs };
    } catch (err) {
      logger.error({ err: describeError(err) }, 'sweep failed; the next one retries');
      throw err;
    }
  }

  /** Stops running instances idle past the limit, in one guarded UPDATE that re-checks idleness. */
  async stopIdle(now = Date.now()): Promise<string[]> {
    const { store, config } = this.deps;
    const cutoff = new Date(now - config.lifecycle.idleTimeoutMs);
    const idle = { [Op.or]: [{ last_active_at: { [Op.lt]: cutoff } }, { last_active_at: null, started_at: { [Op.lt]: cutoff } }] };
    const minutes = Math.round(config.lifecycle.idleTimeoutMs / 60_000);
    const limit = minutes >= 1 ? `${minutes} min` : `${config.lifecycle.idleTimeoutMs / 1000} s`;
    return store.transitionWhere(idle, 'running', 'stopping', `Stopping: idle for more than ${limit}; the next visit wakes it`, 'transition', { attempts: 0 });
  }

  /**
   * Stops every instance that runs, is starting or is being stopped, and records why (a
   * development Ctrl-C: nothing keeps running unseen, and the next visit wakes them).
   * Call once the provisioning worker and the sweep have stopped: a stop they left
   * half done (`stopping`) is finished here. Returns the handles stopped; one whose
   * stop failed stays `stopping`, which the worker finishes at the next start.
   */
  async stopAll(reason: string): Promise<string[]> {
    const { store, orchestrator, logger } = this.deps;
    const handles = await store.handlesIn('stopping');
    for (const from of ['running', 'starting'] as const)
      handles.push(...(await store.transitionWhere({}, from, 'stopping', reason, 'transition', { attempts: 0 })));
    await Promise.all(
      handles.map(async (handle) => {
        try {
          await orchestrator.stop(handle);
          await store.transition(handle, ['stopping'], 'stopped', 'Stopped; data kept', {
            patch: { stopped_at: new Date(), gateway_url: null, shell_url: null },
          });
        } catch (err) {
          logger.warn({ handle, err: describeError(err) }, 'could not stop an instance at shutdown; the next start finishes the stop');
        }
      }),
    );
    return handles;
  }

  /** Compares the database with the orchestrator and fixes drift; returns one line per fix. */
  async reconcile(): Promise<string[]> {
    const { store, orchestrator, logger } = this.deps;
    let runtime: RuntimeStatus[];
    const listedAt = new Date();
    try {
      runtime = await orchestrator.list();
    } catch (err) {
      logger.warn({ err: describeError(err) }, 'reconcile skipped: orchestrator unavailable');
      return [];
    }
    const rows = await store.driftCandidates(runtime.map((r) => r.handle));
    const byHandle = new Map(rows.map((r) => [r.handle, r]));
    const live = new Map(runtime.filter((r) => r.state === 'running' || r.state === 'starting').map((r) => [r.handle, r]));
    const fixes: string[] = [];
    /** `action` may return the line to report instead of `line` (what it actually did). */
    const fix = async (handle: string, line: string, action: () => Promise<unknown>) => {
      try {
        const done = await action();
        if (typeof done === 'string') line = done;
        fixes.push(`${handle}: ${line}`);
        logger.warn({ handle, fix: line }, 'reconcile fixed drift');
      } catch (err) {
        logger.error({ handle, err: describeError(err) }, 'reconcile could not fix drift');
      }
    };

    for (const [handle, rt] of live) {
      const row = byHandle.get(handle);
      if (!row) {
        // An orphan: stopped and reported, never destroyed (its data may matter).
        await fix(handle, 'orphan instance with no database row: stopped', () => orchestrator.stop(handle));
      } else if (shouldNotRun(row.status) && new Date(row.updated_at) < listedAt) {
        // (A row that changed after the list was taken just finished stopping: not drift.)
        await fix(handle, `running although the database says ${row.status}: stopped`, async () => {
          await orchestrator.stop(handle);
          await store.note(handle, 'reconcile', `A process was still running while the instance was ${row.status}; it was stopped.`);
        });
      } else if (row.status === 'running' && rt.address && rt.address.gateway !== row.gateway_url) {
        await fix(handle, 'address changed: route updated', () =>
          store.moveAddress(handle, rt.address!, 'The instance was found at a new address; requests now go there'),
        );
      }
    }
    const details = new Map(runtime.map((r) => [r.handle, r.detail]));
    for (const row of rows) {
      if (row.status !== 'running' || live.has(row.handle)) continue;
      // Counted against the crash limit like any other crash. Started after the
      // orchestrator was listed: not drift, just news the list missed (unchanged).
      const detail = `the instance was found not running (${details.get(row.handle) ?? 'unknown to the orchestrator'})`;
      await fix(row.handle, 'running in the database but not in the orchestrator: restarting', async () =>
        (await this.deps.supervisor.crashed(row.handle, detail, listedAt)) === 'failed'
          ? 'running in the database but not in the orchestrator: failed past the restart limit'
          : undefined,
      );
    }
    return fixes;
  }
}
