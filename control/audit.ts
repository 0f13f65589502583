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

const PERSON_ACTOR = /^(site|router|admin):(admin )?(.+)$/;

/**
 * Who each actor is, as people read it: a person by @handle, an admin as "an admin
 * (@root)", the API and its links as "the operator", the platform's own work as "the
 * platform"; never an internal user id. Emails only with `emails` (the admins' audit
 * log): an instance's owner reading its events never learns an admin's address. One
 * query for all of them. The audit table keeps the exact actor.
 */
export async function actorNames(db: Database, actors: readonly string[], options: { emails: boolean }): Promise<Map<string, string>> {
  const ids = new Set<string>();
  for (const actor of actors) {
    const person = PERSON_ACTOR.exec(actor);
    if (person) ids.add(person[3]!);
  }
  const users = ids.size
    ? ((await db.models.User.findAll({ where: { id: [...ids] }, attributes: ['id', 'handle', 'email'], raw: true })) as Array<{
        id: string;
        handle: string | null;
        email: string | null;
      }>)
    : [];
  const byId = new Map(users.map((u) => [u.id, u.handle ? `@${u.handle}` : options.emails && u.email ? u.email : null]));
  const names = new Map<string, string>();
  for (const actor of actors) {
    const person = PERSON_ACTOR.exec(actor);
    if (person && person[3] === 'operator') names.set(actor, 'the operator');
    else if (person) {
      const admin = person[1] === 'admin' || person[2] !== undefined;
      const name = byId.get(person[3]!) ?? null;
      names.set(actor, admin ? (name ? `an admin (${name})` : 'an admin') : (name ?? (byId.has(person[3]!) ? 'a signed-in user' : 'a former user')));
    } else if (actor === 'platform-api' || actor === 'platform-dev' || actor === 'operator') names.set(actor, 'the operator');
    else if (actor.startsWith('platform:')) names.set(actor, 'the platform');
    else names.set(actor, actor);
  }
  return names;
}

/** Newest first. */
export async function auditPage(db: Database, offset: number, limit: number): Promise<{ entries: AuditEntry[]; total: number }> {
  const { AuditEntry } = db.models;
  const [entries, total] = await Promise.all([AuditEntry.findAll({ order: [['id', 'DESC']], limit, offset }), AuditEntry.count()]);
  return { entries, total };
}
