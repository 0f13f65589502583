/**
 * Server-side sessions for the site. The cookie carries a random token; the database
 * keeps only its hash, the CSRF token and the expiry, so an admin can revoke a session
 * (or every session of a user) and a stolen database holds no usable cookie.
 */
import crypto from 'node:crypto';
import { Op, type Transaction } from 'sequelize';
import type { Database } from '../db/database.ts';
import type { User } from '../db/models.ts';

export interface SiteSession {
  user: User;
  csrf: string;
  tokenHash: string;
}

export class SiteSessions {
  constructor(
    private readonly db: Database,
    private readonly ttlMs: number,
  ) {}

  async create(userId: string): Promise<{ token: string; expiresAt: Date }> {
    const token = crypto.randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + this.ttlMs);
    await this.db.models.Session.create({
      id_hash: hash(token),
      user_id: userId,
      csrf_token: crypto.randomBytes(24).toString('base64url'),
      expires_at: expiresAt,
    });
    return { token, expiresAt };
  }

  /** null unless the token names a live session of an active user. */
  async find(token: string | null | undefined): Promise<SiteSession | null> {
    if (!token || !/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
    const { Session, User } = this.db.models;
    const row = await Session.findOne({ where: { id_hash: hash(token), revoked_at: null, expires_at: { [Op.gt]: new Date() } } });
    if (!row) return null;
    const user = await User.findByPk(row.user_id);
    if (!user || user.deleted_at || user.suspended_at) return null;
    return { user, csrf: row.csrf_token, tokenHash: row.id_hash };
  }

  async revoke(tokenHash: string, transaction?: Transaction): Promise<void> {
    await this.db.models.Session.update({ revoked_at: new Date() }, { where: { id_hash: tokenHash, revoked_at: null }, transaction });
  }

  /** Ends every session of a user. Returns how many. */
  async revokeAll(userId: string, transaction?: Transaction): Promise<number> {
    const [count] = await this.db.models.Session.update({ revoked_at: new Date() }, { where: { user_id: userId, revoked_at: null }, transaction });
    return count;
  }
}

function hash(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}
