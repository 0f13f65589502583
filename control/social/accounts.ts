/**
 * The platform's accounts on its Matrix homeserver: per user `@handle` (the person)
 * and `@handle_ai` (their AI), plus the platform's service account, which sends
 * Conduit's admin commands (Conduit has no admin HTTP API: deactivation is a command
 * in its admin room).
 *
 * Durable and never duplicated: a row exists (with a password chosen and sealed)
 * before the first registration attempt, so a retry after a crash or an outage finds
 * the account taken (M_USER_IN_USE) and logs in with that password instead of making
 * another. Tokens and passwords are sealed at rest (secret-box). What is owed (register,
 * deactivate) is `state` + `next_attempt_at`: an outage only delays it. A handle
 * destroyed and provisioned again gets a row of a new epoch (new ids), so a
 * deactivation under way never races the new accounts.
 */
import crypto from 'node:crypto';
import { Op, UniqueConstraintError } from 'sequelize';
import type { SocialConfig } from '../config-social.ts';
import type { Database } from '../db/database.ts';
import type { MatrixAccount, MatrixAccountKind } from '../db/models.ts';
import { backoffMs } from '../provisioning/worker.ts';
import { type MatrixClient, MatrixError, type MatrixSession, MatrixUnavailableError, MatrixUserInUseError } from './matrix-client.ts';
import type { SecretBox } from './secret-box.ts';

type MatrixSettings = NonNullable<SocialConfig['matrix']>;
type UserKind = Exclude<MatrixAccountKind, 'service'>;

/** The service account's row is keyed by this handle, which no user can have. */
const SERVICE_HANDLE = '';
const RETRY_BASE_MS = 2000;
const RETRY_MAX_MS = 60_000;
/** Provisioning registers new accounts itself; the worker takes over only if that did not finish by then. */
const WORKER_TAKEOVER_MS = 15_000;
/** A worker holds a row it works on this long (the claim), so replicas never work one row at once. */
const CLAIM_MS = 60_000;

export interface MatrixCredentials {
  userId: string;
  accessToken: string;
  deviceId: string;
}

/** The account could not be made for a reason a retry will not fix (say, its name belongs to someone else). */
export class MatrixAccountError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MatrixAccountError';
  }
}

export class MatrixAccounts {
  private adminRoomId: string | null = null;
  private service: Promise<MatrixCredentials> | null = null;

  constructor(
    private readonly db: Database,
    private readonly client: MatrixClient,
    private readonly box: SecretBox,
    readonly settings: MatrixSettings,
  ) {}

  userId(localpart: string): string {
    return `@${localpart}:${this.settings.serverName}`;
  }

  /** `alice` and `alice_ai`; epoch 2 on is `alice.2`: a deactivated id is never reusable. */
  localpart(handle: string, kind: UserKind, epoch: number): string {
    const base = epoch > 1 ? `${handle}.${epoch}` : handle;
    return kind === 'ai' ? `${base}_ai` : base;
  }

  /** Owes `handle` its two accounts: rows in `pending`, each with its password sealed. Idempotent. */
  async request(handle: string): Promise<void> {
    const { MatrixAccount } = this.db.models;
    for (const kind of ['human', 'ai'] as const) {
      const latest = await this.latest(handle, kind);
      if (latest && (latest.state === 'pending' || latest.state === 'active')) continue;
      const epoch = (latest?.epoch ?? 0) + 1;
      try {
        await MatrixAccount.create({
          handle,
          kind,
          epoch,
          matrix_user_id: this.userId(this.localpart(handle, kind, epoch)),
          password_sealed: this.box.seal(crypto.randomBytes(24).toString('base64url')),
          state: 'pending',
          next_attempt_at: new Date(Date.now() + WORKER_TAKEOVER_MS),
        });
      } catch (err) {
        // Another request made it first: the same outcome.
        if (!(err instanceof UniqueConstraintError)) throw err;
      }
    }
  }

  /** Registers whatever of `handle`'s accounts is pending. Throws MatrixUnavailableError while the homeserver is away. */
  async ensure(handle: string): Promise<void> {
    await this.serviceSession();
    const rows = await this.db.models.MatrixAccount.findAll({ where: { handle, state: 'pending' } });
    for (const row of rows) await this.register(row);
  }

  /** The active account's credentials (for sending), or null while there is none. */
  async credentials(handle: string, kind: UserKind = 'ai'): Promise<MatrixCredentials | null> {
    const row = await this.db.models.MatrixAccount.findOne({ where: { handle, kind, state: 'active' } });
    return row ? this.open(row) : null;
  }

