/**
 * The formats an event is served in: the client format (inspection), the sync
 * timeline/state format (no room_id; unsigned.age is Conduit's constant 1, and
 * unsigned.transaction_id only for the sender's own events), and stripped state.
 */
import type { StoredEvent } from './state.ts';
import type { JsonObject, MatrixEvent } from './types.ts';

/** ruma's RECOMMENDED_STRIPPED_STATE_EVENT_TYPES, in its order. */
export const RECOMMENDED_STRIPPED_STATE = [
  'm.room.create',
  'm.room.name',
  'm.room.avatar',
  'm.room.topic',
  'm.room.join_rules',
  'm.room.canonical_alias',
  'm.room.encryption',
];

export function stateMapKey(type: string, stateKey: string): string {
  return `${type}\u0000${stateKey}`;
}

export function clientEvent(event: StoredEvent): MatrixEvent {
  const { stream: _stream, ...rest } = event;
  return structuredClone(rest);
}

export function syncEvent(event: StoredEvent, viewer: string): JsonObject {
  const storedUnsigned: JsonObject = event.unsigned ?? {};
  const { transaction_id: transactionId, ...rest } = storedUnsigned;
  const unsigned: JsonObject = { ...rest, age: 1 };
  if (event.sender === viewer && transactionId !== undefined) unsigned.transaction_id = transactionId;
  const out: JsonObject = {
    content: structuredClone(event.content),
    type: event.type,
    event_id: event.event_id,
    sender: event.sender,
    origin_server_ts: event.origin_server_ts,
    unsigned,
  };
  if (event.state_key !== undefined) out.state_key = event.state_key;
  return out;
}

export function strippedEvent(event: StoredEvent): JsonObject {
  return { content: structuredClone(event.content), sender: event.sender, state_key: event.state_key ?? '', type: event.type };
}
