/**
 * Signing out means signed out: users.signed_out_at is when the person last signed out
 * of the site (or an admin signed them out everywhere). Every router refuses an
 * instance session issued before it, on every instance host, without a database read
 * per request (router/signed-out.ts keeps the recent ones in memory).
 */
import { DataTypes, type QueryInterface } from 'sequelize';

export async function up(q: QueryInterface): Promise<void> {
  await q.addColumn('users', 'signed_out_at', { type: DataTypes.DATE, allowNull: true });
  await q.addIndex('users', ['signed_out_at'], { name: 'users_signed_out_at' });
}

export async function down(q: QueryInterface): Promise<void> {
  await q.removeIndex('users', 'users_signed_out_at');
  await q.removeColumn('users', 'signed_out_at');
}
