/**
 * Every query and change of users: sign-in (found by issuer + subject, created on
 * first sign-in, admins from ADMIN_EMAILS), the admin list, the community list, and
 * admin changes, each audited in the same transaction as the change.
 */
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Op, type Transaction, UniqueConstraintError, type WhereOptions } from 'sequelize';
import { recordAudit } from '../audit.ts';
import type { Database } from '../db/database.ts';
import type { User, UserRole } from '../db/models.ts';
import { ConflictError, ForbiddenError, NotFoundError } from '../errors.ts';
import { type Identity, LoginError } from '../identity/oidc.ts';
import type { InstanceStore } from '../provisioning/store.ts';
import type { Admission, AdmissionContext } from './admission.ts';
import type { SiteSessions } from './sessions.ts';

export class UserStore {
  /** 'admins' after a commit that may change who is an admin (role, suspension). */
  readonly changes = new EventEmitter();

  constructor(
    private readonly db: Database,
    readonly sessions: SiteSessions,
    private readonly instances: InstanceStore,
    /** The sign-up policy for new people; none lets everyone in. */
    private readonly admission: Admission | null = null,
  ) {
    this.changes.setMaxListeners(0);
  }

  private get User() {
    return this.db.models.User;
  }

  /**
   * The user behind a completed sign-in; created on the first one if the sign-up policy
   * lets them in (the admission and the creation in one transaction: a refusal leaves
   * nothing behind, an invite is used only by a sign-up that happened). Throws
   * ForbiddenError when suspended, SignupRefusedError when the policy says no.
   */
  async signIn(identity: Identity, adminEmails: readonly string[], context: AdmissionContext = {}): Promise<User> {
    const now = new Date();
    const existing = await this.findByIdentity(identity);
    if (existing) {
      if (existing.suspended_at || existing.deleted_at) throw new ForbiddenError(this.suspendedMessage());
      const primary = existing.oidc_issuer === identity.issuer && existing.oidc_subject === identity.subject;
      await existing.update({
        last_login_at: now,
        // The account's email follows its first sign-in; a linked one only confirms it.
        ...(primary ? { email: identity.email ?? existing.email, email_verified: identity.emailVerified } : {}),
        ...(identity.name && !existing.display_name ? { display_name: identity.name } : {}),
      });
      return existing;
    }
    if (!identity.email) throw new LoginError('The sign-in provider did not share an email address; the platform needs one.');
    const linked = await this.linkByEmail(identity);
    if (linked) return linked;
    const admin = identity.emailVerified && adminEmails.includes(identity.email);
    const created = await this.db.transaction(async (transaction) => {
      const { inviteId } = this.admission ? await this.admission.admit(identity, context, transaction) : { inviteId: null };
      const user = await this.User.create(
        {
          id: `u_${crypto.randomBytes(12).toString('base64url')}`,
          handle: null,
          oidc_issuer: identity.issuer,
          oidc_subject: identity.subject,
          email: identity.email,
          email_verified: identity.emailVerified,
          display_name: identity.name,
          role: admin ? 'admin' : 'user',
          invite_id: inviteId,
          last_login_at: now,
        },
        { transaction },
      );
      if (inviteId)
        await recordAudit(this.db, { actor: `site:${user.id}`, action: 'invite.redeem', target: inviteId, detail: { email: identity.email } }, transaction);
      return user;
    });
    if (admin) this.changes.emit('admins');
    return created;
  }

  /** The user this sign-in belongs to: their first one (on the user row) or one linked later. */
  private async findByIdentity(identity: Identity): Promise<User | null> {
    const first = await this.User.findOne({ where: { oidc_issuer: identity.issuer, oidc_subject: identity.subject } });
    if (first) return first;
    const link = await this.db.models.UserIdentity.findOne({ where: { issuer: identity.issuer, subject: identity.subject } });
    return link ? this.User.findByPk(link.user_id) : null;
  }

  /**
   * A new sign-in (GitHub, say) of someone who already has an account: the same person
   * when both providers verified the same email, and the sign-in is linked to that
   * account. When either side is unverified it is refused, never linked and never a
   * second account with the same email: someone could otherwise claim another's address.
   */
  private async linkByEmail(identity: Identity): Promise<User | null> {
    const sameEmail = await this.User.findAll({ where: { email: identity.email, deleted_at: null }, limit: 2 });
    if (sameEmail.length === 0) return null;
    const [owner] = sameEmail;
    if (!identity.emailVerified || !owner!.email_verified || sameEmail.length > 1)
      throw new LoginError(
        `An account with ${identity.email} already exists, and this sign-in cannot be linked to it because the address is not verified on both sides. Sign in the way you did before, or verify the address with this provider.`,
      );
    if (owner!.suspended_at) throw new ForbiddenError(this.suspendedMessage());
    try {
      await this.db.transaction(async (transaction) => {
        await this.db.models.UserIdentity.create({ issuer: identity.issuer, subject: identity.subject, user_id: owner!.id }, { transaction });
        const audit = { actor: `site:${owner!.id}`, action: 'identity.link', target: owner!.handle ?? owner!.id, detail: { issuer: identity.issuer } };
        await recordAudit(this.db, audit, transaction);
      });
    } catch (err) {
      // The same sign-in twice at once (two tabs): the other one linked it.
      if (!(err instanceof UniqueConstraintError)) throw err;
    }
    await owner!.update({ last_login_at: new Date() });
    return owner!;
  }

