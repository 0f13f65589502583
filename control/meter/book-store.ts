/**
 * The meter's books in the database, in integer micro-dollars. The only SQL of the meter's
 * money: MeterBooks (books.ts) decides, this writes.
 *
 * - A window (meter_windows) counts what a scope spent and what it holds: a user id per
 *   day, month or "ever", and "*" for the whole event. Every hold is one guarded UPDATE
 *   (`spent + reserved + amount <= limit`), so no concurrency and no number of replicas
 *   on PostgreSQL overshoots a budget.
 * - A lease (a meter_reservations row) is what one replica holds of one user's window
 *   for the calls it admits; its amount is exactly what it holds in the windows, so a
 *   sweep can give it back whole when its replica died.
 * - The ledger has one row per settled call, keyed by the call's id: a batch retried
 *   after a lost commit charges nothing twice.
 */
import { QueryTypes, type Transaction } from 'sequelize';
import type { BudgetPeriod } from '../config-meter.ts';
import type { Database } from '../db/database.ts';
import { FOREVER, windowStart } from './windows.ts';

export const PLATFORM_SCOPE = '*';

type Num = string | number;

export interface Terms {
  limit: number;
  period: BudgetPeriod;
}

export interface WindowFigures {
  spent: number;
  reserved: number;
}

/** A lease as the database knows it. */
export interface LeaseRef {
  id: string;
  userId: string;
  ws: string;
  platform: boolean;
}

export interface ExtendPlan {
  /** The lease to add to; null: a new one. */
  lease: LeaseRef | null;
  newLeaseId: string;
  userId: string;
  handle: string;
  /** The waiting calls' worst cases, in the order they came. */
  amounts: number[];
  /** What the lease holds that no call uses. */
  free: number;
  now: Date;
  /** How much more than the calls need to hold, given what is left after them. */
  headroom(after: number, maxCall: number): number;
}

export interface ExtendResult {
  /** The lease the calls are held in (null: nothing was held and there is no lease). */
  lease: LeaseRef | null;
  terms: Terms;
  /** What was added to the lease. */
  added: number;
  /** Per call: held, or refused by the user's budget or by the platform's ceiling. */
  verdicts: Array<'held' | 'user' | 'platform'>;
  /** The user's window after the holds. */
  window: WindowFigures;
}

/** The lease to extend was released meanwhile (a sweep found it stale): start a new one. */
export class LeaseGoneError extends Error {
  constructor() {
    super('the lease was released');
  }
}

export interface LedgerEntry {
  callId: string;
  lease: LeaseRef;
  userId: string;
  handle: string;
  model: string;
  priceVersion: string;
  usage: { input: number; cacheWrite5m: number; cacheWrite1h: number; cacheRead: number; output: number; webSearches: number };
  cost: number;
  /** What the lease gives back to the window for this call (its cost, at most its reservation). */
  released: number;
  outcome: string;
  at: Date;
}

/** Part of a lease's free amount given back. */
export interface LeaseTrim {
  lease: LeaseRef;
  amount: number;
}

export interface WriteResult {
  /** The calls whose row this write added (a retry finds the rest already written). */
  written: Set<string>;
  /** Leases found released by a sweep: their amount is no longer held. */
  gone: Set<string>;
  /** Each user window touched, after the write (key: `${userId}\0${ws}`). */
  windows: Map<string, WindowFigures>;
}

const LEDGER_COLUMNS = [
  'reservation_id',
  'user_id',
  'handle',
  'model',
  'price_version',
  'input_tokens',
  'cache_write_5m_tokens',
  'cache_write_1h_tokens',
  'cache_read_tokens',
  'output_tokens',
  'web_searches',
  'cost_micro',
  'outcome',
  'created_at',
] as const;

/** Money to move per window: what leases give back, and what was spent. */
class Moves {
  private readonly byWindow = new Map<string, { scope: string; ws: string; released: number; cost: number }>();

  add(lease: LeaseRef, released: number, cost: number): void {
    this.addTo(lease.userId, lease.ws, released, cost);
    if (lease.platform) this.addTo(PLATFORM_SCOPE, FOREVER, released, cost);
  }

