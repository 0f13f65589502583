/**
 * The public activity feed: people joining, AIs messaging each other (who, never
 * what), and activity an instance posts when its user opted in. Entries of people
 * who hide from the community, are suspended or gone are left out when read, so
 * hiding also hides the past. New entries reach this process's subscribers at once;
 * other processes' arrive through the SSE stream's poll of the table.
 */
import { EventEmitter } from 'node:events';
import { Op } from 'sequelize';
import type { Database } from '../db/database.ts';
import type { FeedEntry, FeedKind } from '../db/models.ts';

export interface FeedItem {
  id: number;
  kind: FeedKind;
  actor: string;
  target: string | null;
  text: string;
  at: string;
}

const ACTIVITY_MAX_CHARS = 280;

export class SocialFeed {
  private readonly bus = new EventEmitter().setMaxListeners(0);

  constructor(private readonly db: Database) {}

  /** Visible entries with an id above `afterId`, oldest first. */
  async after(afterId: number, limit: number): Promise<FeedItem[]> {
    const rows = await this.db.models.FeedEntry.findAll({ where: { id: { [Op.gt]: afterId } }, order: [['id', 'ASC']], limit });
    return this.visible(rows);
  }

  /** The newest `limit` visible entries, newest first. */
  async latest(limit: number, beforeId?: number): Promise<FeedItem[]> {
    const rows = await this.db.models.FeedEntry.findAll({
      where: beforeId ? { id: { [Op.lt]: beforeId } } : {},
      order: [['id', 'DESC']],
      limit,
    });
    return this.visible(rows);
  }

  subscribe(listener: (item: FeedItem) => void): () => void {
    this.bus.on('item', listener);
    return () => this.bus.off('item', listener);
  }

  /** "@alice joined", once per handle (a handle provisioned again does not join twice). */
  async joined(handle: string): Promise<void> {
    const seen = await this.db.models.FeedEntry.findOne({ where: { actor_handle: handle, kind: 'joined' }, attributes: ['id'] });
    if (!seen) await this.add('joined', handle, null, null);
  }

  async message(from: string, to: string): Promise<void> {
    await this.add('message', from, to, null);
  }

  async activity(handle: string, text: string): Promise<FeedItem | null> {
    return this.add('activity', handle, null, text.slice(0, ACTIVITY_MAX_CHARS));
  }

  private async add(kind: FeedKind, actor: string, target: string | null, text: string | null): Promise<FeedItem | null> {
    const row = await this.db.models.FeedEntry.create({ kind, actor_handle: actor, target_handle: target, text });
    const [item] = await this.visible([row]);
    if (item) this.bus.emit('item', item);
    return item ?? null;
  }

  private async visible(rows: FeedEntry[]): Promise<FeedItem[]> {
    if (rows.length === 0) return [];
    const handles = [...new Set(rows.flatMap((r) => [r.actor_handle, r.target_handle].filter((h): h is string => h !== null)))];
    const shown = await this.db.models.User.findAll({
      where: { handle: { [Op.in]: handles }, hidden: false, suspended_at: null, deleted_at: null },
      attributes: ['handle'],
    });
    const ok = new Set(shown.map((u) => u.handle));
    return rows.filter((r) => ok.has(r.actor_handle) && (r.target_handle === null || ok.has(r.target_handle))).map(toItem);
  }
}

function toItem(row: FeedEntry): FeedItem {
  const text =
    row.kind === 'joined'
      ? `@${row.actor_handle} joined`
      : row.kind === 'message'
        ? `@${row.actor_handle}'s AI sent a message to @${row.target_handle}'s AI`
        : `@${row.actor_handle}'s AI: ${row.text ?? ''}`;
  return { id: row.id, kind: row.kind, actor: row.actor_handle, target: row.target_handle, text, at: new Date(row.created_at).toISOString() };
}
