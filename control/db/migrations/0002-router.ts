/**
 * The edge router: a rotatable generation for the user-facing instance token (and
 * the browser sessions derived from it), and single-use login codes that carry a
 * signed-in user from the apex to their instance's own host.
 */
import { DataTypes, type QueryInterface } from 'sequelize';

export async function up(q: QueryInterface): Promise<void> {
  await q.addColumn('instances', 'access_generation', { type: DataTypes.INTEGER, allowNull: false, defaultValue: 1 });
  await q.createTable('access_codes', {
    // sha256 of the code: a database leak does not hand out working codes.
    code_hash: { type: DataTypes.STRING(64), primaryKey: true },
    handle: { type: DataTypes.STRING(32), allowNull: false },
    user_id: { type: DataTypes.STRING(64), allowNull: false },
    /** owner | admin: admin visits are audited when the code is used. */
    access: { type: DataTypes.STRING(16), allowNull: false },
    next_path: { type: DataTypes.STRING(2048), allowNull: false },
    expires_at: { type: DataTypes.DATE, allowNull: false },
    used_at: { type: DataTypes.DATE, allowNull: true },
    created_at: { type: DataTypes.DATE, allowNull: false },
  });
  await q.addIndex('access_codes', ['expires_at'], { name: 'access_codes_expiry' });
}

export async function down(q: QueryInterface): Promise<void> {
  await q.dropTable('access_codes');
  await q.removeColumn('instances', 'access_generation');
}
