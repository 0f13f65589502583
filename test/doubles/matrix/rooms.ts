/**
 * Rooms: appending events through the auth rules (the subset the client API
 * here can produce: create, membership, power levels, messages and state),
 * Conduit's extra guards on the admin room, invite stripped state, and leaving
 * as Conduit's leave_room does it.
 */
import { badRequest, NOT_AUTHORIZED } from './errors.ts';
import { RECOMMENDED_STRIPPED_STATE, stateMapKey, strippedEvent } from './events.ts';
import { parseUserId } from './identifiers.ts';
import { powerOf, requiredForEvent, requiredPower, V12_VERSIONS } from './power.ts';
import type { RoomRecord, Store, StoredEvent } from './state.ts';
import type { JsonObject, Membership } from './types.ts';

export interface EventDraft {
  type: string;
  sender: string;
  content: JsonObject;
  state_key?: string;
  unsigned?: JsonObject;
}

export function membershipOf(room: RoomRecord, userId: string): Membership | undefined {
  const membership = room.state.get(stateMapKey('m.room.member', userId))?.content.membership;
  return typeof membership === 'string' ? (membership as Membership) : undefined;
}

export function membersWith(room: RoomRecord, membership: Membership): string[] {
  const out: string[] = [];
  for (const event of room.state.values()) {
    if (event.type === 'm.room.member' && event.state_key !== undefined && event.content.membership === membership) out.push(event.state_key);
  }
  return out;
}

export function joinRuleOf(room: RoomRecord): string {
  const rule = room.state.get(stateMapKey('m.room.join_rules', ''))?.content.join_rule;
  return typeof rule === 'string' ? rule : 'invite';
}

function authorizeMember(room: RoomRecord, draft: EventDraft): boolean {
  const target = draft.state_key;
  if (target === undefined || !parseUserId(target)) return false;
  const current = membershipOf(room, target);
  const senderJoined = membershipOf(room, draft.sender) === 'join';
  const senderPower = powerOf(room, draft.sender);
  switch (draft.content.membership) {
    case 'join': {
      if (draft.sender !== target) return false;
      if (room.events.length === 1 && room.creator === target) return true;
      if (current === 'ban') return false;
      const rule = joinRuleOf(room);
      if (rule === 'public') return true;
      if (rule === 'invite' || rule === 'knock') return current === 'invite' || current === 'join';
      return false;
    }
    case 'invite':
      return senderJoined && current !== 'join' && current !== 'ban' && senderPower >= requiredPower(room, 'invite');
    case 'leave':
      if (draft.sender === target) return current === 'invite' || current === 'join' || current === 'knock';
      if (!senderJoined || (current === 'ban' && senderPower < requiredPower(room, 'ban'))) return false;
      return senderPower >= requiredPower(room, 'kick') && powerOf(room, target) < senderPower;
    case 'ban':
      return senderJoined && senderPower >= requiredPower(room, 'ban') && powerOf(room, target) < senderPower;
    default:
      return false;
  }
}

function authorize(room: RoomRecord, draft: EventDraft): boolean {
  const isState = draft.state_key !== undefined;
  if (draft.type === 'm.room.create') return room.events.length === 0 && draft.state_key === '';
  if (room.events.length === 0) return false;
  if (draft.type === 'm.room.member') return authorizeMember(room, draft);
  if (membershipOf(room, draft.sender) !== 'join') return false;
  if (powerOf(room, draft.sender) < requiredForEvent(room, draft.type, isState)) return false;
  return !(isState && draft.state_key?.startsWith('@') && draft.state_key !== draft.sender);
}

