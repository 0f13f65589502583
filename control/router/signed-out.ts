/**
 * When each person last signed out of the site (or was signed out everywhere), for
 * instance sessions: a session issued before that moment no longer counts, on every
 * instance host, without a database read per request. Only sign-outs younger than
 * the session lifetime matter (older sessions have expired anyway), so the map stays
 * small. Kept in memory like the admins (SyncedRead).
 */
import type { EventEmitter } from 'node:events';
import { Op } from 'sequelize';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { SyncedRead } from './synced-read.ts';

export class SignedOut {
  private readonly at: SyncedRead<Map<string, number>>;

  constructor(options: {
    db: Database;
    changes: EventEmitter;
    sessionTtlMs: number;
    syncIntervalMs: number;
    logger: Logger;
    /** Called after every read: end what the sign-outs end (open WebSockets). */
    onRead?: () => void;
  }) {
    this.at = new SyncedRead({
      what: 'sign-outs',
      initial: new Map<string, number>(),
      event: 'signed-out',
      changes: options.changes,
      syncIntervalMs: options.syncIntervalMs,
      logger: options.logger,
      onRead: () => options.onRead?.(),
      read: async () => {
        const rows = (await options.db.models.User.findAll({
          where: { signed_out_at: { [Op.gt]: new Date(Date.now() - options.sessionTtlMs) } },
          attributes: ['id', 'signed_out_at'],
          raw: true,
        })) as Array<{ id: string; signed_out_at: Date | string }>;
        return new Map(rows.map((r) => [r.id, new Date(r.signed_out_at).getTime()]));
      },
    });
  }

  load(): Promise<void> {
    return this.at.load();
  }

  /** When `userId` last signed out (ms), if within a session lifetime. O(1), no I/O. */
  since(userId: string): number | undefined {
    return this.at.value.get(userId);
  }

  sync(): Promise<void> {
    return this.at.sync();
  }

  close(): void {
    this.at.close();
  }
}
