/**
 * POST /register and GET /register/available as Conduit's account.rs answers
 * them: registration switch (403), username checks before UIAA (the localpart is
 * lowercased, then must fit the strict grammar: 400 M_INVALID_USERNAME; taken:
 * 400 M_USER_IN_USE), UIAA, then the account, its first device, a notice to the
 * admin room, and admin rights for the first user. inhibit_login returns before
 * the notice and the admin grant, as Conduit does.
 */
import { adminRoomHasOnlyConduit, makeUserAdmin, noticeToAdmins } from './admin.ts';
import { badJson, badRequest } from './errors.ts';
import { isStrictLocalpart, parseWithServerName } from './identifiers.ts';
import { type Ctx, objectBody, optionalBool, optionalObject, optionalString, sendJson } from './request.ts';
import type { Store } from './state.ts';
import type { JsonObject } from './types.ts';
import { startSession, tryAuth } from './uiaa.ts';
import { createUser, issueToken } from './users.ts';

/** The user id a requested username maps to, or 400 M_INVALID_USERNAME / M_USER_IN_USE. */
export function claimUsername(store: Store, username: string): { userId: string; localpart: string } {
  const parts = parseWithServerName(username.toLowerCase(), store.serverName);
  if (!parts || !isStrictLocalpart(parts.localpart) || parts.serverName !== store.serverName) {
    throw badRequest('M_INVALID_USERNAME', 'Username is invalid.');
  }
  if (store.users.has(parts.userId)) throw badRequest('M_USER_IN_USE', 'Desired user ID is already taken.');
  return { userId: parts.userId, localpart: parts.localpart };
}

function randomUser(store: Store): { userId: string; localpart: string } {
  for (;;) {
    const localpart = store.ids.randomString(10, 'localpart').toLowerCase();
    const userId = `@${localpart}:${store.serverName}`;
    if (!store.users.has(userId)) return { userId, localpart };
  }
}

export function registerAvailable(ctx: Ctx): void {
  const username = ctx.query.get('username');
  if (username === null) throw badJson();
  claimUsername(ctx.store, username);
  sendJson(ctx, 200, { available: true });
}

/**
 * register_route on a parsed body. `hasJson`: whether the body was JSON at all (an
 * empty body reads as {} for ruma, but Conduit then answers 400 M_NOT_JSON).
 */
export function registerAccount(store: Store, body: JsonObject, kind: string, hasJson: boolean): JsonObject {
  if (kind !== 'user' && kind !== 'guest') throw badJson();
  const isGuest = kind === 'guest';
  const username = optionalString(body, 'username');
  const password = optionalString(body, 'password');
  const deviceId = optionalString(body, 'device_id');
  const deviceName = optionalString(body, 'initial_device_display_name');
  const inhibitLogin = optionalBool(body, 'inhibit_login') ?? false;
  const auth = optionalObject(body, 'auth');

  if (!store.allowRegistration) throw badRequest('M_FORBIDDEN', 'Registration has been disabled.');
  const { userId, localpart } = username !== undefined && !isGuest ? claimUsername(store, username) : randomUser(store);

  const skipAuth = store.registrationToken === null && isGuest;
  if (!skipAuth) {
    if (auth) tryAuth(store, auth);
    else if (hasJson) throw startSession(store);
    else throw badRequest('M_NOT_JSON', 'Not json.');
  }

  const user = createUser(store, userId, localpart, isGuest ? null : (password ?? null));
  if (!isGuest && inhibitLogin) return { user_id: userId };

  const device = issueToken(store, userId, isGuest ? undefined : deviceId, deviceName);
  if (!isGuest) {
    noticeToAdmins(store, `New user ${userId} registered on this server.`);
    if (adminRoomHasOnlyConduit(store)) makeUserAdmin(store, userId, user.displayname ?? localpart);
  }
  return { user_id: userId, access_token: device.accessToken, device_id: device.deviceId };
}

export function register(ctx: Ctx): void {
  const body = objectBody(ctx);
  sendJson(ctx, 200, registerAccount(ctx.store, body, ctx.query.get('kind') ?? 'user', ctx.json !== undefined));
}
