/**
 * The metering route's books, in integer micro-dollars:
 * - meter_budgets: a user's own budget and period, when an admin set one (else config);
 * - meter_windows: spent and reserved per scope (a user id, or "*" for the whole
 *   platform) and window (the day or month it counts for; 1970-01-01 for "ever");
 *   admission is one guarded UPDATE here, so no concurrency overshoots a budget;
 * - meter_reservations: the worst case held for a call in flight, settled exactly once;
 * - meter_ledger: one row per settled call, with its usage and the price version;
 * - meter_prices: prices an admin added or changed (the shipped table is a data file).
 */
import { DataTypes, type QueryInterface } from 'sequelize';

export async function up(q: QueryInterface): Promise<void> {
  await q.createTable('meter_budgets', {
    // The instance's owner id, as reservations and the ledger hold it (an operator may provision for an id with no sign-up).
    user_id: { type: DataTypes.STRING(64), primaryKey: true },
    limit_micro: { type: DataTypes.BIGINT, allowNull: true },
    period: { type: DataTypes.STRING(8), allowNull: true },
    updated_at: { type: DataTypes.DATE, allowNull: false },
  });
  await q.createTable('meter_windows', {
    scope: { type: DataTypes.STRING(64), primaryKey: true },
    window_start: { type: DataTypes.STRING(10), primaryKey: true },
    spent_micro: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 0 },
    reserved_micro: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 0 },
  });
  await q.createTable('meter_reservations', {
    id: { type: DataTypes.STRING(36), primaryKey: true },
    user_id: { type: DataTypes.STRING(64), allowNull: false },
    handle: { type: DataTypes.STRING(32), allowNull: false },
    window_start: { type: DataTypes.STRING(10), allowNull: false },
    amount_micro: { type: DataTypes.BIGINT, allowNull: false },
    platform: { type: DataTypes.BOOLEAN, allowNull: false },
    owner: { type: DataTypes.STRING(96), allowNull: false },
    created_at: { type: DataTypes.DATE, allowNull: false },
    expires_at: { type: DataTypes.DATE, allowNull: false },
    settled_at: { type: DataTypes.DATE, allowNull: true },
    released_at: { type: DataTypes.DATE, allowNull: true },
  });
  await q.addIndex('meter_reservations', ['settled_at', 'released_at', 'expires_at'], { name: 'meter_reservations_open' });
  await q.createTable('meter_ledger', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    reservation_id: { type: DataTypes.STRING(36), allowNull: false, unique: true },
    user_id: { type: DataTypes.STRING(64), allowNull: false },
    handle: { type: DataTypes.STRING(32), allowNull: false },
    model: { type: DataTypes.STRING(96), allowNull: false },
    price_version: { type: DataTypes.STRING(96), allowNull: false },
    input_tokens: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    cache_write_5m_tokens: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    cache_write_1h_tokens: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    cache_read_tokens: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    output_tokens: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    web_searches: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    cost_micro: { type: DataTypes.BIGINT, allowNull: false },
    outcome: { type: DataTypes.STRING(16), allowNull: false },
    created_at: { type: DataTypes.DATE, allowNull: false },
  });
  await q.addIndex('meter_ledger', ['user_id', 'created_at'], { name: 'meter_ledger_user' });
  await q.addIndex('meter_ledger', ['created_at'], { name: 'meter_ledger_time' });
  await q.createTable('meter_prices', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    family: { type: DataTypes.STRING(96), allowNull: false },
    version: { type: DataTypes.STRING(96), allowNull: false },
    price: { type: DataTypes.TEXT, allowNull: false },
    created_by: { type: DataTypes.STRING(96), allowNull: false },
    created_at: { type: DataTypes.DATE, allowNull: false },
  });
}

export async function down(q: QueryInterface): Promise<void> {
  for (const table of ['meter_prices', 'meter_ledger', 'meter_reservations', 'meter_windows', 'meter_budgets']) await q.dropTable(table);
}
