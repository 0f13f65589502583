/**
 * The control service's configuration: parsed once from the environment into a
 * typed, deeply frozen object. Nothing else in control/ reads process.env.
 * Every variable is documented in .env.example with its default.
 */

import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type MeterConfig, parseMeter } from './config-meter.ts';
import { deepFreeze, type Env, EnvReader } from './config-parse.ts';
import { parseSignup, type SignupConfig } from './config-signup.ts';
import { parseSocial, type SocialConfig } from './config-social.ts';
import { ConfigError } from './errors.ts';

type PlatformMode = 'development' | 'production';
type OrchestratorKind = 'local' | 'nomad';
type NomadVolumeMode = 'docker-volume' | 'host';

export interface Config {
  mode: PlatformMode;
  dataDir: string;
  /** `sqlite:<path>` or a postgres:// URL. */
  databaseUrl: string;
  api: { host: string; port: number; bodyLimitBytes: number };
  /** Null in development when unset: main.ts then generates one under dataDir. */
  platformSecret: string | null;
  /** Key from which per-instance credentials are derived; same rule as platformSecret. */
  secretKey: string | null;
  /** SECRET_KEY values rotated out: secrets sealed at rest under them still open (and are sealed again). */
  secretKeyPrevious: string[];
  /** PLATFORM_DEV=1: the platform API accepts requests without a bearer secret. */
  apiAuthDisabled: boolean;
  orchestrator: OrchestratorKind;
  /** Settings of the nomad driver (defaults even when another driver runs). */
  nomad: {
    address: string;
    token: string | null;
    namespace: string;
    region: string | null;
    datacenters: string[];
    /** Resources.CPU (MHz) = INSTANCE_CPU (cores) * this. */
    cpuMhzPerCore: number;
    volumeMode: NomadVolumeMode;
    timeoutMs: number;
  };
  /** Names this control replica in leases; unique per replica (defaults to the host name). */
  replicaId: string;
  instance: {
    /** Shell command the local driver runs; null runs the reference instance in instance/. */
    command: string | null;
    image: string;
    cpu: number;
    memoryMB: number;
    /** Burst ceiling (Nomad MemoryMaxMB; needs memory oversubscription); null for none. */
    memoryMaxMB: number | null;
    startTimeoutMs: number;
  };
  lifecycle: {
    idleTimeoutMs: number;
    sweepIntervalMs: number;
    activityFlushIntervalMs: number;
    /** Crashed instances are restarted at most `restartLimit` times in `restartWindowMs`, then `failed`. */
    restartLimit: number;
    restartWindowMs: number;
    /** Wait before the second restart in a window (the first is at once); each later one waits 4 times longer. */
    restartBackoffMs: number;
  };
  provisioning: {
    maxAttempts: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
    leaseMs: number;
    pollIntervalMs: number;
    concurrency: number;
  };
  /** The public listener: the site at the apex, instances at {handle}.INSTANCE_DOMAIN. */
  public: {
    host: string;
    port: number;
    /** Lowercase host name the platform is served under, e.g. matrix-os.example. */
    domain: string;
    /**
     * Where instances live: {handle}.instanceDomain (default: domain). A registrable
     * domain of its own keeps every site cookie away from tenants' hosts.
     */
    instanceDomain: string;
    /** The apex as users see it (scheme, host, port), without a trailing slash. */
    url: string;
    /** true when users reach the platform over https. */
    secure: boolean;
    /**
     * Platform cookies get Secure and the __Host- prefix (so no page on another host can
     * plant or shadow them): over https, and on localhost, which browsers treat as secure.
     */
    secureCookies: boolean;
    /** Peers whose X-Forwarded-* headers are believed (IPs or CIDRs), e.g. cloudflared on 127.0.0.1. */
    trustedProxies: string[];
  };
  router: {
    /** Path prefixes sent to the gateway port; everything else goes to the shell. */
    gatewayPaths: string[];
    bodyLimitBytes: number;
    connectTimeoutMs: number;
    /** Longest wait for the instance's response headers (bodies and streams are not limited). */
    upstreamTimeoutMs: number;
    /** How long API and WebSocket clients are held while a stopped instance wakes. */
    wakeHoldMs: number;
    /** Lifetime of the host-only session cookie on an instance's host. */
    sessionTtlMs: number;
    /** How often every open WebSocket counts as activity. */
    wsActivityIntervalMs: number;
    /** How often the route cache reads other replicas' changes from the event table. */
    routeSyncIntervalMs: number;
    /** Keep-alive connections per instance port. */
    upstreamConnections: number;
    /** 1: the router runs inside the control process; more: that many router worker processes. */
    processes: number;
  };
  /** Sign-in. issuer null: the embedded development provider (never in production). */
  identity: {
    issuer: string | null;
    clientId: string;
    /** null with the development provider: derived from SECRET_KEY. */
    clientSecret: string | null;
    devIdp: { host: string; port: number };
    /** Emails that are admins from their first sign-in. */
    adminEmails: string[];
    /** Sign in with GitHub (GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET); null: not offered. */
    github: { clientId: string; clientSecret: string; url: string; apiUrl: string } | null;
    sessionTtlMs: number;
  };
  /** What instances get as ANTHROPIC_BASE_URL; null: the meter's own listener URL. */
  meterUrl: string | null;
  meter: MeterConfig;
  social: SocialConfig;
  /** Who may sign up (SIGNUP_MODE and its lists). */
  signup: SignupConfig;
  /**
   * MAX_RUNNING_INSTANCES (null: no limit): more wait in a fair queue. With
   * EVICT_IDLE_WHEN_FULL the longest-idle running instance is stopped to make room.
   */
  capacity: { maxRunning: number | null; evictIdleWhenFull: boolean };
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Development-only choices in force, each warned about loudly at start-up. */
  devWarnings: string[];
}