  /**
   * What the instance is given as it starts: the AI account's credentials, with a token
   * issued for the instance's current credential generation (a rotation logs the old
   * device out and in again, so a copied token dies with it). Marks them handed over.
   * A user with no accounts at all (provisioned before the social layer) is owed them now.
   */
  async forInstance(handle: string, generation: number): Promise<MatrixCredentials | null> {
    const row = await this.db.models.MatrixAccount.findOne({ where: { handle, kind: 'ai', state: 'active' } });
    if (!row) {
      if (!(await this.latest(handle, 'ai'))) await this.request(handle);
      return null;
    }
    if (row.token_generation !== generation) {
      try {
        await this.renew(row, generation);
      } catch (err) {
        // The homeserver is away: the token of the last generation still works; renewed at the next start.
        if (!(err instanceof MatrixUnavailableError)) throw err;
      }
    }
    const fresh = (await this.db.models.MatrixAccount.findByPk(row.id))!;
    await this.db.models.MatrixAccount.update({ handed_over: true }, { where: { id: row.id, access_token_sealed: fresh.access_token_sealed } });
    return this.open(fresh);
  }

  /** Handles whose AI token changed since their instance got one: a running instance is restarted with it. */
  async awaitingHandover(limit: number): Promise<string[]> {
    const rows = await this.db.models.MatrixAccount.findAll({
      where: { kind: 'ai', state: 'active', handed_over: false },
      attributes: ['handle'],
      limit,
    });
    return rows.map((r) => r.handle);
  }

  /** The homeserver refused `handle`'s token (revoked, logged out): log in again. The instance gets the new one. */
  async relogin(handle: string, kind: UserKind = 'ai'): Promise<void> {
    const row = await this.db.models.MatrixAccount.findOne({ where: { handle, kind, state: 'active' } });
    if (row) await this.renew(row, row.token_generation ?? null, false);
  }

  /** What the user and the operator see: each account's id and state, the newest epoch first. */
  async status(handle: string): Promise<Array<Pick<MatrixAccount, 'kind' | 'matrix_user_id' | 'state' | 'last_error' | 'attempts' | 'epoch'>>> {
    return this.db.models.MatrixAccount.findAll({
      where: { handle },
      attributes: ['kind', 'matrix_user_id', 'state', 'last_error', 'attempts', 'epoch'],
      order: [
        ['epoch', 'DESC'],
        ['kind', 'ASC'],
      ],
    });
  }

  /** Destroying a user owes the homeserver a deactivation of both accounts (done by the worker, retried). */
  async scheduleDeactivation(handle: string): Promise<void> {
    await this.db.models.MatrixAccount.update(
      { state: 'deactivating', attempts: 0, last_error: null, next_attempt_at: new Date() },
      { where: { handle, state: { [Op.in]: ['pending', 'active'] } } },
    );
  }

  /** Rows with work due now (registration or deactivation), oldest first. */
  due(limit: number, now = new Date()): Promise<MatrixAccount[]> {
    return this.db.models.MatrixAccount.findAll({
      where: {
        state: { [Op.in]: ['pending', 'deactivating'] },
        handle: { [Op.ne]: SERVICE_HANDLE },
        [Op.or]: [{ next_attempt_at: null }, { next_attempt_at: { [Op.lte]: now } }],
      },
      order: [['next_attempt_at', 'ASC']],
      limit,
    });
  }

  /**
   * Does what `row` owes, after claiming it (a guarded move of its next attempt, so no
   * other replica works it meanwhile). A failure is recorded with its next attempt.
   * Returns true when done.
   */
  async work(row: MatrixAccount): Promise<boolean> {
    const claimedUntil = new Date(Date.now() + CLAIM_MS);
    const [claimed] = await this.db.models.MatrixAccount.update(
      { next_attempt_at: claimedUntil },
      { where: { id: row.id, state: row.state, next_attempt_at: row.next_attempt_at ?? null } },
    );
    if (claimed !== 1) return false;
    try {
      if (row.state === 'pending') {
        await this.serviceSession();
        await this.register(row);
      } else if (row.state === 'deactivating') await this.deactivate(row);
      return true;
    } catch (err) {
      await this.recordFailure(row, err);
      return false;
    }
  }

  /** Provisioning could not finish `handle`'s accounts: the worker retries them soon, not after its takeover delay. */
  async retryLater(handle: string, err: unknown): Promise<void> {
    for (const row of await this.db.models.MatrixAccount.findAll({ where: { handle, state: 'pending' } })) await this.recordFailure(row, err);
  }

  private async recordFailure(row: MatrixAccount, err: unknown): Promise<void> {
    const attempts = row.attempts + 1;
    const wait =
      err instanceof MatrixUnavailableError && err.retryAfterMs !== null
        ? Math.max(err.retryAfterMs, RETRY_BASE_MS)
        : backoffMs(attempts, RETRY_BASE_MS, RETRY_MAX_MS);
    await this.db.models.MatrixAccount.update(
      { attempts, last_error: describe(err), next_attempt_at: new Date(Date.now() + wait) },
      { where: { id: row.id, state: row.state } },
    );
  }

  private latest(handle: string, kind: UserKind): Promise<MatrixAccount | null> {
    return this.db.models.MatrixAccount.findOne({ where: { handle, kind }, order: [['epoch', 'DESC']] });
  }

