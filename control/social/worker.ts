/**
 * The social worker (control process only): registers and deactivates Matrix accounts
 * that are owed, and delivers the outbox. Each message is taken under a lease (safe
 * with several replicas), posted from the sender's AI account into the direct room of
 * the two AIs with the message id as its transaction id (a retry after a crash or a
 * lost answer never posts twice), and marked delivered. A homeserver outage only
 * delays: nothing is lost and nothing fails for it.
 */
import { Op } from 'sequelize';
import type { SocialConfig } from '../config-social.ts';
import type { Database } from '../db/database.ts';
import type { SocialMessage } from '../db/models.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { InstanceHooks } from '../provisioning/steps.ts';
import type { InstanceStore, TransitionChange } from '../provisioning/store.ts';
import { backoffMs } from '../provisioning/worker.ts';
import type { MatrixAccounts } from './accounts.ts';
import type { SocialFeed } from './feed.ts';
import { type MatrixClient, MatrixError, MatrixUnavailableError } from './matrix-client.ts';
import type { SocialService } from './service.ts';

const BATCH = 16;
const LEASE_MS = 60_000;
const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 60_000;
/** The Matrix step waits this long for the homeserver during provisioning, then lets the instance start without it. */
const PROVISIONING_WAIT_MS = 10_000;

export interface SocialWorkerDeps {
  db: Database;
  store: InstanceStore;
  service: SocialService;
  feed: SocialFeed;
  /** Null when no homeserver is configured: only the feed's joins are kept. */
  accounts: MatrixAccounts | null;
  client: MatrixClient | null;
  config: SocialConfig;
  owner: string;
  pollIntervalMs: number;
  logger: Logger;
}

export class SocialWorker {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private ticking: Promise<void> | null = null;
  private again = false;
  private readonly onQueued = () => this.kick();
  private readonly onTransition = (change: TransitionChange) => {
    if (change.to !== 'running') return;
    this.deps.feed.joined(change.handle).catch((err) => this.deps.logger.warn({ err: describeError(err) }, 'could not record a join on the feed'));
  };

  constructor(private readonly deps: SocialWorkerDeps) {}

  /** What provisioning asks of the social layer (see InstanceHooks). */
  hooks(): InstanceHooks {
    const { accounts, config, logger } = this.deps;
    return {
      provisioning: async (handle, progress) => {
        if (!accounts) return;
        await accounts.request(handle);
        try {
          await withTimeout(accounts.ensure(handle), PROVISIONING_WAIT_MS);
          await progress('Matrix accounts ready');
        } catch (err) {
          // The instance does not wait for the homeserver: its accounts follow, and it is restarted with them.
          logger.warn({ handle, err: describeError(err) }, 'Matrix accounts not ready; the social worker retries');
          await accounts.retryLater(handle, err);
          await progress(`Matrix accounts pending (${describeError(err)}); the instance starts now and gets them when the homeserver answers`);
          this.kick();
        }
      },
      specExtras: async (handle) => {
        if (!accounts || !config.matrix) return {};
        const ai = await accounts.credentials(handle, 'ai');
        return { matrix: ai ? { homeserverUrl: config.matrix.instanceHomeserverUrl, ...ai } : null };
      },
      destroyed: async (handle) => {
        await accounts?.scheduleDeactivation(handle);
        this.kick();
      },
    };
  }

  start(): void {
    this.running = true;
    this.deps.service.bus.on('queued', this.onQueued);
    this.deps.store.bus.on('transition', this.onTransition);
    this.kick();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.deps.service.bus.off('queued', this.onQueued);
    this.deps.store.bus.off('transition', this.onTransition);
    await this.ticking;
  }

