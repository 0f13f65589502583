/**
 * The meter's books: budgets, reservations and the ledger, in integer micro-dollars.
 *
 * Admission reserves a call's worst case with one guarded UPDATE per scope (the user's
 * window, and the platform's ceiling when there is one) in one transaction: the UPDATE
 * only succeeds while spent + reserved + amount stays within the limit, so no amount of
 * concurrency, and no number of replicas on PostgreSQL, overshoots a budget. Settling
 * marks the reservation settled with a guarded UPDATE first, so it happens exactly once,
 * then moves the amount from reserved to the exact cost, and writes the ledger row.
 */
import crypto from 'node:crypto';
import { QueryTypes, type Transaction } from 'sequelize';
import { recordAudit } from '../audit.ts';
import type { BudgetPeriod } from '../config-meter.ts';
import type { Database } from '../db/database.ts';
import { PlatformError } from '../errors.ts';
import { formatUsd, formatUsdUp } from './money.ts';
import { FOREVER, resetsAt, windowStart } from './windows.ts';

const PLATFORM = '*';

export interface Budget {
  limit: number;
  period: BudgetPeriod;
  spent: number;
  reserved: number;
  /** limit - spent - reserved, never below 0. */
  remaining: number;
  resetsAt: Date | null;
}

export interface Charge {
  model: string;
  priceVersion: string;
  usage: { input: number; cacheWrite5m: number; cacheWrite1h: number; cacheRead: number; output: number; webSearches: number };
  cost: number;
  /**
   * ok; error (the upstream refused, or failed mid-stream); disconnected (the client left, the
   * usage was read to the end); capped (the usage could not be known: charged the reservation).
   */
  outcome: 'ok' | 'error' | 'disconnected' | 'capped';
}

/** A budget that cannot take this call: 400 as Anthropic's own spend limit answers, so SDKs do not retry. */
export class BudgetExhaustedError extends PlatformError {
  constructor(message: string) {
    super('budget_exhausted', message, { status: 400, headers: { 'x-should-retry': 'false' } });
  }
}

/** What an admin changes of a budget: undefined leaves it, null restores the default. */
export interface BudgetChange {
  limit?: number | null;
  period?: BudgetPeriod | null;
}

export interface BooksSettings {
  defaultBudgetMicro: number;
  period: BudgetPeriod;
  platformBudgetMicro: number | null;
  reservationTtlMs: number;
  /** Who holds new reservations: `{REPLICA_ID}:{boot}`; a restarted replica releases its old ones. */
  owner: string;
}

export class MeterBooks {
  constructor(
    private readonly db: Database,
    private readonly settings: BooksSettings,
  ) {}

  private run<T>(sql: string, replacements: Record<string, unknown>, type: QueryTypes, transaction?: Transaction): Promise<T> {
    return this.db.sequelize.query(sql, { replacements, type, transaction }) as Promise<T>;
  }

  /** The user's limit and period: their own when an admin set one, else the configured default. */
  private async terms(userId: string, transaction?: Transaction): Promise<{ limit: number; period: BudgetPeriod }> {
    const [row] = await this.run<Array<{ limit_micro: string | number | null; period: string | null }>>(
      'SELECT limit_micro, period FROM meter_budgets WHERE user_id = :userId',
      { userId },
      QueryTypes.SELECT,
      transaction,
    );
    return {
      limit: row?.limit_micro == null ? this.settings.defaultBudgetMicro : Number(row.limit_micro),
      period: (row?.period as BudgetPeriod | null) ?? this.settings.period,
    };
  }

  async budget(userId: string, now = new Date()): Promise<Budget> {
    const { limit, period } = await this.terms(userId);
    const [row] = await this.run<Array<{ spent_micro: string | number; reserved_micro: string | number }>>(
      'SELECT spent_micro, reserved_micro FROM meter_windows WHERE scope = :scope AND window_start = :ws',
      { scope: userId, ws: windowStart(period, now) },
      QueryTypes.SELECT,
    );
    const spent = Number(row?.spent_micro ?? 0);
    const reserved = Number(row?.reserved_micro ?? 0);
    return { limit, period, spent, reserved, remaining: Math.max(0, limit - spent - reserved), resetsAt: resetsAt(period, now) };
  }

