/**
 * The social layer's service, for every web face (the site for people, the instance
 * listener for instances): discovery, public profiles, AI profiles asked of the
 * instance, messages (queued in the outbox; the worker delivers them over Matrix),
 * blocks and the feed.
 *
 * Who sends is always the caller's identity (a site session, or the instance's own
 * key), never a field of the request. Writes are limited per sender and in size.
 */
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Op, UniqueConstraintError } from 'sequelize';
import { deriveCredential } from '../access/credentials.ts';
import type { SocialConfig } from '../config-social.ts';
import type { Database } from '../db/database.ts';
import type { SocialMessage, User } from '../db/models.ts';
import { ConflictError, ForbiddenError, NotFoundError, PlatformError, UnavailableError, ValidationError } from '../errors.ts';
import { checkHandle } from '../handles.ts';
import type { UserStore } from '../users/store.ts';
import type { SocialFeed } from './feed.ts';

/** Who is writing: a signed-in person on the site, or their instance with its own key. */
export interface Sender {
  handle: string;
  userId: string;
  via: 'site' | 'instance';
}

export interface PublicProfile {
  handle: string;
  displayName: string | null;
  bio: string | null;
  avatarUrl: string | null;
  online: boolean;
  joinedAt: string;
  url: string;
  matrix: { user: string; ai: string } | null;
}

export interface AiProfile {
  handle: string;
  /** 'live': just asked; 'cached': asked within SOCIAL_PROFILE_CACHE_TTL; 'asleep' / 'unavailable': what the platform knows. */
  source: 'live' | 'cached' | 'asleep' | 'unavailable';
  name: string;
  about: string | null;
  skills: string[];
  matrixUserId: string | null;
  note: string | null;
}

export interface MessageView {
  id: string;
  from: string;
  to: string;
  via: 'site' | 'instance';
  status: SocialMessage['state'];
  attempts: number;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

export class RateLimitedError extends PlatformError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('rate_limited', message, { status: 429, headers: { 'Retry-After': String(retryAfterSeconds) } });
  }
}

const isValidHandle = (value: unknown): value is string => checkHandle(value) === null;
const PROFILE_MAX_BYTES = 16 * 1024;
const FAILURE_CACHE_MS = 10_000;
const ACTIVITY_PER_MINUTE = 5;
/** Control characters other than tab, newline and carriage return. */
const hasControlChars = (text: string) =>
  [...text].some((c) => {
    const code = c.codePointAt(0)!;
    return (code < 32 && c !== '\t' && c !== '\n' && c !== '\r') || code === 127;
  });

export interface SocialServiceDeps {
  db: Database;
  users: UserStore;
  feed: SocialFeed;
  config: SocialConfig;
  secretKey: string;
  instanceUrl(handle: string): string;
}