  private addTo(scope: string, ws: string, released: number, cost: number): void {
    const key = `${scope}\0${ws}`;
    const sum = this.byWindow.get(key) ?? { scope, ws, released: 0, cost: 0 };
    sum.released += released;
    sum.cost += cost;
    this.byWindow.set(key, sum);
  }

  list(): Array<{ scope: string; ws: string; released: number; cost: number }> {
    return [...this.byWindow.values()].filter((m) => m.released !== 0 || m.cost !== 0);
  }
}

/** Token counts as the ledger's INTEGER columns hold them (no real call comes near the limit). */
function tokens(n: number): number {
  return Math.min(Math.max(0, Math.trunc(n)), 2_147_483_647);
}

export class BookStore {
  constructor(
    private readonly db: Database,
    private readonly settings: {
      defaultBudgetMicro: number;
      period: BudgetPeriod;
      platformBudgetMicro: number | null;
      reservationTtlMs: number;
      owner: string;
    },
  ) {}

  private run<T>(sql: string, replacements: Record<string, unknown> | unknown[], type: QueryTypes, transaction?: Transaction): Promise<T> {
    return this.db.sequelize.query(sql, { replacements, type, transaction }) as Promise<T>;
  }

  /** The user's limit and period: their own when an admin set one, else the configured default. */
  async terms(userId: string, transaction?: Transaction): Promise<Terms> {
    const [row] = await this.run<Array<{ limit_micro: Num | null; period: string | null }>>(
      'SELECT limit_micro, period FROM meter_budgets WHERE user_id = :userId',
      { userId },
      QueryTypes.SELECT,
      transaction,
    );
    return this.termsOf(row);
  }

  /** Several users' terms at once (users without a row of their own get the default). */
  async termsOfMany(userIds: string[]): Promise<Map<string, Terms>> {
    const rows = userIds.length
      ? await this.run<Array<{ user_id: string; limit_micro: Num | null; period: string | null }>>(
          'SELECT user_id, limit_micro, period FROM meter_budgets WHERE user_id IN (:userIds)',
          { userIds },
          QueryTypes.SELECT,
        )
      : [];
    const byUser = new Map(rows.map((row) => [row.user_id, row]));
    return new Map(userIds.map((id) => [id, this.termsOf(byUser.get(id))]));
  }

  private termsOf(row: { limit_micro: Num | null; period: string | null } | undefined): Terms {
    return {
      limit: row?.limit_micro == null ? this.settings.defaultBudgetMicro : Number(row.limit_micro),
      period: (row?.period as BudgetPeriod | null) ?? this.settings.period,
    };
  }

  /** What an admin set for the user (null: the default applies). */
  async ownTerms(userId: string, transaction: Transaction): Promise<{ limit: number | null; period: BudgetPeriod | null }> {
    const [row] = await this.run<Array<{ limit_micro: Num | null; period: string | null }>>(
      'SELECT limit_micro, period FROM meter_budgets WHERE user_id = :userId',
      { userId },
      QueryTypes.SELECT,
      transaction,
    );
    return { limit: row?.limit_micro == null ? null : Number(row.limit_micro), period: (row?.period as BudgetPeriod | null) ?? null };
  }

  /**
   * Sets what a change names (undefined leaves a field as it is, null restores the
   * default) in one upsert, so two admins changing different fields at once both count.
   * Returns what the user has now.
   */
  async putTerms(
    userId: string,
    change: { limit?: number | null; period?: BudgetPeriod | null },
    now: Date,
    transaction: Transaction,
  ): Promise<{ limit: number | null; period: BudgetPeriod | null }> {
    const setLimit = change.limit !== undefined;
    const setPeriod = change.period !== undefined;
    await this.run(
      `INSERT INTO meter_budgets (user_id, limit_micro, period, updated_at) VALUES (:userId, :limit, :period, :now)
       ON CONFLICT (user_id) DO UPDATE SET
         limit_micro = CASE WHEN :setLimit = 1 THEN excluded.limit_micro ELSE meter_budgets.limit_micro END,
         period = CASE WHEN :setPeriod = 1 THEN excluded.period ELSE meter_budgets.period END,
         updated_at = excluded.updated_at`,
      { userId, limit: change.limit ?? null, period: change.period ?? null, now, setLimit: setLimit ? 1 : 0, setPeriod: setPeriod ? 1 : 0 },
      QueryTypes.INSERT,
      transaction,
    );
    return this.ownTerms(userId, transaction);
  }

