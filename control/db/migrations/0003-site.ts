/**
 * The site: server-side sessions (the cookie holds a random token; the row holds its
 * hash, the CSRF token and the expiry), and what a user controls or an admin sets on
 * an account (suspension, hiding from the community panel, last sign-in).
 */
import { DataTypes, type QueryInterface } from 'sequelize';

export async function up(q: QueryInterface): Promise<void> {
  await q.createTable('sessions', {
    id_hash: { type: DataTypes.STRING(64), primaryKey: true },
    user_id: { type: DataTypes.STRING(64), allowNull: false, references: { model: 'users', key: 'id' }, onDelete: 'CASCADE' },
    csrf_token: { type: DataTypes.STRING(64), allowNull: false },
    expires_at: { type: DataTypes.DATE, allowNull: false },
    revoked_at: { type: DataTypes.DATE, allowNull: true },
    created_at: { type: DataTypes.DATE, allowNull: false },
  });
  await q.addIndex('sessions', ['user_id'], { name: 'sessions_user' });
  await q.addColumn('users', 'suspended_at', { type: DataTypes.DATE, allowNull: true });
  await q.addColumn('users', 'hidden', { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false });
  await q.addColumn('users', 'last_login_at', { type: DataTypes.DATE, allowNull: true });
}

export async function down(q: QueryInterface): Promise<void> {
  await q.removeColumn('users', 'last_login_at');
  await q.removeColumn('users', 'hidden');
  await q.removeColumn('users', 'suspended_at');
  await q.dropTable('sessions');
}
