/**
 * Persisted instance state. Every transition is one UPDATE guarded by the expected
 * old state (and, for the worker, its lease) plus an event row, in one transaction:
 * two replicas can race on the same row and exactly one wins.
 */
import { EventEmitter } from 'node:events';
import { Op, type Transaction, type WhereOperators, type WhereOptions } from 'sequelize';
import { type AuditRecord, recordAudit } from '../audit.ts';
import type { Database } from '../db/database.ts';
import type { EventKind, Instance, InstanceEvent } from '../db/models.ts';
import { INSTANCE_STATUSES, type InstanceStatus, shouldNotRun, TRANSIENT_STATUSES } from './states.ts';

export type InstancePatch = Partial<
  Pick<
    Instance,
    | 'gateway_url'
    | 'shell_url'
    | 'last_active_at'
    | 'requested_at'
    | 'started_at'
    | 'stopped_at'
    | 'attempts'
    | 'last_error'
    | 'spec_hash'
    | 'runtime_ref'
    | 'token_generation'
    | 'access_generation'
    | 'purge_on_destroy'
    | 'archive_path'
    | 'next_attempt_at'
    | 'owner_id'
  >
>;

export interface TransitionChange {
  handle: string;
  /** null for a newly created instance. */
  from: InstanceStatus | null;
  to: InstanceStatus;
  /** The worker (lease owner) that made it; absent for requests. */
  by?: string;
}

export interface StoredEvent {
  id: number;
  handle: string;
  kind: EventKind;
  from: string | null;
  to: string | null;
  message: string;
  at: string;
}

export type InstanceSummary = Pick<Instance, 'handle' | 'status' | 'last_active_at' | 'last_error'>;

/**
 * In-process notifications: 'transition' (TransitionChange) after a commit, 'event'
 * (StoredEvent) for every event row. Other replicas learn the same from the database.
 */
export class InstanceBus extends EventEmitter {}

export class InstanceStore {
  constructor(
    private readonly db: Database,
    readonly bus: InstanceBus = new InstanceBus(),
  ) {
    bus.setMaxListeners(0);
  }

  private get Instance() {
    return this.db.models.Instance;
  }

  findByHandle(handle: string): Promise<Instance | null> {
    return this.Instance.findOne({ where: { handle } });
  }

  /**
   * What reconcile compares with the orchestrator: every row the database thinks is
   * running, and the rows of `liveHandles` (what the orchestrator runs). Plain objects.
   */
  async driftCandidates(liveHandles: readonly string[]): Promise<Array<Pick<Instance, 'handle' | 'status' | 'gateway_url' | 'updated_at'>>> {
    const attributes = ['handle', 'status', 'gateway_url', 'updated_at'];
    const rows = (await this.Instance.findAll({ where: { status: 'running' }, attributes, raw: true })) as Instance[];
    for (let i = 0; i < liveHandles.length; i += 1000) {
      const chunk = liveHandles.slice(i, i + 1000);
      rows.push(...((await this.Instance.findAll({ where: { handle: chunk, status: { [Op.ne]: 'running' } }, attributes, raw: true })) as Instance[]));
    }
    return rows;
  }

  /** Every handle in `status`. */
  async handlesIn(status: InstanceStatus): Promise<string[]> {
    const rows = (await this.Instance.findAll({ where: { status }, attributes: ['handle'], raw: true })) as Array<Pick<Instance, 'handle'>>;
    return rows.map((r) => r.handle);
  }

  /** State and last activity of these handles' instances, by handle (absent handles are left out). Plain objects. */
  async summaries(handles: readonly string[]): Promise<Map<string, InstanceSummary>> {
    const found = new Map<string, InstanceSummary>();
    for (let i = 0; i < handles.length; i += 1000) {
      const rows = (await this.Instance.findAll({
        where: { handle: handles.slice(i, i + 1000) },
        attributes: ['handle', 'status', 'last_active_at', 'last_error'],
        raw: true,
      })) as InstanceSummary[];
      for (const row of rows) found.set(row.handle, row);
    }
    return found;
  }