  async window(scope: string, ws: string, transaction?: Transaction): Promise<WindowFigures> {
    const [row] = await this.run<Array<{ spent_micro: Num; reserved_micro: Num }>>(
      'SELECT spent_micro, reserved_micro FROM meter_windows WHERE scope = :scope AND window_start = :ws',
      { scope, ws },
      QueryTypes.SELECT,
      transaction,
    );
    return { spent: Number(row?.spent_micro ?? 0), reserved: Number(row?.reserved_micro ?? 0) };
  }

  /**
   * Holds what the waiting calls need beyond the lease's free part, in one transaction:
   * everything plus headroom when the budget has room to spare, else everything, else
   * call by call in order (each one held whole, or refused).
   */
  async extend(plan: ExtendPlan): Promise<ExtendResult> {
    const platformLimit = this.settings.platformBudgetMicro;
    return this.db.transaction(async (transaction) => {
      // Rows are locked in one order everywhere (lease, user window, platform window), so
      // two transactions on PostgreSQL never wait for each other in a circle. Renewing the
      // lease first locks it, and finds a released one before anything is held.
      if (plan.lease) await this.renewOne(plan.lease.id, plan.now, transaction);
      const terms = await this.terms(plan.userId, transaction);
      const ws = plan.lease?.ws ?? windowStart(terms.period, plan.now);
      const user = await this.ensureWindow(plan.userId, ws, transaction);
      const platform = platformLimit === null ? null : await this.ensureWindow(PLATFORM_SCOPE, FOREVER, transaction);
      const total = plan.amounts.reduce((a, b) => a + b, 0);
      const need = Math.max(0, total - plan.free);
      const maxCall = Math.max(0, ...plan.amounts);
      const after = Math.min(
        terms.limit - user.spent - user.reserved - need,
        platform === null ? Number.POSITIVE_INFINITY : platformLimit! - platform.spent - platform.reserved - need,
      );
      const headroom = Math.max(0, Math.floor(plan.headroom(after, maxCall)));
      const verdicts: ExtendResult['verdicts'] = plan.amounts.map(() => 'held');
      let added = 0;
      if (need === 0 && headroom === 0) {
        // Nothing to hold: the free part covers every call.
      } else if (headroom > 0 && (await this.hold(plan.userId, ws, need + headroom, terms.limit, transaction)) === null) {
        added = need + headroom;
      } else if (need > 0 && (await this.hold(plan.userId, ws, need, terms.limit, transaction)) === null) {
        added = need;
      } else if (need > 0) {
        // Call by call: once an amount is refused, no larger one is tried again.
        let free = plan.free;
        const refusedFrom: Record<'user' | 'platform', number> = { user: Number.POSITIVE_INFINITY, platform: Number.POSITIVE_INFINITY };
        for (const [i, amount] of plan.amounts.entries()) {
          if (amount <= free) {
            free -= amount;
            continue;
          }
          const take = amount - free;
          const known = take >= refusedFrom.platform ? 'platform' : take >= refusedFrom.user ? 'user' : null;
          const refused = known ?? (await this.hold(plan.userId, ws, take, terms.limit, transaction));
          if (refused === null) {
            added += take;
            free = 0;
            verdicts[i] = 'held';
          } else {
            refusedFrom[refused] = Math.min(refusedFrom[refused], take);
            verdicts[i] = refused;
          }
        }
      }
      let lease = plan.lease;
      if (added > 0) lease = await this.addToLease(plan, lease, ws, added, transaction);
      return { lease, terms, added, verdicts, window: await this.window(plan.userId, ws, transaction) };
    });
  }

  private async ensureWindow(scope: string, ws: string, transaction: Transaction): Promise<WindowFigures> {
    await this.run(
      'INSERT INTO meter_windows (scope, window_start, spent_micro, reserved_micro) VALUES (:scope, :ws, 0, 0) ON CONFLICT (scope, window_start) DO NOTHING',
      { scope, ws },
      QueryTypes.INSERT,
      transaction,
    );
    return this.window(scope, ws, transaction);
  }

