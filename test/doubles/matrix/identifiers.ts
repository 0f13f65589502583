/**
 * Matrix identifier grammar (spec appendices, as ruma checks it): user ids,
 * server names, room ids and aliases. Registration wants the strict localpart
 * grammar of spec v1.8+ (a-z 0-9 . _ = - / +); other user ids may use the
 * historical one (printable ASCII but ':').
 */

export const MAX_ID_BYTES = 255;

export function isStrictLocalpart(localpart: string): boolean {
  return /^[a-z0-9._=\-/+]+$/.test(localpart);
}

function isHistoricalLocalpart(localpart: string): boolean {
  return localpart !== '' && [...localpart].every((c) => c >= '!' && c <= '~' && c !== ':');
}

/** host, IPv4 or [IPv6], with an optional :port. */
export function isServerName(value: string): boolean {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(value);
  if (!match) return false;
  const port = match[2];
  return port === undefined || Number(port) <= 65535;
}

export interface UserIdParts {
  userId: string;
  localpart: string;
  serverName: string;
}

/** UserId::parse: '@localpart:server', the historical localpart grammar, at most 255 bytes. */
export function parseUserId(value: string): UserIdParts | null {
  if (!value.startsWith('@') || Buffer.byteLength(value) > MAX_ID_BYTES) return null;
  const colon = value.indexOf(':');
  if (colon < 0) return null;
  const localpart = value.slice(1, colon);
  const serverName = value.slice(colon + 1);
  if (!isHistoricalLocalpart(localpart) || !isServerName(serverName)) return null;
  return { userId: value, localpart, serverName };
}

/** UserId::parse_with_server_name: a full user id, or a localpart on `serverName`. */
export function parseWithServerName(value: string, serverName: string): UserIdParts | null {
  return parseUserId(value.startsWith('@') ? value : `@${value}:${serverName}`);
}

export function isRoomId(value: string): boolean {
  if (!value.startsWith('!') || Buffer.byteLength(value) > MAX_ID_BYTES) return false;
  const colon = value.indexOf(':');
  if (colon < 0) return value.length > 1;
  return colon > 1 && isServerName(value.slice(colon + 1));
}

export function isRoomAlias(value: string): boolean {
  if (!value.startsWith('#') || Buffer.byteLength(value) > MAX_ID_BYTES) return false;
  const colon = value.indexOf(':');
  return colon > 1 && isServerName(value.slice(colon + 1));
}