const DEFAULT_INSTANCE_IMAGE = 'ghcr.io/hamedmp/matrix-os:latest';

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const read = new EnvReader(env);
  const mode = read.oneOf('PLATFORM_MODE', ['development', 'production'] as const, 'development');
  const production = mode === 'production';
  const dataDir = path.resolve(cwd, read.string('DATA_DIR', '.data'));
  const databaseUrl = parseDatabaseUrl(read, dataDir, cwd);

  const platformSecret = read.secret('PLATFORM_SECRET', 32);
  const secretKey = read.secret('SECRET_KEY', 32);
  const apiAuthDisabled = read.flag('PLATFORM_DEV');
  const orchestrator = read.oneOf('ORCHESTRATOR', ['local', 'nomad'] as const, 'local');
  const allowLocalDriver = read.flag('ALLOW_LOCAL_DRIVER');
  const publicSide = parsePublic(read, production);

  const config: Config = {
    mode,
    dataDir,
    databaseUrl,
    api: {
      host: read.string('API_HOST', '127.0.0.1'),
      port: read.port('API_PORT', 9000),
      bodyLimitBytes: read.integer('API_BODY_LIMIT_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
    },
    platformSecret,
    secretKey,
    secretKeyPrevious: read
      .string('SECRET_KEY_PREVIOUS', '')
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean),
    apiAuthDisabled,
    orchestrator,
    replicaId: parseReplicaId(read),
    nomad: {
      address: read.url('NOMAD_ADDR', 'http://127.0.0.1:4646', ['http:', 'https:']),
      token: read.optionalString('NOMAD_TOKEN'),
      namespace: read.string('NOMAD_NAMESPACE', 'default'),
      region: read.optionalString('NOMAD_REGION'),
      datacenters: read
        .string('NOMAD_DATACENTERS', '*')
        .split(',')
        .map((d) => d.trim())
        .filter(Boolean),
      cpuMhzPerCore: read.integer('NOMAD_CPU_MHZ_PER_CORE', 2000, 100, 10_000),
      volumeMode: read.oneOf('NOMAD_VOLUME_MODE', ['docker-volume', 'host'] as const, 'docker-volume'),
      timeoutMs: read.duration('NOMAD_TIMEOUT', 10_000, 100),
    },
    instance: {
      command: read.optionalString('INSTANCE_COMMAND'),
      image: read.string('INSTANCE_IMAGE', DEFAULT_INSTANCE_IMAGE),
      cpu: read.number('INSTANCE_CPU', 0.5, 0.05, 64),
      memoryMB: read.integer('INSTANCE_MEMORY_MB', 256, 64, 65536),
      memoryMaxMB: read.raw('INSTANCE_MEMORY_MAX_MB') === undefined ? null : read.integer('INSTANCE_MEMORY_MAX_MB', 512, 64, 65536),
      startTimeoutMs: read.duration('INSTANCE_START_TIMEOUT', 60_000, 1000),
    },
    lifecycle: {
      idleTimeoutMs: read.duration('IDLE_TIMEOUT', 30 * 60_000, 1000),
      sweepIntervalMs: read.duration('SWEEP_INTERVAL', 5 * 60_000, 100),
      activityFlushIntervalMs: read.duration('ACTIVITY_FLUSH_INTERVAL', 5000, 50),
      restartLimit: read.integer('RESTART_LIMIT', 3, 0, 100),
      restartWindowMs: read.duration('RESTART_WINDOW', 10 * 60_000, 1000),
      restartBackoffMs: read.duration('RESTART_BACKOFF', 5000, 0),
    },
    provisioning: {
      maxAttempts: read.integer('PROVISION_MAX_ATTEMPTS', 5, 1, 100),
      backoffBaseMs: read.duration('PROVISION_BACKOFF_BASE', 1000, 10),
      backoffMaxMs: read.duration('PROVISION_BACKOFF_MAX', 60_000, 10),
      leaseMs: read.duration('PROVISION_LEASE', 30_000, 500),
      pollIntervalMs: read.duration('WORKER_POLL_INTERVAL', 1000, 10),
      concurrency: read.integer('WORKER_CONCURRENCY', 16, 1, 256),
    },
    public: publicSide,
    router: {
      gatewayPaths: parseGatewayPaths(read),
      bodyLimitBytes: read.integer('ROUTER_BODY_LIMIT_BYTES', 32 * 1024 * 1024, 0, 4 * 1024 * 1024 * 1024),
      connectTimeoutMs: read.duration('ROUTER_CONNECT_TIMEOUT', 5000, 10),
      upstreamTimeoutMs: read.duration('ROUTER_UPSTREAM_TIMEOUT', 60_000, 10),
      wakeHoldMs: read.duration('WAKE_HOLD_TIMEOUT', 30_000, 0),
      sessionTtlMs: read.duration('INSTANCE_SESSION_TTL', 12 * 3_600_000, 1000),
      wsActivityIntervalMs: 0, // set below: its default depends on IDLE_TIMEOUT
      routeSyncIntervalMs: read.duration('ROUTE_SYNC_INTERVAL', 1000, 50),
      upstreamConnections: read.integer('ROUTER_UPSTREAM_CONNECTIONS', 64, 1, 4096),
      processes: read.integer('ROUTER_PROCESSES', 1, 1, 64),
    },
    identity: {
      issuer: read.raw('OIDC_ISSUER') === undefined ? null : read.url('OIDC_ISSUER', '', ['https:', 'http:']),
      clientId: read.string('OIDC_CLIENT_ID', 'matrixos-platform'),
      clientSecret: read.optionalString('OIDC_CLIENT_SECRET'),
      devIdp: { host: read.string('DEV_IDP_HOST', '127.0.0.1'), port: read.port('DEV_IDP_PORT', 9100) },
      adminEmails: read
        .string('ADMIN_EMAILS', '')
        .split(',')
        .map((e) => e.trim().toLowerCase())
        .filter(Boolean),
      sessionTtlMs: read.duration('SESSION_TTL', 7 * 86_400_000, 60_000),
      github: parseGitHub(read),
    },
    meterUrl: read.raw('METER_URL') === undefined ? null : read.url('METER_URL', '', ['http:', 'https:']),
    meter: parseMeter(read),
    social: parseSocial(read, publicSide.domain),
    signup: parseSignup(read),
    capacity: {
      maxRunning: read.integer('MAX_RUNNING_INSTANCES', 0, 0, 100_000) || null,
      evictIdleWhenFull: read.flag('EVICT_IDLE_WHEN_FULL'),
    },
    logLevel: read.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    devWarnings: [],
  };

  // Unset, an open WebSocket counts at least twice per idle period (60 s at the 30-minute default).
  config.router.wsActivityIntervalMs = read.duration('WS_ACTIVITY_INTERVAL', Math.min(60_000, Math.floor(config.lifecycle.idleTimeoutMs / 2)), 50);
  checkCrossFieldRules(read, config, { production, allowLocalDriver });
  if (read.problems.length > 0) throw new ConfigError(read.problems.join('\n'));
  config.devWarnings.push(...developmentWarnings(config, allowLocalDriver));
  return deepFreeze(config);
}

