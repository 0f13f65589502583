/**
 * The homeserver's store: users, devices (access tokens), rooms, aliases, UIAA
 * sessions, transaction ids and global account data, ordered by one stream
 * counter that is also the sync token (Conduit's globals.current_count). Waiters
 * (long-polling /sync) are woken on every change; background work (the admin
 * room bot) is tracked so idle() can wait for it.
 */
import { Ids } from './ids.ts';
import type { JsonObject, LoggedRequest, MatrixDoubleOptions, MatrixEvent } from './types.ts';

export const DEFAULT_SERVER_NAME = 'matrix.example.com';
export const DEFAULT_REGISTRATION_TOKEN = 'mxos-double-registration-token';
/** Conduit's default max_request_size: 20 MiB. */
export const DEFAULT_MAX_REQUEST_BYTES = 20 * 1024 * 1024;

export interface UserRecord {
  userId: string;
  localpart: string;
  /** null: no password (registered without one, or deactivated): Conduit stores "". */
  password: string | null;
  displayname: string | null;
  deactivated: boolean;
  /** Global account data: type → content and the stream position it was set at. */
  accountData: Map<string, { content: JsonObject; stream: number }>;
}

export interface DeviceRecord {
  userId: string;
  deviceId: string;
  accessToken: string;
  displayName?: string;
}

export interface StoredEvent extends MatrixEvent {
  /** Position in the global stream: events with stream > since are new to a /sync. */
  stream: number;
}

export interface RoomRecord {
  roomId: string;
  roomVersion: string;
  creator: string;
  events: StoredEvent[];
  /** Current state: `${type}\0${stateKey}` → event. */
  state: Map<string, StoredEvent>;
  /** Stripped state a user was shown when invited (spec "invite_state"). */
  inviteState: Map<string, JsonObject[]>;
}

export interface UiaaSession {
  flows: string[][];
  completed: string[];
}

export type AppendHook = (room: RoomRecord, event: StoredEvent) => void;

export class Store {
  readonly serverName: string;
  readonly serverUser: string;
  readonly adminAlias: string;
  registrationToken: string | null;
  allowRegistration: boolean;
  readonly lightningBolt: boolean;
  readonly maxRequestBytes: number;
  latencyMs: number;
  readonly ids: Ids;

  readonly users = new Map<string, UserRecord>();
  /** access token → device */
  readonly devices = new Map<string, DeviceRecord>();
  readonly rooms = new Map<string, RoomRecord>();
  readonly aliases = new Map<string, string>();
  readonly uiaa = new Map<string, UiaaSession>();
  /** `${userId}\0${deviceId}\0${txnId}` → event id (Conduit keys transaction ids by user and device only). */
  readonly txns = new Map<string, string>();
  readonly requests: LoggedRequest[] = [];
  readonly appendHooks: AppendHook[] = [];
  /** Unexpected errors of background work (a test can assert there are none). */
  readonly errors: Error[] = [];
  /** Aborted by close(): long polls return. */
  readonly closing = new AbortController();

  stream = 0;
  inFlight = 0;
  private readonly waiters = new Set<() => void>();
  private readonly background = new Set<Promise<void>>();
  private readonly idleWaiters = new Set<() => void>();

  constructor(options: MatrixDoubleOptions) {
    this.serverName = options.serverName ?? DEFAULT_SERVER_NAME;
    this.serverUser = `@conduit:${this.serverName}`;
    this.adminAlias = `#admins:${this.serverName}`;
    this.registrationToken = options.registrationToken === undefined ? DEFAULT_REGISTRATION_TOKEN : options.registrationToken;
    this.allowRegistration = options.allowRegistration ?? true;
    this.lightningBolt = options.lightningBolt ?? true;
    this.maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    this.latencyMs = options.latencyMs ?? 0;
    this.ids = new Ids(options.seed ?? 'matrix-double');
  }

  /** The next stream position (every stored change takes one). */
  tick(): number {
    this.stream += 1;
    return this.stream;
  }

  /** Wakes every waiter: something changed. */
  notify(): void {
    for (const wake of [...this.waiters]) wake();
  }

  /** Resolves on the next change, after `ms`, or when `signal` aborts, whichever comes first. */
  nextChange(ms: number, signal: AbortSignal): Promise<void> {
    if (ms <= 0 || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  adminRoomId(): string | undefined {
    return this.aliases.get(this.adminAlias);
  }

  devicesOf(userId: string): DeviceRecord[] {
    return [...this.devices.values()].filter((d) => d.userId === userId);
  }

  /** Runs `work` after the current request, like Conduit's admin service task. */
  defer(work: () => void): void {
    const task = new Promise<void>((resolve) => setImmediate(resolve)).then(work).catch((err: unknown) => {
      this.errors.push(err instanceof Error ? err : new Error(String(err)));
    });
    this.background.add(task);
    void task.finally(() => {
      this.background.delete(task);
      this.checkIdle();
    });
  }

  begin(): void {
    this.inFlight += 1;
  }

  end(): void {
    this.inFlight -= 1;
    this.checkIdle();
  }

  get busy(): boolean {
    return this.inFlight > 0 || this.background.size > 0;
  }

  /** Resolves once no request is in flight and no background work is pending. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.add(resolve));
  }

  private checkIdle(): void {
    if (this.busy) return;
    for (const resolve of [...this.idleWaiters]) resolve();
    this.idleWaiters.clear();
  }
}
