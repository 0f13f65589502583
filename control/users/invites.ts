/**
 * Invite codes for SIGNUP_MODE=invite: admins create them (admin page, CLI, API),
 * people redeem one as they sign up. Only the code's SHA-256 is stored, so the code is
 * shown once, when it is made. A redemption is one guarded UPDATE (`uses < max_uses`,
 * not expired, not revoked) in the sign-up's own transaction: concurrent sign-ups with
 * one code never exceed its uses, and a refused sign-up uses nothing.
 */
import crypto from 'node:crypto';
import { Op, type Transaction } from 'sequelize';
import { recordAudit } from '../audit.ts';
import type { Database } from '../db/database.ts';
import type { Invite } from '../db/models.ts';
import { NotFoundError, ValidationError } from '../errors.ts';

export interface InviteView {
  id: string;
  note: string | null;
  maxUses: number;
  uses: number;
  expiresAt: string | null;
  createdBy: string;
  createdAt: string;
  revokedAt: string | null;
  /** active, used up, expired or revoked. */
  state: 'active' | 'used' | 'expired' | 'revoked';
}

/** Why a code does not admit anyone (null: it was redeemed). */
export type InviteProblem = 'unknown' | 'used' | 'expired' | 'revoked';

const MAX_USES = 10_000;
const MAX_DAYS = 366;
/** Unambiguous characters (no 0/O, 1/I/L): codes are read aloud and typed from slides. */
const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';

export const hashInviteCode = (code: string) => crypto.createHash('sha256').update(normalizeCode(code)).digest('hex');

/** Codes are case-insensitive, and their dashes and spaces are decoration. */
function normalizeCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, '');
}

function newCode(): string {
  const bytes = crypto.randomBytes(16);
  const chars = [...bytes].map((b) => ALPHABET[b % ALPHABET.length]).join('');
  return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}-${chars.slice(12, 16)}`;
}

/** The link that signs someone up with `code`: the sign-in page carries it to their sign-up. */
export function inviteLink(publicUrl: string, code: string): string {
  return `${publicUrl}/login?invite=${encodeURIComponent(code)}&next=%2Fsignup`;
}

export class Invites {
  constructor(private readonly db: Database) {}

  /** A new invite; the code is in the answer only. */
  async create(input: { maxUses?: unknown; expiresInDays?: unknown; note?: unknown }, actor: string): Promise<{ invite: InviteView; code: string }> {
    const maxUses = input.maxUses === undefined || input.maxUses === '' ? 1 : Number(input.maxUses);
    if (!Number.isInteger(maxUses) || maxUses < 1 || maxUses > MAX_USES) throw new ValidationError(`uses must be a whole number from 1 to ${MAX_USES}.`);
    let expiresAt: Date | null = null;
    if (input.expiresInDays !== undefined && input.expiresInDays !== null && input.expiresInDays !== '') {
      const days = Number(input.expiresInDays);
      if (!Number.isFinite(days) || days <= 0 || days > MAX_DAYS) throw new ValidationError(`expiry must be a number of days from 1 to ${MAX_DAYS}, or none.`);
      expiresAt = new Date(Date.now() + days * 86_400_000);
    }
    if (input.note !== undefined && input.note !== null && (typeof input.note !== 'string' || input.note.length > 200))
      throw new ValidationError('note must be text of at most 200 characters.');
    const note = typeof input.note === 'string' && input.note.trim() ? input.note.trim() : null;
    const code = newCode();
    const id = `inv_${crypto.randomBytes(6).toString('base64url')}`;
    const invite = await this.db.transaction(async (transaction) => {
      const row = await this.db.models.Invite.create(
        { id, code_hash: hashInviteCode(code), note, max_uses: maxUses, expires_at: expiresAt, created_by: actor },
        { transaction },
      );
      await recordAudit(this.db, { actor, action: 'invite.create', target: id, detail: { maxUses, expiresAt, note } }, transaction);
      return row;
    });
    return { invite: inviteView(invite), code };
  }

  async list(limit = 200): Promise<InviteView[]> {
    const rows = await this.db.models.Invite.findAll({ order: [['created_at', 'DESC']], limit });
    return rows.map((r) => inviteView(r));
  }

  async revoke(id: string, actor: string): Promise<InviteView> {
    return this.db.transaction(async (transaction) => {
      const row = await this.db.models.Invite.findByPk(id, { transaction });
      if (!row) throw new NotFoundError(`There is no invite ${id}.`);
      if (!row.revoked_at) {
        await row.update({ revoked_at: new Date() }, { transaction });
        await recordAudit(this.db, { actor, action: 'invite.revoke', target: id }, transaction);
      }
      return inviteView(row);
    });
  }

  /** Takes one use of `code` inside `transaction`; returns the invite id, or why it admits nobody. */
  async redeem(code: string, transaction: Transaction): Promise<{ id: string } | { problem: InviteProblem }> {
    const { Invite } = this.db.models;
    const codeHash = hashInviteCode(code);
    const now = new Date();
    const [taken] = await Invite.update(
      { uses: this.db.sequelize.literal('uses + 1') as unknown as number },
      {
        where: {
          code_hash: codeHash,
          revoked_at: null,
          uses: { [Op.lt]: this.db.sequelize.col('max_uses') },
          [Op.or]: [{ expires_at: null }, { expires_at: { [Op.gt]: now } }],
        },
        transaction,
      },
    );
    const row = await Invite.findOne({ where: { code_hash: codeHash }, transaction });
    if (taken > 0 && row) return { id: row.id };
    if (!row) return { problem: 'unknown' };
    if (row.revoked_at) return { problem: 'revoked' };
    if (row.expires_at && row.expires_at <= now) return { problem: 'expired' };
    return { problem: 'used' };
  }
}

export function inviteView(row: Invite, now = new Date()): InviteView {
  const state = row.revoked_at ? 'revoked' : row.expires_at && new Date(row.expires_at) <= now ? 'expired' : row.uses >= row.max_uses ? 'used' : 'active';
  return {
    id: row.id,
    note: row.note ?? null,
    maxUses: row.max_uses,
    uses: row.uses,
    expiresAt: row.expires_at ? new Date(row.expires_at).toISOString() : null,
    createdBy: row.created_by,
    createdAt: new Date(row.created_at).toISOString(),
    revokedAt: row.revoked_at ? new Date(row.revoked_at).toISOString() : null,
    state,
  };
}
