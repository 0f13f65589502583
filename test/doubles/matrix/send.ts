/**
 * PUT /rooms/{roomId}/send/{eventType}/{txnId} (message.rs): a transaction id
 * already used by the same user and device answers the first event id again
 * without a new event (Conduit keys it by user, device and txnId only, not by
 * room); otherwise the event goes through the auth rules (not joined: 403 "Event
 * is not authorized."). A room the server does not know is Conduit's 500.
 */
import { internal } from './errors.ts';
import { type Ctx, deviceOf, objectBody, pathParam, roomIdParam, sendJson } from './request.ts';
import { appendEvent } from './rooms.ts';

export function sendMessage(ctx: Ctx, rawRoomId: string | undefined, rawType: string | undefined, rawTxnId: string | undefined): void {
  const roomId = roomIdParam(rawRoomId);
  const type = pathParam(rawType);
  const txnId = pathParam(rawTxnId);
  const content = objectBody(ctx);
  const { store } = ctx;
  const device = deviceOf(ctx);
  const key = `${device.userId}\0${device.deviceId}\0${txnId}`;
  const previous = store.txns.get(key);
  if (previous !== undefined) return sendJson(ctx, 200, { event_id: previous });
  const room = store.rooms.get(roomId);
  if (!room) throw internal(`non-create event for room of unknown version in ${roomId}`);
  const event = appendEvent(store, room, { type, sender: device.userId, content, unsigned: { transaction_id: txnId } });
  store.txns.set(key, event.event_id);
  sendJson(ctx, 200, { event_id: event.event_id });
}
