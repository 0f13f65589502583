/**
 * Membership endpoints (membership.rs): invite (the inviter must be joined:
 * 403 "You don't have permission to view this room."; then the auth rules),
 * join by id or alias (an unknown room: 500 "No server available to assist in
 * joining."; an unknown local alias: 404 "Room with alias not found."; a private
 * room without an invite: 403 "Event is not authorized."), leave, joined rooms
 * and members, and reading one state event.
 */
import { badJson, badRequest, internal } from './errors.ts';
import { stateMapKey } from './events.ts';
import { parseUserId } from './identifiers.ts';
import { type Ctx, deviceOf, objectBody, optionalString, pathParam, roomIdParam, roomOrAliasParam, sendJson } from './request.ts';
import { appendEvent, displaynameOf, leaveRoom, membershipOf, membersWith } from './rooms.ts';
import type { RoomRecord, Store } from './state.ts';
import type { JsonObject } from './types.ts';

/** invite_helper for a local or remote invitee. */
export function inviteUser(store: Store, sender: string, invitee: string, roomId: string, isDirect: boolean, reason?: string): void {
  const room = store.rooms.get(roomId);
  const local = parseUserId(invitee)?.serverName === store.serverName;
  if (!local) {
    if (!room || membershipOf(room, sender) !== 'join') throw badRequest('M_FORBIDDEN', 'Event is not authorized.');
    throw internal('Federation is disabled.');
  }
  if (!room || membershipOf(room, sender) !== 'join') throw badRequest('M_FORBIDDEN', "You don't have permission to view this room.");
  const content: JsonObject = { membership: 'invite', is_direct: isDirect };
  const displayname = displaynameOf(store, invitee);
  if (displayname !== undefined) content.displayname = displayname;
  if (reason !== undefined) content.reason = reason;
  appendEvent(store, room, { type: 'm.room.member', sender, state_key: invitee, content });
}

export function invite(ctx: Ctx, rawRoomId: string | undefined): void {
  const roomId = roomIdParam(rawRoomId);
  const body = objectBody(ctx);
  const userId = body.user_id;
  if (userId === undefined) {
    if (typeof body.id_server === 'string' && typeof body.address === 'string') throw badRequest('M_NOT_FOUND', 'User not found.');
    throw badJson();
  }
  if (typeof userId !== 'string' || !parseUserId(userId)) throw badJson();
  inviteUser(ctx.store, deviceOf(ctx).userId, userId, roomId, false, optionalString(body, 'reason'));
  sendJson(ctx, 200, {});
}

function resolveRoom(store: Store, roomIdOrAlias: string): RoomRecord {
  if (roomIdOrAlias.startsWith('#')) {
    const roomId = store.aliases.get(roomIdOrAlias);
    if (roomIdOrAlias.endsWith(`:${store.serverName}`) && roomId === undefined) throw badRequest('M_NOT_FOUND', 'Room with alias not found.');
    if (roomId === undefined) throw internal('Federation is disabled.');
    const room = store.rooms.get(roomId);
    if (room) return room;
  } else {
    const room = store.rooms.get(roomIdOrAlias);
    if (room) return room;
  }
  throw internal('No server available to assist in joining.');
}

export function join(ctx: Ctx, rawRoom: string | undefined, aliasAllowed: boolean): void {
  const target = aliasAllowed ? roomOrAliasParam(rawRoom) : roomIdParam(rawRoom);
  const body = objectBody(ctx);
  const reason = optionalString(body, 'reason');
  const { store } = ctx;
  const userId = deviceOf(ctx).userId;
  const room = resolveRoom(store, target);
  if (membershipOf(room, userId) !== 'join') {
    const content: JsonObject = { membership: 'join' };
    const displayname = displaynameOf(store, userId);
    if (displayname !== undefined) content.displayname = displayname;
    if (reason !== undefined) content.reason = reason;
    appendEvent(store, room, { type: 'm.room.member', sender: userId, state_key: userId, content });
  }
  sendJson(ctx, 200, { room_id: room.roomId });
}

export function leave(ctx: Ctx, rawRoomId: string | undefined): void {
  const roomId = roomIdParam(rawRoomId);
  const reason = optionalString(objectBody(ctx), 'reason');
  const room = ctx.store.rooms.get(roomId);
  // An unknown room: Conduit tries a remote leave, ignores its failure and answers 200.
  if (room) leaveRoom(ctx.store, room, deviceOf(ctx).userId, reason);
  sendJson(ctx, 200, {});
}

export function joinedRooms(ctx: Ctx): void {
  const userId = deviceOf(ctx).userId;
  const rooms = [...ctx.store.rooms.values()].filter((r) => membershipOf(r, userId) === 'join').map((r) => r.roomId);
  sendJson(ctx, 200, { joined_rooms: rooms });
}

function visibleRoom(ctx: Ctx, roomId: string, message: string): RoomRecord {
  const room = ctx.store.rooms.get(roomId);
  const userId = deviceOf(ctx).userId;
  const worldReadable = room?.state.get(stateMapKey('m.room.history_visibility', ''))?.content.history_visibility === 'world_readable';
  if (!room || (membershipOf(room, userId) !== 'join' && !worldReadable)) throw badRequest('M_FORBIDDEN', message);
  return room;
}

export function joinedMembers(ctx: Ctx, rawRoomId: string | undefined): void {
  const room = visibleRoom(ctx, roomIdParam(rawRoomId), "You don't have permission to view this room.");
  const joined: JsonObject = {};
  for (const userId of membersWith(room, 'join')) {
    const member: JsonObject = {};
    const displayname = displaynameOf(ctx.store, userId);
    if (displayname !== undefined) member.display_name = displayname;
    joined[userId] = member;
  }
  sendJson(ctx, 200, { joined });
}

export function stateEvent(ctx: Ctx, rawRoomId: string | undefined, rawType: string | undefined, rawKey: string | undefined): void {
  const room = visibleRoom(ctx, roomIdParam(rawRoomId), "You don't have permission to view the room state.");
  const event = room.state.get(stateMapKey(pathParam(rawType), pathParam(rawKey)));
  if (!event) throw badRequest('M_NOT_FOUND', 'State event not found.');
  sendJson(ctx, 200, event.content);
}

export function resolveAlias(ctx: Ctx, rawAlias: string | undefined): void {
  const alias = pathParam(rawAlias, (v) => v.startsWith('#') && v.includes(':'));
  const roomId = ctx.store.aliases.get(alias);
  if (roomId === undefined) {
    if (alias.endsWith(`:${ctx.store.serverName}`)) throw badRequest('M_NOT_FOUND', 'Room with alias not found.');
    throw internal('Federation is disabled.');
  }
  sendJson(ctx, 200, { room_id: roomId, servers: [ctx.store.serverName] });
}