  /** Opens a row's token, sealing it again under the current key if a rotated SECRET_KEY sealed it. */
  private async open(row: MatrixAccount): Promise<MatrixCredentials | null> {
    if (!row.access_token_sealed) return null;
    const accessToken = this.box.open(row.access_token_sealed);
    if (this.box.needsReseal(row.access_token_sealed) || this.box.needsReseal(row.password_sealed)) {
      await this.db.models.MatrixAccount.update(
        { access_token_sealed: this.box.seal(accessToken), password_sealed: this.box.seal(this.box.open(row.password_sealed)) },
        { where: { id: row.id, access_token_sealed: row.access_token_sealed } },
      );
    }
    return { userId: row.matrix_user_id, accessToken, deviceId: row.device_id ?? '' };
  }

  private async register(row: MatrixAccount): Promise<void> {
    const localpart = row.matrix_user_id.slice(1, row.matrix_user_id.indexOf(':'));
    const password = this.box.open(row.password_sealed);
    let session: MatrixSession;
    try {
      session = await this.client.register(localpart, password, this.settings.registrationToken);
    } catch (err) {
      if (!(err instanceof MatrixUserInUseError)) throw err;
      // Taken: ours from an earlier attempt (the password opens it), or someone else's.
      try {
        session = await this.client.login(localpart, password);
      } catch (loginErr) {
        if (loginErr instanceof MatrixError && loginErr.status === 403)
          throw new MatrixAccountError(`${row.matrix_user_id} exists on the homeserver and is not the platform's: an operator must free or deactivate it.`);
        throw loginErr;
      }
    }
    await this.db.models.MatrixAccount.update(
      {
        access_token_sealed: this.box.seal(session.accessToken),
        device_id: session.deviceId,
        token_generation: null,
        handed_over: false,
        state: 'active',
        attempts: 0,
        last_error: null,
        next_attempt_at: null,
      },
      { where: { id: row.id, state: 'pending' } },
    );
  }

  /** A new token for the account: the old device is logged out (best effort), a new login made. */
  private async renew(row: MatrixAccount, generation: number | null, logoutOld = true): Promise<void> {
    const localpart = row.matrix_user_id.slice(1, row.matrix_user_id.indexOf(':'));
    if (logoutOld && row.access_token_sealed) await this.client.logout(this.box.open(row.access_token_sealed)).catch(() => undefined);
    const session = await this.client.login(localpart, this.box.open(row.password_sealed));
    await this.db.models.MatrixAccount.update(
      { access_token_sealed: this.box.seal(session.accessToken), device_id: session.deviceId, token_generation: generation, handed_over: false },
      { where: { id: row.id, state: 'active' } },
    );
  }

  private async deactivate(row: MatrixAccount): Promise<void> {
    const service = await this.serviceSession();
    try {
      const roomId = await this.adminRoom(service.accessToken);
      // The transaction id names this account: a retry never sends the command twice.
      await this.client.deactivate(service.accessToken, roomId, this.settings.serverName, row.matrix_user_id, `deactivate-${row.id}`);
    } catch (err) {
      // The service account's token was revoked: log in again for the next attempt.
      if (err instanceof MatrixError && err.status === 401) {
        this.service = null;
        await this.db.models.MatrixAccount.update({ state: 'pending' }, { where: { handle: SERVICE_HANDLE, kind: 'service' } });
      }
      throw err;
    }
    await this.db.models.MatrixAccount.update(
      { state: 'deactivated', access_token_sealed: null, attempts: 0, last_error: null, next_attempt_at: null },
      { where: { id: row.id, state: 'deactivating' } },
    );
  }

  /**
   * The platform's service account, registered on first use. Conduit makes the first
   * account it registers an admin in its admin room, so on a fresh homeserver this is
   * it; on one with earlier users an admin must invite it (docs/social.md).
   */
  private serviceSession(): Promise<MatrixCredentials> {
    // One registration at a time in this process; a failure is forgotten so the next call retries.
    this.service ??= this.openServiceSession().catch((err) => {
      this.service = null;
      throw err;
    });
    return this.service;
  }

  private async openServiceSession(): Promise<MatrixCredentials> {
    const { MatrixAccount } = this.db.models;
    const [row] = await MatrixAccount.findOrCreate({
      where: { handle: SERVICE_HANDLE, kind: 'service' },
      defaults: {
        handle: SERVICE_HANDLE,
        kind: 'service',
        matrix_user_id: this.userId(this.settings.serviceUser),
        password_sealed: this.box.seal(crypto.randomBytes(24).toString('base64url')),
        state: 'pending',
      },
    });
    if (row.state !== 'active') await this.register(row);
    const credentials = await this.open((await MatrixAccount.findByPk(row.id))!);
    if (!credentials) throw new MatrixAccountError('The platform could not open its Matrix service account.');
    return credentials;
  }

  private async adminRoom(token: string): Promise<string> {
    if (this.adminRoomId) return this.adminRoomId;
    const alias = `#admins:${this.settings.serverName}`;
    try {
      this.adminRoomId = await this.client.joinAlias(token, alias);
    } catch (err) {
      if (err instanceof MatrixError && err.status === 403)
        throw new MatrixAccountError(
          `The platform's service account ${this.userId(this.settings.serviceUser)} is not allowed into ${alias}: an admin of the homeserver must invite it (docs/social.md).`,
        );
      throw err;
    }
    return this.adminRoomId;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
