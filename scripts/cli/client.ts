/**
 * Typed HTTP client for the platform API (the control service's internal listener).
 * Errors: ApiError for `{error: {code, message}}` answers, ConnectionError when the
 * API cannot be reached. The bearer secret is sent, never printed.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BackupManifest } from '../../control/backup.ts';
import type { StoredEvent } from '../../control/provisioning/store.ts';
import type { InstanceView } from '../../control/provisioning/views.ts';

export type { InstanceView, StoredEvent };

const DEFAULT_PLATFORM_URL = 'http://127.0.0.1:9000';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export class ConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConnectionError';
  }
}

interface ClientOptions {
  baseUrl: string;
  /** null: send no Authorization header (PLATFORM_DEV=1 platforms accept that). */
  secret: string | null;
  /** Where the secret came from, for hints on 401; never the secret itself. */
  secretSource: string;
}

export interface HealthReport {
  status: string;
  database: { ok: boolean; detail: string };
  orchestrator: { driver: string; ok: boolean; detail: string };
}

export interface SystemInfo {
  version: string;
  mode: string;
  uptimeSeconds: number;
  startedAt: string;
  node: string;
  driver: string;
  database: string;
  instances: Record<string, number>;
}

export interface BudgetView {
  message: string;
  remainingUsd: string;
  limitUsd: string;
  spentUsd: string;
  reservedUsd: string;
  period: string;
  resetsAt: string | null;
}

interface Spend {
  costMicro: number;
  costUsd: string;
  calls: number;
}

export interface UsageReport {
  days: number;
  byDay: Array<Spend & { day: string }>;
  byModel: Array<Spend & { model: string }>;
  topSpenders: Array<Spend & { handle: string }>;
  platform: { limitUsd: string | null; spentUsd: string; reservedUsd: string };
}

export interface PriceView {
  family: string;
  version: string;
  aliases: string[];
  usdPerMillionTokens: Record<'input' | 'cacheWrite5m' | 'cacheWrite1h' | 'cacheRead' | 'output', string>;
  webSearchPerRequestUsd: string;
  tiers: Array<{ abovePromptTokens: number; usdPerMillionTokens: Record<string, string> }>;
}

interface InstanceResponse {
  instance: InstanceView;
}
interface ChangeResponse extends InstanceResponse {
  changed: boolean;
}
interface ProvisionResponse extends InstanceResponse {
  created: boolean;
}
interface ListResponse {
  instances: InstanceView[];
  total: number;
}
interface EventsResponse {
  events: StoredEvent[];
}

/** Client settings from the environment: PLATFORM_URL, PLATFORM_SECRET, else DATA_DIR/dev-secrets.json. */
export function clientOptionsFromEnv(env: NodeJS.ProcessEnv, cwd: string): ClientOptions {
  const baseUrl = (env.PLATFORM_URL?.trim() || DEFAULT_PLATFORM_URL).replace(/\/+$/, '');
  if (env.PLATFORM_SECRET) return { baseUrl, secret: env.PLATFORM_SECRET, secretSource: 'PLATFORM_SECRET' };
  const file = path.join(path.resolve(cwd, env.DATA_DIR || '.data'), 'dev-secrets.json');
  try {
    const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as { platformSecret?: unknown };
    if (typeof stored.platformSecret === 'string' && stored.platformSecret !== '') {
      return { baseUrl, secret: stored.platformSecret, secretSource: file };
    }
  } catch {
    /* no development secrets here */
  }
  return { baseUrl, secret: null, secretSource: `PLATFORM_SECRET is unset and ${file} was not found` };
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** The network error code (ECONNREFUSED…) in the cause chain, else the innermost message. */
function describeNetworkError(err: unknown): string {
  let innermost = err instanceof Error ? err.message : String(err);
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code === 'ECONNREFUSED' ? 'connection refused' : code;
    if (e instanceof Error) innermost = e.message;
  }
  return innermost;
}

export function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

