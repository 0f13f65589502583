/** The metering route's settings (control/meter/): parsed once, with one problem line per bad variable. */
import type { EnvReader } from './config-parse.ts';
import { parseUsd } from './meter/money.ts';

export type BudgetPeriod = 'none' | 'daily' | 'monthly';

export interface MeterConfig {
  /** The listener instances call (ANTHROPIC_BASE_URL); never public. */
  host: string;
  port: number;
  /** Where calls go: Anthropic's API base (without /v1). */
  upstreamUrl: string;
  /** The platform's own Anthropic key, sent upstream as x-api-key; null: the meter refuses calls (503). */
  upstreamKey: string | null;
  /** Every user's budget unless an admin set another, in µ$. */
  defaultBudgetMicro: number;
  period: BudgetPeriod;
  /** The whole event's ceiling in µ$; null: none. */
  platformBudgetMicro: number | null;
  /** An unsettled reservation older than this is released (its call died with a process). */
  reservationTtlMs: number;
  /** After a client leaves mid-stream, how long the upstream is still read to learn the usage. */
  drainTimeoutMs: number;
  /** How many abandoned streams may be read in the background at once. */
  drainMax: number;
  bodyLimitBytes: number;
}

function usd(read: EnvReader, name: string, fallback: string | null): number | null {
  const raw = read.raw(name) ?? fallback;
  if (raw === null) return null;
  const micro = parseUsd(raw);
  if (micro === null) read.problems.push(`${name} must be an amount in US dollars like 5 or 2.50 (at most 6 decimals), got "${raw}"`);
  return micro;
}

export function parseMeter(read: EnvReader): MeterConfig {
  return {
    host: read.string('METER_HOST', '127.0.0.1'),
    port: read.port('METER_PORT', 8080),
    upstreamUrl: read.url('ANTHROPIC_BASE_URL', 'https://api.anthropic.com', ['https:', 'http:']).replace(/\/+$/, ''),
    upstreamKey: read.optionalString('ANTHROPIC_API_KEY'),
    defaultBudgetMicro: usd(read, 'METER_DEFAULT_BUDGET_USD', '5') ?? 5_000_000,
    period: read.oneOf('METER_BUDGET_PERIOD', ['none', 'daily', 'monthly'] as const, 'none'),
    platformBudgetMicro: usd(read, 'METER_PLATFORM_BUDGET_USD', null),
    reservationTtlMs: read.duration('METER_RESERVATION_TTL', 15 * 60_000, 60_000),
    drainTimeoutMs: read.duration('METER_DRAIN_TIMEOUT', 120_000, 1000),
    drainMax: read.integer('METER_DRAIN_MAX', 200, 1, 10_000),
    bodyLimitBytes: read.integer('METER_BODY_LIMIT_BYTES', 32 * 1024 * 1024, 1024, 256 * 1024 * 1024),
  };
}

/** The URL of a meter listening as configured (a wildcard host is reached on loopback). */
export function listenerUrl(settings: Pick<MeterConfig, 'host' | 'port'>, port = settings.port): string {
  const host = settings.host === '0.0.0.0' ? '127.0.0.1' : settings.host.includes(':') ? `[${settings.host}]` : settings.host;
  return `http://${host}:${port}`;
}
