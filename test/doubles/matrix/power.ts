/**
 * Power levels as the auth rules read them: creators of a version 12 room
 * (the create event's sender and additional_creators) outrank everyone; other
 * users have users[id] or users_default. Missing fields take the spec defaults
 * (ban, kick, redact, state_default 50; invite, events_default, users_default 0).
 */
import { stateMapKey } from './events.ts';
import type { RoomRecord } from './state.ts';
import type { Json, JsonObject } from './types.ts';

export const V12_VERSIONS = new Set(['12']);

function num(value: Json | undefined, fallback: number): number {
  return typeof value === 'number' ? value : fallback;
}

function powerContent(room: RoomRecord): JsonObject {
  return room.state.get(stateMapKey('m.room.power_levels', ''))?.content ?? {};
}

export function isCreator(room: RoomRecord, userId: string): boolean {
  if (!V12_VERSIONS.has(room.roomVersion)) return false;
  const create = room.state.get(stateMapKey('m.room.create', ''));
  if (!create) return false;
  const additional = create.content.additional_creators;
  return create.sender === userId || (Array.isArray(additional) && additional.includes(userId));
}

export function powerOf(room: RoomRecord, userId: string): number {
  if (isCreator(room, userId)) return Number.POSITIVE_INFINITY;
  const content = powerContent(room);
  if (!room.state.has(stateMapKey('m.room.power_levels', ''))) {
    // Before a power levels event the creator has 100 (spec auth rules).
    return room.creator === userId ? 100 : 0;
  }
  const users = content.users;
  const explicit = users && typeof users === 'object' && !Array.isArray(users) ? users[userId] : undefined;
  return num(explicit, num(content.users_default, 0));
}

export function requiredPower(room: RoomRecord, action: 'invite' | 'kick' | 'ban' | 'redact'): number {
  return num(powerContent(room)[action], action === 'invite' ? 0 : 50);
}

export function requiredForEvent(room: RoomRecord, type: string, isState: boolean): number {
  const content = powerContent(room);
  const events = content.events;
  const explicit = events && typeof events === 'object' && !Array.isArray(events) ? events[type] : undefined;
  return num(explicit, isState ? num(content.state_default, 50) : num(content.events_default, 0));
}
