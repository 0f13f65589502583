/**
 * Conduit's admin room: created with the server user @conduit:server on the
 * first start (#admins:server, invite only, "<server> Admin Room"); the first
 * user to register joins it with power 100 and a welcome message. A message in
 * it addressed to @conduit ("@conduit:server: <command>") from anyone else is a
 * command; @conduit answers in the room, after the sending request returns.
 */
import { runAdminCommand } from './admin-commands.ts';
import { appendEvent, membershipOf, newRoom } from './rooms.ts';
import type { RoomRecord, Store, StoredEvent } from './state.ts';
import type { JsonObject } from './types.ts';

const ADMIN_ROOM_VERSION = '12';

function stateEvent(store: Store, room: RoomRecord, type: string, content: JsonObject, stateKey = ''): void {
  appendEvent(store, room, { type, sender: store.serverUser, state_key: stateKey, content });
}

export function createAdminRoom(store: Store): RoomRecord {
  const conduit = store.serverUser;
  // users.create(conduit_user, None): no password, no display name, no push rules.
  store.users.set(conduit, { userId: conduit, localpart: 'conduit', password: null, displayname: null, deactivated: false, accountData: new Map() });
  const room = newRoom(store, conduit, ADMIN_ROOM_VERSION, { room_version: ADMIN_ROOM_VERSION });
  stateEvent(store, room, 'm.room.member', { membership: 'join' }, conduit);
  stateEvent(store, room, 'm.room.power_levels', { events: { 'm.room.tombstone': 150 } });
  stateEvent(store, room, 'm.room.join_rules', { join_rule: 'invite' });
  stateEvent(store, room, 'm.room.history_visibility', { history_visibility: 'shared' });
  stateEvent(store, room, 'm.room.guest_access', { guest_access: 'forbidden' });
  stateEvent(store, room, 'm.room.name', { name: `${store.serverName} Admin Room` });
  stateEvent(store, room, 'm.room.topic', { topic: `Manage ${store.serverName}` });
  stateEvent(store, room, 'm.room.canonical_alias', { alias: store.adminAlias });
  store.aliases.set(store.adminAlias, room.roomId);
  return room;
}

function adminRoom(store: Store): RoomRecord | undefined {
  const id = store.adminRoomId();
  return id === undefined ? undefined : store.rooms.get(id);
}

export function postAsConduit(store: Store, content: JsonObject): StoredEvent | undefined {
  const room = adminRoom(store);
  if (!room) return undefined;
  return appendEvent(store, room, { type: 'm.room.message', sender: store.serverUser, content });
}

/** services().admin.send_message: queued, posted by the admin task after the current request. */
export function noticeToAdmins(store: Store, body: string): void {
  store.defer(() => void postAsConduit(store, { msgtype: 'm.notice', body }));
}

/** make_user_admin: invited and joined to the admin room, power 100, and Conduit's welcome message (abridged). */
export function makeUserAdmin(store: Store, userId: string, displayname: string): void {
  const room = adminRoom(store);
  if (!room) return;
  stateEvent(store, room, 'm.room.member', { membership: 'invite' }, userId);
  appendEvent(store, room, { type: 'm.room.member', sender: userId, state_key: userId, content: { membership: 'join', displayname } });
  stateEvent(store, room, 'm.room.power_levels', { events: { 'm.room.tombstone': 150 }, users: { [userId]: 100 } });
  const hint = `For a list of available commands, send the following message in this room: \`@conduit:${store.serverName}: --help\``;
  postAsConduit(store, {
    msgtype: 'm.text',
    body: `## Thank you for trying out Conduit!\n\n${hint}`,
    format: 'org.matrix.custom.html',
    formatted_body: `<h2>Thank you for trying out Conduit!</h2>\n<p>${hint.replace(/`([^`]*)`/, '<code>$1</code>')}</p>\n`,
  });
}

/** Whether the admin room has only @conduit joined (register_route then makes the new user an admin). */
export function adminRoomHasOnlyConduit(store: Store): boolean {
  const room = adminRoom(store);
  if (!room) return false;
  let joined = 0;
  for (const event of room.state.values()) if (event.type === 'm.room.member' && event.content.membership === 'join') joined += 1;
  return joined === 1;
}

/** The timeline hook: a message to @conduit in the admin room runs as a command. */
export function installAdminBot(store: Store): void {
  store.appendHooks.push((room, event) => {
    if (event.type !== 'm.room.message' || room.roomId !== store.adminRoomId()) return;
    const body = event.content.body;
    if (typeof body !== 'string') return;
    const bot = store.serverUser;
    const toConduit = body.startsWith(`${bot}: `) || body.startsWith(`${bot} `) || body === `${bot}:` || body === bot;
    if (!toConduit || event.sender === bot || membershipOf(room, bot) !== 'join') return;
    store.defer(() => void postAsConduit(store, runAdminCommand(store, body)));
  });
}