  /**
   * Moves `handle` from one of `from` to `to`, applying `patch`, and records an event.
   * `leaseOwner`: only the worker holding the lease may move the row (and the lease is released).
   * `audit`: written in the same transaction (requests by people are audited).
   * Returns false, changing nothing, when the row was not in an expected state.
   */
  async transition(
    handle: string,
    from: readonly InstanceStatus[],
    to: InstanceStatus,
    message: string,
    options: { patch?: InstancePatch; leaseOwner?: string; kind?: EventKind; where?: WhereOptions<Instance>; audit?: AuditRecord } = {},
  ): Promise<boolean> {
    let previous: InstanceStatus | undefined;
    let event: InstanceEvent | undefined;
    const done = await this.db.transaction(async (transaction) => {
      const row = await this.Instance.findOne({ where: { handle }, transaction, attributes: ['id', 'status'] });
      if (!row || !from.includes(row.status)) return false;
      // Extra conditions (e.g. still idle) are checked in the same UPDATE, never before it.
      const where: WhereOptions<Instance> = { [Op.and]: [{ id: row.id, status: row.status }, options.where ?? {}] };
      if (options.leaseOwner !== undefined) (where[Op.and] as object[]).push({ lease_owner: options.leaseOwner });
      const [count] = await this.Instance.update(
        { ...options.patch, ...freesPlace(to), status: to, lease_owner: null, lease_expires_at: null },
        { where, transaction },
      );
      if (count !== 1) return false;
      previous = row.status;
      event = await this.insertEvent(row.id, handle, options.kind ?? 'transition', row.status, to, message, transaction);
      if (options.audit) await recordAudit(this.db, options.audit, transaction);
      return true;
    });
    if (done && previous) {
      this.bus.emit('transition', { handle, from: previous, to, by: options.leaseOwner } satisfies TransitionChange);
      this.bus.emit('event', toStoredEvent(event!));
    }
    return done;
  }

  /**
   * Set-based transition for sweeps: one guarded UPDATE over every row in `from` that
   * matches `where`, and one bulk insert of their events. Returns the handles moved.
   * The guard is re-evaluated by the UPDATE itself (PostgreSQL) or under the write
   * lock taken at BEGIN IMMEDIATE (SQLite), so nothing changed meanwhile is moved.
   */
  async transitionWhere(
    where: WhereOptions<Instance>,
    from: InstanceStatus,
    to: InstanceStatus,
    message: string,
    kind: EventKind,
    patch: InstancePatch = {},
  ): Promise<string[]> {
    const guard = { [Op.and]: [{ status: from }, where] };
    const values = { ...patch, ...freesPlace(to), status: to, lease_owner: null, lease_expires_at: null };
    const moved = await this.db.transaction(async (transaction) => {
      let rows: Array<Pick<Instance, 'id' | 'handle'>>;
      if (this.db.dialect === 'postgres') {
        [, rows] = await this.Instance.update(values, { where: guard, transaction, returning: true });
      } else {
        rows = (await this.Instance.findAll({ where: guard, attributes: ['id', 'handle'], transaction, raw: true })) as Instance[];
        if (rows.length) await this.Instance.update(values, { where: { id: rows.map((r) => r.id), status: from }, transaction });
      }
      if (rows.length) {
        await this.db.models.InstanceEvent.bulkCreate(
          rows.map((r) => ({ instance_id: r.id, handle: r.handle, kind, from_status: from, to_status: to, message })),
          { transaction },
        );
      }
      return rows.map((r) => r.handle);
    });
    // Event streams pick the rows up from the database on their next poll.
    for (const handle of moved) this.bus.emit('transition', { handle, from, to } satisfies TransitionChange);
    return moved;
  }

  /** Inserts a new instance in `requested` with its first event. */
  async create(values: { handle: string; owner_id: string; driver: string }, transaction: Transaction): Promise<Instance> {
    const now = new Date();
    const row = await this.Instance.create({ ...values, status: 'requested', requested_at: now }, { transaction });
    const event = await this.insertEvent(row.id, row.handle, 'transition', null, 'requested', 'Instance requested', transaction);
    transaction.afterCommit(() => {
      this.bus.emit('transition', { handle: row.handle, from: null, to: 'requested' } satisfies TransitionChange);
      this.bus.emit('event', toStoredEvent(event));
    });
    return row;
  }