  kick(): void {
    if (!this.running) return;
    if (this.ticking !== null) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), 0);
  }

  /** Resolves when a pass has run with nothing left to do now; for tests. */
  async idle(): Promise<void> {
    while (this.ticking !== null) await this.ticking;
  }

  private tick(): Promise<void> {
    this.ticking = (async () => {
      try {
        await this.workAccounts();
        await this.deliverDue();
      } catch (err) {
        this.deps.logger.error({ err: describeError(err) }, 'social worker: a pass failed; retrying');
      }
    })().finally(() => {
      this.ticking = null;
      if (!this.running) return;
      const delay = this.again ? 0 : this.deps.pollIntervalMs;
      this.again = false;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.tick(), delay);
    });
    return this.ticking;
  }

  private async workAccounts(): Promise<void> {
    const { accounts, store, logger } = this.deps;
    if (!accounts) return;
    for (const row of await accounts.due(BATCH)) {
      const wasPending = row.state === 'pending';
      if (!(await accounts.work(row))) continue;
      logger.info({ handle: row.handle, account: row.matrix_user_id, done: wasPending ? 'registered' : 'deactivated' }, 'Matrix account');
      // A running instance started without its AI account gets it now.
      if (wasPending && row.kind === 'ai') await store.redeploy(row.handle, 'Restarting: its Matrix account is ready');
    }
  }

  private async deliverDue(): Promise<void> {
    const { SocialMessage } = this.deps.db.models;
    const now = new Date();
    const due = await SocialMessage.findAll({
      where: {
        state: 'queued',
        next_attempt_at: { [Op.lte]: now },
        [Op.or]: [{ lease_expires_at: null }, { lease_expires_at: { [Op.lt]: now } }],
      },
      order: [['created_at', 'ASC']],
      limit: BATCH,
    });
    for (const message of due) {
      const [claimed] = await SocialMessage.update(
        { lease_owner: this.deps.owner, lease_expires_at: new Date(Date.now() + LEASE_MS) },
        { where: { id: message.id, state: 'queued', lease_expires_at: message.lease_expires_at ?? null } },
      );
      if (claimed === 1) await this.deliver(message);
    }
  }

  private async deliver(message: SocialMessage): Promise<void> {
    const { SocialMessage } = this.deps.db.models;
    const mine = { id: message.id, state: 'queued' as const, lease_owner: this.deps.owner };
    const { accounts, client } = this.deps;
    try {
      if (!accounts || !client) throw new MatrixUnavailableError('No Matrix homeserver is configured.');
      const from = await accounts.credentials(message.sender_handle, 'ai');
      const to = await accounts.credentials(message.recipient_handle, 'ai');
      if (!from || !to) {
        const missing = !from ? message.sender_handle : message.recipient_handle;
        const rows = await accounts.status(missing);
        if (!rows.some((r) => r.kind === 'ai' && r.state === 'pending'))
          throw new MatrixError(404, 'M_NOT_FOUND', `@${missing}'s AI has no Matrix account (the instance was destroyed).`);
        throw new MatrixUnavailableError(`Waiting for @${missing}'s AI to get its Matrix account.`);
      }
      const roomId = await this.directRoom(client, from, to);
      let eventId: string;
      try {
        eventId = await client.sendText(from.accessToken, roomId, message.id, message.body);
      } catch (err) {
        // The remembered room no longer takes our posts (someone left it): forget it; the retry makes another.
        if (err instanceof MatrixError && err.status === 403)
          await this.deps.db.models.SocialRoom.destroy({ where: { pair: pairKey(from.userId, to.userId) } });
        throw err;
      }
      const [done] = await SocialMessage.update(
        { state: 'delivered', room_id: roomId, event_id: eventId, delivered_at: new Date(), last_error: null, lease_owner: null, lease_expires_at: null },
        { where: mine },
      );
      if (done === 1) await this.deps.feed.message(message.sender_handle, message.recipient_handle);
    } catch (err) {
      const attempts = message.attempts + 1;
      const outage = err instanceof MatrixUnavailableError;
      const giveUp = !outage && attempts >= this.deps.config.maxDeliveryAttempts;
      const wait = outage && err.retryAfterMs !== null ? Math.max(err.retryAfterMs, RETRY_BASE_MS) : backoffMs(attempts, RETRY_BASE_MS, RETRY_MAX_MS);
      await SocialMessage.update(
        {
          state: giveUp || (err instanceof MatrixError && err.status === 404) ? 'failed' : 'queued',
          attempts,
          last_error: describeError(err),
          next_attempt_at: new Date(Date.now() + wait),
          lease_owner: null,
          lease_expires_at: null,
        },
        { where: mine },
      );
    }
  }

  /** The pair's direct room: remembered, or created by the sender with the recipient invited and joined. */
  private async directRoom(client: MatrixClient, from: { userId: string; accessToken: string }, to: { userId: string; accessToken: string }): Promise<string> {
    const { SocialRoom } = this.deps.db.models;
    const pair = pairKey(from.userId, to.userId);
    const known = await SocialRoom.findByPk(pair);
    if (known) return known.room_id;
    const roomId = await client.createDirectRoom(from.accessToken, to.userId);
    await client.join(to.accessToken, roomId);
    const [room] = await SocialRoom.findOrCreate({ where: { pair }, defaults: { pair, room_id: roomId } });
    return room.room_id;
  }
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}\n${b}` : `${b}\n${a}`;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new MatrixUnavailableError(`the homeserver did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