/** The checks build_and_append_pdu adds for the admin room, after the auth rules. */
function guardAdminRoom(store: Store, room: RoomRecord, draft: EventDraft): void {
  if (room.roomId !== store.adminRoomId()) return;
  if (draft.type === 'm.room.encryption') throw badRequest('M_FORBIDDEN', 'Encryption is not allowed in the admins room.');
  if (draft.type !== 'm.room.member') return;
  const target = draft.state_key?.startsWith('@') ? draft.state_key : draft.sender;
  const membership = draft.content.membership;
  if (membership !== 'leave' && membership !== 'ban') return;
  const verb = membership === 'leave' ? 'leave from' : 'be banned in';
  if (target === store.serverUser) throw badRequest('M_FORBIDDEN', `Conduit user cannot ${verb} admins room.`);
  const localOthers = membersWith(room, 'join').filter((m) => m.endsWith(`:${store.serverName}`) && m !== target);
  if (localOthers.length < 2) throw badRequest('M_FORBIDDEN', `Last admin cannot ${verb} admins room.`);
}

export function strippedState(room: RoomRecord): JsonObject[] {
  const out: JsonObject[] = [];
  for (const type of RECOMMENDED_STRIPPED_STATE) {
    const event = room.state.get(stateMapKey(type, ''));
    if (event) out.push(strippedEvent(event));
  }
  return out;
}

/** Authorizes and appends an event; 403 "Event is not authorized." when the auth rules say no. */
export function appendEvent(store: Store, room: RoomRecord, draft: EventDraft, eventId?: string): StoredEvent {
  if (!authorize(room, draft)) throw badRequest('M_FORBIDDEN', NOT_AUTHORIZED);
  guardAdminRoom(store, room, draft);
  const unsigned: JsonObject = { ...(draft.unsigned ?? {}) };
  const event: StoredEvent = {
    event_id: eventId ?? store.ids.eventId(),
    room_id: room.roomId,
    type: draft.type,
    sender: draft.sender,
    origin_server_ts: Date.now(),
    content: structuredClone(draft.content),
    stream: store.tick(),
  };
  if (draft.state_key !== undefined) {
    event.state_key = draft.state_key;
    const key = stateMapKey(draft.type, draft.state_key);
    const previous = room.state.get(key);
    if (previous) {
      unsigned.prev_content = structuredClone(previous.content);
      unsigned.prev_sender = previous.sender;
    }
    room.state.set(key, event);
  }
  if (Object.keys(unsigned).length > 0) event.unsigned = unsigned;
  room.events.push(event);
  if (event.type === 'm.room.member' && event.state_key !== undefined) {
    if (event.content.membership === 'invite') room.inviteState.set(event.state_key, [...strippedState(room), strippedEvent(event)]);
    else room.inviteState.delete(event.state_key);
  }
  for (const hook of store.appendHooks) hook(room, event);
  store.notify();
  return event;
}

/** send_create_room: a new room id (v12: `!` + the create event's reference hash) and its create event. */
export function newRoom(store: Store, creator: string, roomVersion: string, createContent: JsonObject): RoomRecord {
  const v12 = V12_VERSIONS.has(roomVersion);
  const hash = store.ids.referenceHash();
  const roomId = v12 ? `!${hash}` : store.ids.roomIdV1(store.serverName);
  const room: RoomRecord = { roomId, roomVersion, creator, events: [], state: new Map(), inviteState: new Map() };
  store.rooms.set(roomId, room);
  appendEvent(store, room, { type: 'm.room.create', sender: creator, state_key: '', content: createContent }, v12 ? `$${hash}` : undefined);
  return room;
}

export function displaynameOf(store: Store, userId: string): string | undefined {
  return store.users.get(userId)?.displayname ?? undefined;
}

/** leave_room: the previous member content with membership "leave"; nothing to do without one. */
export function leaveRoom(store: Store, room: RoomRecord, userId: string, reason?: string): void {
  const member = room.state.get(stateMapKey('m.room.member', userId));
  if (!member) return;
  const { is_direct: _d, third_party_invite: _t, join_authorized_via_users_server: _j, reason: _r, ...rest } = member.content;
  const content: JsonObject = { ...rest, membership: 'leave' };
  if (reason !== undefined) content.reason = reason;
  appendEvent(store, room, { type: 'm.room.member', sender: userId, state_key: userId, content });
}
