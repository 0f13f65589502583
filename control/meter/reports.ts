/** What the ledger says: spend per day, per model, the top spenders, and the rows themselves for export. */
import { QueryTypes } from 'sequelize';
import type { Database } from '../db/database.ts';

export interface DaySpend {
  day: string;
  cost: number;
  calls: number;
}

export interface LedgerRow {
  id: number;
  created_at: string;
  handle: string;
  user_id: string;
  model: string;
  price_version: string;
  input_tokens: number;
  cache_write_5m_tokens: number;
  cache_write_1h_tokens: number;
  cache_read_tokens: number;
  output_tokens: number;
  web_searches: number;
  cost_micro: number;
  outcome: string;
}

const CSV_PAGE = 1000;
const since = (days: number) => new Date(Date.now() - days * 86_400_000);

export class MeterReports {
  constructor(private readonly db: Database) {}

  private select<T>(sql: string, replacements: Record<string, unknown>): Promise<T[]> {
    return this.db.sequelize.query(sql, { replacements, type: QueryTypes.SELECT }) as Promise<T[]>;
  }

  /** Spend per UTC day over the last `days`, for one user or everyone. */
  async byDay(days: number, userId?: string): Promise<DaySpend[]> {
    const day = this.db.dialect === 'postgres' ? "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')" : "strftime('%Y-%m-%d', created_at)";
    const rows = await this.select<{ day: string; cost: string | number; calls: string | number }>(
      `SELECT ${day} AS day, SUM(cost_micro) AS cost, COUNT(*) AS calls FROM meter_ledger
       WHERE created_at >= :from${userId ? ' AND user_id = :userId' : ''} GROUP BY day ORDER BY day`,
      { from: since(days), userId },
    );
    return rows.map((r) => ({ day: r.day, cost: Number(r.cost), calls: Number(r.calls) }));
  }

  async byModel(days: number): Promise<Array<{ model: string; cost: number; calls: number }>> {
    const rows = await this.select<{ model: string; cost: string | number; calls: string | number }>(
      'SELECT model, SUM(cost_micro) AS cost, COUNT(*) AS calls FROM meter_ledger WHERE created_at >= :from GROUP BY model ORDER BY cost DESC',
      { from: since(days) },
    );
    return rows.map((r) => ({ model: r.model, cost: Number(r.cost), calls: Number(r.calls) }));
  }

  async topSpenders(days: number, limit: number): Promise<Array<{ handle: string; userId: string; cost: number; calls: number }>> {
    const rows = await this.select<{ handle: string; user_id: string; cost: string | number; calls: string | number }>(
      `SELECT handle, user_id, SUM(cost_micro) AS cost, COUNT(*) AS calls FROM meter_ledger WHERE created_at >= :from
       GROUP BY handle, user_id ORDER BY cost DESC LIMIT :limit`,
      { from: since(days), limit },
    );
    return rows.map((r) => ({ handle: r.handle, userId: r.user_id, cost: Number(r.cost), calls: Number(r.calls) }));
  }

  /** The whole ledger as CSV lines, header first, read a page at a time. */
  async *csv(): AsyncGenerator<string> {
    yield csvLine(CSV_COLUMNS);
    for (let after = 0; ; ) {
      const rows = await this.page(after, CSV_PAGE);
      for (const row of rows) yield csvLine(CSV_COLUMNS.map((c) => row[c]));
      if (rows.length < CSV_PAGE) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  /** Ledger rows after `afterId`, oldest first, a page at a time (for CSV export). */
  async page(afterId: number, limit: number): Promise<LedgerRow[]> {
    const rows = await this.select<LedgerRow>('SELECT * FROM meter_ledger WHERE id > :afterId ORDER BY id LIMIT :limit', { afterId, limit });
    return rows.map((r) => ({ ...r, cost_micro: Number(r.cost_micro), created_at: new Date(r.created_at).toISOString() }));
  }
}

export const CSV_COLUMNS = [
  'id',
  'created_at',
  'handle',
  'user_id',
  'model',
  'price_version',
  'input_tokens',
  'cache_write_5m_tokens',
  'cache_write_1h_tokens',
  'cache_read_tokens',
  'output_tokens',
  'web_searches',
  'cost_micro',
  'outcome',
] as const;

/** One CSV line; fields with commas, quotes or line breaks are quoted. A leading = + - @ is defused (spreadsheet formulas). */
export function csvLine(values: ReadonlyArray<string | number>): string {
  return `${values
    .map((v) => {
      let text = String(v);
      if (/^[=+\-@]/.test(text) && typeof v === 'string') text = `'${text}`;
      return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
    })
    .join(',')}\r\n`;
}