export class SocialService {
  /** 'queued' when a message was written: the outbox worker in this process looks at once. */
  readonly bus = new EventEmitter();
  private readonly profiles = new Map<string, { until: number; profile: AiProfile }>();
  private readonly asking = new Map<string, Promise<AiProfile>>();
  /** Sends of one sender run one at a time here, so counting and writing cannot interleave. */
  private readonly sending = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: SocialServiceDeps) {}

  get feed(): SocialFeed {
    return this.deps.feed;
  }

  async users(options: { query?: unknown; after?: unknown; limit?: unknown }): Promise<{ users: PublicProfile[]; next: string | null }> {
    const limit = options.limit === undefined ? 50 : Number(options.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new ValidationError('limit must be a whole number from 1 to 100.');
    if (options.query !== undefined && (typeof options.query !== 'string' || options.query.length > 64))
      throw new ValidationError('q must be at most 64 characters.');
    if (options.after !== undefined && (typeof options.after !== 'string' || !isValidHandle(options.after)))
      throw new ValidationError('after must be a handle (the "next" of the previous page).');
    const people = await this.deps.users.community({
      limit: limit + 1,
      after: options.after as string | undefined,
      query: (options.query as string) || undefined,
    });
    const page = people.slice(0, limit);
    const handles = page.map((u) => u.handle!);
    const [online, matrix] = await Promise.all([this.onlineHandles(handles), this.matrixIds(handles)]);
    return { users: page.map((u) => this.publicProfile(u, online.has(u.handle!), matrix)), next: people.length > limit ? page.at(-1)!.handle : null };
  }

  async profile(handle: string): Promise<PublicProfile> {
    const user = await this.person(handle);
    const [online, matrix] = await Promise.all([this.onlineHandles([handle]), this.matrixIds([handle])]);
    return this.publicProfile(user, online.has(handle), matrix);
  }

  /**
   * The AI profile, asked of the instance itself (through its router token) when it runs;
   * cached; a sleeping instance is never woken for it: the answer says it sleeps.
   */
  async aiProfile(handle: string): Promise<AiProfile> {
    await this.person(handle);
    const cached = this.profiles.get(handle);
    if (cached && Date.now() < cached.until) return cached.profile.source === 'live' ? { ...cached.profile, source: 'cached' } : cached.profile;
    // One request to the instance at a time per handle, however many readers ask.
    let pending = this.asking.get(handle);
    if (!pending) {
      pending = this.askInstance(handle).finally(() => this.asking.delete(handle));
      this.asking.set(handle, pending);
    }
    return pending;
  }

  private async askInstance(handle: string): Promise<AiProfile> {
    const instance = await this.deps.db.models.Instance.findOne({
      where: { handle },
      attributes: ['status', 'gateway_url', 'token_generation'],
    });
    const matrixUserId = (await this.matrixIds([handle])).get(handle)?.ai ?? null;
    const fallback = (source: 'asleep' | 'unavailable', note: string): AiProfile => ({
      handle,
      source,
      name: `${handle}'s AI`,
      about: null,
      skills: [],
      matrixUserId,
      note,
    });
    if (instance?.status !== 'running' || !instance.gateway_url)
      return fallback('asleep', `@${handle}'s Matrix OS is asleep; its AI profile shows when it next runs.`);
    const token = deriveCredential(this.deps.secretKey, 'router-token', handle, instance.token_generation);
    let profile: AiProfile;
    try {
      const text = await readCapped(`${instance.gateway_url}/api/social/profile`, token, this.deps.config.profileTimeoutMs, PROFILE_MAX_BYTES);
      profile =
        text === null
          ? fallback('unavailable', `@${handle}'s Matrix OS did not share its AI profile.`)
          : sanitizeAiProfile(handle, JSON.parse(text), matrixUserId);
    } catch {
      profile = fallback('unavailable', `@${handle}'s Matrix OS did not answer in time.`);
    }
    // A failure is remembered briefly too, so a silent instance is not asked on every read.
    const ttl = profile.source === 'live' ? this.deps.config.profileCacheMs : Math.min(this.deps.config.profileCacheMs, FAILURE_CACHE_MS);
    this.profiles.set(handle, { until: Date.now() + ttl, profile });
    return profile;
  }

  /**
   * Queues a message from `sender`'s AI to `to`'s AI. With a `clientKey` (the
   * Idempotency-Key header), asking again returns the message the first request made.
   */
  async send(sender: Sender, to: unknown, text: unknown, clientKey?: string): Promise<{ message: MessageView; created: boolean }> {
    if (clientKey !== undefined && !/^[\x21-\x7e]{1,128}$/.test(clientKey))
      throw new ValidationError('Idempotency-Key must be 1 to 128 visible ASCII characters.');
    const previous = this.sending.get(sender.handle) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.sendNow(sender, to, text, clientKey));
    this.sending.set(sender.handle, run);
    try {
      return await run;
    } finally {
      if (this.sending.get(sender.handle) === run) this.sending.delete(sender.handle);
    }
  }

  private async sendNow(sender: Sender, to: unknown, text: unknown, clientKey: string | undefined): Promise<{ message: MessageView; created: boolean }> {
    const { SocialBlock, SocialMessage } = this.deps.db.models;
    if (clientKey !== undefined) {
      const earlier = await SocialMessage.findOne({ where: { sender_handle: sender.handle, client_key: clientKey } });
      if (earlier) return { message: messageView(earlier), created: false };
    }
    if (typeof to !== 'string' || !isValidHandle(to)) throw new ValidationError('The recipient must be a handle like alice.');
    const body = checkText(text, this.deps.config.messageMaxChars);
    if (to === sender.handle) throw new ValidationError('You cannot send a message to yourself.');
    if (!this.deps.config.matrix)
      throw new UnavailableError('messaging_unavailable', "Messages need the platform's Matrix homeserver, and none is configured (MATRIX_HOMESERVER_URL).");
    const recipient = await this.deps.db.models.User.findOne({ where: { handle: to, suspended_at: null, deleted_at: null }, attributes: ['id'] });
    const live = recipient && (await this.deps.db.models.Instance.findOne({ where: { handle: to, status: { [Op.ne]: 'destroyed' } }, attributes: ['id'] }));
    if (!recipient || !live) throw new NotFoundError(`Nobody here is called @${to}.`);
    if (await SocialBlock.findOne({ where: { blocker_id: sender.userId, blocked_id: recipient.id } }))
      throw new ConflictError('blocked_by_you', `You blocked @${to}: unblock them to send a message.`);
    if (await SocialBlock.findOne({ where: { blocker_id: recipient.id, blocked_id: sender.userId } }))
      throw new ForbiddenError(`@${to} does not accept messages from you.`, 'blocked');
    await this.checkRate(sender.handle);
    // Strictly increasing per sender (sends of one sender run one at a time here): delivery keeps this order.
    const last = await SocialMessage.max<Date, SocialMessage>('created_at', { where: { sender_handle: sender.handle } });
    const createdAt = new Date(Math.max(Date.now(), last ? new Date(last).getTime() + 1 : 0));
    let row: SocialMessage;
    try {
      row = await SocialMessage.create({
        created_at: createdAt,
        id: crypto.randomUUID(),
        sender_handle: sender.handle,
        recipient_handle: to,
        via: sender.via,
        client_key: clientKey ?? null,
        body,
        state: 'queued',
        next_attempt_at: new Date(),
      });
    } catch (err) {
      // The same key from another replica a moment earlier: its message is the answer.
      if (!(err instanceof UniqueConstraintError) || clientKey === undefined) throw err;
      const earlier = await SocialMessage.findOne({ where: { sender_handle: sender.handle, client_key: clientKey } });
      if (!earlier) throw err;
      return { message: messageView(earlier), created: false };
    }
    this.bus.emit('queued', row.id);
    return { message: messageView(row), created: true };
  }

  /** SOCIAL_SEND_PER_MINUTE, counted in the outbox (so across replicas too). */
  private async checkRate(handle: string): Promise<void> {
    const perMinute = this.deps.config.sendPerMinute;
    const recent = await this.deps.db.models.SocialMessage.findAll({
      where: { sender_handle: handle, created_at: { [Op.gt]: new Date(Date.now() - 60_000) } },
      attributes: ['created_at'],
      order: [['created_at', 'ASC']],
      limit: perMinute,
    });
    if (recent.length < perMinute) return;
    const wait = Math.max(1, Math.ceil((new Date(recent[0]!.created_at).getTime() + 60_000 - Date.now()) / 1000));
    throw new RateLimitedError(`You can send ${perMinute} messages a minute; try again in ${wait} s.`, wait);
  }

  /** The sender's own messages (newest first) with their delivery state. */
  async messages(senderHandle: string, limit = 50): Promise<MessageView[]> {
    const rows = await this.deps.db.models.SocialMessage.findAll({ where: { sender_handle: senderHandle }, order: [['created_at', 'DESC']], limit });
    return rows.map(messageView);
  }

  async message(senderHandle: string, id: string): Promise<MessageView> {
    const row = await this.deps.db.models.SocialMessage.findOne({ where: { id, sender_handle: senderHandle } });
    if (!row) throw new NotFoundError('You sent no message with that id.');
    return messageView(row);
  }

  /**
   * Blocks `handle` for `blockerId`: their messages are refused, and the blocker's AI
   * leaves the pair's room (the social worker does it), so the other AI cannot post
   * there directly with its own Matrix token either.
   */
  async block(blockerId: string, handle: unknown): Promise<void> {
    const target = await this.blockTarget(blockerId, handle);
    const { SocialBlock, MatrixAccount, SocialRoom, User } = this.deps.db.models;
    await SocialBlock.findOrCreate({ where: { blocker_id: blockerId, blocked_id: target.id }, defaults: { blocker_id: blockerId, blocked_id: target.id } });
    const blocker = await User.findByPk(blockerId, { attributes: ['handle'] });
    if (!blocker?.handle) return;
    const ais = await MatrixAccount.findAll({ where: { handle: { [Op.in]: [blocker.handle, target.handle!] }, kind: 'ai', state: 'active' } });
    const mine = ais.find((a) => a.handle === blocker.handle);
    const theirs = ais.find((a) => a.handle === target.handle);
    if (!mine || !theirs) return;
    const [left] = await SocialRoom.update({ leaving: mine.matrix_user_id }, { where: { pair: pairKey(mine.matrix_user_id, theirs.matrix_user_id) } });
    if (left > 0) this.bus.emit('queued', 'leave');
  }

  async unblock(blockerId: string, handle: unknown): Promise<void> {
    const target = await this.blockTarget(blockerId, handle);
    await this.deps.db.models.SocialBlock.destroy({ where: { blocker_id: blockerId, blocked_id: target.id } });
  }

  /** Handles `userId` has blocked. */
  async blocked(userId: string): Promise<string[]> {
    const rows = await this.deps.db.models.SocialBlock.findAll({ where: { blocker_id: userId }, attributes: ['blocked_id'] });
    if (rows.length === 0) return [];
    const users = await this.deps.db.models.User.findAll({ where: { id: { [Op.in]: rows.map((r) => r.blocked_id) } }, attributes: ['handle'] });
    return users
      .map((u) => u.handle)
      .filter((h): h is string => h !== null)
      .sort();
  }

  /** Activity an instance posts to the feed; only when its user opted in on the dashboard. */
  async postActivity(sender: Sender, text: unknown): Promise<void> {
    const body = checkText(text, 280);
    const user = await this.deps.users.findById(sender.userId);
    if (!user?.share_activity)
      throw new ForbiddenError(`@${sender.handle} has not chosen to share activity on the feed (the dashboard's profile settings).`, 'not_shared');
    const recent = await this.deps.db.models.FeedEntry.count({
      where: { actor_handle: sender.handle, kind: 'activity', created_at: { [Op.gt]: new Date(Date.now() - 60_000) } },
    });
    if (recent >= ACTIVITY_PER_MINUTE)
      throw new RateLimitedError(`An instance can post ${ACTIVITY_PER_MINUTE} activities a minute; try again in a minute.`, 60);
    await this.deps.feed.activity(sender.handle, body);
  }

  private async blockTarget(blockerId: string, handle: unknown): Promise<User> {
    if (typeof handle !== 'string' || !isValidHandle(handle)) throw new ValidationError('Name the person by their handle, like alice.');
    const target = await this.deps.db.models.User.findOne({ where: { handle }, attributes: ['id', 'handle'] });
    if (!target) throw new NotFoundError(`Nobody here is called @${handle}.`);
    if (target.id === blockerId) throw new ValidationError('You cannot block yourself.');
    return target;
  }

  private async person(handle: string): Promise<User> {
    if (!isValidHandle(handle)) throw new NotFoundError(`Nobody here is called @${handle}.`);
    const user = await this.deps.users.findPublic(handle);
    if (!user) throw new NotFoundError(`Nobody here is called @${handle}.`);
    return user;
  }

  private async onlineHandles(handles: string[]): Promise<Set<string>> {
    if (handles.length === 0) return new Set();
    const rows = await this.deps.db.models.Instance.findAll({ where: { handle: { [Op.in]: handles }, status: 'running' }, attributes: ['handle'] });
    return new Set(rows.map((r) => r.handle));
  }

  /** The registered Matrix ids of each handle's two accounts. */
  private async matrixIds(handles: string[]): Promise<Map<string, { user: string; ai: string }>> {
    const rows = await this.deps.db.models.MatrixAccount.findAll({
      where: { handle: { [Op.in]: handles }, state: 'active' },
      attributes: ['handle', 'kind', 'matrix_user_id'],
    });
    const ids = new Map<string, { user: string; ai: string }>();
    for (const handle of handles) {
      const user = rows.find((r) => r.handle === handle && r.kind === 'human')?.matrix_user_id;
      const ai = rows.find((r) => r.handle === handle && r.kind === 'ai')?.matrix_user_id;
      if (user && ai) ids.set(handle, { user, ai });
    }
    return ids;
  }

  private publicProfile(user: User, online: boolean, matrix: Map<string, { user: string; ai: string }>): PublicProfile {
    const handle = user.handle!;
    return {
      handle,
      displayName: user.display_name ?? null,
      bio: user.bio ?? null,
      avatarUrl: user.avatar_url ?? null,
      online,
      joinedAt: new Date(user.created_at).toISOString(),
      url: this.deps.instanceUrl(handle),
      matrix: matrix.get(handle) ?? null,
    };
  }
}

