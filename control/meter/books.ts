/**
 * The meter's books: budgets, admission and settlement, in integer micro-dollars.
 *
 * A model call must not wait for the database. Each replica holds a lease of each active
 * user's budget (one guarded UPDATE in the database, book-store.ts) and admits calls
 * against it in memory; a call that the lease cannot cover waits for the lease to grow,
 * and calls that arrive together grow it in one transaction. Leases only hold more than
 * their calls need while the budget is far from its end (leaseHeadroom): near the end
 * each call is held exactly, so "exactly the affordable calls" holds across replicas too.
 * Settled calls are written in batches (ledger rows, lease and windows in one
 * transaction), exactly once per call; a call's cost leaves the lease, the rest of its
 * reservation stays there for the next call.
 */
import crypto from 'node:crypto';
import { recordAudit } from '../audit.ts';
import type { BudgetPeriod } from '../config-meter.ts';
import type { Database } from '../db/database.ts';
import { describeError, PlatformError, UnavailableError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { isDatabaseOutage } from '../web/errors.ts';
import { BookStore, LeaseGoneError, type LeaseRef, type LedgerEntry, PLATFORM_SCOPE, type Terms, type WindowFigures } from './book-store.ts';
import { formatUsd, formatUsdUp } from './money.ts';
import { FOREVER, resetsAt, windowStart } from './windows.ts';

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

/** A lease with less free than this many of its largest calls is topped up in the background. */
const LOW_WATER_CALLS = 4;
/** Fewer than this many of a user's largest call left: the budget is near its end (see leaseHeadroom). */
const NEAR_END_CALLS = 32;
/**
 * An idle lease gives its budget back after this long. Long enough that an agent's
 * next call rarely waits for a new lease (a transaction on the call's path); short
 * enough that another replica's display and admissions see the money again soon.
 */
export const LEASE_IDLE_MS = 5 * 60_000;
const TICK_MS = 10_000;
const WRITE_BATCH = 500;
/**
 * How long a settlement waits for others to share its write. Bounds what a kill -9 can
 * lose beyond the calls in flight: the settlements of the last few milliseconds.
 */
const WRITE_DELAY_MS = 5;
/** A settlement the database refuses this many times on its own (not an outage) is given up, loudly. */
const POISON_ATTEMPTS = 3;

/**
 * How much more than its calls need a lease may hold, given what the budget has left
 * after them: nothing near the end of a budget (so no replica sits on money another's
 * calls could use), else room for many calls or twice those in flight, at most an eighth
 * of what is left.
 */
export function leaseHeadroom(after: number, largestCall: number, inFlight: number): number {
  if (largestCall <= 0 || after < NEAR_END_CALLS * largestCall) return 0;
  return Math.min(Math.floor(after / 8), Math.max(16 * largestCall, 2 * inFlight));
}

interface Waiter {
  amount: number;
  now: Date;
  resolve(admitted: { id: string; remaining: number }): void;
  reject(err: unknown): void;
}

/** One user's budget as this replica holds it. */
interface Lease {
  userId: string;
  handle: string;
  ref: LeaseRef | null;
  terms: Terms | null;
  ws: string | null;
  /** What calls may use: at most what the database holds for it (dbHeld). */
  held: number;
  dbHeld: number;
  /** The reservations of the calls in flight. */
  used: number;
  /** Settled costs not yet written. */
  pendingCost: number;
  /** Settlements and trims queued for the writer. */
  queued: number;
  /** The user's window as of the last write or extension. */
  window: WindowFigures;
  largest: number;
  /** The last extension held more than its calls needed: top up ahead of need. */
  roomy: boolean;
  /**
   * Until when the database surely still holds the lease (confirmed + half the TTL):
   * past it, calls wait for the lease to be confirmed, so a replica cut off from the
   * database long enough for a sweep to release its lease admits nothing more on it.
   */
  validUntil: number;
  waiting: Waiter[];
  extending: boolean;
  retired: boolean;
  closing: boolean;
  lastUsed: number;
}

interface Call {
  lease: Lease;
  amount: number;
}

interface Pending {
  entry: LedgerEntry;
  lease: Lease;
  attempts: number;
  resolve(counted: boolean): void;
}

export class MeterBooks {
  private readonly store: BookStore;
  /** Each user's current lease; retired ones live on in `retired` until their calls end. */
  private readonly leases = new Map<string, Lease>();
  private readonly retired = new Set<Lease>();
  private readonly calls = new Map<string, Call>();
  private queue: Pending[] = [];
  private closing: Lease[] = [];
  private trims: Array<{ lease: Lease; amount: number }> = [];
  private writing: Promise<void> | null = null;
  private tick: NodeJS.Timeout | null = null;
  private closed = false;
  /** Told of every settlement write: how many calls it carried, and whether it committed. */
  onWrite: (calls: number, committed: boolean) => void = () => {};

  constructor(
    private readonly db: Database,
    private readonly settings: BooksSettings,
    private readonly logger?: Logger,
  ) {
    this.store = new BookStore(db, settings);
  }

  /** Starts the upkeep: idle leases give their budget back, live ones are renewed and follow budget changes. */
  start(): void {
    this.tick ??= setInterval(() => {
      this.upkeep().catch((err) => this.logger?.warn({ err: describeError(err) }, 'meter upkeep failed; the next one retries'));
    }, TICK_MS);
    this.tick.unref();
  }

  /**
   * Gives every lease back and writes what is pending; takes no more calls. Call after
   * the calls in flight settled. A database that does not answer within `timeoutMs`
   * loses what is pending (logged: how many charges).
   */
  async close(timeoutMs = 10_000): Promise<void> {
    this.closed = true;
    if (this.tick) clearInterval(this.tick);
    this.tick = null;
    for (const lease of [...this.leases.values()]) this.retire(lease);
    for (const lease of this.retired) this.closeWhenIdle(lease);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs);
    });
    const late = await Promise.race([this.flushed().then(() => false), timedOut]);
    clearTimeout(timer);
    if (!late) return;
    const lost = this.queue.splice(0);
    this.closing.splice(0);
    this.trims.splice(0);
    this.logger?.error({ charges: lost.length }, 'the database did not take the last settled model calls before shutdown: they are not charged');
    for (const p of lost) p.resolve(false);
  }

  /**
   * Holds `amount` for a call. Returns the call's id and what the user has left beside
   * it. Throws BudgetExhaustedError.
   */
  async reserve(userId: string, handle: string, amount: number, now = new Date()): Promise<{ id: string; remaining: number }> {
    if (this.closed) throw new UnavailableError('meter_closing', 'The platform is restarting; try again in a moment.');
    const need = Math.max(1, Math.ceil(amount));
    const lease = this.leaseFor(userId, handle, now);
    if (lease.waiting.length === 0 && lease.ref !== null && now.getTime() < lease.validUntil && lease.held - lease.used >= need) {
      const admitted = this.admit(lease, need);
      if (lease.roomy && lease.held - lease.used < LOW_WATER_CALLS * lease.largest) this.extendSoon(lease);
      return admitted;
    }
    return new Promise((resolve, reject) => {
      lease.waiting.push({ amount: need, now, resolve, reject });
      this.extendSoon(lease);
    });
  }

  private leaseFor(userId: string, handle: string, now: Date): Lease {
    let lease = this.leases.get(userId);
    if (lease?.terms && lease.ws !== windowStart(lease.terms.period, now)) {
      this.retire(lease);
      lease = undefined;
    }
    if (!lease) {
      lease = {
        userId,
        handle,
        ref: null,
        terms: null,
        ws: null,
        held: 0,
        dbHeld: 0,
        used: 0,
        pendingCost: 0,
        queued: 0,
        window: { spent: 0, reserved: 0 },
        largest: 0,
        roomy: false,
        validUntil: 0,
        waiting: [],
        extending: false,
        retired: false,
        closing: false,
        lastUsed: Date.now(),
      };
      this.leases.set(userId, lease);
    }
    return lease;
  }

  private admit(lease: Lease, amount: number): { id: string; remaining: number } {
    const id = crypto.randomUUID();
    lease.used += amount;
    lease.largest = Math.max(lease.largest, amount);
    lease.lastUsed = Date.now();
    this.calls.set(id, { lease, amount });
    return { id, remaining: figures(lease).remaining };
  }

  /** Grows the lease for the calls waiting on it; calls that come meanwhile wait for the next round. */
  private extendSoon(lease: Lease): void {
    if (lease.extending) return;
    lease.extending = true;
    // The next turn of the event loop: calls that arrived together are held together.
    setImmediate(() => void this.extend(lease));
  }

  private async extend(lease: Lease): Promise<void> {
    const batch = lease.waiting.splice(0);
    // A top-up for a lease retired meanwhile (a budget change, a new window) holds nothing.
    if ((lease.retired || this.closed) && batch.length === 0) {
      lease.extending = false;
      this.closeWhenIdle(lease);
      return;
    }
    const wanted = batch.reduce((sum, w) => sum + w.amount, 0);
    const inFlight = lease.used + wanted;
    const needed = Math.max(0, wanted - (lease.held - lease.used));
    const startedAt = Date.now();
    try {
      const result = await this.store.extend({
        lease: lease.ref,
        newLeaseId: crypto.randomUUID(),
        userId: lease.userId,
        handle: lease.handle,
        amounts: batch.map((w) => w.amount),
        free: lease.held - lease.used,
        now: batch[0]?.now ?? new Date(),
        headroom: (after, largest) => leaseHeadroom(after, Math.max(largest, lease.largest), inFlight),
      });
      lease.ref = result.lease;
      lease.terms = result.terms;
      lease.ws = result.lease?.ws ?? windowStart(result.terms.period, batch[0]?.now ?? new Date());
      lease.held += result.added;
      lease.dbHeld += result.added;
      lease.window = result.window;
      lease.roomy = result.added > needed;
      if (lease.ref) lease.validUntil = startedAt + this.settings.reservationTtlMs / 2;
      const again: Waiter[] = [];
      for (const [i, waiter] of batch.entries()) {
        const verdict = result.verdicts[i];
        // Calls that settled meanwhile may have freed enough for a call the database refused.
        if (lease.held - lease.used >= waiter.amount && (verdict === 'held' || lease.ref !== null)) waiter.resolve(this.admit(lease, waiter.amount));
        else if (verdict === 'platform') waiter.reject(new BudgetExhaustedError(CEILING_MESSAGE));
        else if (verdict === 'user') waiter.reject(new BudgetExhaustedError(exhaustedMessage(this.view(lease, waiter.now), waiter.amount)));
        // Calls admitted from the free part meanwhile took what this round held: another round.
        else again.push(waiter);
      }
      lease.waiting.unshift(...again);
      this.trimNearEnd(lease);
    } catch (err) {
      if (err instanceof LeaseGoneError) {
        // A sweep released this lease (it was not renewed in time): its waiters go to a new one.
        this.forget(lease);
        for (const waiter of batch) {
          const fresh = this.leaseFor(lease.userId, lease.handle, waiter.now);
          fresh.waiting.push(waiter);
          this.extendSoon(fresh);
        }
      } else for (const waiter of batch) waiter.reject(err);
    } finally {
      lease.extending = false;
      if (lease.waiting.length > 0) this.extendSoon(lease);
      else this.closeWhenIdle(lease);
    }
  }

  /**
   * Near the end of a budget a lease gives back its free part, so that another replica's
   * calls can use it: there every call is held exactly.
   */
  private trimNearEnd(lease: Lease): void {
    const free = lease.held - lease.used;
    if (free <= 0 || lease.ref === null || lease.extending || lease.closing || lease.largest <= 0) return;
    if (figures(lease).remaining >= NEAR_END_CALLS * lease.largest) return;
    lease.held -= free;
    lease.roomy = false;
    lease.queued++;
    this.trims.push({ lease, amount: free });
    this.writeSoon();
  }

  /**
   * Settles a call exactly once: its cost is charged, its ledger row written, and what it
   * did not use stays in the lease. A second settlement (a retry, a race) changes nothing
   * and resolves false. Resolves once written.
   */
  settle(callId: string, charge: Charge, now = new Date()): Promise<boolean> {
    const call = this.calls.get(callId);
    if (!call) return Promise.resolve(false);
    this.calls.delete(callId);
    const { lease, amount } = call;
    // A cost above the reservation was never held: it is spent, but the lease gives back only what it held.
    const released = Math.min(charge.cost, amount);
    lease.used -= amount;
    lease.held -= released;
    lease.pendingCost += charge.cost;
    lease.queued++;
    lease.lastUsed = Date.now();
    const entry: LedgerEntry = {
      callId,
      lease: lease.ref!,
      userId: lease.userId,
      handle: lease.handle,
      model: charge.model,
      priceVersion: charge.priceVersion,
      usage: charge.usage,
      cost: charge.cost,
      released,
      outcome: charge.outcome,
      at: now,
    };
    const written = new Promise<boolean>((resolve) => this.queue.push({ entry, lease, attempts: 0, resolve }));
    this.closeWhenIdle(lease);
    this.writeSoon();
    return written;
  }

  /** A retired lease with no call left, or one idle for long, gives its budget back. */
  private closeWhenIdle(lease: Lease, now = Date.now()): void {
    if (lease.used > 0 || lease.extending || lease.waiting.length > 0 || lease.closing) return;
    if (!lease.retired && now - lease.lastUsed < LEASE_IDLE_MS) return;
    lease.closing = true;
    this.retire(lease);
    this.retired.delete(lease);
    if (lease.ref === null) return;
    this.closing.push(lease);
    this.writeSoon();
  }

  /** New calls go to a new lease; this one closes when its calls end. */
  private retire(lease: Lease): void {
    if (this.leases.get(lease.userId) === lease) this.leases.delete(lease.userId);
    if (lease.retired) return;
    lease.retired = true;
    if (!lease.closing) this.retired.add(lease);
    for (const waiter of lease.waiting.splice(0)) {
      if (this.closed) {
        waiter.reject(new UnavailableError('meter_closing', 'The platform is restarting; try again in a moment.'));
        continue;
      }
      const fresh = this.leaseFor(lease.userId, lease.handle, waiter.now);
      fresh.waiting.push(waiter);
      this.extendSoon(fresh);
    }
    this.closeWhenIdle(lease);
  }

  /** A sweep released the lease (its replica looked dead): it holds nothing; new calls need a new one. */
  private forget(lease: Lease): void {
    lease.dbHeld = 0;
    lease.held = 0;
    lease.closing = true;
    this.retire(lease);
    this.retired.delete(lease);
  }

  private writeSoon(): void {
    // A short wait gathers the settlements of many calls into one transaction.
    this.writing ??= new Promise<void>((resolve) => setTimeout(resolve, WRITE_DELAY_MS)).then(() => this.writeAll());
  }

  /** Resolves when everything settled so far is written. */
  async flushed(): Promise<void> {
    for (let writing = this.writing; writing !== null; writing = this.writing) await writing;
  }

  private async writeAll(): Promise<void> {
    try {
      let failures = 0;
      let refused = false;
      while (this.queue.length > 0 || this.closing.length > 0 || this.trims.length > 0) {
        // After a refusal that is not an outage, the settlements of the failed batch go one
        // at a time, to find the one the database refuses.
        const isolate = refused && (this.queue[0]?.attempts ?? 0) > 0;
        const batch = this.queue.slice(0, isolate ? 1 : WRITE_BATCH);
        const retry = batch.some((p) => p.attempts > 0);
        // Trims may have been applied by an attempt whose commit was lost: never retried with settlements.
        const trims = retry ? [] : this.trims.slice();
        const rest = new Set(this.queue.slice(batch.length).map((p) => p.lease));
        // A lease closes after its settlements: only those with none left behind this batch.
        const closing = this.closing.filter((lease) => !rest.has(lease));
        try {
          const result = await this.store.write(
            batch.map((p) => p.entry),
            closing.map((lease) => lease.ref!),
            new Date(),
            retry,
            trims.map((t) => ({ lease: t.lease.ref!, amount: t.amount })),
          );
          this.onWrite(batch.length, true);
          this.queue.splice(0, batch.length);
          this.closing = this.closing.filter((lease) => !closing.includes(lease));
          this.trims.splice(0, trims.length);
          failures = 0;
          for (const t of trims) {
            t.lease.queued--;
            if (!result.gone.has(t.lease.ref!.id)) t.lease.dbHeld -= t.amount;
          }
          for (const p of batch) {
            const lease = p.lease;
            lease.queued--;
            lease.pendingCost -= p.entry.cost;
            lease.dbHeld -= p.entry.released;
            const window = result.windows.get(`${lease.userId}\0${lease.ws}`);
            if (window) lease.window = window;
            if (result.gone.has(p.entry.lease.id)) this.forget(lease);
            p.resolve(true);
          }
          for (const lease of new Set(batch.map((p) => p.lease))) this.trimNearEnd(lease);
        } catch (err) {
          failures++;
          this.onWrite(batch.length, false);
          for (const p of batch) p.attempts++;
          // Trims are not idempotent: one whose commit may have happened is not tried again
          // (the lease then holds a little more than it says, until it closes).
          for (const t of this.trims.splice(0, trims.length)) t.lease.queued--;
          const outage = isDatabaseOutage(err);
          refused = !outage;
          const lone = batch.length === 1 ? batch[0]! : null;
          if (!outage && lone && lone.attempts >= POISON_ATTEMPTS) {
            // Never let one settlement the database refuses hold up every other charge.
            this.queue.splice(0, 1);
            lone.lease.queued--;
            lone.lease.pendingCost -= lone.entry.cost;
            this.logger?.error(
              { call: lone.entry.callId, handle: lone.entry.handle, costMicro: lone.entry.cost, err: describeError(err) },
              'the database refuses this settled model call: it is not charged',
            );
            lone.resolve(false);
            continue;
          }
          this.logger?.error({ err: describeError(err), pending: this.queue.length, attempt: failures }, 'could not write settled model calls; retrying');
          if (this.closed && this.queue.length === 0) break;
          await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 100 * 2 ** failures)).unref());
        }
      }
    } finally {
      this.writing = null;
    }
  }

  /** The periodic upkeep: renew live leases, follow budget changes, close idle leases. */
  async upkeep(now = new Date()): Promise<void> {
    const live = [...this.leases.values(), ...this.retired].filter((lease) => lease.ref !== null && !lease.closing);
    const startedAt = Date.now();
    const gone = await this.store.renew(
      live.map((lease) => lease.ref!.id),
      now,
    );
    for (const lease of live) {
      if (gone.has(lease.ref!.id)) this.forget(lease);
      else lease.validUntil = startedAt + this.settings.reservationTtlMs / 2;
    }
    const current = [...this.leases.values()].filter((lease) => lease.terms !== null);
    const terms = await this.store.termsOfMany(current.map((lease) => lease.userId));
    for (const lease of current) {
      const fresh = terms.get(lease.userId)!;
      // Another replica changed the budget: new calls are admitted under the new terms.
      if (fresh.limit !== lease.terms!.limit || fresh.period !== lease.terms!.period) this.retire(lease);
    }
    for (const lease of [...this.leases.values(), ...this.retired]) this.closeWhenIdle(lease, now.getTime());
  }

  /** The user's budget as this replica knows it: the database, and what it holds for calls in flight. */
  async budget(userId: string, now = new Date()): Promise<Budget> {
    const terms = await this.store.terms(userId);
    const ws = windowStart(terms.period, now);
    const window = await this.store.window(userId, ws);
    const local = this.localOf((lease) => lease.userId === userId && lease.ws === ws);
    return budgetOf(terms, { spent: window.spent + local.pendingCost, reserved: window.reserved + local.reservedDelta }, now);
  }

  /** A lease's budget from what it last learned of its window. */
  private view(lease: Lease, now: Date): Budget {
    const { spent, reserved } = figures(lease);
    return budgetOf(lease.terms!, { spent, reserved }, now);
  }

  private localOf(match: (lease: Lease) => boolean): { pendingCost: number; reservedDelta: number } {
    let pendingCost = 0;
    let reservedDelta = 0;
    for (const lease of [...this.leases.values(), ...this.retired])
      if (match(lease)) {
        pendingCost += lease.pendingCost;
        // The database counts the whole lease as held; only the calls in flight are.
        reservedDelta += lease.used - lease.dbHeld;
      }
    return { pendingCost, reservedDelta };
  }

  /** What the whole event has spent and holds, against its ceiling. */
  async platform(): Promise<{ limit: number | null; spent: number; reserved: number }> {
    const window = await this.store.window(PLATFORM_SCOPE, FOREVER);
    const local = this.localOf((lease) => lease.ref?.platform === true);
    return {
      limit: this.settings.platformBudgetMicro,
      spent: window.spent + local.pendingCost,
      reserved: Math.max(0, window.reserved + local.reservedDelta),
    };
  }

  /**
   * Gives back what leases hold when their replica can no longer settle: not renewed
   * before they expired, or held by an earlier run of this replica (`ownerPrefix`: the
   * process died with them, and its calls are charged nothing). Returns how many.
   */
  releaseStale(now = new Date(), ownerPrefix?: string): Promise<number> {
    return this.store.releaseStale(now, ownerPrefix);
  }

  /**
   * Changes a user's budget: a limit in µ$ and/or a reset period; null sets either back to
   * the configured default, and what `change` leaves out stays as it is. Audited. This
   * replica's lease follows at once, other replicas' at their next upkeep.
   */
  async setBudget(userId: string, change: BudgetChange, actor: string, now = new Date()): Promise<void> {
    await this.db.transaction(async (transaction) => {
      const after = await this.store.putTerms(userId, change, now, transaction);
      await recordAudit(this.db, { actor, action: 'set_budget', target: userId, detail: { limitMicro: after.limit, period: after.period } }, transaction);
    });
    const lease = this.leases.get(userId);
    if (lease) this.retire(lease);
  }
}

