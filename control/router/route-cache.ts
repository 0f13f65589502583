/**
 * The in-memory RouteTable. Loaded whole at start-up (so a restart never loses a
 * route), then kept true in two ways:
 * - this replica's own transitions and events arrive on the InstanceBus at once;
 * - other replicas' changes are read from instance_events every ROUTE_SYNC_INTERVAL.
 *   Every change that matters to routing (a transition, an address, a token rotation)
 *   writes an event row in the same transaction, so tailing that table by id misses
 *   nothing. Ids can commit out of order on PostgreSQL, so each poll looks back a
 *   window of ids and skips the ones it has already seen.
 */
import { Op } from 'sequelize';
import { deriveCredential } from '../access/credentials.ts';
import type { Database } from '../db/database.ts';
import type { Instance } from '../db/models.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { InstanceBus } from '../provisioning/store.ts';
import type { Route, RouteListener, RouteTable } from './route-table.ts';

const LOOKBACK_IDS = 200;
/** Handles per query when reading many routes at once. */
const READ_CHUNK = 1000;
const ROUTE_ATTRIBUTES = [
  'handle',
  'owner_id',
  'status',
  'gateway_url',
  'shell_url',
  'last_error',
  'access_generation',
  'token_generation',
  'owner_suspended',
  'waiting_since',
] as const;
type RouteRow = Pick<Instance, (typeof ROUTE_ATTRIBUTES)[number]>;

interface Waiter {
  promise: Promise<Route | undefined>;
  resolve(route: Route | undefined): void;
  reject(err: unknown): void;
}

