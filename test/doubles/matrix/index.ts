/**
 * A Matrix homeserver double: a real HTTP server on 127.0.0.1 (port 0) speaking
 * the client-server API the way Conduit 0.10 answers it, as README.md beside this
 * file describes: registration with user-interactive auth (registration token),
 * login, rooms and membership, idempotent sends, long-polling /sync, Conduit's
 * admin room with its `deactivate-user` command, and faults to inject.
 *
 *   const matrix = await startMatrixDouble({ serverName: 'matrix.example.com' });
 *   ... point the social layer at matrix.url with matrix.registrationToken ...
 *   matrix.limitNext(2000);
 *   await matrix.close();
 */
import { createAdminRoom, installAdminBot } from './admin.ts';
import { MatrixError } from './errors.ts';
import { FaultQueue } from './faults.ts';
import { HttpFront } from './http-front.ts';
import { registerAccount } from './register.ts';
import { createHandler } from './router.ts';
import { Store } from './state.ts';
import type { FailOptions, FaultMatch, JsonObject, LoggedRequest, MatrixDoubleOptions, RoomInfo, UserInfo } from './types.ts';
import { findRoom, roomView, userView } from './views.ts';

export { CONDUIT_ADMIN_COMMANDS } from './admin-commands.ts';
export { DEFAULT_ROOM_VERSION, SUPPORTED_ROOM_VERSIONS } from './create-room.ts';
export { DEFAULT_MAX_REQUEST_BYTES, DEFAULT_REGISTRATION_TOKEN, DEFAULT_SERVER_NAME } from './state.ts';
export type * from './types.ts';

export interface RegisteredUser {
  userId: string;
  accessToken: string;
  deviceId: string;
}

export interface MatrixDouble {
  /** Base URL, e.g. "http://127.0.0.1:41234" (the API is under /_matrix/client). */
  readonly url: string;
  readonly port: number;
  readonly serverName: string;
  /** @conduit:<serverName>, the admin bot. */
  readonly serverUser: string;
  /** #admins:<serverName>. */
  readonly adminAlias: string;
  /** The admin room's id (created on start, like Conduit's first run). */
  readonly adminRoomId: string;
  /** The token the m.login.registration_token stage wants, or null (m.login.dummy). */
  registrationToken: string | null;
  /** CONDUIT_ALLOW_REGISTRATION; false makes /register answer 403. */
  allowRegistration: boolean;
  /** Milliseconds before every response. */
  latencyMs: number;
  /** Every request received, oldest first (faults, 404s and auth failures included). */
  readonly requests: readonly LoggedRequest[];
  /** Requests whose response is not over yet (long-polling /sync included). */
  readonly inFlight: number;
  /** Faults queued and not yet used. */
  readonly pendingFaults: number;
  /** Unexpected errors inside the double (a test can assert there are none). */
  readonly errors: readonly Error[];
  /** Every account, @conduit included. */
  users(): UserInfo[];
  user(userId: string): UserInfo | undefined;
  rooms(): RoomInfo[];
  /** A room by id or local alias. */
  room(roomIdOrAlias: string): RoomInfo | undefined;
  /** Registers through the same path as POST /register (first user → admin), without HTTP. */
  registerUser(localpart: string, password?: string): RegisteredUser;
  /** The next matching request fails with `status` and `{errcode, error}` (or options.body as is). */
  failNext(status: number, errcode?: string, options?: FailOptions): void;
  /** The next matching request gets 429 M_LIMIT_EXCEEDED with retry_after_ms (and Retry-After). */
  limitNext(retryAfterMs?: number, match?: FaultMatch): void;
  /** Drops queued faults and sets latency back to 0. */
  clearFaults(): void;
  /** Closes the listener and drops every connection; the port stays reserved for up(). */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  readonly isUp: boolean;
  /** Resolves once no request is in flight and the admin bot has nothing pending. */
  idle(): Promise<void>;
  /** Stops listening, ends long polls, drops every connection. */
  close(): Promise<void>;
}

function registerDirectly(store: Store, localpart: string, password: string | undefined): RegisteredUser {
  const token = store.registrationToken;
  const auth: JsonObject = token === null ? { type: 'm.login.dummy' } : { type: 'm.login.registration_token', token };
  const body: JsonObject = { username: localpart, auth };
  if (password !== undefined) body.password = password;
  try {
    const reply = registerAccount(store, body, 'user', true);
    return { userId: String(reply.user_id), accessToken: String(reply.access_token), deviceId: String(reply.device_id) };
  } catch (err) {
    if (err instanceof MatrixError) throw new Error(`matrix double: registerUser(${localpart}): ${err.status} ${JSON.stringify(err.body())}`);
    throw err;
  }
}

export async function startMatrixDouble(options: MatrixDoubleOptions = {}): Promise<MatrixDouble> {
  const store = new Store(options);
  const adminRoom = createAdminRoom(store);
  installAdminBot(store);
  const faults = new FaultQueue();
  const front = new HttpFront(createHandler(store, faults), (err) => store.errors.push(err instanceof Error ? err : new Error(String(err))));
  await front.up();
  let closed: Promise<void> | undefined;

  return {
    get url() {
      return front.url;
    },
    get port() {
      return front.port;
    },
    serverName: store.serverName,
    serverUser: store.serverUser,
    adminAlias: store.adminAlias,
    adminRoomId: adminRoom.roomId,
    get registrationToken() {
      return store.registrationToken;
    },
    set registrationToken(token) {
      store.registrationToken = token;
    },
    get allowRegistration() {
      return store.allowRegistration;
    },
    set allowRegistration(allow) {
      store.allowRegistration = allow;
    },
    get latencyMs() {
      return store.latencyMs;
    },
    set latencyMs(ms) {
      store.latencyMs = ms;
    },
    requests: store.requests,
    get inFlight() {
      return store.inFlight;
    },
    get pendingFaults() {
      return faults.pending;
    },
    errors: store.errors,
    users: () => [...store.users.values()].map((u) => userView(store, u)),
    user: (userId) => {
      const user = store.users.get(userId);
      return user ? userView(store, user) : undefined;
    },
    rooms: () => [...store.rooms.values()].map((r) => roomView(store, r)),
    room: (roomIdOrAlias) => {
      const room = findRoom(store, roomIdOrAlias);
      return room ? roomView(store, room) : undefined;
    },
    registerUser: (localpart, password) => registerDirectly(store, localpart, password),
    failNext: (status, errcode, failOptions) => faults.fail(status, errcode, failOptions),
    limitNext: (retryAfterMs = 2000, match) => faults.limit(retryAfterMs, match),
    clearFaults: () => {
      faults.clear();
      store.latencyMs = 0;
    },
    down: () => front.down(),
    up: () => front.up(),
    get isUp() {
      return front.isUp;
    },
    idle: () => store.idle(),
    close: () => {
      closed ??= (async () => {
        store.closing.abort();
        faults.clear();
        await front.down();
      })();
      return closed;
    },
  };
}