  /**
   * Rotates a family of derived credentials with its event row and audit entry in one
   * transaction (the event is how other processes' route tables learn of it):
   * - 'access': the user's instance token and browser sessions; the instance keeps running;
   * - 'token': the router's token to the instance and the meter key, which the instance
   *   holds: a running or starting instance goes back to `starting`, so the worker
   *   redeploys it with the new values (and aborts a start still using the old ones).
   * Returns the new generation, or null when the instance is missing, destroyed, or
   * was changed by someone else meanwhile.
   */
  async rotateGeneration(
    handle: string,
    kind: 'access' | 'token',
    message: string,
    audit: AuditRecord,
  ): Promise<{ generation: number; redeploy: boolean } | null> {
    const column = kind === 'access' ? 'access_generation' : 'token_generation';
    let event: InstanceEvent | undefined;
    let change: TransitionChange | undefined;
    const result = await this.db.transaction(async (transaction) => {
      const row = await this.Instance.findOne({ where: { handle }, attributes: ['id', 'status', column], transaction });
      if (!row || row.status === 'destroyed') return null;
      const generation = row[column] + 1;
      const redeploy = kind === 'token' && (row.status === 'running' || row.status === 'starting');
      const values: InstancePatch & { status?: InstanceStatus; lease_owner?: null; lease_expires_at?: null } = { [column]: generation };
      if (redeploy)
        Object.assign(values, { status: 'starting', requested_at: new Date(), attempts: 0, next_attempt_at: null, lease_owner: null, lease_expires_at: null });
      const [count] = await this.Instance.update(values, { where: { id: row.id, status: row.status, [column]: row[column] }, transaction, silent: !redeploy });
      if (count !== 1) return null;
      event = redeploy
        ? await this.insertEvent(row.id, handle, 'transition', row.status, 'starting', message, transaction)
        : await this.insertEvent(row.id, handle, 'access', null, null, message, transaction);
      if (redeploy) change = { handle, from: row.status, to: 'starting' };
      await recordAudit(this.db, { ...audit, detail: { credentials: kind, generation } }, transaction);
      return { generation, redeploy };
    });
    if (change) this.bus.emit('transition', change);
    if (event) this.bus.emit('event', toStoredEvent(event));
    return result;
  }

  /**
   * Restarts a running instance with a fresh spec (what it is given changed, say its
   * Matrix account became ready): running → starting with its event row, the same
   * path as a credential rotation. Returns false when it is not running.
   */
  async redeploy(handle: string, message: string): Promise<boolean> {
    let event: InstanceEvent | undefined;
    await this.db.transaction(async (transaction) => {
      const row = await this.Instance.findOne({ where: { handle, status: 'running' }, attributes: ['id'], transaction });
      if (!row) return;
      const [count] = await this.Instance.update(
        { status: 'starting', requested_at: new Date(), attempts: 0, next_attempt_at: null, lease_owner: null, lease_expires_at: null },
        { where: { id: row.id, status: 'running' }, transaction },
      );
      if (count === 1) event = await this.insertEvent(row.id, handle, 'transition', 'running', 'starting', message, transaction);
    });
    if (!event) return false;
    this.bus.emit('transition', { handle, from: 'running', to: 'starting' } satisfies TransitionChange);
    this.bus.emit('event', toStoredEvent(event));
    return true;
  }

