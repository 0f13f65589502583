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
 * deactivate) is `state` + `next_attempt_at`: an outage only delays it.
 */
import crypto from 'node:crypto';
import { Op } from 'sequelize';
import type { SocialConfig } from '../config-social.ts';
import type { Database } from '../db/database.ts';
import type { MatrixAccount, MatrixAccountKind } from '../db/models.ts';
import { backoffMs } from '../provisioning/worker.ts';
import { type MatrixClient, MatrixError, type MatrixSession, MatrixUnavailableError, MatrixUserInUseError } from './matrix-client.ts';
import type { SecretBox } from './secret-box.ts';

type MatrixSettings = NonNullable<SocialConfig['matrix']>;

/** The service account's row is keyed by this handle, which no user can have. */
const SERVICE_HANDLE = '';
const RETRY_BASE_MS = 2000;
const RETRY_MAX_MS = 60_000;
const WORKER_TAKEOVER_MS = 15_000;

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

  /** `alice` and `alice_ai`; a handle provisioned again after a destroy gets `alice.2`: a deactivated id is never reusable. */
  localpart(handle: string, kind: Exclude<MatrixAccountKind, 'service'>, epoch: number): string {
    const base = epoch > 1 ? `${handle}.${epoch}` : handle;
    return kind === 'ai' ? `${base}_ai` : base;
  }

  /**
   * Owes `handle` its two accounts: rows in `pending`, each with its password sealed.
   * Idempotent; a handle whose accounts were deactivated starts a new epoch.
   */
  async request(handle: string): Promise<void> {
    const { MatrixAccount } = this.db.models;
    for (const kind of ['human', 'ai'] as const) {
      const row = await MatrixAccount.findOne({ where: { handle, kind } });
      if (row && row.state !== 'deactivated' && row.state !== 'deactivating') continue;
      if (row?.state === 'deactivating') {
        // Destroyed and provisioned again before the deactivation ran: the account is still theirs.
        const state = row.access_token_sealed ? 'active' : 'pending';
        await MatrixAccount.update({ state, attempts: 0, last_error: null, next_attempt_at: new Date() }, { where: { id: row.id, state: 'deactivating' } });
        continue;
      }
      const epoch = row ? row.epoch + 1 : 1;
      const values = {
        epoch,
        matrix_user_id: this.userId(this.localpart(handle, kind, epoch)),
        password_sealed: this.box.seal(crypto.randomBytes(24).toString('base64url')),
        access_token_sealed: null,
        device_id: null,
        state: 'pending' as const,
        attempts: 0,
        last_error: null,
        // Provisioning registers it now; the worker takes over only if that did not finish.
        next_attempt_at: new Date(Date.now() + WORKER_TAKEOVER_MS),
      };
      if (row) await MatrixAccount.update(values, { where: { id: row.id, state: 'deactivated' } });
      else await MatrixAccount.findOrCreate({ where: { handle, kind }, defaults: { handle, kind, ...values } });
    }
  }

  /** Registers whatever of `handle`'s accounts is pending. Throws MatrixUnavailableError while the homeserver is away. */
  async ensure(handle: string): Promise<void> {
    await this.serviceSession();
    const rows = await this.db.models.MatrixAccount.findAll({ where: { handle, state: 'pending' } });
    for (const row of rows) await this.register(row);
  }

  /** The AI account's credentials for the instance, or null while it is not registered. */
  async credentials(handle: string, kind: Exclude<MatrixAccountKind, 'service'> = 'ai'): Promise<MatrixCredentials | null> {
    const row = await this.db.models.MatrixAccount.findOne({ where: { handle, kind, state: 'active' } });
    if (!row?.access_token_sealed) return null;
    return { userId: row.matrix_user_id, accessToken: this.box.open(row.access_token_sealed), deviceId: row.device_id ?? '' };
  }

  /** What the user and the operator see: each account's id and state. */
  async status(handle: string): Promise<Array<Pick<MatrixAccount, 'kind' | 'matrix_user_id' | 'state' | 'last_error' | 'attempts'>>> {
    return this.db.models.MatrixAccount.findAll({
      where: { handle },
      attributes: ['kind', 'matrix_user_id', 'state', 'last_error', 'attempts'],
      order: [['kind', 'ASC']],
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

  /** Does what `row` owes; a failure is recorded with its next attempt. Returns true when done. */
  async work(row: MatrixAccount): Promise<boolean> {
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

  async recordFailure(row: MatrixAccount, err: unknown): Promise<void> {
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
        state: 'active',
        attempts: 0,
        last_error: null,
        next_attempt_at: null,
        // Sealed again under the current key, should a rotated SECRET_KEY have sealed it.
        ...(this.box.needsReseal(row.password_sealed) ? { password_sealed: this.box.seal(password) } : {}),
      },
      { where: { id: row.id, state: 'pending' } },
    );
  }

  private async deactivate(row: MatrixAccount): Promise<void> {
    const service = await this.serviceSession();
    const roomId = await this.adminRoom(service.accessToken);
    // The transaction id names this account and epoch: a retry never sends the command twice.
    await this.client.deactivate(service.accessToken, roomId, this.settings.serverName, row.matrix_user_id, `deactivate-${row.id}-${row.epoch}`);
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
    const userId = this.userId(this.settings.serviceUser);
    const [row] = await MatrixAccount.findOrCreate({
      where: { handle: SERVICE_HANDLE, kind: 'service' },
      defaults: {
        handle: SERVICE_HANDLE,
        kind: 'service',
        matrix_user_id: userId,
        password_sealed: this.box.seal(crypto.randomBytes(24).toString('base64url')),
        state: 'pending',
      },
    });
    if (row.state !== 'active') {
      await this.register(row);
      const registered = await MatrixAccount.findByPk(row.id);
      return { userId: registered!.matrix_user_id, accessToken: this.box.open(registered!.access_token_sealed!), deviceId: registered!.device_id ?? '' };
    }
    return { userId: row.matrix_user_id, accessToken: this.box.open(row.access_token_sealed!), deviceId: row.device_id ?? '' };
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
