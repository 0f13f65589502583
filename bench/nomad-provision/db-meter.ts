/**
 * How busy the platform's SQLite database was: on SQLite the platform runs one
 * statement or transaction at a time per process (control/db/database.ts,
 * sqliteQueryLock), so the time the lock is held, summed, against the wall time
 * says whether the database is what paces the worker. Measured from outside:
 * Sequelize query hooks added after the lock's own (so they start once it is
 * acquired) and a wrapper around sequelize.transaction (which database.ts calls
 * with the lock held).
 */
import type { Database } from '../../control/db/database.ts';
import { round } from '../lib.ts';

export class DatabaseMeter {
  private statements = 0;
  private statementsInTransactions = 0;
  private transactions = 0;
  private busyMs = 0;
  private transactionMs = 0;
  private readonly started = new WeakMap<object, number>();

  constructor(db: Database) {
    const { sequelize } = db;
    sequelize.addHook('beforeQuery', (options: { transaction?: unknown }, query: object) => {
      if (options.transaction) this.statementsInTransactions++;
      else this.started.set(query, performance.now());
    });
    sequelize.addHook('afterQuery', (_options: unknown, query: object) => {
      const start = this.started.get(query);
      if (start === undefined) return;
      this.started.delete(query);
      this.statements++;
      this.busyMs += performance.now() - start;
    });
    const transaction = sequelize.transaction.bind(sequelize) as (...args: unknown[]) => Promise<unknown>;
    (sequelize as unknown as { transaction: typeof transaction }).transaction = async (...args) => {
      const start = performance.now();
      try {
        return await transaction(...args);
      } finally {
        this.transactions++;
        this.transactionMs += performance.now() - start;
        this.busyMs += performance.now() - start;
      }
    };
  }

  reset(): void {
    this.statements = 0;
    this.statementsInTransactions = 0;
    this.transactions = 0;
    this.busyMs = 0;
    this.transactionMs = 0;
  }

  /** Figures since reset(), over a window of `wallMs`. */
  read(wallMs: number) {
    return {
      statementsOutsideTransactions: this.statements,
      transactions: this.transactions,
      statementsInTransactions: this.statementsInTransactions,
      lockHeldMs: round(this.busyMs, 0),
      /** Mean time a transaction holds the lock, and one statement outside a transaction. */
      meanTransactionMs: this.transactions ? round(this.transactionMs / this.transactions, 1) : null,
      meanStatementMs: this.statements ? round((this.busyMs - this.transactionMs) / this.statements, 1) : null,
      lockHeldShare: wallMs > 0 ? round(this.busyMs / wallMs, 2) : null,
    };
  }
}
