/**
 * Who is an admin right now, for admin sessions on instance hosts: an admin cookie
 * counts only while its user is still an admin (not demoted, not suspended), so a
 * demotion ends admin access on every host within a second instead of when a 12-hour
 * cookie expires. Read at start-up, again on every change made in this process, and
 * every ROUTE_SYNC_INTERVAL for changes made elsewhere (an indexed read of a few rows).
 */
import type { EventEmitter } from 'node:events';
import type { Database } from '../db/database.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';

export class AdminSet {
  private ids = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | null = null;
  private readonly onChange = () => void this.sync();

  constructor(private readonly options: { db: Database; changes: EventEmitter; syncIntervalMs: number; logger: Logger }) {}

  async load(): Promise<void> {
    await this.read();
    this.options.changes.on('admins', this.onChange);
    this.timer = setInterval(this.onChange, this.options.syncIntervalMs);
    this.timer.unref();
  }

  /** O(1), no I/O. */
  has(userId: string): boolean {
    return this.ids.has(userId);
  }

  /** One read of the admins; concurrent calls share it. Keeps the last known set on failure. */
  sync(): Promise<void> {
    this.reading ??= this.read()
      .catch((err) => this.options.logger.warn({ err: describeError(err) }, 'could not read the admins; keeping the last known'))
      .finally(() => {
        this.reading = null;
      });
    return this.reading;
  }

  close(): void {
    clearInterval(this.timer);
    this.options.changes.off('admins', this.onChange);
  }

  private async read(): Promise<void> {
    const rows = (await this.options.db.models.User.findAll({
      where: { role: 'admin', suspended_at: null, deleted_at: null },
      attributes: ['id'],
      raw: true,
    })) as Array<{ id: string }>;
    this.ids = new Set(rows.map((r) => r.id));
  }
}
