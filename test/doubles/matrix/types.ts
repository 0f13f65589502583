/**
 * The public shapes of the Matrix double: its options, the events it stores
 * (client-server format), what a test can inspect (users, rooms, requests) and
 * the faults it can queue.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface MatrixDoubleOptions {
  /** The server name: the part after the colon in @user:server. Default 'matrix.example.com'. */
  serverName?: string;
  /**
   * CONDUIT_REGISTRATION_TOKEN: registration asks for the m.login.registration_token stage.
   * null: the m.login.dummy stage instead. Default DEFAULT_REGISTRATION_TOKEN.
   */
  registrationToken?: string | null;
  /** CONDUIT_ALLOW_REGISTRATION. Default true. */
  allowRegistration?: boolean;
  /** Conduit's enable_lightning_bolt: new users' display name is "localpart ⚡️". Default true. */
  lightningBolt?: boolean;
  /** Milliseconds before every response (also settable on the double). Default 0. */
  latencyMs?: number;
  /** Seed of the generated ids and tokens (same seed, same ids). Default 'matrix-double'. */
  seed?: string;
  /** Conduit's max_request_size. Default 20 MiB. */
  maxRequestBytes?: number;
}

export type Membership = 'join' | 'invite' | 'leave' | 'ban' | 'knock';

/** An event as the client-server API shows it (GET /rooms/{roomId}/event/{eventId} format). */
export interface MatrixEvent {
  event_id: string;
  room_id: string;
  type: string;
  sender: string;
  origin_server_ts: number;
  content: JsonObject;
  state_key?: string;
  unsigned?: JsonObject;
}

export interface DeviceInfo {
  deviceId: string;
  accessToken: string;
  displayName?: string;
}

export interface UserInfo {
  userId: string;
  localpart: string;
  displayname: string | null;
  /** Deactivated by the admin command (its password is gone, its devices and tokens removed). */
  deactivated: boolean;
  /** Registered without a password (Conduit then treats it like a deactivated account at login). */
  hasPassword: boolean;
  /** Joined to the admin room: what Conduit calls an admin. */
  admin: boolean;
  devices: DeviceInfo[];
}

export interface RoomInfo {
  roomId: string;
  roomVersion: string;
  creator: string;
  /** Local aliases pointing at the room (#admins:server for the admin room). */
  aliases: string[];
  joinRule: string;
  name: string | undefined;
  /** `is_direct` of the creator's own m.room.member event (createRoom's is_direct). */
  isDirect: boolean;
  /** Current membership of every user with an m.room.member event. */
  members: Record<string, Membership>;
  joined: string[];
  invited: string[];
  /** Every event of the room, oldest first. */
  events: MatrixEvent[];
}

export interface LoggedRequest {
  method: string;
  /** The path, still percent-encoded as sent. */
  path: string;
  query: Record<string, string>;
  /** The parsed JSON body, or undefined. */
  body: unknown;
  /** The authenticated user and device, when a valid access token was sent. */
  userId?: string;
  deviceId?: string;
  status?: number;
  errcode?: string;
  /** Set when an injected fault answered the request. */
  fault?: 'status' | 'limit';
}

/** Which upcoming request a fault applies to (default: the next one, whatever it is). */
export interface FaultMatch {
  /** A substring of the path, or a pattern tested against it (e.g. '/send/', /\/sync$/). */
  path?: string | RegExp;
  method?: string;
}

export interface FailOptions extends FaultMatch {
  /** The `error` text. Default "<errcode>: Injected fault", Conduit's "ERRCODE: message" form. */
  message?: string;
  /** A raw body instead of the JSON error (e.g. a reverse proxy's HTML 502 page). */
  body?: string;
}