/** A message's text: a non-empty string of at most `max` characters, without control characters other than newlines and tabs. */
function checkText(text: unknown, max: number): string {
  if (typeof text !== 'string' || text.trim() === '') throw new ValidationError('text must be a non-empty string.');
  if ([...text].length > max) throw new ValidationError(`text must be at most ${max} characters.`);
  if (hasControlChars(text)) throw new ValidationError('text must not contain control characters.');
  return text;
}

/** What an instance says of its AI, bounded and typed: a tenant's answer is untrusted. */
function sanitizeAiProfile(handle: string, raw: unknown, matrixUserId: string | null): AiProfile {
  const value = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const str = (v: unknown, max: number) => (typeof v === 'string' && v.trim() ? v.trim().slice(0, max) : null);
  const skills = Array.isArray(value.skills)
    ? value.skills
        .map((s) => str(s, 40))
        .filter((s): s is string => s !== null)
        .slice(0, 10)
    : [];
  return { handle, source: 'live', name: str(value.name, 80) ?? `${handle}'s AI`, about: str(value.about, 500), skills, matrixUserId, note: null };
}

export function messageView(row: SocialMessage): MessageView {
  return {
    id: row.id,
    from: row.sender_handle,
    to: row.recipient_handle,
    via: row.via,
    status: row.state,
    attempts: row.attempts,
    lastError: row.last_error ?? null,
    createdAt: new Date(row.created_at).toISOString(),
    deliveredAt: row.delivered_at ? new Date(row.delivered_at).toISOString() : null,
  };
}

/** GETs `url` with the router token; the body as text, or null for a non-2xx answer; aborts past `maxBytes` or `timeoutMs`. */
async function readCapped(url: string, token: string, timeoutMs: number, maxBytes: number): Promise<string | null> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const response = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, signal: abort.signal, redirect: 'error' });
    if (!response.ok || !response.body) {
      abort.abort();
      return null;
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > maxBytes) {
        abort.abort();
        return null;
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    clearTimeout(timer);
  }
}

/** The key of two AI accounts' direct room, whichever of them writes first. */
export function pairKey(a: string, b: string): string {
  return a < b ? `${a}\n${b}` : `${b}\n${a}`;
}
