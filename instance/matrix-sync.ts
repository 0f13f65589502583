/**
 * Receives the AI's messages from the platform's Matrix homeserver: a /sync
 * long-poll loop over plain fetch. It appends m.text messages from others in
 * rooms the AI has joined to the inbox before saving the sync cursor
 * (next_batch) in {dataDir}/social/sync.json, so a restart loses nothing and the
 * inbox's dedupe keeps it from listing anything twice. Failures are recorded and
 * retried after a back-off (1 s doubling to 30 s, or the server's retry_after_ms);
 * only a refused token stops the loop, since the platform then restarts the
 * instance with a new one. The token goes in a header and never into a message.
 *
 * It never accepts an invite: the platform joins the AI to the direct rooms of the
 * messages it delivers (after its blocks and limits), so another tenant inviting this
 * AI with its own token reaches nothing here.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileIfExists, writeFileAtomic } from './atomic-file.ts';
import type { MatrixAccount } from './config.ts';
import type { InstanceLogger } from './http.ts';
import type { Inbox, InboxMessage } from './inbox.ts';

export interface MatrixStatus {
  configured: boolean;
  userId: string | null;
  /** True while the loop runs: from start until close() or a refused token. */
  syncing: boolean;
  /** What went wrong last; null once a sync succeeds again. */
  lastError: string | null;
}

export interface MatrixReceiver {
  status(): MatrixStatus;
  /** Stops the loop, aborting the request in flight; resolves once it has stopped. */
  close(): Promise<void>;
}

const POLL_TIMEOUT_MS = 25_000;
// The server holds a long poll for up to `timeout`; a connection silent this much longer is presumed dead.
const POLL_MARGIN_MS = 15_000;
const INITIAL_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;
const CLIENT_API = '/_matrix/client/v3';

/** The homeserver refused the access token: it was revoked, and retrying cannot help. */
class TokenRefusedError extends Error {}

/** A Matrix error response (`{errcode, error}`), or a success that is not a JSON object. */
class MatrixResponseError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterMs: number | null,
  ) {
    super(message);
    this.name = 'MatrixResponseError';
  }
}

interface SyncBatch {
  nextBatch: string;
  messages: InboxMessage[];
}

export function startMatrixReceiver(account: MatrixAccount | undefined, deps: { inbox: Inbox; socialDir: string; logger: InstanceLogger }): MatrixReceiver {
  if (account === undefined) {
    return { status: () => ({ configured: false, userId: null, syncing: false, lastError: null }), close: async () => undefined };
  }
  return new SyncLoop(account, deps.inbox, path.join(deps.socialDir, 'sync.json'), deps.logger);
}

class SyncLoop implements MatrixReceiver {
  private readonly stop = new AbortController();
  private readonly done: Promise<void>;
  private syncing = true;
  private lastError: string | null = null;

  constructor(
    private readonly account: MatrixAccount,
    private readonly inbox: Inbox,
    private readonly cursorFile: string,
    private readonly logger: InstanceLogger,
  ) {
    this.done = this.run()
      .catch((error: unknown) => {
        this.lastError = describe(error);
        logger.error('matrix sync stopped unexpectedly', error);
      })
      .finally(() => {
        this.syncing = false;
      });
  }

  status(): MatrixStatus {
    return { configured: true, userId: this.account.userId, syncing: this.syncing, lastError: this.lastError };
  }

  close(): Promise<void> {
    this.stop.abort();
    return this.done;
  }

  private async run(): Promise<void> {
    let since = await readCursor(this.cursorFile, this.account.userId);
    let backoffMs = INITIAL_BACKOFF_MS;
    while (!this.stop.signal.aborted) {
      try {
        const batch = await this.sync(since, POLL_TIMEOUT_MS);
        // The homeserver answered: cleared before the messages show, so no reader sees both.
        this.lastError = null;
        await this.inbox.add(batch.messages);
        if (batch.nextBatch !== since) {
          await writeFileAtomic(this.cursorFile, `${JSON.stringify({ userId: this.account.userId, next_batch: batch.nextBatch })}\n`);
          since = batch.nextBatch;
        }
        backoffMs = INITIAL_BACKOFF_MS;
      } catch (error) {
        if (this.stop.signal.aborted) return;
        this.lastError = describe(error);
        if (error instanceof TokenRefusedError) {
          this.logger.warn(`matrix sync stopped: ${this.lastError}`);
          return;
        }
        const delayMs = error instanceof MatrixResponseError && error.retryAfterMs !== null ? error.retryAfterMs : backoffMs;
        this.logger.warn(`matrix sync failed, retrying in ${delayMs} ms: ${this.lastError}`);
        await sleep(delayMs, undefined, { signal: this.stop.signal }).catch(() => undefined);
        backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
      }
    }
  }