  /** Holds `amount` in the user's window and the platform's; null, or which of them refused (nothing held). */
  private async hold(userId: string, ws: string, amount: number, limit: number, transaction: Transaction): Promise<'user' | 'platform' | null> {
    const guarded =
      'UPDATE meter_windows SET reserved_micro = reserved_micro + :amount WHERE scope = :scope AND window_start = :ws AND spent_micro + reserved_micro + :amount <= :limit';
    const [, held] = await this.run<[unknown, number]>(guarded, { scope: userId, ws, amount, limit }, QueryTypes.UPDATE, transaction);
    if (held !== 1) return 'user';
    const platformLimit = this.settings.platformBudgetMicro;
    if (platformLimit === null) return null;
    const [, ceiling] = await this.run<[unknown, number]>(
      guarded,
      { scope: PLATFORM_SCOPE, ws: FOREVER, amount, limit: platformLimit },
      QueryTypes.UPDATE,
      transaction,
    );
    if (ceiling === 1) return null;
    await this.move(userId, ws, -amount, 0, transaction);
    return 'platform';
  }

  private async renewOne(id: string, now: Date, transaction: Transaction): Promise<void> {
    const [, count] = await this.run<[unknown, number]>(
      'UPDATE meter_reservations SET expires_at = :expires WHERE id = :id AND settled_at IS NULL AND released_at IS NULL',
      { id, expires: this.expiry(now) },
      QueryTypes.UPDATE,
      transaction,
    );
    if (count !== 1) throw new LeaseGoneError();
  }

  private async addToLease(plan: ExtendPlan, lease: LeaseRef | null, ws: string, added: number, transaction: Transaction): Promise<LeaseRef> {
    if (lease) {
      // Locked and renewed at the start of this transaction: still open.
      await this.run(
        'UPDATE meter_reservations SET amount_micro = amount_micro + :added WHERE id = :id',
        { id: lease.id, added },
        QueryTypes.UPDATE,
        transaction,
      );
      return lease;
    }
    const created: LeaseRef = { id: plan.newLeaseId, userId: plan.userId, ws, platform: this.settings.platformBudgetMicro !== null };
    await this.run(
      `INSERT INTO meter_reservations (id, user_id, handle, window_start, amount_micro, platform, owner, created_at, expires_at)
       VALUES (:id, :userId, :handle, :ws, :amount, :platform, :owner, :now, :expires)`,
      {
        id: created.id,
        userId: plan.userId,
        handle: plan.handle,
        ws,
        amount: added,
        platform: created.platform,
        owner: this.settings.owner,
        now: plan.now,
        expires: this.expiry(plan.now),
      },
      QueryTypes.INSERT,
      transaction,
    );
    return created;
  }

  /** Moves money in a window: `reserved` is added to what it holds, `spent` to what it spent. */
  private async move(scope: string, ws: string, reserved: number, spent: number, transaction: Transaction): Promise<WindowFigures | null> {
    const [row] = await this.run<Array<{ spent_micro: Num; reserved_micro: Num }>>(
      `UPDATE meter_windows SET reserved_micro = reserved_micro + :reserved, spent_micro = spent_micro + :spent
       WHERE scope = :scope AND window_start = :ws RETURNING spent_micro, reserved_micro`,
      { scope, ws, reserved, spent },
      QueryTypes.SELECT,
      transaction,
    );
    return row ? { spent: Number(row.spent_micro), reserved: Number(row.reserved_micro) } : null;
  }