  findById(id: string): Promise<User | null> {
    return this.User.findByPk(id);
  }

  private suspendedMessage(): string {
    return this.admission?.suspendedMessage() ?? 'This account is suspended. Contact the platform operator to have it lifted.';
  }

  /**
   * The user an operator means by `ref` (the CLI's --user): an email address in any
   * case, an id, or a handle; null when nobody matches.
   */
  async resolve(ref: string): Promise<User | null> {
    const wanted = ref.trim();
    const live = { deleted_at: null };
    if (wanted.includes('@')) {
      // The exact address first; in another case only when exactly one account has it (two
      // accounts differing in case must not be confused: the operator is told to be exact).
      const exact = await this.User.findOne({ where: { email: wanted, ...live } });
      if (exact) return exact;
      const { sequelize } = this.db;
      const folded = await this.User.findAll({
        where: { [Op.and]: [sequelize.where(sequelize.fn('lower', sequelize.col('email')), wanted.toLowerCase()), live] },
        limit: 2,
      });
      if (folded.length > 1)
        throw new ConflictError('ambiguous_user', `More than one account has the email "${wanted}" in some case: give it exactly, or the id.`);
      if (folded[0]) return folded[0];
    }
    return (await this.User.findOne({ where: { id: wanted, ...live } })) ?? (await this.User.findOne({ where: { handle: wanted.toLowerCase(), ...live } }));
  }

  /** The id of the user holding `handle`, or null. */
  async handleHolder(handle: string): Promise<string | null> {
    return (await this.User.findOne({ where: { handle }, attributes: ['id'] }))?.id ?? null;
  }