function waiter(): Waiter {
  let resolve!: Waiter['resolve'];
  let reject!: Waiter['reject'];
  const promise = new Promise<Route | undefined>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface RouteCacheOptions {
  db: Database;
  bus: InstanceBus;
  secretKey: string;
  syncIntervalMs: number;
  logger: Logger;
}

export class RouteCache implements RouteTable {
  private routes = new Map<string, Route>();
  private watchers = new Map<string, Set<RouteListener>>();
  private changeListeners: Array<(handle: string, before: Route | undefined, after: Route | undefined) => void> = [];
  /** Handles to read in the next batch, each with the callers waiting for it. */
  private pending = new Map<string, Waiter>();
  private batchScheduled = false;
  private batch: Promise<void> | null = null;
  private cursor = 0;
  private seen = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | null = null;
  private readonly onBus = (change: { handle: string }) => void this.refresh(change.handle).catch(() => undefined);

  constructor(private readonly options: RouteCacheOptions) {}

  /** Reads every live instance, then follows changes. */
  async load(): Promise<void> {
    const { db, bus, syncIntervalMs } = this.options;
    // The cursor is taken first: anything committed while the rows are read is tailed again.
    this.cursor = Number((await db.models.InstanceEvent.max('id')) ?? 0);
    const rows = (await db.models.Instance.findAll({
      where: { status: { [Op.ne]: 'destroyed' } },
      attributes: [...ROUTE_ATTRIBUTES],
      raw: true,
    })) as RouteRow[];
    for (const row of rows) this.routes.set(row.handle, this.toRoute(row));
    bus.on('transition', this.onBus);
    bus.on('event', this.onBus);
    this.timer = setInterval(() => void this.sync(), syncIntervalMs);
    this.timer.unref();
  }

  get(handle: string): Route | undefined {
    return this.routes.get(handle);
  }

  values(): IterableIterator<Route> {
    return this.routes.values();
  }

  get size(): number {
    return this.routes.size;
  }

  /**
   * Joins the next batch read: every handle asked for until the current turn of the
   * event loop ends is read in one query (a sweep stopping 200 instances is one read,
   * not 200), and a batch starts only after the call, so it sees the change the caller
   * was told about. Callers for the same handle share the read.
   */
  refresh(handle: string): Promise<Route | undefined> {
    let waiting = this.pending.get(handle);
    if (!waiting) {
      waiting = waiter();
      this.pending.set(handle, waiting);
    }
    this.scheduleBatch();
    return waiting.promise;
  }

  private scheduleBatch(): void {
    // One batch at a time; the next one is scheduled when it ends.
    if (this.batchScheduled || this.batch !== null) return;
    this.batchScheduled = true;
    setImmediate(() => {
      this.batchScheduled = false;
      const waiters = this.pending;
      this.pending = new Map();
      this.batch = this.readMany([...waiters.keys()])
        .then(
          () => {
            for (const [handle, w] of waiters) w.resolve(this.routes.get(handle));
          },
          (err) => {
            for (const w of waiters.values()) w.reject(err);
          },
        )
        .finally(() => {
          this.batch = null;
          if (this.pending.size > 0) this.scheduleBatch();
        });
    });
  }

  watch(handle: string, listener: RouteListener): () => void {
    let set = this.watchers.get(handle);
    if (!set) {
      set = new Set();
      this.watchers.set(handle, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.watchers.get(handle) === set) this.watchers.delete(handle);
    };
  }

  onChange(listener: (handle: string, before: Route | undefined, after: Route | undefined) => void): void {
    this.changeListeners.push(listener);
  }

  close(): void {
    clearInterval(this.timer);
    this.options.bus.off('transition', this.onBus);
    this.options.bus.off('event', this.onBus);
  }

  /** One poll of the event table; exposed for tests that prove cross-replica updates. */
  sync(): Promise<void> {
    this.syncing ??= this.tail()
      .catch((err) => this.options.logger.warn({ err: describeError(err) }, 'route cache could not read changes; serving the last known routes'))
      .finally(() => {
        this.syncing = null;
      });
    return this.syncing;
  }

  private async tail(): Promise<void> {
    const from = Math.max(0, this.cursor - LOOKBACK_IDS);
    const events = await this.options.db.models.InstanceEvent.findAll({
      where: { id: { [Op.gt]: from } },
      attributes: ['id', 'handle'],
      order: [['id', 'ASC']],
      raw: true,
    });
    const handles = new Set<string>();
    for (const event of events) {
      if (this.seen.has(event.id)) continue;
      this.seen.add(event.id);
      handles.add(event.handle);
      if (event.id > this.cursor) this.cursor = event.id;
    }
    for (const id of this.seen) if (id <= this.cursor - LOOKBACK_IDS) this.seen.delete(id);
    if (handles.size > 0) await this.readMany([...handles]);
  }

  private async readMany(handles: string[]): Promise<void> {
    for (let i = 0; i < handles.length; i += READ_CHUNK) {
      const chunk = handles.slice(i, i + READ_CHUNK);
      const rows = (await this.options.db.models.Instance.findAll({ where: { handle: chunk }, attributes: [...ROUTE_ATTRIBUTES], raw: true })) as RouteRow[];
      const byHandle = new Map(rows.map((r) => [r.handle, r]));
      for (const handle of chunk) this.apply(handle, byHandle.get(handle) ?? null);
    }
  }

  private apply(handle: string, row: RouteRow | null): Route | undefined {
    const before = this.routes.get(handle);
    const after = row && row.status !== 'destroyed' ? this.toRoute(row, before) : undefined;
    if (sameRoute(before, after)) return before;
    if (after) this.routes.set(handle, after);
    else this.routes.delete(handle);
    for (const listener of this.changeListeners) listener(handle, before, after);
    for (const listener of [...(this.watchers.get(handle) ?? [])]) listener(after);
    return after;
  }

  private toRoute(row: RouteRow, previous?: Route): Route {
    const { secretKey } = this.options;
    const sameAccess = previous?.accessGeneration === row.access_generation;
    return {
      handle: row.handle,
      ownerId: row.owner_id,
      status: row.status,
      gatewayUrl: row.gateway_url ?? null,
      shellUrl: row.shell_url ?? null,
      lastError: row.last_error ?? null,
      // Plain rows: SQLite answers 0/1.
      suspended: Boolean(row.owner_suspended),
      waiting: row.waiting_since != null,
      accessGeneration: row.access_generation,
      instanceToken: sameAccess ? previous.instanceToken : deriveCredential(secretKey, 'instance-token', row.handle, row.access_generation),
      routerToken: deriveCredential(secretKey, 'router-token', row.handle, row.token_generation),
      tokenGeneration: row.token_generation,
    };
  }
}

function sameRoute(a: Route | undefined, b: Route | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return (
    a.status === b.status &&
    a.gatewayUrl === b.gatewayUrl &&
    a.shellUrl === b.shellUrl &&
    a.lastError === b.lastError &&
    a.suspended === b.suspended &&
    a.waiting === b.waiting &&
    a.accessGeneration === b.accessGeneration &&
    a.routerToken === b.routerToken &&
    a.ownerId === b.ownerId
  );
}