  /**
   * Holds `amount` against the user's window and the platform's ceiling. Returns the
   * reservation's id and what the user has left beside it. Throws BudgetExhaustedError.
   */
  async reserve(userId: string, handle: string, amount: number, now = new Date()): Promise<{ id: string; remaining: number }> {
    const id = crypto.randomUUID();
    const platformLimit = this.settings.platformBudgetMicro;
    let remaining = 0;
    const refused = await this.db
      .transaction(async (transaction) => {
        const { limit, period } = await this.terms(userId, transaction);
        const ws = windowStart(period, now);
        // A refusal must roll back what this transaction held: throw, and say why after.
        if (!(await this.hold(userId, ws, amount, limit, transaction))) throw new Refusal('user');
        const [held] = await this.run<Array<{ spent_micro: string | number; reserved_micro: string | number }>>(
          'SELECT spent_micro, reserved_micro FROM meter_windows WHERE scope = :scope AND window_start = :ws',
          { scope: userId, ws },
          QueryTypes.SELECT,
          transaction,
        );
        remaining = Math.max(0, limit - Number(held!.spent_micro) - Number(held!.reserved_micro));
        if (platformLimit !== null && !(await this.hold(PLATFORM, FOREVER, amount, platformLimit, transaction))) throw new Refusal('platform');
        await this.run(
          `INSERT INTO meter_reservations (id, user_id, handle, window_start, amount_micro, platform, owner, created_at, expires_at)
         VALUES (:id, :userId, :handle, :ws, :amount, :platform, :owner, :now, :expires)`,
          {
            id,
            userId,
            handle,
            ws,
            amount,
            platform: platformLimit !== null,
            owner: this.settings.owner,
            now,
            expires: new Date(now.getTime() + this.settings.reservationTtlMs),
          },
          QueryTypes.INSERT,
          transaction,
        );
        return null;
      })
      .catch((err) => {
        if (err instanceof Refusal) return err.scope;
        throw err;
      });
    if (refused === 'platform')
      throw new BudgetExhaustedError("The event's total budget is used up: the platform takes no more model calls. Ask the organisers.");
    if (refused === 'user') throw new BudgetExhaustedError(exhaustedMessage(await this.budget(userId, now), amount));
    return { id, remaining };
  }

  /** One guarded UPDATE: succeeds only while the window stays within `limit`. */
  private async hold(scope: string, ws: string, amount: number, limit: number, transaction: Transaction): Promise<boolean> {
    await this.run(
      'INSERT INTO meter_windows (scope, window_start, spent_micro, reserved_micro) VALUES (:scope, :ws, 0, 0) ON CONFLICT (scope, window_start) DO NOTHING',
      { scope, ws },
      QueryTypes.INSERT,
      transaction,
    );
    const [, count] = await this.run<[unknown, number]>(
      'UPDATE meter_windows SET reserved_micro = reserved_micro + :amount WHERE scope = :scope AND window_start = :ws AND spent_micro + reserved_micro + :amount <= :limit',
      { scope, ws, amount, limit },
      QueryTypes.UPDATE,
      transaction,
    );
    return count === 1;
  }

  /**
   * Replaces the reservation with the exact cost and writes the ledger row, exactly once:
   * a second call (a retry, a race) changes nothing and returns false. A reservation
   * released meanwhile (stale) is still charged its cost.
   */
  async settle(reservationId: string, charge: Charge, now = new Date()): Promise<boolean> {
    return this.db.transaction(async (transaction) => {
      const [, claimed] = await this.run<[unknown, number]>(
        'UPDATE meter_reservations SET settled_at = :now WHERE id = :id AND settled_at IS NULL',
        { id: reservationId, now },
        QueryTypes.UPDATE,
        transaction,
      );
      if (claimed !== 1) return false;
      const [r] = await this.run<
        Array<{ user_id: string; handle: string; window_start: string; amount_micro: string | number; platform: boolean | number; released_at: unknown }>
      >(
        'SELECT user_id, handle, window_start, amount_micro, platform, released_at FROM meter_reservations WHERE id = :id',
        { id: reservationId },
        QueryTypes.SELECT,
        transaction,
      );
      const held = r!.released_at == null ? Number(r!.amount_micro) : 0;
      const move =
        'UPDATE meter_windows SET reserved_micro = reserved_micro - :held, spent_micro = spent_micro + :cost WHERE scope = :scope AND window_start = :ws';
      await this.run(move, { held, cost: charge.cost, scope: r!.user_id, ws: r!.window_start }, QueryTypes.UPDATE, transaction);
      if (r!.platform) await this.run(move, { held, cost: charge.cost, scope: PLATFORM, ws: FOREVER }, QueryTypes.UPDATE, transaction);
      const u = charge.usage;
      await this.run(
        `INSERT INTO meter_ledger (reservation_id, user_id, handle, model, price_version, input_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
           cache_read_tokens, output_tokens, web_searches, cost_micro, outcome, created_at)
         VALUES (:id, :userId, :handle, :model, :version, :input, :w5, :w1, :read, :output, :searches, :cost, :outcome, :now)`,
        {
          id: reservationId,
          userId: r!.user_id,
          handle: r!.handle,
          model: charge.model.slice(0, 96),
          version: charge.priceVersion,
          input: u.input,
          w5: u.cacheWrite5m,
          w1: u.cacheWrite1h,
          read: u.cacheRead,
          output: u.output,
          searches: u.webSearches,
          cost: charge.cost,
          outcome: charge.outcome,
          now,
        },
        QueryTypes.INSERT,
        transaction,
      );
      return true;
    });
  }

