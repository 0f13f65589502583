/**
 * Initial schema: users, instances, their progress events and the audit log.
 * Timestamps are DATE columns (UTC); money will be integer micro-dollars.
 */
import { DataTypes, type QueryInterface } from 'sequelize';

const timestamps = {
  created_at: { type: DataTypes.DATE, allowNull: false },
  updated_at: { type: DataTypes.DATE, allowNull: false },
};

export async function up(q: QueryInterface): Promise<void> {
  await q.createTable('users', {
    id: { type: DataTypes.STRING(64), primaryKey: true },
    handle: { type: DataTypes.STRING(32), allowNull: true, unique: true },
    oidc_issuer: { type: DataTypes.STRING(512), allowNull: true },
    oidc_subject: { type: DataTypes.STRING(255), allowNull: true },
    email: { type: DataTypes.STRING(320), allowNull: true },
    display_name: { type: DataTypes.STRING(128), allowNull: true },
    role: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'user' },
    ...timestamps,
    deleted_at: { type: DataTypes.DATE, allowNull: true },
  });
  await q.addIndex('users', ['oidc_issuer', 'oidc_subject'], { unique: true, name: 'users_oidc_identity' });
  await q.addIndex('users', ['email'], { name: 'users_email' });

  await q.createTable('instances', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    handle: { type: DataTypes.STRING(32), allowNull: false, unique: true },
    owner_id: { type: DataTypes.STRING(64), allowNull: false, references: { model: 'users', key: 'id' } },
    driver: { type: DataTypes.STRING(16), allowNull: false },
    job_id: { type: DataTypes.STRING(128), allowNull: true },
    status: { type: DataTypes.STRING(16), allowNull: false },
    gateway_url: { type: DataTypes.STRING(255), allowNull: true },
    shell_url: { type: DataTypes.STRING(255), allowNull: true },
    last_active_at: { type: DataTypes.DATE, allowNull: true },
    requested_at: { type: DataTypes.DATE, allowNull: true },
    started_at: { type: DataTypes.DATE, allowNull: true },
    stopped_at: { type: DataTypes.DATE, allowNull: true },
    attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    last_error: { type: DataTypes.TEXT, allowNull: true },
    spec_hash: { type: DataTypes.STRING(64), allowNull: true },
    token_generation: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 1 },
    purge_on_destroy: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    archive_path: { type: DataTypes.STRING(1024), allowNull: true },
    lease_owner: { type: DataTypes.STRING(64), allowNull: true },
    lease_expires_at: { type: DataTypes.DATE, allowNull: true },
    next_attempt_at: { type: DataTypes.DATE, allowNull: true },
    ...timestamps,
  });
  await q.addIndex('instances', ['status'], { name: 'instances_status' });
  await q.addIndex('instances', ['owner_id'], { name: 'instances_owner' });

  await q.createTable('instance_events', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    instance_id: { type: DataTypes.INTEGER, allowNull: false, references: { model: 'instances', key: 'id' }, onDelete: 'CASCADE' },
    handle: { type: DataTypes.STRING(32), allowNull: false },
    kind: { type: DataTypes.STRING(16), allowNull: false },
    from_status: { type: DataTypes.STRING(16), allowNull: true },
    to_status: { type: DataTypes.STRING(16), allowNull: true },
    message: { type: DataTypes.TEXT, allowNull: false },
    created_at: { type: DataTypes.DATE, allowNull: false },
  });
  await q.addIndex('instance_events', ['handle', 'id'], { name: 'instance_events_handle' });

  await q.createTable('audit_log', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    actor: { type: DataTypes.STRING(128), allowNull: false },
    action: { type: DataTypes.STRING(64), allowNull: false },
    target: { type: DataTypes.STRING(128), allowNull: true },
    detail: { type: DataTypes.TEXT, allowNull: true },
    created_at: { type: DataTypes.DATE, allowNull: false },
  });
  await q.addIndex('audit_log', ['created_at'], { name: 'audit_log_time' });
}

export async function down(q: QueryInterface): Promise<void> {
  await q.dropTable('audit_log');
  await q.dropTable('instance_events');
  await q.dropTable('instances');
  await q.dropTable('users');
}
