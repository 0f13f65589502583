/**
 * The public activity feed: people joining, AIs messaging each other (who, never
 * what), and activity an instance posts when its user opted in. Entries of people
 * who hide from the community, are suspended or gone are left out when read (in
 * SQL, so paging by id never stalls on them), so hiding also hides the past. New entries reach this process's subscribers at once;
 * other processes' arrive through the SSE stream's poll of the table.
 */
import { EventEmitter } from 'node:events';
import { QueryTypes } from 'sequelize';
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
  after(afterId: number, limit: number): Promise<FeedItem[]> {
    return this.query('f.id > :id ORDER BY f.id ASC', afterId, limit);
  }

  /** The newest `limit` visible entries (below `beforeId`), newest first. */
  latest(limit: number, beforeId?: number): Promise<FeedItem[]> {
    return this.query('f.id < :id ORDER BY f.id DESC', beforeId ?? Number.MAX_SAFE_INTEGER, limit);
  }

  /** The newest entry's id, visible or not: where a live stream starts. */
  async newestId(): Promise<number> {
    return (await this.db.models.FeedEntry.max<number, FeedEntry>('id')) ?? 0;
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
    const [item] = await this.query('f.id = :id', row.id, 1);
    if (item) this.bus.emit('item', item);
    return item ?? null;
  }

  /**
   * Entries whose people are visible, filtered in SQL so a run of hidden entries never
   * stalls a reader that pages by id.
   */
  private async query(condition: string, id: number, limit: number): Promise<FeedItem[]> {
    const rows = (await this.db.sequelize.query(
      `SELECT f.id, f.kind, f.actor_handle, f.target_handle, f.text, f.created_at
         FROM social_feed f
         JOIN users a ON a.handle = f.actor_handle AND ${VISIBLE('a')}
         LEFT JOIN users b ON b.handle = f.target_handle
        WHERE (f.target_handle IS NULL OR (${VISIBLE('b')})) AND ${condition}
        LIMIT :limit`,
      { replacements: { id, limit }, type: QueryTypes.SELECT },
    )) as FeedRow[];
    return rows.map(toItem);
  }
}

/** A person shown on the feed: not hidden, suspended or deleted (hidden is 0/1 on SQLite, boolean on PostgreSQL). */
const VISIBLE = (alias: string) => `NOT ${alias}.hidden AND ${alias}.suspended_at IS NULL AND ${alias}.deleted_at IS NULL`;

type FeedRow = Pick<FeedEntry, 'id' | 'kind' | 'actor_handle' | 'target_handle' | 'text' | 'created_at'>;

function toItem(row: FeedRow): FeedItem {
  const text =
    row.kind === 'joined'
      ? `@${row.actor_handle} joined`
      : row.kind === 'message'
        ? `@${row.actor_handle}'s AI sent a message to @${row.target_handle}'s AI`
        : `@${row.actor_handle}'s AI: ${row.text ?? ''}`;
  return { id: row.id, kind: row.kind, actor: row.actor_handle, target: row.target_handle, text, at: new Date(row.created_at).toISOString() };
}
