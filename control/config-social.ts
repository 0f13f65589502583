/** The social layer's settings (control/social/): the Matrix homeserver and the limits on writes. */
import type { EnvReader } from './config-parse.ts';

export interface SocialConfig {
  /** Null: no homeserver; profiles, discovery and the feed work, messages are refused (503). */
  matrix: {
    /** Where the platform reaches the homeserver's client-server API. */
    homeserverUrl: string;
    /** Where instances reach it (MATRIX_HOMESERVER_URL in their environment); often another address. */
    instanceHomeserverUrl: string;
    /** The part after the colon in @user:server; the homeserver's CONDUIT_SERVER_NAME. */
    serverName: string;
    registrationToken: string;
    /** Localpart of the platform's service account, which sends Conduit's admin commands. */
    serviceUser: string;
    timeoutMs: number;
  } | null;
  /** Messages a sender may post per minute (site and instance together). */
  sendPerMinute: number;
  messageMaxChars: number;
  /** How long an instance's AI profile is cached, and how long the platform waits for it. */
  profileCacheMs: number;
  profileTimeoutMs: number;
  /** Give up on a message after this many failed deliveries (an outage does not count). */
  maxDeliveryAttempts: number;
  /** What instances get as MATRIXOS_SOCIAL_URL; null: the meter listener's URL + /social. */
  instanceUrl: string | null;
}

export function parseSocial(read: EnvReader, domain: string): SocialConfig {
  const homeserver = read.raw('MATRIX_HOMESERVER_URL') === undefined ? null : read.url('MATRIX_HOMESERVER_URL', '', ['http:', 'https:']).replace(/\/+$/, '');
  let matrix: SocialConfig['matrix'] = null;
  if (homeserver) {
    const registrationToken = read.secret('MATRIX_REGISTRATION_TOKEN', 16);
    if (registrationToken === null && read.raw('MATRIX_REGISTRATION_TOKEN') === undefined)
      read.problems.push("MATRIX_REGISTRATION_TOKEN is required with MATRIX_HOMESERVER_URL: the homeserver's CONDUIT_REGISTRATION_TOKEN");
    const serverName = read.string('MATRIX_SERVER_NAME', domain).toLowerCase();
    read.require(/^[a-z0-9.-]+(:\d+)?$/.test(serverName), `MATRIX_SERVER_NAME must be a host name like matrix-os.example, got "${serverName}"`);
    const serviceUser = read.string('MATRIX_SERVICE_USER', 'matrixos');
    read.require(/^[a-z0-9._=/-]{1,64}$/.test(serviceUser), `MATRIX_SERVICE_USER must be a Matrix localpart (a-z 0-9 . _ = - /), got "${serviceUser}"`);
    matrix = {
      homeserverUrl: homeserver,
      instanceHomeserverUrl:
        read.raw('MATRIX_INSTANCE_HOMESERVER_URL') === undefined
          ? homeserver
          : read.url('MATRIX_INSTANCE_HOMESERVER_URL', '', ['http:', 'https:']).replace(/\/+$/, ''),
      serverName,
      registrationToken: registrationToken ?? '',
      serviceUser,
      timeoutMs: read.duration('MATRIX_TIMEOUT', 10_000, 100),
    };
  }
  return {
    matrix,
    sendPerMinute: read.integer('SOCIAL_SEND_PER_MINUTE', 20, 1, 10_000),
    messageMaxChars: read.integer('SOCIAL_MESSAGE_MAX_CHARS', 4000, 1, 60_000),
    profileCacheMs: read.duration('SOCIAL_PROFILE_CACHE_TTL', 60_000, 0),
    profileTimeoutMs: read.duration('SOCIAL_PROFILE_TIMEOUT', 2000, 10),
    maxDeliveryAttempts: read.integer('SOCIAL_MAX_DELIVERY_ATTEMPTS', 8, 1, 100),
    instanceUrl: read.raw('SOCIAL_INSTANCE_URL') === undefined ? null : read.url('SOCIAL_INSTANCE_URL', '', ['http:', 'https:']).replace(/\/+$/, ''),
  };
}
