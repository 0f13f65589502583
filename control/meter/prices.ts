/**
 * The price table: which price applies to a model id. Prices are data (a JSON file per
 * provider, plus operator-set rows), validated in full when the table is built.
 *
 * A model is priced by its exact id, an alias, or a dated snapshot of either
 * (`claude-sonnet-4-5-20250929` -> `claude-sonnet-4-5`). Anything else is unpriced:
 * `priceFor` answers null and the caller must refuse the request (never bill $0).
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.ts';
import { type ModelPrice, type PriceOverride, parseOverride, parsePriceData } from './price-data.ts';

export type { ModelPrice, PriceOverride, PriceTier, Rates } from './price-data.ts';
export { decimalUsdToMicro, formatMicroUsd } from './price-data.ts';

export const DEFAULT_PRICES_PATH = fileURLToPath(new URL('./prices/anthropic.json', import.meta.url));

/** A trailing snapshot date: -YYYYMMDD with a plausible month and day. */
const DATED_ID = /^(.+)-(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])$/;

function deepFreeze(price: ModelPrice): ModelPrice {
  for (const tier of price.tiers) {
    Object.freeze(tier.rates);
    Object.freeze(tier);
  }
  Object.freeze(price.rates);
  Object.freeze(price.tiers);
  Object.freeze(price.aliases);
  return Object.freeze(price);
}

export class PriceTable {
  /** The version of the price list the table was built from (overrides carry their own). */
  readonly version: string;
  readonly effectiveFrom: string;
  readonly #families: readonly ModelPrice[];
  readonly #byId = new Map<string, ModelPrice>();

  private constructor(version: string, effectiveFrom: string, families: ModelPrice[]) {
    this.version = version;
    this.effectiveFrom = effectiveFrom;
    this.#families = Object.freeze(families.map(deepFreeze));
    for (const price of this.#families) {
      for (const id of [price.family, ...price.aliases]) {
        const taken = this.#byId.get(id);
        if (taken) throw new ConfigError(`Price data ${price.version}: model "${price.family}": the id "${id}" is already priced by "${taken.family}"`);
        this.#byId.set(id, price);
      }
    }
  }

  /** The table from a JSON price file (by default the shipped Anthropic prices). */
  static fromFile(path: string = DEFAULT_PRICES_PATH): PriceTable {
    let data: unknown;
    try {
      data = JSON.parse(fs.readFileSync(path, 'utf8'));
    } catch (err) {
      throw new ConfigError(`Price file ${path} cannot be read as JSON: ${(err as Error).message}`);
    }
    return PriceTable.fromData(data);
  }

  static fromData(data: unknown): PriceTable {
    const parsed = parsePriceData(data);
    return new PriceTable(parsed.version, parsed.effectiveFrom, parsed.prices);
  }

  /**
   * A new table where each row replaces the family it names (keeping that family's
   * aliases, adding the row's) or adds a new family. A row is a whole price: omitted
   * tiers mean none. Naming an alias instead of its family is refused.
   */
  withOverrides(rows: PriceOverride[]): PriceTable {
    if (!Array.isArray(rows)) throw new ConfigError('Price overrides must be an array of rows');
    const families = [...this.#families];
    rows.forEach((row, index) => {
      const price = parseOverride(row, index);
      const at = families.findIndex((existing) => existing.family === price.family);
      if (at === -1) {
        const owner = families.find((existing) => existing.aliases.includes(price.family));
        if (owner) throw new ConfigError(`Price override for "${price.family}": that id is an alias of "${owner.family}"; override "${owner.family}" instead`);
        families.push(price);
      } else {
        const aliases = [...new Set([...families[at]!.aliases, ...price.aliases])];
        families[at] = { ...price, aliases };
      }
    });
    return new PriceTable(this.version, this.effectiveFrom, families);
  }

  /** The price of a model id (exact, alias, or dated snapshot of either); null when unpriced. */
  priceFor(model: string): ModelPrice | null {
    if (typeof model !== 'string') return null;
    const exact = this.#byId.get(model);
    if (exact) return exact;
    const dated = DATED_ID.exec(model);
    return dated ? (this.#byId.get(dated[1]!) ?? null) : null;
  }

  families(): ModelPrice[] {
    return [...this.#families];
  }
}
