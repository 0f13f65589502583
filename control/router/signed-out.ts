/**
 * When each person last signed out of the site (or was signed out everywhere), for
 * instance sessions: a session issued before that moment no longer counts, on every
 * instance host, without a database read per request. Only sign-outs younger than
 * the session lifetime matter (older sessions have expired anyway), so the set stays
 * small. Read at start-up, on every sign-out in this process, and every
 * ROUTE_SYNC_INTERVAL for sign-outs elsewhere (router workers, other replicas).
 */
import type { EventEmitter } from 'node:events';
import { Op } from 'sequelize';
import type { Database } from '../db/database.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';

export class SignedOut {
  private at = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | null = null;
  private readonly onChange = () => void this.sync();

  constructor(
    private readonly options: {
      db: Database;
      changes: EventEmitter;
      sessionTtlMs: number;
      syncIntervalMs: number;
      logger: Logger;
      /** Called after every read: end what the sign-outs end (open WebSockets). */
      onRead?: () => void;
    },
  ) {}

  async load(): Promise<void> {
    await this.read();
    this.options.changes.on('signed-out', this.onChange);
    this.timer = setInterval(this.onChange, this.options.syncIntervalMs);
    this.timer.unref();
  }

  /** When `userId` last signed out (ms), if within a session lifetime. O(1), no I/O. */
  since(userId: string): number | undefined {
    return this.at.get(userId);
  }

  /** One read; concurrent calls share it. Keeps the last known set on failure. */
  sync(): Promise<void> {
    this.reading ??= this.read()
      .catch((err) => this.options.logger.warn({ err: describeError(err) }, 'could not read sign-outs; keeping the last known'))
      .finally(() => {
        this.reading = null;
      });
    return this.reading;
  }

  close(): void {
    clearInterval(this.timer);
    this.options.changes.off('signed-out', this.onChange);
  }

  private async read(): Promise<void> {
    const rows = (await this.options.db.models.User.findAll({
      where: { signed_out_at: { [Op.gt]: new Date(Date.now() - this.options.sessionTtlMs) } },
      attributes: ['id', 'signed_out_at'],
      raw: true,
    })) as Array<{ id: string; signed_out_at: Date | string }>;
    this.at = new Map(rows.map((r) => [r.id, new Date(r.signed_out_at).getTime()]));
    this.options.onRead?.();
  }
}
