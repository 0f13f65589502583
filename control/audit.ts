/**
 * The audit log: who did what to which user or instance. An entry is written in the
 * same transaction as the change it records, so there is never a change without its
 * entry, nor an entry for a change that rolled back.
 */
import type { Transaction } from 'sequelize';
import type { Database } from './db/database.ts';
import type { AuditEntry } from './db/models.ts';

export interface AuditRecord {
  /** e.g. "admin:u_123", "site:u_123", "platform-api", "router:u_123". */
  actor: string;
  action: string;
  /** A handle, or a user id for users without one. */
  target: string | null;
  detail?: unknown;
}

export async function recordAudit(db: Database, entry: AuditRecord, transaction?: Transaction): Promise<void> {
  const detail = entry.detail == null ? null : JSON.stringify(entry.detail);
  await db.models.AuditEntry.create({ actor: entry.actor, action: entry.action, target: entry.target, detail }, { transaction });
}

/** Newest first. */
export async function auditPage(db: Database, offset: number, limit: number): Promise<{ entries: AuditEntry[]; total: number }> {
  const { AuditEntry } = db.models;
  const [entries, total] = await Promise.all([AuditEntry.findAll({ order: [['id', 'DESC']], limit, offset }), AuditEntry.count()]);
  return { entries, total };
}
