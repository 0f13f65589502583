/**
 * Suspension and demotion take effect on every router at once:
 * - `instances.owner_suspended` mirrors the owner's suspension on the row the route
 *   table reads (changed in the same transaction as the user, with an event row, so
 *   every router process and replica follows within a second);
 * - an index on `users.role` keeps the routers' once-a-second read of the admins cheap.
 */
import { DataTypes, type QueryInterface } from 'sequelize';

export async function up(q: QueryInterface): Promise<void> {
  await q.addColumn('instances', 'owner_suspended', { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false });
  await q.addIndex('users', ['role'], { name: 'users_role' });
}

export async function down(q: QueryInterface): Promise<void> {
  await q.removeIndex('users', 'users_role');
  await q.removeColumn('instances', 'owner_suspended');
}
