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
import { pairKey, type SocialService } from './service.ts';

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
      specExtras: async (handle, tokenGeneration) => {
        if (!accounts || !config.matrix) return {};
        try {
          const ai = await accounts.forInstance(handle, tokenGeneration);
          return { matrix: ai ? { homeserverUrl: config.matrix.instanceHomeserverUrl, ...ai } : null };
        } catch (err) {
          // An instance starts without Matrix rather than not at all (a token sealed under a key since dropped, say).
          logger.error({ handle, err: describeError(err) }, 'could not hand the instance its Matrix account; starting without it');
          return { matrix: null };
        }
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
        await this.leaveBlockedRooms();
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
    const { accounts, store, logger, db } = this.deps;
    if (!accounts) return;
    for (const row of await accounts.due(BATCH)) {
      if (!(await accounts.work(row))) continue;
      logger.info({ handle: row.handle, account: row.matrix_user_id, done: row.state === 'pending' ? 'registered' : 'deactivated' }, 'Matrix account');
    }
    // A running instance that does not have its AI account's current token (it started before the
    // account was ready, or the token was renewed) is restarted with it; a stopped one gets it at its next start.
    const waiting = await accounts.awaitingHandover(BATCH * 4);
    if (waiting.length === 0) return;
    const running = await db.models.Instance.findAll({ where: { handle: { [Op.in]: waiting }, status: 'running' }, attributes: ['handle'] });
    for (const { handle } of running) await store.redeploy(handle, 'Restarting: its Matrix account is ready');
  }

  /** Rooms an AI must leave because its user blocked the other: left, then forgotten. */
  private async leaveBlockedRooms(): Promise<void> {
    const { accounts, client, db, logger } = this.deps;
    if (!accounts || !client) return;
    const rooms = await db.models.SocialRoom.findAll({ where: { leaving: { [Op.ne]: null } }, limit: BATCH });
    for (const room of rooms) {
      const account = await db.models.MatrixAccount.findOne({ where: { matrix_user_id: room.leaving!, state: 'active' } });
      const credentials = account ? await accounts.credentials(account.handle, 'ai') : null;
      try {
        if (credentials) await client.leave(credentials.accessToken, room.room_id);
        await db.models.SocialRoom.destroy({ where: { pair: room.pair, leaving: room.leaving } });
      } catch (err) {
        logger.warn({ err: describeError(err) }, 'could not leave a blocked room; the next pass retries');
      }
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
      // A conversation keeps its order: a message waits while an older one to the same person is queued.
      const conversation = { sender_handle: message.sender_handle, recipient_handle: message.recipient_handle, state: 'queued' as const };
      const older = await SocialMessage.findOne({ where: { ...conversation, created_at: { [Op.lt]: message.created_at } }, attributes: ['id'] });
      if (older) {
        // Its sender sees why it waits.
        await SocialMessage.update(
          { last_error: `Queued behind an earlier message to @${message.recipient_handle}.` },
          { where: { id: message.id, last_error: null } },
        );
        continue;
      }
      const [claimed] = await SocialMessage.update(
        { lease_owner: this.deps.owner, lease_expires_at: new Date(Date.now() + LEASE_MS) },
        { where: { id: message.id, state: 'queued', lease_expires_at: message.lease_expires_at ?? null } },
      );
      if (claimed !== 1) continue;
      if (await this.deliver(message)) {
        // The next ones of this conversation go now, not at their own backoff.
        await SocialMessage.update({ next_attempt_at: new Date() }, { where: conversation });
        this.again = true;
      }
    }
  }

  /** Delivers one message; true when it was delivered. */
  private async deliver(message: SocialMessage): Promise<boolean> {
    const { SocialMessage } = this.deps.db.models;
    const mine = { id: message.id, state: 'queued' as const, lease_owner: this.deps.owner };
    const { accounts, client } = this.deps;
    try {
      if (!accounts || !client) throw new MatrixUnavailableError('No Matrix homeserver is configured.');
      // A block or a suspension since the message was queued still holds.
      await this.stillAllowed(message);
      const from = await accounts.credentials(message.sender_handle, 'ai');
      const to = await accounts.credentials(message.recipient_handle, 'ai');
      if (!from || !to) {
        const missing = !from ? message.sender_handle : message.recipient_handle;
        const [latest] = (await accounts.status(missing)).filter((r) => r.kind === 'ai');
        // Provisioned before the social layer: owed its accounts now.
        if (!latest) await accounts.request(missing);
        else if (latest.state !== 'pending') throw new Undeliverable(`@${missing}'s AI has no Matrix account (the instance was destroyed).`);
        throw new MatrixUnavailableError(`Waiting for @${missing}'s AI to get its Matrix account.`);
      }
      let eventId: string;
      let roomId: string;
      try {
        roomId = await this.directRoom(client, from, to);
        eventId = await client.sendText(from.accessToken, roomId, message.id, message.body);
      } catch (err) {
        if (err instanceof MatrixError && err.status === 401) {
          // A token the homeserver no longer knows (logged out, revoked): log in again; the retry uses the new one.
          await accounts.relogin(message.sender_handle);
          await accounts.relogin(message.recipient_handle);
        }
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
      return done === 1;
    } catch (err) {
      const attempts = message.attempts + 1;
      const outage = err instanceof MatrixUnavailableError;
      const giveUp = err instanceof Undeliverable || (!outage && attempts >= this.deps.config.maxDeliveryAttempts);
      const wait = outage && err.retryAfterMs !== null ? Math.max(err.retryAfterMs, RETRY_BASE_MS) : backoffMs(attempts, RETRY_BASE_MS, RETRY_MAX_MS);
      if (!outage && !(err instanceof Undeliverable)) this.deps.logger.warn({ id: message.id, err: describeError(err) }, 'message delivery failed');
      await SocialMessage.update(
        {
          state: giveUp ? 'failed' : 'queued',
          attempts,
          last_error: userMessage(err),
          next_attempt_at: new Date(Date.now() + wait),
          lease_owner: null,
          lease_expires_at: null,
        },
        { where: mine },
      );
      return false;
    }
  }

  private async stillAllowed(message: SocialMessage): Promise<void> {
    const { User, SocialBlock } = this.deps.db.models;
    const people = await User.findAll({
      where: { handle: { [Op.in]: [message.sender_handle, message.recipient_handle] } },
      attributes: ['id', 'handle', 'suspended_at', 'deleted_at'],
    });
    const sender = people.find((p) => p.handle === message.sender_handle);
    const recipient = people.find((p) => p.handle === message.recipient_handle);
    if (!sender || !recipient || sender.suspended_at || sender.deleted_at || recipient.suspended_at || recipient.deleted_at)
      throw new Undeliverable('The sender or the recipient is no longer on the platform.');
    const blocked = await SocialBlock.findOne({
      where: {
        [Op.or]: [
          { blocker_id: recipient.id, blocked_id: sender.id },
          { blocker_id: sender.id, blocked_id: recipient.id },
        ],
      },
    });
    if (blocked) throw new Undeliverable(`Not delivered: a block between @${message.sender_handle} and @${message.recipient_handle}.`);
  }

  /**
   * The pair's direct room: remembered, or created by the sender with the recipient
   * invited. It is remembered before the recipient joins, so a retry after a failed
   * join joins the same room instead of making another.
   */
  private async directRoom(client: MatrixClient, from: { userId: string; accessToken: string }, to: { userId: string; accessToken: string }): Promise<string> {
    const { SocialRoom } = this.deps.db.models;
    const pair = pairKey(from.userId, to.userId);
    let room = await SocialRoom.findByPk(pair);
    if (room?.leaving) throw new MatrixUnavailableError('Waiting for the previous conversation to be closed.');
    if (!room) {
      const roomId = await client.createDirectRoom(from.accessToken, to.userId);
      [room] = await SocialRoom.findOrCreate({ where: { pair }, defaults: { pair, room_id: roomId } });
    }
    if (!room.joined) {
      await client.join(to.accessToken, room.room_id);
      await SocialRoom.update({ joined: true }, { where: { pair, room_id: room.room_id } });
    }
    return room.room_id;
  }
}

/** A message that can never be delivered (no recipient, a block): failed at once. */
class Undeliverable extends Error {}

/** What the sender sees: the reason, without internal details (addresses, raw homeserver errors). */
function userMessage(err: unknown): string {
  if (err instanceof Undeliverable || err instanceof MatrixUnavailableError) return err.message;
  if (err instanceof MatrixError) return `The homeserver refused the message (${err.errcode}); it is retried.`;
  return 'Delivery failed on the platform; it is retried.';
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new MatrixUnavailableError(`the homeserver did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