export class PlatformClient {
  constructor(readonly options: ClientOptions) {}

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  /** One request; any answer outside 2xx (except `okStatuses`) becomes ApiError. */
  async request(
    method: string,
    pathname: string,
    init: { body?: unknown; accept?: string; signal?: AbortSignal; okStatuses?: number[] } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { Accept: init.accept ?? 'application/json' };
    if (this.options.secret) headers.Authorization = `Bearer ${this.options.secret}`;
    if (init.body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${pathname}`, {
        method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: init.signal,
      });
    } catch (err) {
      if (isAbort(err)) throw err;
      throw new ConnectionError(
        `Cannot reach the platform API at ${this.baseUrl} (PLATFORM_URL): ${describeNetworkError(err)}. ` +
          'Is the control service running? Start it with `npm start`, or point PLATFORM_URL at it.',
        { cause: err },
      );
    }
    if (response.ok || init.okStatuses?.includes(response.status)) return response;
    throw await this.toApiError(response);
  }

  private async toApiError(response: Response): Promise<ApiError> {
    const text = await response.text().catch(() => '');
    let code = `http_${response.status}`;
    let message = `The platform API answered ${response.status} ${response.statusText}.`;
    try {
      const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
      if (typeof body.error?.code === 'string') code = body.error.code;
      if (typeof body.error?.message === 'string') message = body.error.message;
    } catch {
      /* not JSON: keep the generic message */
    }
    if (response.status === 401) {
      message +=
        this.options.secret === null
          ? ` The CLI sent no secret: ${this.options.secretSource}. Set PLATFORM_SECRET.`
          : ` (The CLI's secret came from ${this.options.secretSource}; it must match the control service's PLATFORM_SECRET.)`;
    }
    return new ApiError(response.status, code, message);
  }

  private async json<T>(method: string, pathname: string, body?: unknown): Promise<T> {
    return (await (await this.request(method, pathname, { body })).json()) as T;
  }

  /** `user`: an existing user by email, handle or id; `userId`: taken as it is (a new id creates that user). */
  provision(handle: string, owner: { user: string } | { userId: string }): Promise<ProvisionResponse> {
    return this.json('POST', '/containers/provision', { handle, ...owner });
  }

  list(filter: { status?: string; limit?: number } = {}): Promise<ListResponse> {
    const query = new URLSearchParams();
    if (filter.status !== undefined) query.set('status', filter.status);
    if (filter.limit !== undefined) query.set('limit', String(filter.limit));
    const qs = query.toString();
    return this.json('GET', `/containers${qs ? `?${qs}` : ''}`);
  }

  get(handle: string): Promise<InstanceResponse> {
    return this.json('GET', `/containers/${encodeURIComponent(handle)}`);
  }

  action(handle: string, action: 'start' | 'stop'): Promise<ChangeResponse> {
    return this.json('POST', `/containers/${encodeURIComponent(handle)}/${action}`);
  }

  destroy(handle: string, purge: boolean): Promise<ChangeResponse> {
    const query = new URLSearchParams({ confirm: handle });
    if (purge) query.set('purge', '1');
    return this.json('DELETE', `/containers/${encodeURIComponent(handle)}?${query}`);
  }

  /** `user`: whom the link signs in (email, handle or id); none: admin access. */
  loginLink(handle: string, user: string | undefined): Promise<{ url: string; access: string; expiresAt: string }> {
    return this.json('POST', `/containers/${encodeURIComponent(handle)}/login-link`, user === undefined ? {} : { user });
  }

  rotate(handle: string, credentials: string[]): Promise<{ handle: string; rotated: string[]; token?: string; url: string; redeploying?: boolean }> {
    return this.json('POST', `/containers/${encodeURIComponent(handle)}/rotate`, { credentials });
  }

  rotateToken(handle: string): Promise<{ handle: string; token: string; generation: number; url: string }> {
    return this.json('POST', `/containers/${encodeURIComponent(handle)}/token`);
  }

  events(handle: string, after = 0, limit = 5000): Promise<EventsResponse> {
    return this.json('GET', `/containers/${encodeURIComponent(handle)}/events?after=${after}&limit=${limit}`);
  }

  /** Opens the SSE stream of events after `after`; the caller reads (and cancels) the body. */
  async eventStream(handle: string, after: number, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const response = await this.request('GET', `/containers/${encodeURIComponent(handle)}/events?follow=1&after=${after}`, {
      accept: 'text/event-stream',
      signal,
    });
    if (!response.body) throw new ConnectionError(`The platform API at ${this.baseUrl} sent an empty event stream.`);
    return response.body;
  }

  budget(handle: string): Promise<{ handle: string; budget: BudgetView }> {
    return this.json('GET', `/users/${encodeURIComponent(handle)}/budget`);
  }

  /** Leaves out what is undefined (it stays as it is); null restores the default. */
  setBudget(handle: string, change: { usd?: string | null; period?: string | null }): Promise<{ handle: string; budget: BudgetView }> {
    return this.json('PUT', `/users/${encodeURIComponent(handle)}/budget`, change);
  }

  usage(days: number): Promise<UsageReport> {
    return this.json('GET', `/usage?days=${days}`);
  }

  /** The ledger as CSV, streamed. */
  async ledger(): Promise<ReadableStream<Uint8Array>> {
    const response = await this.request('GET', '/usage/ledger.csv', { accept: 'text/csv' });
    if (!response.body) throw new ConnectionError(`The platform API at ${this.baseUrl} sent an empty ledger.`);
    return response.body;
  }

  prices(): Promise<{ version: string; families: PriceView[] }> {
    return this.json('GET', '/prices');
  }

  setPrice(family: string, rates: Record<string, string>): Promise<{ family: string; version: string }> {
    return this.json('PUT', `/prices/${encodeURIComponent(family)}`, rates);
  }

  rotateMeterKey(handle: string): Promise<{ handle: string; key: string; redeploying: boolean }> {
    return this.json('POST', `/users/${encodeURIComponent(handle)}/meter-key`);
  }

  invites(): Promise<{ invites: InviteView[] }> {
    return this.json('GET', '/invites');
  }

  createInvite(input: { uses?: number; expiresInDays?: number; note?: string }): Promise<{ invite: InviteView; code: string; url: string }> {
    return this.json('POST', '/invites', input);
  }

  revokeInvite(id: string): Promise<{ invite: InviteView }> {
    return this.json('DELETE', `/invites/${encodeURIComponent(id)}`);
  }

  backup(): Promise<{ path: string; manifest: BackupManifest }> {
    return this.json('POST', '/backups');
  }

  /** 503 (degraded) is an answer here, not an error. */
  async health(): Promise<HealthReport> {
    return (await (await this.request('GET', '/health', { okStatuses: [503] })).json()) as HealthReport;
  }

  info(): Promise<SystemInfo> {
    return this.json('GET', '/api/system/info');
  }
}

export interface InviteView {
  id: string;
  note: string | null;
  maxUses: number;
  uses: number;
  expiresAt: string | null;
  createdBy: string;
  createdAt: string;
  revokedAt: string | null;
  state: 'active' | 'used' | 'expired' | 'revoked';
}