  /**
   * Writes settled calls and closes leases in one transaction, in a few statements
   * whatever the batch's size: a ledger row per call new to the ledger, its cost moved
   * from the lease's hold to spent (a lease a sweep released holds nothing any more:
   * only the cost is added), then each closing lease gives back what it still holds.
   * `retry`: an earlier attempt may have committed unseen; calls already in the ledger
   * are skipped (so a retry carries no trims: they may have been applied). `trims`: what
   * leases give back without a call (their free part near the end of a budget).
   */
  async write(entries: LedgerEntry[], closing: LeaseRef[], now: Date, retry = false, trims: LeaseTrim[] = []): Promise<WriteResult> {
    return this.db.transaction(async (transaction) => {
      const done = retry && entries.length > 0 ? await this.alreadyWritten(entries, transaction) : new Set<string>();
      const fresh = entries.filter((e) => !done.has(e.callId));
      if (fresh.length > 0) {
        const rows = fresh.map((e) => [
          e.callId,
          e.userId,
          e.handle,
          e.model.slice(0, 96),
          e.priceVersion,
          tokens(e.usage.input),
          tokens(e.usage.cacheWrite5m),
          tokens(e.usage.cacheWrite1h),
          tokens(e.usage.cacheRead),
          tokens(e.usage.output),
          tokens(e.usage.webSearches),
          e.cost,
          e.outcome,
          e.at,
        ]);
        await this.run(
          `INSERT INTO meter_ledger (${LEDGER_COLUMNS.join(', ')}) VALUES ${rows.map((row) => `(${row.map(() => '?').join(', ')})`).join(', ')}`,
          rows.flat(),
          QueryTypes.INSERT,
          transaction,
        );
      }
      // What each lease gives back: the costs of its calls.
      const perLease = new Map<string, { lease: LeaseRef; released: number; cost: number }>();
      for (const e of fresh) {
        const sum = perLease.get(e.lease.id) ?? { lease: e.lease, released: 0, cost: 0 };
        sum.released += e.released;
        sum.cost += e.cost;
        perLease.set(e.lease.id, sum);
      }
      for (const trim of trims) {
        const sum = perLease.get(trim.lease.id) ?? { lease: trim.lease, released: 0, cost: 0 };
        sum.released += trim.amount;
        perLease.set(trim.lease.id, sum);
      }
      const alive = await this.takeFromLeases(
        [...perLease.values()].map(({ lease, released }) => ({ id: lease.id, amount: released })),
        transaction,
      );
      const gone = new Set([...perLease.keys()].filter((id) => !alive.has(id)));
      const moves = new Moves();
      for (const { lease, released, cost } of perLease.values()) moves.add(lease, alive.has(lease.id) ? released : 0, cost);
      for (const lease of closing) {
        const amount = await this.closeLease(lease.id, 'settled_at', now, transaction);
        if (amount === null) gone.add(lease.id);
        else moves.add(lease, amount, 0);
      }
      const windows = await this.moveAll(moves, transaction);
      return { written: new Set(fresh.map((e) => e.callId)), gone, windows };
    });
  }

  private async alreadyWritten(entries: LedgerEntry[], transaction: Transaction): Promise<Set<string>> {
    const rows = await this.run<Array<{ reservation_id: string }>>(
      'SELECT reservation_id FROM meter_ledger WHERE reservation_id IN (:ids)',
      { ids: entries.map((e) => e.callId) },
      QueryTypes.SELECT,
      transaction,
    );
    return new Set(rows.map((row) => row.reservation_id));
  }

  /** Lowers open leases' amounts in one statement; returns the ids that were open. */
  private async takeFromLeases(takes: Array<{ id: string; amount: number }>, transaction: Transaction): Promise<Set<string>> {
    if (takes.length === 0) return new Set();
    const rows = await this.run<Array<{ id: string }>>(
      `UPDATE meter_reservations SET amount_micro = amount_micro - CASE id ${takes.map(() => 'WHEN ? THEN ?').join(' ')} ELSE 0 END
       WHERE id IN (${takes.map(() => '?').join(', ')}) AND settled_at IS NULL AND released_at IS NULL RETURNING id`,
      [...takes.flatMap((take) => [take.id, take.amount]), ...takes.map((take) => take.id)],
      QueryTypes.SELECT,
      transaction,
    );
    return new Set(rows.map((row) => row.id));
  }