  /**
   * A running instance moved (the orchestrator placed it elsewhere): the new address
   * and a 'reconcile' event in one transaction, so every route table (this process's
   * through the bus, router workers and other replicas through the event table)
   * follows. Returns false when the instance is no longer running.
   */
  async moveAddress(handle: string, address: { gateway: string; shell: string }, message: string): Promise<boolean> {
    let event: InstanceEvent | undefined;
    await this.db.transaction(async (transaction) => {
      const row = await this.Instance.findOne({ where: { handle, status: 'running' }, attributes: ['id'], transaction });
      if (!row) return;
      const [count] = await this.Instance.update(
        { gateway_url: address.gateway, shell_url: address.shell },
        { where: { id: row.id, status: 'running' }, transaction },
      );
      if (count === 1) event = await this.insertEvent(row.id, handle, 'reconcile', null, null, message, transaction);
    });
    if (event) this.bus.emit('event', toStoredEvent(event));
    return event !== undefined;
  }

  /**
   * Marks (or clears) an owner's suspension on their live instances, inside the caller's
   * transaction (the user's own change), with an 'access' event each: that is how every
   * route table refuses or restores access within a second. Returns the handles.
   */
  async setOwnerSuspended(ownerId: string, suspended: boolean, message: string, transaction: Transaction): Promise<string[]> {
    const rows = (await this.Instance.findAll({
      where: { owner_id: ownerId, status: { [Op.ne]: 'destroyed' } },
      attributes: ['id', 'handle'],
      transaction,
      raw: true,
    })) as Array<Pick<Instance, 'id' | 'handle'>>;
    if (rows.length === 0) return [];
    await this.Instance.update({ owner_suspended: suspended }, { where: { id: rows.map((r) => r.id) }, transaction, silent: true });
    const events = await Promise.all(rows.map((r) => this.insertEvent(r.id, r.handle, 'access', null, null, message, transaction)));
    transaction.afterCommit(() => {
      for (const event of events) this.bus.emit('event', toStoredEvent(event));
    });
    return rows.map((r) => r.handle);
  }

  /** Gives back every lease whose owner matches `owner` (a replica's earlier runs). Returns how many. */
  async releaseLeases(owner: WhereOperators): Promise<number> {
    const [count] = await this.Instance.update({ lease_owner: null, lease_expires_at: null }, { where: { lease_owner: owner } });
    return count;
  }

  /**
   * How many times `handle` was restarted after a crash since `since`, counting only
   * since it last rested (stopped or failed): a user's fresh start begins a new count.
   */
  async recentCrashes(handle: string, since: Date): Promise<number> {
    const { InstanceEvent } = this.db.models;
    const rested = (await InstanceEvent.max('id', { where: { handle, to_status: ['stopped', 'failed', 'destroyed'] } })) as number | null;
    return InstanceEvent.count({
      where: { handle, kind: 'crash', to_status: 'starting', created_at: { [Op.gt]: since }, id: { [Op.gt]: rested ?? 0 } },
    });
  }

  /** Records a progress/error/reconcile event without changing state. */
  async note(handle: string, kind: EventKind, message: string): Promise<void> {
    const row = await this.Instance.findOne({ where: { handle }, attributes: ['id', 'status'] });
    if (!row) return;
    const event = await this.insertEvent(row.id, handle, kind, null, null, message);
    this.bus.emit('event', toStoredEvent(event));
  }

  private insertEvent(instanceId: number, handle: string, kind: EventKind, from: string | null, to: string | null, message: string, transaction?: Transaction) {
    return this.db.models.InstanceEvent.create(
      { instance_id: instanceId, handle, kind, from_status: from, to_status: to, message: message.slice(0, 4000) },
      { transaction },
    );
  }

  /** Work the provisioning worker may take now: transient, unleased (or lease expired), due. */
  findDue(limit: number, now = new Date()): Promise<Instance[]> {
    return this.Instance.findAll({
      where: {
        status: { [Op.in]: [...TRANSIENT_STATUSES] },
        [Op.and]: [
          { [Op.or]: [{ lease_owner: null }, { lease_expires_at: { [Op.lt]: now } }] },
          { [Op.or]: [{ next_attempt_at: null }, { next_attempt_at: { [Op.lte]: now } }] },
        ],
      },
      order: [['updated_at', 'ASC']],
      limit,
    });
  }

