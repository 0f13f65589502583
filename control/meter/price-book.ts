/**
 * The prices in force: the shipped table (control/meter/prices/anthropic.json) with the
 * prices admins added or changed on top (meter_prices; the newest row per family wins,
 * under its own version). Read at start-up, after every change made here, and every few
 * seconds for changes made by other replicas.
 */
import { QueryTypes } from 'sequelize';
import { recordAudit } from '../audit.ts';
import type { Database } from '../db/database.ts';
import { ConfigError, describeError, ValidationError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { PriceOverride } from './price-data.ts';
import type { PriceTable } from './prices.ts';

/** What an admin sets for a family; the version is given when it is stored. */
export type PriceInput = Omit<PriceOverride, 'version'>;

const SYNC_MS = 5000;

export class PriceBook {
  private table: PriceTable;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Database,
    private readonly shipped: PriceTable,
    private readonly logger: Logger,
  ) {
    this.table = shipped;
  }

  async load(): Promise<void> {
    await this.read();
    this.timer = setInterval(
      () => void this.read().catch((err) => this.logger.warn({ err: describeError(err) }, 'could not read prices; keeping the last known')),
      SYNC_MS,
    );
    this.timer.unref();
  }

  current(): PriceTable {
    return this.table;
  }

  /** Adds or replaces a family's price; its version is `admin-{id}`. Audited. */
  async set(price: PriceInput, actor: string): Promise<string> {
    // Refused here, before anything is stored: a bad rate or family names its field.
    try {
      this.table.withOverrides([{ ...price, version: 'new' }]);
    } catch (err) {
      if (err instanceof ConfigError) throw new ValidationError(err.message);
      throw err;
    }
    let version = '';
    await this.db.transaction(async (transaction) => {
      const now = new Date();
      await this.db.sequelize.query(
        'INSERT INTO meter_prices (family, version, price, created_by, created_at) VALUES (:family, :version, :price, :actor, :now)',
        {
          replacements: { family: price.family, version: 'pending', price: JSON.stringify(price), actor, now },
          type: QueryTypes.INSERT,
          transaction,
        },
      );
      const [row] = (await this.db.sequelize.query('SELECT MAX(id) AS id FROM meter_prices WHERE family = :family', {
        replacements: { family: price.family },
        type: QueryTypes.SELECT,
        transaction,
      })) as Array<{ id: number }>;
      version = `admin-${row!.id}`;
      await this.db.sequelize.query('UPDATE meter_prices SET version = :version WHERE id = :id', {
        replacements: { version, id: row!.id },
        type: QueryTypes.UPDATE,
        transaction,
      });
      await recordAudit(this.db, { actor, action: 'set_price', target: price.family, detail: { ...price, version } }, transaction);
    });
    await this.read();
    return version;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async read(): Promise<void> {
    const rows = (await this.db.sequelize.query('SELECT id, family, version, price FROM meter_prices ORDER BY id', { type: QueryTypes.SELECT })) as Array<{
      family: string;
      version: string;
      price: string;
    }>;
    const newest = new Map<string, PriceOverride>();
    for (const row of rows) newest.set(row.family, { ...(JSON.parse(row.price) as PriceInput), version: row.version });
    this.table = this.shipped.withOverrides([...newest.values()]);
  }
}