  /**
   * Gives back what unsettled reservations hold when their call cannot settle any more:
   * past their expiry, or held by an earlier run of this replica (`ownerPrefix`, the
   * process died with them). Their calls are charged nothing (the usage died with the
   * process); a late settlement still charges its cost. Returns how many were released.
   */
  async releaseStale(now = new Date(), ownerPrefix?: string): Promise<number> {
    const stale = await this.run<Array<{ id: string }>>(
      `SELECT id FROM meter_reservations WHERE settled_at IS NULL AND released_at IS NULL
         AND (expires_at < :now${ownerPrefix ? ' OR (substr(owner, 1, :prefixLength) = :prefix AND owner <> :owner)' : ''})`,
      // Not LIKE: a replica id may hold "_" or "%".
      { now, prefix: ownerPrefix ?? '', prefixLength: ownerPrefix?.length ?? 0, owner: this.settings.owner },
      QueryTypes.SELECT,
    );
    let released = 0;
    for (const { id } of stale) {
      released += await this.db.transaction(async (transaction) => {
        const [, count] = await this.run<[unknown, number]>(
          'UPDATE meter_reservations SET released_at = :now WHERE id = :id AND released_at IS NULL AND settled_at IS NULL',
          { id, now },
          QueryTypes.UPDATE,
          transaction,
        );
        if (count !== 1) return 0;
        const [r] = await this.run<Array<{ user_id: string; window_start: string; amount_micro: string | number; platform: boolean | number }>>(
          'SELECT user_id, window_start, amount_micro, platform FROM meter_reservations WHERE id = :id',
          { id },
          QueryTypes.SELECT,
          transaction,
        );
        const give = 'UPDATE meter_windows SET reserved_micro = reserved_micro - :amount WHERE scope = :scope AND window_start = :ws';
        await this.run(give, { amount: Number(r!.amount_micro), scope: r!.user_id, ws: r!.window_start }, QueryTypes.UPDATE, transaction);
        if (r!.platform) await this.run(give, { amount: Number(r!.amount_micro), scope: PLATFORM, ws: FOREVER }, QueryTypes.UPDATE, transaction);
        return 1;
      });
    }
    return released;
  }

  /**
   * Changes a user's budget: a limit in µ$ and/or a reset period; null sets either back to
   * the configured default, and what `change` leaves out stays as it is. Audited.
   */
  async setBudget(userId: string, change: BudgetChange, actor: string, now = new Date()): Promise<void> {
    await this.db.transaction(async (transaction) => {
      const [row] = await this.run<Array<{ limit_micro: string | number | null; period: string | null }>>(
        'SELECT limit_micro, period FROM meter_budgets WHERE user_id = :userId',
        { userId },
        QueryTypes.SELECT,
        transaction,
      );
      const limit = change.limit !== undefined ? change.limit : row?.limit_micro == null ? null : Number(row.limit_micro);
      const period = change.period !== undefined ? change.period : (row?.period ?? null);
      // An upsert: two admins setting a new user's budget at once do not collide.
      await this.run(
        `INSERT INTO meter_budgets (user_id, limit_micro, period, updated_at) VALUES (:userId, :limit, :period, :now)
         ON CONFLICT (user_id) DO UPDATE SET limit_micro = excluded.limit_micro, period = excluded.period, updated_at = excluded.updated_at`,
        { userId, limit, period, now },
        QueryTypes.INSERT,
        transaction,
      );
      await recordAudit(this.db, { actor, action: 'set_budget', target: userId, detail: { limitMicro: limit, period } }, transaction);
    });
  }

  /** What the whole event has spent and holds, against its ceiling. */
  async platform(): Promise<{ limit: number | null; spent: number; reserved: number }> {
    const [row] = await this.run<Array<{ spent_micro: string | number; reserved_micro: string | number }>>(
      'SELECT spent_micro, reserved_micro FROM meter_windows WHERE scope = :scope AND window_start = :ws',
      { scope: PLATFORM, ws: FOREVER },
      QueryTypes.SELECT,
    );
    return { limit: this.settings.platformBudgetMicro, spent: Number(row?.spent_micro ?? 0), reserved: Number(row?.reserved_micro ?? 0) };
  }
}

class Refusal extends Error {
  constructor(readonly scope: 'user' | 'platform') {
    super(`${scope} budget exhausted`);
  }
}

export function exhaustedMessage(budget: Budget, needed: number): string {
  const reset = budget.resetsAt ? `It resets at ${budget.resetsAt.toISOString()}.` : 'It does not reset: ask the platform admins for more.';
  return `Budget: $${formatUsd(budget.remaining)} remaining of $${formatUsd(budget.limit)}, and this call may cost up to $${formatUsdUp(needed)} (lower max_tokens to need less). ${reset}`;
}
