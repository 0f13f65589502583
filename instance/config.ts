/**
 * Instance configuration. `loadConfig` turns environment variables into a frozen,
 * typed object; `defineConfig` applies defaults to programmatic options (tests, the
 * in-process driver). Both enforce the same auth policy. The LLM API key is reduced
 * to a boolean here so it can never reach a response or a log line; the social
 * credentials are needed later, so they are kept as Secrets, which print redacted.
 */
import path from 'node:path';
import { Secret } from './secret.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export interface LlmRoute {
  readonly configured: boolean;
  /** Present only when ANTHROPIC_BASE_URL is set; credentials in the URL are removed. */
  readonly baseUrl?: string;
}

export interface InstanceConfig {
  readonly port: number;
  readonly shellPort: number;
  readonly host: string;
  readonly handle: string;
  /** Undefined means unauthenticated, which only development allows. */
  readonly authToken: string | undefined;
  readonly production: boolean;
  /** Absolute path. */
  readonly dataDir: string;
  readonly version: string;
  /** The platform this instance belongs to (MATRIXOS_PLATFORM_URL), for a link back to its dashboard; undefined when alone. */
  readonly platformUrl: string | undefined;
  readonly channels: readonly string[];
  readonly modules: readonly string[];
  readonly llm: LlmRoute;
  /** The platform's instance-facing social API; undefined when the platform gave none (sending answers 503). */
  readonly social: SocialApi | undefined;
  /** The AI's account on the platform's homeserver; undefined when there is none (nothing is received). */
  readonly matrix: MatrixAccount | undefined;
}

export interface SocialApi {
  /** MATRIXOS_SOCIAL_URL without a trailing slash, e.g. http://127.0.0.1:8080/social. */
  readonly url: string;
  /** MATRIXOS_SOCIAL_TOKEN (mxs_…): the instance's own credential for that API. */
  readonly token: Secret;
}

export interface MatrixAccount {
  /** MATRIX_HOMESERVER_URL without a trailing slash. */
  readonly homeserverUrl: string;
  /** MATRIX_USER_ID, e.g. @alice_ai:example.com. */
  readonly userId: string;
  readonly accessToken: Secret;
  readonly deviceId: string | undefined;
}

/** Programmatic options may give the credentials as plain strings; defineConfig wraps them. A loaded config is valid input too. */
export type ConfigInput = Partial<Omit<InstanceConfig, 'dataDir' | 'social' | 'matrix'>> & {
  dataDir: string;
  social?: { url: string; token: string | Secret } | undefined;
  matrix?: { homeserverUrl: string; userId: string; accessToken: string | Secret; deviceId?: string | undefined } | undefined;
};

export const DEFAULTS = Object.freeze({
  port: 4000,
  shellPort: 3000,
  host: '127.0.0.1',
  handle: 'local',
  version: 'reference-0.1.0',
  dataDir: './data',
});

export const HANDLE_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
const MATRIX_USER_ID_PATTERN = /^@[^\s:@]+:[^\s:]+(?::\d{1,5})?$/;
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function defineConfig(input: ConfigInput, cwd: string = process.cwd()): InstanceConfig {
  const authToken = input.authToken === '' ? undefined : input.authToken;
  const production = input.production ?? false;
  if (production && authToken === undefined) {
    throw new ConfigError('MATRIX_AUTH_TOKEN is required in production: set it to a long random string');
  }
  return Object.freeze({
    port: input.port ?? DEFAULTS.port,
    shellPort: input.shellPort ?? DEFAULTS.shellPort,
    host: input.host ?? DEFAULTS.host,
    handle: input.handle ?? DEFAULTS.handle,
    platformUrl: input.platformUrl && /^https?:\/\/[^\s"<>]+$/.test(input.platformUrl) ? trimSlashes(input.platformUrl) : undefined,
    authToken,
    production,
    dataDir: path.resolve(cwd, input.dataDir),
    version: input.version ?? DEFAULTS.version,
    channels: Object.freeze([...(input.channels ?? [])]),
    modules: Object.freeze([...(input.modules ?? [])]),
    llm: Object.freeze({ ...(input.llm ?? { configured: false }) }),
    social: input.social && Object.freeze({ url: trimSlashes(input.social.url), token: asSecret(input.social.token) }),
    matrix:
      input.matrix &&
      Object.freeze({
        homeserverUrl: trimSlashes(input.matrix.homeserverUrl),
        userId: input.matrix.userId,
        accessToken: asSecret(input.matrix.accessToken),
        deviceId: input.matrix.deviceId,
      }),
  });
}

/** Throws ConfigError with one line naming the variable, the bad value and what is expected. */
export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): InstanceConfig {
  const port = readPort(env, 'PORT', DEFAULTS.port);
  const shellPort = readPort(env, 'SHELL_PORT', DEFAULTS.shellPort);
  if (port !== 0 && port === shellPort) {
    throw new ConfigError(`SHELL_PORT must differ from PORT, both are ${port}`);
  }
  const host = read(env, 'HOST') ?? DEFAULTS.host;
  if (/\s/.test(host)) throw new ConfigError(`HOST must be a bind address such as 127.0.0.1 or 0.0.0.0, got "${host}"`);

  const handle = read(env, 'MATRIX_HANDLE') ?? DEFAULTS.handle;
  if (!HANDLE_PATTERN.test(handle)) {
    throw new ConfigError(`MATRIX_HANDLE must be 1 to 64 lowercase letters, digits or hyphens, starting and ending with a letter or digit, got "${handle}"`);
  }

  return defineConfig(
    {
      port,
      shellPort,
      host,
      handle,
      authToken: read(env, 'MATRIX_AUTH_TOKEN'),
      production: read(env, 'PLATFORM_MODE') === 'production' || read(env, 'NODE_ENV') === 'production',
      dataDir: read(env, 'MATRIX_DATA_DIR') ?? DEFAULTS.dataDir,
      version: read(env, 'MATRIXOS_VERSION') ?? DEFAULTS.version,
      platformUrl: read(env, 'MATRIXOS_PLATFORM_URL'),
      channels: readNames(env, 'MATRIX_CHANNELS'),
      modules: readNames(env, 'MATRIX_MODULES'),
      llm: readLlmRoute(env),
      social: readSocialApi(env),
      matrix: readMatrixAccount(env),
    },
    cwd,
  );
}

