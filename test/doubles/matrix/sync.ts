/**
 * GET /sync (sync.rs, v3): `since` is a stream position (unparsable: 0, an
 * initial sync). Joined rooms show up to 10 timeline events after `since`
 * (`limited` when more), with the state not in the timeline on an initial sync,
 * a new join or full_state; invites carry the stripped state of the invite;
 * rooms left since show their state up to the leave. When nothing is new,
 * Conduit holds the request until something happens for the user or `timeout`
 * (at most 30 s) runs out, then answers that empty response: the new events come
 * with the next /sync from the same `next_batch`.
 */
import { badJson } from './errors.ts';
import { stateMapKey, syncEvent } from './events.ts';
import { type Ctx, deviceOf, sendJson } from './request.ts';
import { membershipOf } from './rooms.ts';
import type { RoomRecord, Store, StoredEvent } from './state.ts';
import type { JsonObject } from './types.ts';

const TIMELINE_LIMIT = 10;
const MAX_TIMEOUT_MS = 30_000;

function ownMemberEvent(room: RoomRecord, userId: string): StoredEvent | undefined {
  return room.state.get(stateMapKey('m.room.member', userId));
}

function joinedRoom(room: RoomRecord, userId: string, since: number, fullState: boolean): JsonObject | undefined {
  const fresh = room.events.filter((e) => e.stream > since);
  const joinedSince = (ownMemberEvent(room, userId)?.stream ?? 0) > since;
  const everything = since === 0 || fullState || joinedSince;
  if (!everything && fresh.length === 0) return undefined;
  const timeline = fresh.slice(-TIMELINE_LIMIT);
  const inTimeline = new Set(timeline.map((e) => e.event_id));
  const state = [...room.state.values()].filter((e) => !inTimeline.has(e.event_id) && (everything || e.stream > since)).sort((a, b) => a.stream - b.stream);
  const out: JsonObject = {};
  const timelineOut: JsonObject = { events: timeline.map((e) => syncEvent(e, userId)) };
  if (fresh.length > TIMELINE_LIMIT) timelineOut.limited = true;
  const first = timeline[0];
  if (first) timelineOut.prev_batch = String(first.stream);
  out.timeline = timelineOut;
  if (state.length > 0) out.state = { events: state.map((e) => syncEvent(e, userId)) };
  return out;
}

/** The state of the room at the user's leave that changed after `since`. */
function leftRoom(room: RoomRecord, userId: string, since: number, nextBatch: string): JsonObject | undefined {
  const leave = ownMemberEvent(room, userId);
  if (!leave || leave.stream <= since) return undefined;
  const atLeave = new Map<string, StoredEvent>();
  for (const event of room.events) {
    if (event.stream > leave.stream) break;
    if (event.state_key !== undefined) atLeave.set(stateMapKey(event.type, event.state_key), event);
  }
  const changed = [...atLeave.values()].filter((e) => e.stream > since).sort((a, b) => a.stream - b.stream);
  const out: JsonObject = { timeline: { events: [], prev_batch: nextBatch } };
  if (changed.length > 0) out.state = { events: changed.map((e) => syncEvent(e, userId)) };
  return out;
}

export function buildSync(store: Store, userId: string, since: number, fullState: boolean): { body: JsonObject; empty: boolean } {
  const nextBatch = String(store.stream);
  const join: JsonObject = {};
  const invite: JsonObject = {};
  const leave: JsonObject = {};
  for (const room of store.rooms.values()) {
    const membership = membershipOf(room, userId);
    if (membership === 'join') {
      const joined = joinedRoom(room, userId, since, fullState);
      if (joined) join[room.roomId] = joined;
    } else if (membership === 'invite') {
      const event = ownMemberEvent(room, userId);
      if (event && event.stream > since) invite[room.roomId] = { invite_state: { events: structuredClone(room.inviteState.get(userId) ?? []) } };
    } else if (membership === 'leave' || membership === 'ban') {
      const left = leftRoom(room, userId, since, nextBatch);
      if (left) leave[room.roomId] = left;
    }
  }
  const rooms: JsonObject = {};
  if (Object.keys(leave).length > 0) rooms.leave = leave;
  if (Object.keys(join).length > 0) rooms.join = join;
  if (Object.keys(invite).length > 0) rooms.invite = invite;
  const accountData = [...(store.users.get(userId)?.accountData.entries() ?? [])]
    .filter(([, entry]) => entry.stream > since)
    .map(([type, entry]) => ({ type, content: structuredClone(entry.content) }));
  const body: JsonObject = { next_batch: nextBatch };
  if (Object.keys(rooms).length > 0) body.rooms = rooms;
  if (accountData.length > 0) body.account_data = { events: accountData };
  return { body, empty: body.rooms === undefined && body.account_data === undefined };
}

function parseTimeout(raw: string | null): number {
  if (raw === null || raw === '') return 0;
  if (!/^\d+$/.test(raw)) throw badJson();
  return Math.min(Number(raw), MAX_TIMEOUT_MS);
}

export async function sync(ctx: Ctx): Promise<void> {
  const userId = deviceOf(ctx).userId;
  const sinceRaw = ctx.query.get('since');
  const since = sinceRaw !== null && /^\d+$/.test(sinceRaw) ? Number(sinceRaw) : 0;
  const fullState = ctx.query.get('full_state') === 'true';
  const timeoutMs = parseTimeout(ctx.query.get('timeout'));
  const { body, empty } = buildSync(ctx.store, userId, since, fullState);
  if (empty && !fullState) {
    const deadline = Date.now() + timeoutMs;
    const watchFrom = ctx.store.stream;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0 || ctx.signal.aborted) break;
      await ctx.store.nextChange(remaining, ctx.signal);
      if (ctx.store.stream > watchFrom && !buildSync(ctx.store, userId, watchFrom, false).empty) break;
    }
  }
  sendJson(ctx, 200, body);
}
