/**
 * One-time login codes: the apex (where the user is signed in) issues a code for one
 * handle, the browser carries it to {handle}.DOMAIN/_mxos/login, and the router trades
 * it for a host-only session cookie. Codes live a minute, work once (a guarded UPDATE,
 * so two replicas cannot both accept it) and are stored only as a hash.
 */
import crypto from 'node:crypto';
import { Op } from 'sequelize';
import { recordAudit } from '../audit.ts';
import type { Database } from '../db/database.ts';
import type { AccessKind } from '../db/models.ts';
import { ForbiddenError, NotFoundError } from '../errors.ts';
import { safeNextPath } from '../web/next-path.ts';

const CODE_TTL_MS = 60_000;

interface RedeemedCode {
  handle: string;
  userId: string;
  access: AccessKind;
  next: string;
}

export class AccessCodes {
  constructor(private readonly db: Database) {}

  /**
   * A code for `userId` to open `handle`: the owner, or an admin (whose visit is
   * audited when the code is redeemed). `userId` null means the operator (platform
   * secret holder), which counts as admin. `auditActor`: also audit the issue itself
   * (links handed out through the API), in the same transaction.
   * Throws NotFound, Forbidden, Validation.
   */
  async issue(
    input: { handle: string; userId: string | null; next?: unknown; auditActor?: string },
    now = Date.now(),
  ): Promise<{ code: string; access: AccessKind; expiresAt: Date }> {
    const next = safeNextPath(input.next);
    const access = await this.accessOf(input.handle, input.userId);
    const userId = input.userId ?? 'operator';
    const { AccessCode } = this.db.models;
    const code = crypto.randomBytes(32).toString('base64url');
    const expiresAt = new Date(now + CODE_TTL_MS);
    await this.db.transaction(async (transaction) => {
      await AccessCode.create(
        { code_hash: hashCode(code), handle: input.handle, user_id: userId, access, next_path: next, expires_at: expiresAt },
        { transaction },
      );
      if (input.auditActor)
        await recordAudit(
          this.db,
          { actor: input.auditActor, action: 'login_link', target: input.handle, detail: { userId: input.userId, access } },
          transaction,
        );
    });
    // Old codes are useless; clear them out now and then rather than on a timer.
    if (Math.random() < 0.05) await AccessCode.destroy({ where: { expires_at: { [Op.lt]: new Date(now - 3_600_000) } } });
    return { code, access, expiresAt };
  }

  /**
   * How `userId` may open `handle` (null: the operator, as admin). Throws NotFoundError
   * when there is no such instance, ForbiddenError when the user is neither its owner
   * nor an admin.
   */
  async accessOf(handle: string, userId: string | null): Promise<AccessKind> {
    const { Instance, User } = this.db.models;
    const instance = await Instance.findOne({ where: { handle }, attributes: ['owner_id', 'status'] });
    if (!instance || instance.status === 'destroyed') throw new NotFoundError(`No instance with handle "${handle}".`);
    if (userId === null) return 'admin';
    if (userId === instance.owner_id) return 'owner';
    const user = await User.findByPk(userId, { attributes: ['role'] });
    if (user?.role !== 'admin') throw new ForbiddenError(`User "${userId}" may not open "${handle}": only its owner and admins can.`);
    return 'admin';
  }

  /** Redeems a code for `handle` exactly once; null when unknown, used, expired or for another handle. */
  async redeem(code: string, handle: string, now = new Date()): Promise<RedeemedCode | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(code)) return null;
    const { AccessCode } = this.db.models;
    const code_hash = hashCode(code);
    return this.db.transaction(async (transaction) => {
      const [count] = await AccessCode.update({ used_at: now }, { where: { code_hash, handle, used_at: null, expires_at: { [Op.gt]: now } }, transaction });
      if (count !== 1) return null;
      const row = (await AccessCode.findByPk(code_hash, { transaction }))!;
      if (row.access === 'admin')
        await recordAudit(this.db, { actor: row.user_id, action: 'instance_access', target: handle, detail: { access: 'admin' } }, transaction);
      return { handle, userId: row.user_id, access: row.access, next: row.next_path };
    });
  }
}

function hashCode(code: string): string {
  return crypto.createHash('sha256').update(code).digest('hex');
}