  /** Takes the lease on a row still in `status`; false when another worker has it. */
  async claim(id: number, status: InstanceStatus, owner: string, leaseMs: number): Promise<boolean> {
    const now = new Date();
    const [count] = await this.Instance.update(
      { lease_owner: owner, lease_expires_at: new Date(now.getTime() + leaseMs) },
      { where: { id, status, [Op.or]: [{ lease_owner: null }, { lease_expires_at: { [Op.lt]: now } }] } },
    );
    return count === 1;
  }

  /** Extends a held lease; false when it was lost (expired and taken, or the state moved on). */
  async renewLease(id: number, status: InstanceStatus, owner: string, leaseMs: number): Promise<boolean> {
    const [count] = await this.Instance.update({ lease_expires_at: new Date(Date.now() + leaseMs) }, { where: { id, status, lease_owner: owner } });
    return count === 1;
  }

  /** A place freed (MAX_RUNNING_INSTANCES): the first `count` in line are due now, to ask again. */
  async wakeWaiting(count: number): Promise<number> {
    const first = await this.Instance.findAll({
      where: { waiting_since: { [Op.ne]: null } },
      order: [
        ['requested_at', 'ASC'],
        ['id', 'ASC'],
      ],
      attributes: ['id'],
      limit: count,
    });
    if (first.length === 0) return 0;
    const [woken] = await this.Instance.update({ next_attempt_at: new Date() }, { where: { id: first.map((r) => r.id) } });
    return woken;
  }

  /** Gives the lease back without moving state, e.g. to retry later. */
  async release(id: number, owner: string, patch: InstancePatch): Promise<void> {
    await this.Instance.update({ ...patch, lease_owner: null, lease_expires_at: null }, { where: { id, lease_owner: owner } });
  }

  async countByState(): Promise<Record<InstanceStatus, number>> {
    const rows = (await this.Instance.findAll({
      attributes: ['status', [this.db.sequelize.fn('COUNT', this.db.sequelize.col('id')), 'n']],
      group: ['status'],
      raw: true,
    })) as unknown as Array<{ status: InstanceStatus; n: number | string }>;
    const counts = Object.fromEntries(INSTANCE_STATUSES.map((s) => [s, 0])) as Record<InstanceStatus, number>;
    for (const row of rows) counts[row.status] = Number(row.n);
    return counts;
  }

  /** The newest `limit` events of `handle`, oldest first. */
  async latestEvents(handle: string, limit: number): Promise<StoredEvent[]> {
    const rows = await this.db.models.InstanceEvent.findAll({ where: { handle }, order: [['id', 'DESC']], limit });
    return rows.reverse().map(toStoredEvent);
  }

  /** The event log of one instance, for streaming (live from this process's bus, and from the table). */
  eventFeed(handle: string): { after(afterId: number, limit: number): Promise<StoredEvent[]>; subscribe(listener: (event: StoredEvent) => void): () => void } {
    return {
      after: (afterId, limit) => this.events(handle, afterId, limit),
      subscribe: (listener) => {
        const onEvent = (event: StoredEvent) => {
          if (event.handle === handle) listener(event);
        };
        this.bus.on('event', onEvent);
        return () => this.bus.off('event', onEvent);
      },
    };
  }

  async events(handle: string, afterId: number, limit: number): Promise<StoredEvent[]> {
    const rows = await this.db.models.InstanceEvent.findAll({
      where: { handle, id: { [Op.gt]: afterId } },
      order: [['id', 'ASC']],
      limit,
    });
    return rows.map(toStoredEvent);
  }
}

function toStoredEvent(row: InstanceEvent): StoredEvent {
  return {
    id: row.id,
    handle: row.handle,
    kind: row.kind,
    from: row.from_status ?? null,
    to: row.to_status ?? null,
    message: row.message,
    at: new Date(row.created_at).toISOString(),
  };
}

/** An instance that stops running gives its place back (MAX_RUNNING_INSTANCES) and waits for none. */
function freesPlace(to: InstanceStatus): { slot_at?: null; waiting_since?: null } {
  return shouldNotRun(to) ? { slot_at: null, waiting_since: null } : {};
}
