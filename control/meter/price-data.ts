/**
 * Price data, validated up front: the JSON price files (decimal USD strings) and the
 * rows an operator sets (integer micro-dollars). Every problem is a ConfigError that
 * names the entry and the field, so a bad price never reaches a bill.
 *
 * Amounts are integer micro-dollars (µ$): token rates in µ$ per million tokens
 * ($0.30/MTok -> 300000), so a rate is exact to 1e-12 USD per token.
 */
import { ConfigError } from '../errors.ts';
import { isObject } from './usage.ts';

/** µ$ per million tokens, one explicit rate per usage field. */
export interface Rates {
  input: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  cacheRead: number;
  output: number;
}

/** Above `abovePromptTokens` prompt tokens (input + cache writes + reads), the whole request is priced at `rates`. */
export interface PriceTier {
  abovePromptTokens: number;
  rates: Rates;
}

export interface ModelPrice {
  family: string;
  /** The price list (or override) this price comes from: record it with every charge. */
  version: string;
  /** Other ids priced as this family (dated ids need no alias). */
  aliases: readonly string[];
  rates: Rates;
  /** µ$ per web search request. */
  webSearchPerRequest: number;
  /** Ordered by threshold, lowest first. */
  tiers: readonly PriceTier[];
}

/** An operator-set price: the whole price of a family (omitted tiers mean none). */
export interface PriceOverride {
  family: string;
  version: string;
  rates: Rates;
  webSearchPerRequest: number;
  tiers?: PriceTier[];
  /** Added to the aliases the family already has. */
  aliases?: string[];
}

export interface PriceData {
  version: string;
  effectiveFrom: string;
  prices: ModelPrice[];
}

export const RATE_FIELDS = ['input', 'cacheWrite5m', 'cacheWrite1h', 'cacheRead', 'output'] as const;
/** A model id or family as the API names it: claude-haiku-4-5, claude-3-5-haiku-20241022. */
export const MODEL_ID = /^[a-z0-9][a-z0-9._-]{0,95}$/;
const DECIMAL_USD = /^(0|[1-9][0-9]*)(?:\.([0-9]{1,6}))?$/;

/** Exact decimal USD ("0.30", "18.75") to integer µ$ ("0.30" -> 300000); `field` names it in the error. */
export function decimalUsdToMicro(value: string, field: string): number {
  const match = typeof value === 'string' ? DECIMAL_USD.exec(value) : null;
  if (!match) {
    const why =
      typeof value === 'string' && value.trim().startsWith('-') ? 'is negative' : 'is not a decimal USD string such as "3" or "0.30" (at most 6 decimals)';
    throw new ConfigError(`${field}: ${JSON.stringify(value)} ${why}`);
  }
  const micro = BigInt(match[1]!) * 1_000_000n + BigInt((match[2] ?? '').padEnd(6, '0'));
  if (micro > BigInt(Number.MAX_SAFE_INTEGER)) throw new ConfigError(`${field}: ${value} is too large`);
  return Number(micro);
}

/** Integer µ$ as a decimal USD string with 6 decimals (57200 -> "0.057200"), for logs and reports. */
export function formatMicroUsd(micro: number): string {
  const value = BigInt(micro);
  const sign = value < 0n ? '-' : '';
  const abs = value < 0n ? -value : value;
  return `${sign}${abs / 1_000_000n}.${(abs % 1_000_000n).toString().padStart(6, '0')}`;
}

function checkKeys(value: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(value))
    if (!allowed.includes(key)) throw new ConfigError(`${where}, field "${key}": unknown field (allowed: ${allowed.join(', ')})`);
}

function modelId(value: unknown, where: string, field: string): string {
  if (typeof value !== 'string' || !MODEL_ID.test(value))
    throw new ConfigError(`${where}, field "${field}": ${JSON.stringify(value)} is not a model id (lower case, digits, "-", ".")`);
  return value;
}

function aliasList(value: unknown, where: string): string[] {
  if (!Array.isArray(value)) throw new ConfigError(`${where}, field "aliases": must be an array of model ids`);
  return value.map((alias, i) => modelId(alias, where, `aliases[${i}]`));
}

/** Tier thresholds: positive integers, strictly increasing. */
function checkTiers(tiers: PriceTier[], where: string): PriceTier[] {
  tiers.forEach((tier, i) => {
    const threshold = tier.abovePromptTokens;
    if (!Number.isSafeInteger(threshold) || threshold <= 0) {
      throw new ConfigError(`${where}, field "tiers[${i}].abovePromptTokens": ${JSON.stringify(threshold)} is not a positive whole number of tokens`);
    }
    if (i > 0 && threshold <= tiers[i - 1]!.abovePromptTokens) {
      throw new ConfigError(
        `${where}, field "tiers[${i}].abovePromptTokens": thresholds must increase (${threshold} after ${tiers[i - 1]!.abovePromptTokens})`,
      );
    }
  });
  return tiers;
}