const CEILING_MESSAGE = "The event's total budget is used up: the platform takes no more model calls. Ask the organisers.";

/** What a lease knows of its user's window, with its own calls counted exactly. */
function figures(lease: Lease): { spent: number; reserved: number; remaining: number } {
  const spent = lease.window.spent + lease.pendingCost;
  const reserved = Math.max(0, lease.window.reserved - lease.dbHeld + lease.used);
  return { spent, reserved, remaining: Math.max(0, (lease.terms?.limit ?? 0) - spent - reserved) };
}

function budgetOf(terms: Terms, window: WindowFigures, now: Date): Budget {
  const reserved = Math.max(0, window.reserved);
  return {
    limit: terms.limit,
    period: terms.period,
    spent: window.spent,
    reserved,
    remaining: Math.max(0, terms.limit - window.spent - reserved),
    resetsAt: resetsAt(terms.period, now),
  };
}

export function exhaustedMessage(budget: Budget, needed: number): string {
  const reset = budget.resetsAt ? `It resets at ${budget.resetsAt.toISOString()}.` : 'It does not reset: ask the platform admins for more.';
  return `Budget: $${formatUsd(budget.remaining)} remaining of $${formatUsd(budget.limit)}, and this call may cost up to $${formatUsdUp(needed)} (lower max_tokens to need less). ${reset}`;
}
