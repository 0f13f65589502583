/**
 * POST /createRoom as Conduit's room.rs builds a room: create event (version 12
 * by default; 6–12 accepted), the creator's join (with is_direct), power levels
 * (trusted_private_chat invitees get 100, or become additional_creators in v12),
 * canonical alias, join rules (public_chat: public, else invite), history
 * visibility shared, guest access, initial_state, name, topic, then the invites
 * (their failures ignored).
 */
import { badJson, badRequest } from './errors.ts';
import { isRoomAlias } from './identifiers.ts';
import { inviteUser } from './membership.ts';
import { V12_VERSIONS } from './power.ts';
import { type Ctx, deviceOf, objectBody, optionalBool, optionalObject, optionalString, sendJson, userIdList } from './request.ts';
import { appendEvent, displaynameOf, newRoom } from './rooms.ts';
import type { JsonObject } from './types.ts';

export const SUPPORTED_ROOM_VERSIONS = ['6', '7', '8', '9', '10', '11', '12'];
export const DEFAULT_ROOM_VERSION = '12';

interface InitialState {
  type: string;
  state_key: string;
  content: JsonObject;
}

function initialState(body: JsonObject): InitialState[] {
  const list = body.initial_state;
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw badJson();
  return list.map((item) => {
    if (!item || typeof item !== 'object' || Array.isArray(item)) throw badJson();
    const { type, state_key: stateKey, content } = item;
    const invalid = () => badRequest('M_INVALID_PARAM', 'Invalid initial state event.');
    if (typeof type !== 'string' || (stateKey !== undefined && typeof stateKey !== 'string')) throw invalid();
    if (!content || typeof content !== 'object' || Array.isArray(content)) throw invalid();
    return { type, state_key: stateKey ?? '', content };
  });
}

export function createRoom(ctx: Ctx): void {
  const { store } = ctx;
  const sender = deviceOf(ctx).userId;
  const body = objectBody(ctx);
  const invites = userIdList(body, 'invite');
  const isDirect = optionalBool(body, 'is_direct') ?? false;
  const name = optionalString(body, 'name');
  const topic = optionalString(body, 'topic');
  const visibility = optionalString(body, 'visibility') ?? 'private';
  const aliasName = optionalString(body, 'room_alias_name');
  const requestedVersion = optionalString(body, 'room_version');
  const creationContent = optionalObject(body, 'creation_content');
  const override = optionalObject(body, 'power_level_content_override');
  const initial = initialState(body);
  const preset = optionalString(body, 'preset') ?? (visibility === 'public' ? 'public_chat' : 'private_chat');

  let alias: string | undefined;
  if (aliasName !== undefined) {
    alias = `#${aliasName}:${store.serverName}`;
    if (!isRoomAlias(alias) || aliasName.includes(':')) throw badRequest('M_INVALID_PARAM', 'Invalid alias.');
    if (store.aliases.has(alias)) throw badRequest('M_ROOM_IN_USE', 'Room alias already exists.');
  }
  const version = requestedVersion ?? DEFAULT_ROOM_VERSION;
  if (!SUPPORTED_ROOM_VERSIONS.includes(version)) {
    throw badRequest('M_UNSUPPORTED_ROOM_VERSION', 'This server does not support that room version.');
  }
  const v12 = V12_VERSIONS.has(version);

  const users: JsonObject = v12 ? {} : { [sender]: 100 };
  const additionalCreators: string[] = [];
  if (preset === 'trusted_private_chat') {
    for (const invitee of invites) {
      if (v12) additionalCreators.push(invitee);
      else users[invitee] = 100;
    }
  }
  const createContent: JsonObject = { ...(creationContent ?? {}) };
  if (!v12 && version !== '11') createContent.creator = sender;
  if (v12 && additionalCreators.length > 0) createContent.additional_creators = [...new Set(additionalCreators)];
  createContent.room_version = version;

  const room = newRoom(store, sender, version, createContent);
  const state = (type: string, content: JsonObject, stateKey = '') => appendEvent(store, room, { type, sender, state_key: stateKey, content });
  const joinContent: JsonObject = { membership: 'join', is_direct: isDirect };
  const displayname = displaynameOf(store, sender);
  if (displayname !== undefined) joinContent.displayname = displayname;
  state('m.room.member', joinContent, sender);
  const power: JsonObject = v12 ? { events: { 'm.room.tombstone': 150 } } : {};
  if (Object.keys(users).length > 0) power.users = users;
  state('m.room.power_levels', { ...power, ...(override ?? {}) });
  if (alias !== undefined) state('m.room.canonical_alias', { alias });
  state('m.room.join_rules', { join_rule: preset === 'public_chat' ? 'public' : 'invite' });
  state('m.room.history_visibility', { history_visibility: 'shared' });
  state('m.room.guest_access', { guest_access: preset === 'public_chat' ? 'forbidden' : 'can_join' });
  for (const event of initial) state(event.type, event.content, event.state_key);
  if (name !== undefined) state('m.room.name', { name });
  if (topic !== undefined) state('m.room.topic', { topic });
  for (const invitee of invites) {
    try {
      inviteUser(store, sender, invitee, room.roomId, isDirect);
    } catch {
      // Conduit: `let _ = invite_helper(...)`.
    }
  }
  if (alias !== undefined) store.aliases.set(alias, room.roomId);
  sendJson(ctx, 200, { room_id: room.roomId });
}