  private async sync(since: string | undefined, timeoutMs: number): Promise<SyncBatch> {
    const query = new URLSearchParams({ timeout: String(timeoutMs) });
    if (since !== undefined) query.set('since', since);
    const body = await this.call('GET', `/sync?${query}`, timeoutMs + POLL_MARGIN_MS);
    return parseSync(body, this.account.userId, new Date().toISOString());
  }

  private async call(method: string, route: string, timeoutMs: number, body?: unknown): Promise<Record<string, unknown>> {
    const label = `${method} ${CLIENT_API}${route.split('?')[0]}`;
    const headers: Record<string, string> = { Authorization: `Bearer ${this.account.accessToken.reveal()}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.account.homeserverUrl}${CLIENT_API}${route}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.any([this.stop.signal, AbortSignal.timeout(timeoutMs)]),
      });
      text = await res.text();
    } catch (error) {
      if (this.stop.signal.aborted) throw error;
      if ((error as Error).name === 'TimeoutError') throw new Error(`${label}: the homeserver did not answer within ${timeoutMs / 1000} s`);
      throw new Error(`${label}: cannot reach the homeserver: ${causeOf(error)}`);
    }
    const json = parseObject(text);
    if (res.ok && json !== undefined) return json;
    const errcode = typeof json?.errcode === 'string' ? json.errcode : undefined;
    if (res.status === 401 && (errcode === 'M_UNKNOWN_TOKEN' || errcode === 'M_MISSING_TOKEN')) {
      throw new TokenRefusedError(`the homeserver refused the access token (401 ${errcode}); the platform restarts the instance with a new one`);
    }
    const detail = typeof json?.error === 'string' ? `: ${json.error.slice(0, 200)}` : res.ok ? ': the body is not a JSON object' : '';
    const retryAfterMs = res.status === 429 ? retryAfter(json, res.headers) : null;
    throw new MatrixResponseError(res.status, `${label} answered ${res.status}${errcode === undefined ? '' : ` ${errcode}`}${detail}`, retryAfterMs);
  }
}

function parseSync(body: Record<string, unknown>, ownUserId: string, receivedAt: string): SyncBatch {
  if (typeof body.next_batch !== 'string') throw new Error('the homeserver answered /sync without a next_batch');
  const rooms = asObject(body.rooms);
  const messages: InboxMessage[] = [];
  for (const [roomId, room] of Object.entries(asObject(rooms.join))) {
    const events = asObject(asObject(room).timeline).events;
    for (const value of Array.isArray(events) ? events : []) {
      const event = asObject(value);
      const content = asObject(event.content);
      const { event_id: id, sender: from } = event;
      if (event.type !== 'm.room.message' || content.msgtype !== 'm.text' || typeof content.body !== 'string') continue;
      // Our own messages come back through sync too; the inbox is for what others sent.
      if (typeof id !== 'string' || typeof from !== 'string' || from === ownUserId) continue;
      messages.push({ id, roomId, from, body: content.body, receivedAt });
    }
  }
  return { nextBatch: body.next_batch, messages };
}

async function readCursor(file: string, userId: string): Promise<string | undefined> {
  const saved = parseObject((await readFileIfExists(file)) ?? '');
  // A cursor saved for another account would skip that account's first messages.
  return saved?.userId === userId && typeof saved.next_batch === 'string' ? saved.next_batch : undefined;
}

function retryAfter(json: Record<string, unknown> | undefined, headers: Headers): number | null {
  if (typeof json?.retry_after_ms === 'number' && json.retry_after_ms >= 0) return json.retry_after_ms;
  const seconds = Number(headers.get('retry-after') ?? NaN);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : null;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function asObject(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function causeOf(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  return describe(cause instanceof Error ? cause : error);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
