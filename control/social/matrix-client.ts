/**
 * The few Matrix client-server calls the platform makes on its homeserver (Conduit):
 * registering accounts with the registration-token flow of user-interactive auth,
 * logging in, direct rooms between AI accounts, idempotent sends, and commands in
 * Conduit's admin room (it has no admin HTTP API). Errors are typed: a homeserver
 * that does not answer is retryable (MatrixUnavailableError), an account that exists
 * is MatrixUserInUseError (provisioning then logs in instead of duplicating it).
 */

export class MatrixError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
  ) {
    super(message);
    this.name = 'MatrixError';
  }
}

/** The localpart is taken: the account exists (a retried registration, or someone else's). */
export class MatrixUserInUseError extends MatrixError {}

/** The homeserver did not answer, or answered 5xx/429: try again later. */
export class MatrixUnavailableError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = 'MatrixUnavailableError';
  }
}

export interface MatrixSession {
  userId: string;
  accessToken: string;
  deviceId: string;
}

type Json = Record<string, unknown>;

const TOKEN_STAGE = 'm.login.registration_token';

export class MatrixClient {
  constructor(
    private readonly baseUrl: string,
    private readonly options: { timeoutMs?: number } = {},
  ) {}

  /** Registers `localpart` with the registration token (two requests: the 401 that opens a session, then the token stage). */
  async register(localpart: string, password: string, registrationToken: string): Promise<MatrixSession> {
    const base = { username: localpart, password, initial_device_display_name: 'Matrix OS platform' };
    const challenge = await this.call('POST', '/_matrix/client/v3/register', { body: base, expect: [401] });
    const flows = Array.isArray(challenge.flows) ? (challenge.flows as Array<{ stages?: unknown }>) : [];
    if (!flows.some((f) => Array.isArray(f.stages) && f.stages.includes(TOKEN_STAGE)))
      throw new MatrixError(401, 'M_FORBIDDEN', `The homeserver does not offer ${TOKEN_STAGE} registration: set CONDUIT_REGISTRATION_TOKEN on it.`);
    const session = typeof challenge.session === 'string' ? challenge.session : undefined;
    const done = await this.call('POST', '/_matrix/client/v3/register', { body: { ...base, auth: { type: TOKEN_STAGE, token: registrationToken, session } } });
    return sessionOf(done);
  }

  async login(localpart: string, password: string): Promise<MatrixSession> {
    const body = { type: 'm.login.password', identifier: { type: 'm.id.user', user: localpart }, password, initial_device_display_name: 'Matrix OS platform' };
    return sessionOf(await this.call('POST', '/_matrix/client/v3/login', { body }));
  }

  /** A private direct room with `invitee` (trusted_private_chat: the invitee may post once joined). */
  async createDirectRoom(token: string, invitee: string): Promise<string> {
    const room = await this.call('POST', '/_matrix/client/v3/createRoom', {
      token,
      body: { is_direct: true, preset: 'trusted_private_chat', invite: [invitee] },
    });
    return String(room.room_id);
  }

  /** Ends the session of `token` (its device): the token stops working. */
  async logout(token: string): Promise<void> {
    await this.call('POST', '/_matrix/client/v3/logout', { token, body: {} });
  }

  async leave(token: string, roomId: string): Promise<void> {
    await this.call('POST', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/leave`, { token, body: {} });
  }

  async join(token: string, roomId: string): Promise<void> {
    await this.call('POST', `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, { token, body: {} });
  }

  /** Sends a text message; the same transaction id from the same device never posts twice. */
  async sendText(token: string, roomId: string, txnId: string, body: string): Promise<string> {
    const path = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${encodeURIComponent(txnId)}`;
    const sent = await this.call('PUT', path, { token, body: { msgtype: 'm.text', body } });
    return String(sent.event_id);
  }

  /** Joins the admin room by alias; returns its id. */
  async joinAlias(token: string, alias: string): Promise<string> {
    const joined = await this.call('POST', `/_matrix/client/v3/join/${encodeURIComponent(alias)}`, { token, body: {} });
    return String(joined.room_id);
  }

  /** Conduit's admin command to deactivate an account and make it leave its rooms, sent into the admin room. */
  async deactivate(token: string, adminRoomId: string, serverName: string, userId: string, txnId: string): Promise<void> {
    await this.sendText(token, adminRoomId, txnId, `@conduit:${serverName}: deactivate-user --leave-rooms ${userId}`);
  }

  private async call(method: string, path: string, options: { token?: string; body?: Json; expect?: number[] } = {}): Promise<Json> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl.replace(/\/+$/, '')}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (err) {
      // Users see this message (delivery state, progress): the homeserver's address stays out of it.
      throw new MatrixUnavailableError(`The Matrix homeserver did not answer (${(err as Error).name === 'TimeoutError' ? 'timed out' : 'connection failed'}).`);
    }
    const text = await response.text();
    let json: Json = {};
    try {
      json = text ? (JSON.parse(text) as Json) : {};
    } catch {
      // Not JSON: a proxy's error page, say.
    }
    if (response.ok || options.expect?.includes(response.status)) return json;
    const errcode = typeof json.errcode === 'string' ? json.errcode : 'M_UNKNOWN';
    const message = typeof json.error === 'string' ? json.error : `HTTP ${response.status}`;
    if (response.status === 429 || response.status >= 500) {
      const retry = typeof json.retry_after_ms === 'number' ? json.retry_after_ms : null;
      throw new MatrixUnavailableError(`The Matrix homeserver is not available (${response.status} ${errcode}): ${message}`, retry);
    }
    if (errcode === 'M_USER_IN_USE') throw new MatrixUserInUseError(response.status, errcode, message);
    throw new MatrixError(response.status, errcode, message);
  }
}

function sessionOf(json: Json): MatrixSession {
  if (typeof json.user_id !== 'string' || typeof json.access_token !== 'string')
    throw new MatrixError(200, 'M_UNKNOWN', 'The homeserver answered without a user id and access token.');
  return { userId: json.user_id, accessToken: json.access_token, deviceId: String(json.device_id ?? '') };
}
