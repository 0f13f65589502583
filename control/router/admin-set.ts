/**
 * Who is an admin right now, for admin sessions on instance hosts: an admin cookie
 * counts only while its user is still an admin (not demoted, not suspended), so a
 * demotion ends admin access on every host within a second instead of when a 12-hour
 * cookie expires. Kept in memory (SyncedRead: at start-up, on every change made in
 * this process, and every ROUTE_SYNC_INTERVAL; an indexed read of a few rows).
 */
import type { EventEmitter } from 'node:events';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { SyncedRead } from './synced-read.ts';

export class AdminSet {
  private readonly ids: SyncedRead<Set<string>>;

  constructor(options: { db: Database; changes: EventEmitter; syncIntervalMs: number; logger: Logger }) {
    this.ids = new SyncedRead({
      what: 'the admins',
      initial: new Set<string>(),
      event: 'admins',
      changes: options.changes,
      syncIntervalMs: options.syncIntervalMs,
      logger: options.logger,
      read: async () => {
        const rows = (await options.db.models.User.findAll({
          where: { role: 'admin', suspended_at: null, deleted_at: null },
          attributes: ['id'],
          raw: true,
        })) as Array<{ id: string }>;
        return new Set(rows.map((r) => r.id));
      },
    });
  }

  load(): Promise<void> {
    return this.ids.load();
  }

  /** O(1), no I/O. */
  has(userId: string): boolean {
    return this.ids.value.has(userId);
  }

  sync(): Promise<void> {
    return this.ids.sync();
  }

  close(): void {
    this.ids.close();
  }
}