/** Empty and whitespace-only values count as unset, as they do in most shells' `VAR=` idiom. */
function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function readPort(env: Env, name: string, fallback: number): number {
  const value = read(env, name);
  if (value === undefined) return fallback;
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new ConfigError(`${name} must be a TCP port number (0-65535), got "${value}"`);
  }
  return port;
}

function readNames(env: Env, name: string): string[] {
  const value = read(env, name);
  if (value === undefined) return [];
  const names = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  const bad = names.find((part) => !NAME_PATTERN.test(part));
  if (bad !== undefined) {
    throw new ConfigError(
      `${name} must be a comma-separated list of names (letters, digits, ".", "_", ":", "-"; up to 64 characters each), got "${bad}" in "${value}"`,
    );
  }
  return [...new Set(names)];
}

function readLlmRoute(env: Env): LlmRoute {
  const configured = read(env, 'ANTHROPIC_API_KEY') !== undefined;
  const url = readHttpUrl(env, 'ANTHROPIC_BASE_URL');
  if (url === undefined) return { configured };
  url.username = '';
  url.password = '';
  return { configured, baseUrl: trimSlashes(url.toString()) };
}

/** Both variables or nothing: a URL without its token could only ever answer 401. */
function readSocialApi(env: Env): ConfigInput['social'] {
  const url = readHttpUrl(env, 'MATRIXOS_SOCIAL_URL');
  const token = read(env, 'MATRIXOS_SOCIAL_TOKEN');
  return url === undefined || token === undefined ? undefined : { url: url.toString(), token };
}

/** The platform leaves these unset until the AI's account exists; a partial set means "not ready" too. */
function readMatrixAccount(env: Env): ConfigInput['matrix'] {
  const homeserverUrl = readHttpUrl(env, 'MATRIX_HOMESERVER_URL');
  const userId = read(env, 'MATRIX_USER_ID');
  if (userId !== undefined && !MATRIX_USER_ID_PATTERN.test(userId)) {
    throw new ConfigError(`MATRIX_USER_ID must be a Matrix user id such as @alice_ai:example.com, got "${userId}"`);
  }
  const accessToken = read(env, 'MATRIX_ACCESS_TOKEN');
  if (homeserverUrl === undefined || userId === undefined || accessToken === undefined) return undefined;
  return { homeserverUrl: homeserverUrl.toString(), userId, accessToken, deviceId: read(env, 'MATRIX_DEVICE_ID') };
}

function readHttpUrl(env: Env, name: string): URL | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  const url = URL.canParse(raw) ? new URL(raw) : undefined;
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http:// or https:// URL, got "${stripCredentials(raw)}"`);
  }
  return url;
}

function asSecret(value: string | Secret): Secret {
  return value instanceof Secret ? value : new Secret(value);
}

function trimSlashes(url: string): string {
  return url.replace(/\/+$/, '');
}

function stripCredentials(value: string): string {
  return value.replace(/\/\/[^/@]*@/, '//');
}