  /** Newest first; `q` is a prefix of the handle or the email (LIKE wildcards are literal). Uses the indexes. */
  async page(options: { q: string; offset: number; limit: number }): Promise<{ users: User[]; total: number }> {
    // An explicit ESCAPE: SQLite's LIKE has no default escape character (PostgreSQL's is "\\"),
    // so without it a search for "a_b" would look for a backslash on SQLite.
    const { sequelize } = this.db;
    const prefix = sequelize.escape(`${options.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    const like = (column: 'handle' | 'email') => sequelize.literal(`"${column}" LIKE ${prefix} ESCAPE '\\'`);
    const where: WhereOptions<User> = options.q ? { [Op.or]: [like('handle'), like('email')] } : {};
    const [users, total] = await Promise.all([
      this.User.findAll({
        where,
        order: [
          ['created_at', 'DESC'],
          ['id', 'DESC'],
        ],
        limit: options.limit,
        offset: options.offset,
      }),
      this.User.count({ where }),
    ]);
    return { users, total };
  }

  /** Users with a handle who neither hid themselves nor are suspended, by handle. */
  /**
   * The community: people with a handle who neither hide nor are suspended, by handle,
   * `limit` after the handle `after` (keyset pages), matching `query` in the handle or
   * display name when given.
   */
  async community(options: { limit: number; after?: string; query?: string }): Promise<User[]> {
    const where: WhereOptions<User> = { handle: { [Op.ne]: null }, hidden: false, suspended_at: null, deleted_at: null };
    const and: WhereOptions<User>[] = [where];
    if (options.after) and.push({ handle: { [Op.gt]: options.after } });
    if (options.query) {
      // Case-insensitive substring, wildcards literal (the ESCAPE rule of page() below).
      const { sequelize } = this.db;
      const pattern = sequelize.escape(`%${options.query.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
      const like = (column: 'handle' | 'display_name') => sequelize.literal(`LOWER("${column}") LIKE ${pattern} ESCAPE '\\'`);
      and.push({ [Op.or]: [like('handle'), like('display_name')] });
    }
    return this.User.findAll({
      where: { [Op.and]: and },
      order: [['handle', 'ASC']],
      limit: options.limit,
      attributes: ['id', 'handle', 'display_name', 'bio', 'avatar_url', 'created_at'],
    });
  }

  /** How many people signed up in each of the last `hours` hours (oldest first), and how many there are in all. */
  async signupsPerHour(hours: number, now = new Date()): Promise<{ perHour: number[]; total: number }> {
    const since = new Date(now.getTime() - hours * 3_600_000);
    const [recent, total] = await Promise.all([
      this.User.findAll({ where: { created_at: { [Op.gt]: since } }, attributes: ['created_at'], raw: true }),
      this.User.count(),
    ]);
    const perHour = new Array<number>(hours).fill(0);
    for (const { created_at } of recent) {
      const slot = hours - 1 - Math.floor((now.getTime() - new Date(created_at).getTime()) / 3_600_000);
      if (slot >= 0 && slot < hours) perHour[slot]! += 1;
    }
    return { perHour, total };
  }

  /** A person the community may see (by handle); null when there is none, or they hide, or are suspended. */
  findPublic(handle: string): Promise<User | null> {
    return this.User.findOne({ where: { handle, hidden: false, suspended_at: null, deleted_at: null } });
  }

  /** What the user sets on the dashboard for their public profile. */
  async setProfile(
    userId: string,
    profile: { displayName: string | null; bio: string | null; avatarUrl: string | null; shareActivity: boolean },
  ): Promise<void> {
    await this.User.update(
      { display_name: profile.displayName, bio: profile.bio, avatar_url: profile.avatarUrl, share_activity: profile.shareActivity },
      { where: { id: userId } },
    );
  }

  async setHidden(userId: string, hidden: boolean): Promise<void> {
    await this.User.update({ hidden }, { where: { id: userId } });
  }

  async setRole(userId: string, role: UserRole, actor: string): Promise<User> {
    return this.db.transaction(async (transaction) => {
      const user = await this.mustFind(userId, transaction);
      await this.User.update({ role }, { where: { id: userId }, transaction });
      await recordAudit(this.db, { actor, action: 'set_role', target: user.handle ?? user.id, detail: { userId, role } }, transaction);
      transaction.afterCommit(() => {
        this.changes.emit('admins');
      });
      return user;
    });
  }

  /**
   * Suspending ends every session of the user and refuses their instances' token and
   * cookie on every router (the flag on their instances, in this same transaction);
   * unsuspending restores both. Stopping the instance is the caller's next step
   * (users/suspension.ts). Returns how many sessions ended and the instances' handles.
   */
  async setSuspended(userId: string, suspended: boolean, actor: string): Promise<{ sessionsEnded: number; handles: string[] }> {
    return this.db.transaction(async (transaction) => {
      const user = await this.mustFind(userId, transaction);
      await this.User.update({ suspended_at: suspended ? new Date() : null }, { where: { id: userId }, transaction });
      const ended = suspended ? await this.sessions.revokeAll(userId, transaction) : 0;
      const message = suspended ? `Owner suspended by ${actor}: nobody but an admin can reach this instance` : `Owner unsuspended by ${actor}: access restored`;
      const handles = await this.instances.setOwnerSuspended(userId, suspended, message, transaction);
      transaction.afterCommit(() => {
        this.changes.emit('admins');
      });
      await recordAudit(
        this.db,
        { actor, action: suspended ? 'suspend' : 'unsuspend', target: user.handle ?? user.id, detail: { userId, sessionsEnded: ended } },
        transaction,
      );
      return { sessionsEnded: ended, handles };
    });
  }

  /** Signs the user out everywhere: site sessions, and every instance session on every router. Returns how many site sessions ended. */
  async endSessions(userId: string, actor: string): Promise<number> {
    const ended = await this.db.transaction(async (transaction) => {
      const user = await this.mustFind(userId, transaction);
      const ended = await this.sessions.revokeAll(userId, transaction);
      await user.update({ signed_out_at: new Date() }, { transaction, silent: true });
      await recordAudit(this.db, { actor, action: 'revoke_sessions', target: user.handle ?? user.id, detail: { userId, sessionsEnded: ended } }, transaction);
      return ended;
    });
    this.changes.emit('signed-out');
    return ended;
  }

  /**
   * A person signed out of the site: this session ends, and so do their sessions on
   * instance hosts (opened before now), on every router within a sync interval.
   */
  async signOut(userId: string, sessionTokenHash: string): Promise<void> {
    await this.db.transaction(async (transaction) => {
      await this.sessions.revoke(sessionTokenHash, transaction);
      await this.User.update({ signed_out_at: new Date() }, { where: { id: userId }, transaction, silent: true });
    });
    this.changes.emit('signed-out');
  }

  private async mustFind(userId: string, transaction: Transaction): Promise<User> {
    const user = await this.User.findByPk(userId, { transaction });
    if (!user) throw new NotFoundError('No such user.');
    return user;
  }
}
