/** Read-only copies of the store for tests: users with their devices, rooms with members and events. */
import { clientEvent, stateMapKey } from './events.ts';
import { joinRuleOf, membershipOf, membersWith } from './rooms.ts';
import type { RoomRecord, Store, UserRecord } from './state.ts';
import type { DeviceInfo, Membership, RoomInfo, UserInfo } from './types.ts';

export function userView(store: Store, user: UserRecord): UserInfo {
  const adminRoom = store.adminRoomId();
  const room = adminRoom === undefined ? undefined : store.rooms.get(adminRoom);
  return {
    userId: user.userId,
    localpart: user.localpart,
    displayname: user.displayname,
    deactivated: user.deactivated,
    hasPassword: user.password !== null,
    admin: room !== undefined && membershipOf(room, user.userId) === 'join',
    devices: store.devicesOf(user.userId).map((d) => {
      const device: DeviceInfo = { deviceId: d.deviceId, accessToken: d.accessToken };
      if (d.displayName !== undefined) device.displayName = d.displayName;
      return device;
    }),
  };
}

export function roomView(store: Store, room: RoomRecord): RoomInfo {
  const members: Record<string, Membership> = {};
  for (const event of room.state.values()) {
    if (event.type !== 'm.room.member' || event.state_key === undefined) continue;
    const membership = membershipOf(room, event.state_key);
    if (membership) members[event.state_key] = membership;
  }
  const name = room.state.get(stateMapKey('m.room.name', ''))?.content.name;
  const creatorMember = room.state.get(stateMapKey('m.room.member', room.creator));
  return {
    roomId: room.roomId,
    roomVersion: room.roomVersion,
    creator: room.creator,
    aliases: [...store.aliases].filter(([, id]) => id === room.roomId).map(([alias]) => alias),
    joinRule: joinRuleOf(room),
    name: typeof name === 'string' ? name : undefined,
    isDirect: creatorMember?.content.is_direct === true,
    members,
    joined: membersWith(room, 'join'),
    invited: membersWith(room, 'invite'),
    events: room.events.map(clientEvent),
  };
}

/** A room by id or local alias. */
export function findRoom(store: Store, roomIdOrAlias: string): RoomRecord | undefined {
  const roomId = roomIdOrAlias.startsWith('#') ? store.aliases.get(roomIdOrAlias) : roomIdOrAlias;
  return roomId === undefined ? undefined : store.rooms.get(roomId);
}
