/**
 * Accounts and devices: creating a user the way register_route does (display
 * name "localpart ⚡️", default push rules), devices and their access tokens,
 * and Conduit's deactivate_account (every device removed, password set to "").
 */
import type { DeviceRecord, Store, UserRecord } from './state.ts';
import type { JsonObject } from './types.ts';

/** The m.push_rules account data every new account gets (Conduit: the server-default ruleset; abridged here). */
function defaultPushRules(): JsonObject {
  return { global: { override: [], content: [], room: [], sender: [], underride: [] } };
}

export function setAccountData(store: Store, user: UserRecord, type: string, content: JsonObject): void {
  user.accountData.set(type, { content, stream: store.tick() });
  store.notify();
}

export function createUser(store: Store, userId: string, localpart: string, password: string | null): UserRecord {
  const user: UserRecord = {
    userId,
    localpart,
    password,
    displayname: store.lightningBolt ? `${localpart} ⚡️` : localpart,
    deactivated: false,
    accountData: new Map(),
  };
  store.users.set(userId, user);
  setAccountData(store, user, 'm.push_rules', defaultPushRules());
  return user;
}

/** A new device, or a new token for an existing device of this user (login with a known device_id). */
export function issueToken(store: Store, userId: string, deviceId?: string, displayName?: string): DeviceRecord {
  const existing = deviceId === undefined ? undefined : store.devicesOf(userId).find((d) => d.deviceId === deviceId);
  if (existing) store.devices.delete(existing.accessToken);
  const device: DeviceRecord = { userId, deviceId: deviceId ?? store.ids.deviceId(), accessToken: store.ids.accessToken() };
  const name = existing ? existing.displayName : displayName;
  if (name !== undefined) device.displayName = name;
  store.devices.set(device.accessToken, device);
  return device;
}

export function removeDevice(store: Store, device: DeviceRecord): void {
  store.devices.delete(device.accessToken);
}

/** users.deactivate_account: remove every device (their tokens stop working) and the password. */
export function deactivateAccount(store: Store, user: UserRecord): void {
  for (const device of store.devicesOf(user.userId)) removeDevice(store, device);
  user.password = null;
  user.deactivated = true;
  store.notify();
}