  /** Applies every window's move in one statement; returns the user windows after it. */
  private async moveAll(moves: Moves, transaction: Transaction): Promise<Map<string, WindowFigures>> {
    const list = moves.list();
    if (list.length === 0) return new Map();
    const where = list.map(() => '(scope = ? AND window_start = ?)').join(' OR ');
    const keys = list.flatMap((m) => [m.scope, m.ws]);
    if (this.db.dialect === 'postgres')
      // The same lock order as everywhere else: user windows in order, the platform's last.
      await this.run(
        `SELECT scope FROM meter_windows WHERE ${where} ORDER BY CASE WHEN scope = '*' THEN 1 ELSE 0 END, scope, window_start FOR UPDATE`,
        keys,
        QueryTypes.SELECT,
        transaction,
      );
    const match = 'WHEN scope = ? AND window_start = ? THEN ?';
    const rows = await this.run<Array<{ scope: string; window_start: string; spent_micro: Num; reserved_micro: Num }>>(
      `UPDATE meter_windows
       SET reserved_micro = reserved_micro - CASE ${list.map(() => match).join(' ')} ELSE 0 END,
           spent_micro = spent_micro + CASE ${list.map(() => match).join(' ')} ELSE 0 END
       WHERE ${where}
       RETURNING scope, window_start, spent_micro, reserved_micro`,
      [...list.flatMap((m) => [m.scope, m.ws, m.released]), ...list.flatMap((m) => [m.scope, m.ws, m.cost]), ...keys],
      QueryTypes.SELECT,
      transaction,
    );
    const windows = new Map<string, WindowFigures>();
    for (const row of rows)
      if (row.scope !== PLATFORM_SCOPE)
        windows.set(`${row.scope}\0${row.window_start}`, { spent: Number(row.spent_micro), reserved: Number(row.reserved_micro) });
    return windows;
  }

  /** Marks a lease closed or released, once; returns what it held, or null when it already was. */
  private async closeLease(id: string, column: 'settled_at' | 'released_at', now: Date, transaction: Transaction): Promise<number | null> {
    const [, count] = await this.run<[unknown, number]>(
      `UPDATE meter_reservations SET ${column} = :now WHERE id = :id AND settled_at IS NULL AND released_at IS NULL`,
      { id, now },
      QueryTypes.UPDATE,
      transaction,
    );
    if (count !== 1) return null;
    const [row] = await this.run<Array<{ amount_micro: Num }>>(
      'SELECT amount_micro FROM meter_reservations WHERE id = :id',
      { id },
      QueryTypes.SELECT,
      transaction,
    );
    return Number(row!.amount_micro);
  }

  /**
   * Keeps this replica's leases alive (a sweep releases a lease not renewed within
   * the reservation TTL); returns the ones that are no longer open (released by another replica's sweep).
   */
  private expiry(now: Date): Date {
    return new Date(now.getTime() + this.settings.reservationTtlMs);
  }

  async renew(ids: string[], now: Date): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const alive = await this.run<Array<{ id: string }>>(
      'UPDATE meter_reservations SET expires_at = :expires WHERE id IN (:ids) AND settled_at IS NULL AND released_at IS NULL RETURNING id',
      { ids, expires: this.expiry(now) },
      QueryTypes.SELECT,
    );
    const open = new Set(alive.map((row) => row.id));
    return new Set(ids.filter((id) => !open.has(id)));
  }

  /**
   * Gives back what leases hold when their replica can no longer settle: not renewed
   * before their expiry, or held by an earlier run of this replica (`ownerPrefix`; the
   * process died with them). Returns how many were released.
   */
  async releaseStale(now: Date, ownerPrefix?: string): Promise<number> {
    const stale = await this.run<Array<{ id: string; user_id: string; window_start: string; platform: boolean | number }>>(
      `SELECT id, user_id, window_start, platform FROM meter_reservations WHERE settled_at IS NULL AND released_at IS NULL
         AND (expires_at < :now${ownerPrefix ? ' OR (substr(owner, 1, :prefixLength) = :prefix AND owner <> :owner)' : ''})`,
      // Not LIKE: a replica id may hold "_" or "%".
      { now, prefix: ownerPrefix ?? '', prefixLength: ownerPrefix?.length ?? 0, owner: this.settings.owner },
      QueryTypes.SELECT,
    );
    let released = 0;
    for (const row of stale) {
      released += await this.db.transaction(async (transaction) => {
        const amount = await this.closeLease(row.id, 'released_at', now, transaction);
        if (amount === null) return 0;
        await this.move(row.user_id, row.window_start, -amount, 0, transaction);
        if (row.platform) await this.move(PLATFORM_SCOPE, FOREVER, -amount, 0, transaction);
        return 1;
      });
    }
    return released;
  }
}
