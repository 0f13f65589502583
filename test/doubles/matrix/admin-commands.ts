/**
 * The admin room's command line, parsed like Conduit 0.10's parse_admin_command
 * (whitespace-split, `help x` → `x --help`, underscores → dashes, then clap) and
 * run: `deactivate-user [-l|--leave-rooms] [-m|--purge-media [-t <DURATION>] [-f]] <USER_ID>`.
 * Replies are Conduit's texts; clap's error and help texts are approximations.
 */
import { parseUserId } from './identifiers.ts';
import { leaveRoom, membershipOf } from './rooms.ts';
import type { Store } from './state.ts';
import type { JsonObject } from './types.ts';
import { deactivateAccount } from './users.ts';

/** Every subcommand of Conduit 0.10's AdminCommand enum. */
export const CONDUIT_ADMIN_COMMANDS = [
  'register-appservice',
  'unregister-appservice',
  'list-appservices',
  'list-rooms',
  'list-local-users',
  'incoming-federation',
  'remove-alias',
  'deactivate-user',
  'deactivate-all',
  'query-media',
  'show-media',
  'list-media',
  'purge-media',
  'purge-media-from-users',
  'purge-media-from-server',
  'block-media',
  'block-media-from-users',
  'list-blocked-media',
  'unblock-media',
  'get-auth-chain',
  'parse-pdu',
  'get-pdu',
  'memory-usage',
  'clear-database-caches',
  'clear-service-caches',
  'show-config',
  'reset-password',
  'create-user',
  'allow-registration',
  'disable-room',
  'enable-room',
  'sign-json',
  'verify-json',
  'hash-and-sign-event',
];

const DEACTIVATE_USAGE = 'Usage: @conduit:server.name: deactivate-user [OPTIONS] <USER_ID>';

export function textPlain(body: string): JsonObject {
  return { msgtype: 'm.text', body };
}

/** RoomMessageEventContent::text_html of a clap message, with a simplified usage_to_html. */
function clapReply(store: Store, message: string): JsonObject {
  const body = message.replaceAll('server.name', store.serverName);
  const html = body
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replace(/^(.*?)\n/, '<em>$1</em>\n')
    .replaceAll('\n\n\n', '\n\n');
  return { msgtype: 'm.text', body, format: 'org.matrix.custom.html', formatted_body: html };
}

function clapError(first: string, usage?: string): string {
  return usage ? `error: ${first}\n\n${usage}\n\nFor more information, try '--help'.\n` : `error: ${first}\n\nFor more information, try '--help'.\n`;
}

function help(): string {
  const commands = CONDUIT_ADMIN_COMMANDS.map((c) => `  ${c}`).join('\n');
  return `Usage: @conduit:server.name: <COMMAND>\n\nCommands:\n${commands}\n  help  Print this message or the help of the given subcommand(s)\n`;
}

interface DeactivateArgs {
  leaveRooms: boolean;
  userId: string;
}

function parseDeactivate(args: string[]): DeactivateArgs | string {
  const flags = { leaveRooms: false, purgeMedia: false, requiresPurge: '' };
  const positional: string[] = [];
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    if (arg === '-h' || arg === '--help') return `Deactivate a user\n\n${DEACTIVATE_USAGE}\n`;
    if (arg === '--media-from-last' || arg === '-t') {
      if (args[i + 1] === undefined) return clapError("a value is required for '--media-from-last <MEDIA_FROM_LAST>' but none was supplied");
      flags.requiresPurge ||= '--media-from-last <MEDIA_FROM_LAST>';
      i += 1;
      continue;
    }
    const short = /^-[lmf]+$/.test(arg) ? arg : '';
    if (arg === '--leave-rooms' || short.includes('l')) flags.leaveRooms = true;
    if (arg === '--purge-media' || short.includes('m')) flags.purgeMedia = true;
    if (arg === '--force-filehash' || short.includes('f')) flags.requiresPurge ||= '--force-filehash';
    const known = short !== '' || arg === '--leave-rooms' || arg === '--purge-media' || arg === '--force-filehash';
    if (!known && arg.startsWith('-')) return clapError(`unexpected argument '${arg}' found`, DEACTIVATE_USAGE);
    if (!arg.startsWith('-')) positional.push(arg);
  }
  const [userId, extra] = positional;
  if (extra !== undefined) return clapError(`unexpected argument '${extra}' found`, DEACTIVATE_USAGE);
  if (userId === undefined) return clapError('the following required arguments were not provided:\n  <USER_ID>', DEACTIVATE_USAGE);
  if (!parseUserId(userId)) return clapError(`invalid value '${userId}' for '<USER_ID>': invalid user ID`);
  if (flags.requiresPurge && !flags.purgeMedia) {
    return clapError('the following required arguments were not provided:\n  --purge-media', DEACTIVATE_USAGE);
  }
  return { leaveRooms: flags.leaveRooms, userId };
}

/** leave_all_rooms: every joined or invited room, errors ignored (the last admin stays in the admin room). */
function leaveAllRooms(store: Store, userId: string): void {
  for (const room of store.rooms.values()) {
    const membership = membershipOf(room, userId);
    if (membership !== 'join' && membership !== 'invite') continue;
    try {
      leaveRoom(store, room, userId);
    } catch {
      // Conduit: `let _ = leave_room(...)`.
    }
  }
}

function deactivateUser(store: Store, args: DeactivateArgs): JsonObject {
  const user = store.users.get(args.userId);
  if (!user) return textPlain(`User ${args.userId} doesn't exist on this server`);
  if (!args.userId.endsWith(`:${store.serverName}`)) return textPlain(`User ${args.userId} is not from this server`);
  deactivateAccount(store, user);
  if (args.leaveRooms) leaveAllRooms(store, args.userId);
  return textPlain(`User ${args.userId} has been deactivated`);
}

/** The reply content to an admin room message addressed to @conduit. */
export function runAdminCommand(store: Store, message: string): JsonObject {
  const commandLine = message.split('\n').find((line) => line.trim() !== '') ?? '';
  const argv = commandLine.split(/\s+/).filter((a) => a !== '');
  if (argv[1] === 'help') {
    argv.splice(1, 1);
    argv.push('--help');
  }
  const name = argv[1]?.replaceAll('_', '-');
  if (name === undefined || name === '--help' || name === '-h') return clapReply(store, help());
  if (name.startsWith('-')) return clapReply(store, clapError(`unexpected argument '${name}' found`, 'Usage: @conduit:server.name: <COMMAND>'));
  if (!CONDUIT_ADMIN_COMMANDS.includes(name)) {
    return clapReply(store, clapError(`unrecognized subcommand '${name}'`, 'Usage: @conduit:server.name: <COMMAND>'));
  }
  if (name !== 'deactivate-user') return textPlain(`The matrix double does not implement the admin command \`${name}\`.`);
  const parsed = parseDeactivate(argv.slice(2));
  if (typeof parsed === 'string') return clapReply(store, parsed);
  return deactivateUser(store, parsed);
}
