/**
 * The social layer (control/social/):
 * - users get what the platform keeps of a public profile (bio, avatar) and whether
 *   their instance's own activity may show on the feed;
 * - matrix_accounts: the platform's accounts on the homeserver, per user (`human`,
 *   `ai`) plus its service account; the password (chosen and sealed before the first
 *   registration attempt, so a retry after a crash can log in) and the access token
 *   are sealed (secret-box); `state` says what the account worker owes
 *   (register, deactivate), `next_attempt_at` when, so an outage only delays it;
 * - social_rooms: the direct room between two AI accounts, one per pair (sorted);
 * - social_messages: the outbox, keyed by an id that is also the Matrix transaction
 *   id, so a retried delivery never posts twice;
 * - social_blocks: who refuses messages from whom;
 * - social_feed: the public activity feed, read by id (the SSE stream tails it).
 */
import { DataTypes, type QueryInterface } from 'sequelize';

export async function up(q: QueryInterface): Promise<void> {
  await q.addColumn('users', 'bio', { type: DataTypes.STRING(500), allowNull: true });
  await q.addColumn('users', 'avatar_url', { type: DataTypes.STRING(500), allowNull: true });
  await q.addColumn('users', 'share_activity', { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false });
  await q.createTable('matrix_accounts', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    // The user's handle, or "" for the platform's service account.
    handle: { type: DataTypes.STRING(32), allowNull: false },
    kind: { type: DataTypes.STRING(8), allowNull: false },
    // A new row per epoch when a destroyed handle is provisioned again (a deactivated Matrix id is never reusable).
    epoch: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 1 },
    matrix_user_id: { type: DataTypes.STRING(255), allowNull: false },
    password_sealed: { type: DataTypes.TEXT, allowNull: false },
    access_token_sealed: { type: DataTypes.TEXT, allowNull: true },
    device_id: { type: DataTypes.STRING(64), allowNull: true },
    // The instance credential generation the token was issued for: a rotation issues a new one.
    token_generation: { type: DataTypes.INTEGER, allowNull: true },
    // The running instance has been given this token (else the worker restarts it with it).
    handed_over: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    state: { type: DataTypes.STRING(16), allowNull: false },
    attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    last_error: { type: DataTypes.TEXT, allowNull: true },
    next_attempt_at: { type: DataTypes.DATE, allowNull: true },
    created_at: { type: DataTypes.DATE, allowNull: false },
    updated_at: { type: DataTypes.DATE, allowNull: false },
  });
  await q.addIndex('matrix_accounts', ['handle', 'kind', 'epoch'], { name: 'matrix_accounts_handle_kind_epoch', unique: true });
  await q.addIndex('matrix_accounts', ['state', 'next_attempt_at'], { name: 'matrix_accounts_due' });
  await q.createTable('social_rooms', {
    // The two AI account ids, sorted, joined by a newline, so one room per pair whoever writes first.
    pair: { type: DataTypes.STRING(520), primaryKey: true },
    room_id: { type: DataTypes.STRING(255), allowNull: false },
    // The recipient's AI has joined (saved before the join, so a retry never makes a second room).
    joined: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    // The Matrix id of an AI that must leave the room (its user blocked the other): the worker does it.
    leaving: { type: DataTypes.STRING(255), allowNull: true },
    created_at: { type: DataTypes.DATE, allowNull: false },
  });
  await q.createTable('social_messages', {
    id: { type: DataTypes.STRING(36), primaryKey: true },
    sender_handle: { type: DataTypes.STRING(32), allowNull: false },
    recipient_handle: { type: DataTypes.STRING(32), allowNull: false },
    // 'site' (the signed-in user) or 'instance' (the sender's instance, by its own credential).
    via: { type: DataTypes.STRING(16), allowNull: false },
    // The sender's Idempotency-Key: a retried request returns the message it made.
    client_key: { type: DataTypes.STRING(128), allowNull: true },
    body: { type: DataTypes.TEXT, allowNull: false },
    state: { type: DataTypes.STRING(16), allowNull: false },
    attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    last_error: { type: DataTypes.TEXT, allowNull: true },
    next_attempt_at: { type: DataTypes.DATE, allowNull: true },
    lease_owner: { type: DataTypes.STRING(96), allowNull: true },
    lease_expires_at: { type: DataTypes.DATE, allowNull: true },
    room_id: { type: DataTypes.STRING(255), allowNull: true },
    event_id: { type: DataTypes.STRING(255), allowNull: true },
    created_at: { type: DataTypes.DATE, allowNull: false },
    delivered_at: { type: DataTypes.DATE, allowNull: true },
  });
  await q.addIndex('social_messages', ['state', 'next_attempt_at'], { name: 'social_messages_due' });
  await q.addIndex('social_messages', ['sender_handle', 'created_at'], { name: 'social_messages_sender' });
  await q.addIndex('social_messages', ['sender_handle', 'client_key'], { name: 'social_messages_client_key', unique: true });
  await q.createTable('social_blocks', {
    blocker_id: { type: DataTypes.STRING(64), primaryKey: true },
    blocked_id: { type: DataTypes.STRING(64), primaryKey: true },
    created_at: { type: DataTypes.DATE, allowNull: false },
  });
  await q.createTable('social_feed', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    // 'joined', 'message' or 'activity'.
    kind: { type: DataTypes.STRING(16), allowNull: false },
    actor_handle: { type: DataTypes.STRING(32), allowNull: false },
    target_handle: { type: DataTypes.STRING(32), allowNull: true },
    text: { type: DataTypes.STRING(500), allowNull: true },
    created_at: { type: DataTypes.DATE, allowNull: false },
  });
  await q.addIndex('social_feed', ['actor_handle', 'kind'], { name: 'social_feed_actor' });
}

export async function down(q: QueryInterface): Promise<void> {
  await q.dropTable('social_feed');
  await q.dropTable('social_blocks');
  await q.dropTable('social_messages');
  await q.dropTable('social_rooms');
  await q.dropTable('matrix_accounts');
  await q.removeColumn('users', 'share_activity');
  await q.removeColumn('users', 'avatar_url');
  await q.removeColumn('users', 'bio');
}
