/**
 * Logging in and out (session.rs), whoami and /versions: m.login.password with
 * an m.id.user identifier (lowercased, localpart or full id) or the deprecated
 * `user` field (a full user id), 403 "Wrong username or password.", 403
 * M_USER_DEACTIVATED for an account without a password, a known device_id gets
 * a fresh token (the old one stops working).
 */
import { badJson, badRequest } from './errors.ts';
import { parseUserId, parseWithServerName } from './identifiers.ts';
import { type Ctx, deviceOf, objectBody, optionalObject, optionalString, requiredString, sendJson } from './request.ts';
import { issueToken, removeDevice } from './users.ts';

/** Conduit 0.10's GET /_matrix/client/versions. */
export const SUPPORTED_VERSIONS = ['r0.5.0', 'r0.6.0', 'v1.1', 'v1.2', 'v1.3', 'v1.4', 'v1.5', 'v1.6', 'v1.7', 'v1.8', 'v1.9', 'v1.10', 'v1.11', 'v1.12'];

export function versions(ctx: Ctx): void {
  sendJson(ctx, 200, {
    versions: SUPPORTED_VERSIONS,
    unstable_features: { 'org.matrix.e2e_cross_signing': true, 'org.matrix.msc3916.stable': true, 'org.matrix.simplified_msc3575': true },
  });
}

export function loginTypes(ctx: Ctx): void {
  sendJson(ctx, 200, { flows: [{ type: 'm.login.password' }, { type: 'm.login.application_service' }] });
}

function passwordLoginUser(ctx: Ctx, identifier: Record<string, unknown> | undefined, user: string | undefined): string {
  let parsed: ReturnType<typeof parseUserId>;
  if (identifier && identifier.type === 'm.id.user') {
    if (typeof identifier.user !== 'string') throw badJson();
    parsed = parseWithServerName(identifier.user.toLowerCase(), ctx.store.serverName);
  } else if (user !== undefined) {
    parsed = parseUserId(user);
  } else {
    throw badRequest('M_FORBIDDEN', 'Bad login type.');
  }
  if (!parsed) throw badRequest('M_INVALID_USERNAME', 'Username is invalid.');
  return parsed.userId;
}

export function login(ctx: Ctx): void {
  const { store } = ctx;
  const body = objectBody(ctx);
  const type = requiredString(body, 'type');
  if (type === 'm.login.token') throw badRequest('M_UNKNOWN', 'Token login is not supported (server has no jwt decoding key).');
  if (type === 'm.login.application_service') throw badRequest('M_MISSING_TOKEN', 'Missing appservice token.');
  if (type !== 'm.login.password') throw badRequest('M_UNKNOWN', 'Unsupported login type.');
  const password = requiredString(body, 'password');
  const userId = passwordLoginUser(ctx, optionalObject(body, 'identifier'), optionalString(body, 'user'));
  const deviceId = optionalString(body, 'device_id');
  const deviceName = optionalString(body, 'initial_device_display_name');

  const account = store.users.get(userId);
  if (!account) throw badRequest('M_FORBIDDEN', 'Wrong username or password.');
  if (account.password === null) throw badRequest('M_USER_DEACTIVATED', 'The user has been deactivated');
  if (account.password !== password) throw badRequest('M_FORBIDDEN', 'Wrong username or password.');

  const device = issueToken(store, userId, deviceId, deviceName);
  sendJson(ctx, 200, { user_id: userId, access_token: device.accessToken, home_server: store.serverName, device_id: device.deviceId });
}

export function logout(ctx: Ctx): void {
  removeDevice(ctx.store, deviceOf(ctx));
  sendJson(ctx, 200, {});
}

export function whoami(ctx: Ctx): void {
  const device = deviceOf(ctx);
  const reply: Record<string, unknown> = { user_id: device.userId, device_id: device.deviceId };
  // Conduit reports is_guest for accounts whose password is "" (it skips false).
  if (ctx.store.users.get(device.userId)?.password === null) reply.is_guest = true;
  sendJson(ctx, 200, reply);
}
