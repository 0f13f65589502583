/**
 * MAX_RUNNING_INSTANCES: a host has finite memory, so at most that many instances hold
 * a place (running, or on their way up with a place given). An instance about to be
 * defined or started (provisioning, starting) asks for one; when none is free it waits
 * in a fair queue, first asked first served (by `requested_at`), and the worker asks
 * again when a place frees (any stop) or at its next poll. Nothing fails for it.
 *
 * A place is given inside one transaction that counts the holders (on PostgreSQL under
 * an advisory lock, so replicas never give the same place twice), and taken back by
 * the transition that stops the instance (store.ts). With EVICT_IDLE_WHEN_FULL, a
 * waiting instance asks the longest-idle running one to stop.
 */
import { Op, type Transaction } from 'sequelize';
import type { Database } from '../db/database.ts';
import type { Instance } from '../db/models.ts';

/** States whose instance holds a place once given one (a running one always does). */
const PLACE_STATES = ['provisioning', 'starting', 'running', 'stopping', 'destroying'] as const;
/** States that need a place to go on. */
const NEEDS_PLACE = ['provisioning', 'starting'] as const;
const LOCK_KEY = 40_009_014;

export interface CapacityView {
  limit: number | null;
  /** Instances holding a place. */
  holding: number;
  waiting: number;
}

export type Admission =
  | { admitted: true; wasWaiting?: boolean }
  | { admitted: false; position: number; holding: number; limit: number; newlyWaiting: boolean; wasWaiting: boolean };

export class Capacity {
  constructor(
    private readonly db: Database,
    readonly limit: number | null,
    readonly evictIdleWhenFull: boolean,
  ) {}

  /** Whether `row` needs a place before its step runs. */
  needsPlace(row: Pick<Instance, 'status' | 'slot_at'>): boolean {
    return this.limit !== null && !row.slot_at && (NEEDS_PLACE as readonly string[]).includes(row.status);
  }

  /** Gives `row` a place if one is free and nobody asked before it; else says where it is in line. */
  async admit(row: Pick<Instance, 'id' | 'handle'>): Promise<Admission> {
    const limit = this.limit;
    if (limit === null) return { admitted: true };
    return this.db.transaction(async (transaction) => {
      if (this.db.dialect === 'postgres') await this.db.sequelize.query(`SELECT pg_advisory_xact_lock(${LOCK_KEY})`, { transaction });
      const holding = await this.holding(transaction);
      const queue = await this.queue(transaction);
      const rank = queue.findIndex((q) => q.id === row.id);
      if (rank === -1) {
        // Not in line any more: it has its place, or it moved on (stopped, destroyed) and must not start.
        const now = await this.db.models.Instance.findByPk(row.id, { attributes: ['slot_at'], transaction });
        return now?.slot_at ? { admitted: true } : { admitted: false, position: 0, holding, limit, newlyWaiting: false, wasWaiting: false };
      }
      const free = Math.max(0, limit - holding);
      const me = queue[rank]!;
      if (rank < free) {
        await this.db.models.Instance.update({ slot_at: new Date(), waiting_since: null }, { where: { id: row.id, slot_at: null }, transaction });
        return { admitted: true, wasWaiting: me.waiting_since !== null };
      }
      if (!me.waiting_since) await this.db.models.Instance.update({ waiting_since: new Date() }, { where: { id: row.id }, transaction });
      return { admitted: false, position: rank - free + 1, holding, limit, newlyWaiting: !me.waiting_since, wasWaiting: me.waiting_since !== null };
    });
  }

  /**
   * The longest-idle running instance, idle for at least `minIdleMs`, when the first in
   * line may have it stopped (none is stopping already): someone using their instance is
   * never evicted, and a tenant starting and stopping in a loop cannot cycle others out.
   */
  async evictionCandidate(minIdleMs: number, now = new Date()): Promise<string | null> {
    if (!this.evictIdleWhenFull || this.limit === null) return null;
    const { Instance } = this.db.models;
    const stopping = await Instance.count({ where: { status: 'stopping' } });
    if (stopping > 0) return null;
    const idlest = await Instance.findOne({
      where: { status: 'running', last_active_at: { [Op.lt]: new Date(now.getTime() - minIdleMs) } },
      order: [
        ['last_active_at', 'ASC'],
        ['id', 'ASC'],
      ],
      attributes: ['handle'],
    });
    return idlest?.handle ?? null;
  }

  /** `handle`'s place in line (1 = next), or null when it is not waiting. */
  async position(handle: string): Promise<number | null> {
    if (this.limit === null) return null;
    const queue = await this.queue();
    const rank = queue.findIndex((q) => q.handle === handle);
    if (rank === -1 || !queue[rank]!.waiting_since) return null;
    const free = Math.max(0, this.limit - (await this.holding()));
    return Math.max(1, rank - free + 1);
  }

  async view(): Promise<CapacityView> {
    const [holding, queue] = await Promise.all([this.holding(), this.queue()]);
    return { limit: this.limit, holding, waiting: queue.filter((q) => q.waiting_since).length };
  }

  private holding(transaction?: Transaction): Promise<number> {
    return this.db.models.Instance.count({
      where: {
        [Op.or]: [{ status: 'running' }, { status: { [Op.in]: [...PLACE_STATES] }, slot_at: { [Op.ne]: null } }],
      },
      transaction,
    });
  }

  /** Everyone waiting for a place, in the order they asked. */
  private queue(transaction?: Transaction): Promise<Array<Pick<Instance, 'id' | 'handle' | 'waiting_since'>>> {
    return this.db.models.Instance.findAll({
      where: { status: { [Op.in]: [...NEEDS_PLACE] }, slot_at: null },
      order: [
        ['requested_at', 'ASC'],
        ['id', 'ASC'],
      ],
      attributes: ['id', 'handle', 'waiting_since'],
      transaction,
    });
  }
}

/** "1st", "2nd", "3rd", "11th", "22nd". */
export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th');
  return `${n}${suffix}`;
}