function parseDatabaseUrl(read: EnvReader, dataDir: string, cwd: string): string {
  const value = read.raw('DATABASE_URL');
  if (value === undefined) return `sqlite:${path.join(dataDir, 'platform.sqlite')}`;
  if (/^postgres(ql)?:\/\//.test(value)) return value;
  if (value.startsWith('sqlite:')) {
    const file = value.slice('sqlite:'.length).replace(/^\/\//, '');
    if (file === '') {
      read.problems.push('DATABASE_URL "sqlite:" needs a file path, e.g. sqlite:.data/platform.sqlite');
      return value;
    }
    return `sqlite:${path.resolve(cwd, file)}`;
  }
  read.problems.push('DATABASE_URL must start with postgres://, postgresql:// or sqlite:, got an unsupported scheme');
  return value;
}

const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

function parsePublic(read: EnvReader, production: boolean): Config['public'] {
  const domain = read.string('DOMAIN', 'localhost').toLowerCase();
  read.require(DNS_NAME.test(domain), `DOMAIN must be a host name like matrix-os.example (no scheme, port or path), got "${domain}"`);
  const port = read.port('PUBLIC_PORT', 8000);
  const url = read.url('PUBLIC_URL', production ? `https://${domain}` : `http://${domain}:${port || 8000}`, ['http:', 'https:']);
  let secure = false;
  try {
    const parsed = new URL(url);
    secure = parsed.protocol === 'https:';
    read.require(parsed.hostname === domain, `PUBLIC_URL must be served at DOMAIN (${domain}), got host "${parsed.hostname}"`);
    read.require(parsed.pathname === '/' && !parsed.search, `PUBLIC_URL must be the apex without a path, got "${url}"`);
  } catch {
    // read.url has already reported it.
  }
  read.require(!production || secure, 'PUBLIC_URL must start with https:// when PLATFORM_MODE=production: instance cookies are only safe over TLS');
  const instanceDomain = read.string('INSTANCE_DOMAIN', domain).toLowerCase();
  read.require(
    DNS_NAME.test(instanceDomain),
    `INSTANCE_DOMAIN must be a host name like matrix-os-apps.example (no scheme, port or path), got "${instanceDomain}"`,
  );
  read.require(
    instanceDomain === domain || (!domain.endsWith(`.${instanceDomain}`) && `www.${domain}` !== instanceDomain),
    `INSTANCE_DOMAIN must be DOMAIN itself or a domain the site is not under, got "${instanceDomain}" for DOMAIN "${domain}"`,
  );
  const localhost = (name: string) => name === 'localhost' || name.endsWith('.localhost');
  const secureCookies = secure || (localhost(domain) && localhost(instanceDomain));
  const trustedProxies = read
    .string('TRUSTED_PROXIES', '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  for (const entry of trustedProxies) {
    const [ip, bits, extra] = entry.split('/');
    const family = net.isIP(ip ?? '');
    const max = family === 6 ? 128 : 32;
    const okBits = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= max);
    read.require(
      family !== 0 && okBits && extra === undefined,
      `TRUSTED_PROXIES entries must be IP addresses or CIDRs like 127.0.0.1 or 10.0.0.0/8, got "${entry}"`,
    );
  }
  return { host: read.string('PUBLIC_HOST', '127.0.0.1'), port, domain, instanceDomain, url, secure, secureCookies, trustedProxies };
}

function parseGatewayPaths(read: EnvReader): string[] {
  const paths = read
    .string('ROUTER_GATEWAY_PATHS', '/api/,/ws,/files/,/modules/,/health')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  for (const p of paths) read.require(/^\/[A-Za-z0-9._~/-]*$/.test(p), `ROUTER_GATEWAY_PATHS entries must be paths starting with /, got "${p}"`);
  return paths;
}

function parseReplicaId(read: EnvReader): string {
  // No underscore: it is a wildcard in the LIKE that finds this replica's old leases.
  const value = read.string(
    'REPLICA_ID',
    os
      .hostname()
      .replace(/[^A-Za-z0-9.-]/g, '-')
      .slice(0, 48) || 'control',
  );
  read.require(/^[A-Za-z0-9.-]{1,48}$/.test(value), `REPLICA_ID must be 1 to 48 letters, digits, dots or hyphens, got "${value}"`);
  return value;
}

function checkCrossFieldRules(read: EnvReader, config: Config, opts: { production: boolean; allowLocalDriver: boolean }): void {
  const p = config.provisioning;
  if (config.instance.memoryMaxMB !== null) {
    read.require(
      config.instance.memoryMaxMB >= config.instance.memoryMB,
      `INSTANCE_MEMORY_MAX_MB (${config.instance.memoryMaxMB}) must not be below INSTANCE_MEMORY_MB (${config.instance.memoryMB})`,
    );
  }
  read.require(config.nomad.datacenters.length > 0, 'NOMAD_DATACENTERS must name at least one datacenter (or *)');
  read.require(
    p.backoffMaxMs >= p.backoffBaseMs,
    `PROVISION_BACKOFF_MAX (${p.backoffMaxMs}ms) must not be below PROVISION_BACKOFF_BASE (${p.backoffBaseMs}ms)`,
  );
  read.require(
    config.lifecycle.activityFlushIntervalMs < config.lifecycle.idleTimeoutMs,
    'ACTIVITY_FLUSH_INTERVAL must be shorter than IDLE_TIMEOUT, or active instances could be stopped',
  );
  read.require(
    config.router.wsActivityIntervalMs < config.lifecycle.idleTimeoutMs,
    'WS_ACTIVITY_INTERVAL must be shorter than IDLE_TIMEOUT, or an open WebSocket could not keep its instance awake',
  );
  for (const email of config.identity.adminEmails)
    read.require(/^[^\s@]+@[^\s@]+$/.test(email), `ADMIN_EMAILS entries must be email addresses, got "${email}"`);
  if (config.identity.issuer !== null) {
    read.require(
      config.identity.clientSecret !== null,
      'OIDC_CLIENT_SECRET is required with OIDC_ISSUER: the client secret your provider issued for OIDC_CLIENT_ID',
    );
  }
  if (!opts.production) return;
  read.require(
    config.identity.issuer !== null || config.identity.github !== null,
    'OIDC_ISSUER (or GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET) is required when PLATFORM_MODE=production: the embedded development sign-in accepts any email (docs/identity.md shows how to set up a provider)',
  );
  read.require(
    config.identity.github === null || (config.identity.github.url.startsWith('https://') && config.identity.github.apiUrl.startsWith('https://')),
    "GITHUB_URL and GITHUB_API_URL must be https:// URLs when PLATFORM_MODE=production (the API calls carry the user's token)",
  );
  read.require(
    config.identity.issuer === null || config.identity.issuer.startsWith('https://'),
    'OIDC_ISSUER must be an https:// URL when PLATFORM_MODE=production',
  );
  read.require(
    config.platformSecret !== null,
    'PLATFORM_SECRET is required when PLATFORM_MODE=production: set it to a random string of at least 32 characters (openssl rand -hex 32)',
  );
  read.require(
    config.secretKey !== null,
    'SECRET_KEY is required when PLATFORM_MODE=production: set it to a random string of at least 32 characters (openssl rand -hex 32)',
  );
  read.require(!config.apiAuthDisabled, 'PLATFORM_DEV=1 is refused when PLATFORM_MODE=production: the platform API must require PLATFORM_SECRET');
  read.require(
    config.orchestrator !== 'local' || opts.allowLocalDriver,
    'ORCHESTRATOR=local is a development driver: in production set ORCHESTRATOR=nomad, or ALLOW_LOCAL_DRIVER=1 to run instances as local processes anyway',
  );
}

function parseGitHub(read: EnvReader): Config['identity']['github'] {
  const clientId = read.optionalString('GITHUB_CLIENT_ID');
  const clientSecret = read.optionalString('GITHUB_CLIENT_SECRET');
  if (clientId === null && clientSecret === null) return null;
  if (clientId === null || clientSecret === null) {
    read.problems.push('GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET go together: set both (from the GitHub OAuth app), or neither');
    return null;
  }
  const url = read.url('GITHUB_URL', 'https://github.com', ['https:', 'http:']).replace(/\/+$/, '');
  return { clientId, clientSecret, url, apiUrl: read.url('GITHUB_API_URL', 'https://api.github.com', ['https:', 'http:']).replace(/\/+$/, '') };
}

function developmentWarnings(config: Config, allowLocalDriver: boolean): string[] {
  const warnings: string[] = [];
  if (config.apiAuthDisabled) warnings.push('PLATFORM_DEV=1: the platform API accepts requests WITHOUT a bearer secret. Never use this on a reachable host.');
  if (config.mode === 'development' && config.platformSecret === null) {
    warnings.push('PLATFORM_SECRET is not set: using a generated development secret stored in DATA_DIR/dev-secrets.json.');
  }
  if (config.identity.issuer === null) {
    warnings.push(
      `OIDC_ISSUER is not set: the embedded development identity provider on port ${config.identity.devIdp.port} signs in ANY email without a password.`,
    );
  }
  if (config.orchestrator === 'local') {
    warnings.push(
      allowLocalDriver && config.mode === 'production'
        ? 'ALLOW_LOCAL_DRIVER=1: instances run as local processes with best-effort memory limits only.'
        : 'ORCHESTRATOR=local: instances run as local processes; memory and CPU limits are best effort (development only).',
    );
  }
  return warnings;
}