function decimalRates(entry: Record<string, unknown>, where: string, prefix: string): Rates {
  const rates = {} as Rates;
  for (const field of RATE_FIELDS) {
    if (entry[field] === undefined) throw new ConfigError(`${where}, field "${prefix}${field}": missing (USD per million tokens, e.g. "3")`);
    rates[field] = decimalUsdToMicro(entry[field] as string, `${where}, field "${prefix}${field}"`);
  }
  return rates;
}

function decimalTiers(value: unknown, where: string): PriceTier[] {
  if (!Array.isArray(value)) throw new ConfigError(`${where}, field "tiers": must be an array`);
  const tiers = value.map((tier: unknown, i) => {
    if (!isObject(tier)) throw new ConfigError(`${where}, field "tiers[${i}]": must be an object`);
    checkKeys(tier, ['abovePromptTokens', ...RATE_FIELDS], `${where}, tiers[${i}]`);
    return { abovePromptTokens: tier.abovePromptTokens as number, rates: decimalRates(tier, where, `tiers[${i}].`) };
  });
  return checkTiers(tiers, where);
}

function parseEntry(entry: unknown, index: number, version: string): ModelPrice {
  let where = `Price data ${version}: models[${index}]`;
  if (!isObject(entry)) throw new ConfigError(`${where}: must be an object`);
  const family = modelId(entry.family, where, 'family');
  where = `Price data ${version}: model "${family}"`;
  checkKeys(entry, ['family', 'aliases', ...RATE_FIELDS, 'webSearchPerRequest', 'tiers', 'notes'], where);
  const aliases = aliasList(entry.aliases, where);
  const rates = decimalRates(entry, where, '');
  if (entry.webSearchPerRequest === undefined) throw new ConfigError(`${where}, field "webSearchPerRequest": missing (USD per search, e.g. "0.01")`);
  const webSearchPerRequest = decimalUsdToMicro(entry.webSearchPerRequest as string, `${where}, field "webSearchPerRequest"`);
  return { family, version, aliases, rates, webSearchPerRequest, tiers: decimalTiers(entry.tiers ?? [], where) };
}

/** A price file's content: version, effective date, one entry per model family. */
export function parsePriceData(data: unknown): PriceData {
  if (!isObject(data)) throw new ConfigError('Price data: must be a JSON object with version, effectiveFrom and models');
  const version = data.version;
  if (typeof version !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(version))
    throw new ConfigError('Price data: field "version": missing or not a simple name');
  checkKeys(data, ['version', 'effectiveFrom', 'unit', 'notes', 'models'], `Price data ${version}`);
  const effectiveFrom = data.effectiveFrom;
  if (
    typeof effectiveFrom !== 'string' ||
    !/^\d{4}-\d{2}-\d{2}$/.test(effectiveFrom) ||
    new Date(`${effectiveFrom}T00:00:00Z`).toISOString().slice(0, 10) !== effectiveFrom
  ) {
    throw new ConfigError(`Price data ${version}: field "effectiveFrom": ${JSON.stringify(effectiveFrom)} is not an ISO date (YYYY-MM-DD)`);
  }
  if (!Array.isArray(data.models) || data.models.length === 0) throw new ConfigError(`Price data ${version}: field "models": must be a non-empty array`);
  return { version, effectiveFrom, prices: data.models.map((entry: unknown, i) => parseEntry(entry, i, version)) };
}

function microRates(value: unknown, where: string, prefix: string): Rates {
  if (!isObject(value)) throw new ConfigError(`${where}, field "${prefix}rates": must be an object`);
  for (const field of RATE_FIELDS) microAmount(value[field], where, `${prefix}rates.${field}`);
  return Object.fromEntries(RATE_FIELDS.map((field) => [field, value[field]])) as unknown as Rates;
}

function microAmount(value: unknown, where: string, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ConfigError(`${where}, field "${field}": ${JSON.stringify(value)} is not a non-negative whole number of micro-dollars`);
  }
  return value;
}

/** An operator-set row (integer µ$), validated like a file entry. */
export function parseOverride(row: PriceOverride, index: number): ModelPrice {
  let where = `Price override #${index}`;
  if (!isObject(row)) throw new ConfigError(`${where}: must be an object`);
  const family = modelId(row.family, where, 'family');
  where = `Price override for "${family}"`;
  if (typeof row.version !== 'string' || row.version.trim() === '') throw new ConfigError(`${where}, field "version": missing`);
  const rawTiers: unknown = row.tiers ?? [];
  if (!Array.isArray(rawTiers)) throw new ConfigError(`${where}, field "tiers": must be an array`);
  const tiers = rawTiers.map((tier: unknown, i) => {
    if (!isObject(tier)) throw new ConfigError(`${where}, field "tiers[${i}]": must be an object`);
    return { abovePromptTokens: tier.abovePromptTokens as number, rates: microRates(tier.rates, where, `tiers[${i}].`) };
  });
  return {
    family,
    version: row.version,
    aliases: row.aliases === undefined ? [] : aliasList(row.aliases, where),
    rates: microRates(row.rates, where, ''),
    webSearchPerRequest: microAmount(row.webSearchPerRequest, where, 'webSearchPerRequest'),
    tiers: checkTiers(tiers, where),
  };
}
