/**
 * Who gets an instance: the sign-up policy (control/users/admission.ts) and capacity
 * (control/provisioning/capacity.ts).
 *
 * - invites: codes admins hand out (only the SHA-256 of the code is stored; the code is
 *   shown once), single or multi-use, with an expiry and a note; `uses` is raised by one
 *   guarded UPDATE per redemption, so concurrent sign-ups never exceed `max_uses`;
 * - users.invite_id: the invite a user signed up with (for the admin page and audit);
 * - user_identities: more sign-ins of one person (GitHub besides OpenID Connect), linked
 *   by a verified email; users.email_verified says whether the provider verified the
 *   email the account has, which linking requires on both sides;
 * - instances.slot_at: when the instance was given one of MAX_RUNNING_INSTANCES places
 *   (cleared when it stops); instances.waiting_since: when it started waiting for one.
 */
import { DataTypes, type QueryInterface } from 'sequelize';

export async function up(q: QueryInterface): Promise<void> {
  await q.createTable('invites', {
    id: { type: DataTypes.STRING(24), primaryKey: true },
    code_hash: { type: DataTypes.STRING(64), allowNull: false, unique: true },
    note: { type: DataTypes.STRING(200), allowNull: true },
    max_uses: { type: DataTypes.INTEGER, allowNull: false },
    uses: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    expires_at: { type: DataTypes.DATE, allowNull: true },
    created_by: { type: DataTypes.STRING(128), allowNull: false },
    created_at: { type: DataTypes.DATE, allowNull: false },
    revoked_at: { type: DataTypes.DATE, allowNull: true },
  });
  await q.addColumn('users', 'invite_id', { type: DataTypes.STRING(24), allowNull: true });
  await q.addColumn('users', 'email_verified', { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false });
  await q.createTable('user_identities', {
    issuer: { type: DataTypes.STRING(512), primaryKey: true },
    subject: { type: DataTypes.STRING(255), primaryKey: true },
    user_id: { type: DataTypes.STRING(64), allowNull: false },
    created_at: { type: DataTypes.DATE, allowNull: false },
  });
  await q.addIndex('user_identities', ['user_id'], { name: 'user_identities_user' });
  await q.addColumn('instances', 'slot_at', { type: DataTypes.DATE, allowNull: true });
  await q.addColumn('instances', 'waiting_since', { type: DataTypes.DATE, allowNull: true });
  // Instances up (or on their way) when this runs hold their place from now on: none escapes the count.
  await q.bulkUpdate('instances', { slot_at: new Date() }, { status: ['provisioning', 'starting', 'running', 'stopping', 'destroying'] });
}

export async function down(q: QueryInterface): Promise<void> {
  await q.removeColumn('instances', 'waiting_since');
  await q.removeColumn('instances', 'slot_at');
  await q.dropTable('user_identities');
  await q.removeColumn('users', 'email_verified');
  await q.removeColumn('users', 'invite_id');
  await q.dropTable('invites');
}
