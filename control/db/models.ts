/**
 * Sequelize models. The schema itself is owned by the migrations in ./migrations;
 * these definitions must match them (a test checks that every model's columns exist).
 */
import { type CreationOptional, DataTypes, type InferAttributes, type InferCreationAttributes, Model, type Sequelize } from 'sequelize';
import type { InstanceStatus } from '../provisioning/states.ts';

export type UserRole = 'user' | 'admin';

export class User extends Model<InferAttributes<User>, InferCreationAttributes<User>> {
  declare id: string;
  declare handle: string | null;
  declare oidc_issuer: CreationOptional<string | null>;
  declare oidc_subject: CreationOptional<string | null>;
  declare email: CreationOptional<string | null>;
  declare display_name: CreationOptional<string | null>;
  declare role: CreationOptional<UserRole>;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
  declare deleted_at: CreationOptional<Date | null>;
  declare suspended_at: CreationOptional<Date | null>;
  /** The user chose not to appear in the community panel. */
  declare hidden: CreationOptional<boolean>;
  declare last_login_at: CreationOptional<Date | null>;
}

export class Instance extends Model<InferAttributes<Instance>, InferCreationAttributes<Instance>> {
  declare id: CreationOptional<number>;
  declare handle: string;
  declare owner_id: string;
  declare driver: string;
  declare runtime_ref: CreationOptional<string | null>;
  /** The owner is suspended: nobody but an admin reaches the instance, and it does not start. */
  declare owner_suspended: CreationOptional<boolean>;
  declare status: InstanceStatus;
  declare gateway_url: CreationOptional<string | null>;
  declare shell_url: CreationOptional<string | null>;
  declare last_active_at: CreationOptional<Date | null>;
  declare requested_at: CreationOptional<Date | null>;
  declare started_at: CreationOptional<Date | null>;
  declare stopped_at: CreationOptional<Date | null>;
  declare attempts: CreationOptional<number>;
  declare last_error: CreationOptional<string | null>;
  declare spec_hash: CreationOptional<string | null>;
  declare token_generation: CreationOptional<number>;
  /** Generation of the user-facing instance token and of browser sessions on the instance's host. */
  declare access_generation: CreationOptional<number>;
  declare purge_on_destroy: CreationOptional<boolean>;
  declare archive_path: CreationOptional<string | null>;
  declare lease_owner: CreationOptional<string | null>;
  declare lease_expires_at: CreationOptional<Date | null>;
  declare next_attempt_at: CreationOptional<Date | null>;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
}

export type EventKind = 'transition' | 'progress' | 'error' | 'reconcile' | 'access';

export class InstanceEvent extends Model<InferAttributes<InstanceEvent>, InferCreationAttributes<InstanceEvent>> {
  declare id: CreationOptional<number>;
  declare instance_id: number;
  declare handle: string;
  declare kind: EventKind;
  declare from_status: CreationOptional<string | null>;
  declare to_status: CreationOptional<string | null>;
  declare message: string;
  declare created_at: CreationOptional<Date>;
}

export class AuditEntry extends Model<InferAttributes<AuditEntry>, InferCreationAttributes<AuditEntry>> {
  declare id: CreationOptional<number>;
  declare actor: string;
  declare action: string;
  declare target: CreationOptional<string | null>;
  declare detail: CreationOptional<string | null>;
  declare created_at: CreationOptional<Date>;
}

export type AccessKind = 'owner' | 'admin';

export class AccessCode extends Model<InferAttributes<AccessCode>, InferCreationAttributes<AccessCode>> {
  declare code_hash: string;
  declare handle: string;
  declare user_id: string;
  declare access: AccessKind;
  declare next_path: string;
  declare expires_at: Date;
  declare used_at: CreationOptional<Date | null>;
  declare created_at: CreationOptional<Date>;
}

export class Session extends Model<InferAttributes<Session>, InferCreationAttributes<Session>> {
  declare id_hash: string;
  declare user_id: string;
  declare csrf_token: string;
  declare expires_at: Date;
  declare revoked_at: CreationOptional<Date | null>;
  declare created_at: CreationOptional<Date>;
}

const common = { underscored: true, createdAt: 'created_at', updatedAt: 'updated_at' } as const;
const appendOnly = { underscored: true, createdAt: 'created_at', updatedAt: false } as const;

export interface Models {
  User: typeof User;
  Instance: typeof Instance;
  InstanceEvent: typeof InstanceEvent;
  AuditEntry: typeof AuditEntry;
  AccessCode: typeof AccessCode;
  Session: typeof Session;
}

/**
 * Each call binds fresh subclasses, so two databases (say SQLite and PostgreSQL in
 * one test process) never share model state.
 */
export function defineModels(sequelize: Sequelize): Models {
  const UserModel = class extends User {};
  const InstanceModel = class extends Instance {};
  const InstanceEventModel = class extends InstanceEvent {};
  const AuditEntryModel = class extends AuditEntry {};
  UserModel.init(
    {
      id: { type: DataTypes.STRING(64), primaryKey: true },
      handle: { type: DataTypes.STRING(32), allowNull: true },
      oidc_issuer: { type: DataTypes.STRING(512), allowNull: true },
      oidc_subject: { type: DataTypes.STRING(255), allowNull: true },
      email: { type: DataTypes.STRING(320), allowNull: true },
      display_name: { type: DataTypes.STRING(128), allowNull: true },
      role: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'user' },
      created_at: DataTypes.DATE,
      updated_at: DataTypes.DATE,
      deleted_at: { type: DataTypes.DATE, allowNull: true },
      suspended_at: { type: DataTypes.DATE, allowNull: true },
      hidden: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      last_login_at: { type: DataTypes.DATE, allowNull: true },
    },
    { sequelize, tableName: 'users', modelName: 'User', ...common },
  );
  InstanceModel.init(
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      handle: { type: DataTypes.STRING(32), allowNull: false },
      owner_id: { type: DataTypes.STRING(64), allowNull: false },
      driver: { type: DataTypes.STRING(16), allowNull: false },
      runtime_ref: DataTypes.STRING(128),
      owner_suspended: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      status: { type: DataTypes.STRING(16), allowNull: false },
      gateway_url: DataTypes.STRING(255),
      shell_url: DataTypes.STRING(255),
      last_active_at: DataTypes.DATE,
      requested_at: DataTypes.DATE,
      started_at: DataTypes.DATE,
      stopped_at: DataTypes.DATE,
      attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      last_error: DataTypes.TEXT,
      spec_hash: DataTypes.STRING(64),
      token_generation: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 1 },
      access_generation: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 1 },
      purge_on_destroy: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      archive_path: DataTypes.STRING(1024),
      lease_owner: DataTypes.STRING(64),
      lease_expires_at: DataTypes.DATE,
      next_attempt_at: DataTypes.DATE,
      created_at: DataTypes.DATE,
      updated_at: DataTypes.DATE,
    },
    { sequelize, tableName: 'instances', modelName: 'Instance', ...common },
  );
  InstanceEventModel.init(
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      instance_id: { type: DataTypes.INTEGER, allowNull: false },
      handle: { type: DataTypes.STRING(32), allowNull: false },
      kind: { type: DataTypes.STRING(16), allowNull: false },
      from_status: DataTypes.STRING(16),
      to_status: DataTypes.STRING(16),
      message: { type: DataTypes.TEXT, allowNull: false },
      created_at: DataTypes.DATE,
    },
    { sequelize, tableName: 'instance_events', modelName: 'InstanceEvent', ...appendOnly },
  );
  AuditEntryModel.init(
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      actor: { type: DataTypes.STRING(128), allowNull: false },
      action: { type: DataTypes.STRING(64), allowNull: false },
      target: DataTypes.STRING(128),
      detail: DataTypes.TEXT,
      created_at: DataTypes.DATE,
    },
    { sequelize, tableName: 'audit_log', modelName: 'AuditEntry', ...appendOnly },
  );
  const AccessCodeModel = class extends AccessCode {};
  AccessCodeModel.init(
    {
      code_hash: { type: DataTypes.STRING(64), primaryKey: true },
      handle: { type: DataTypes.STRING(32), allowNull: false },
      user_id: { type: DataTypes.STRING(64), allowNull: false },
      access: { type: DataTypes.STRING(16), allowNull: false },
      next_path: { type: DataTypes.STRING(2048), allowNull: false },
      expires_at: { type: DataTypes.DATE, allowNull: false },
      used_at: DataTypes.DATE,
      created_at: DataTypes.DATE,
    },
    { sequelize, tableName: 'access_codes', modelName: 'AccessCode', ...appendOnly },
  );
  const SessionModel = class extends Session {};
  SessionModel.init(
    {
      id_hash: { type: DataTypes.STRING(64), primaryKey: true },
      user_id: { type: DataTypes.STRING(64), allowNull: false },
      csrf_token: { type: DataTypes.STRING(64), allowNull: false },
      expires_at: { type: DataTypes.DATE, allowNull: false },
      revoked_at: DataTypes.DATE,
      created_at: DataTypes.DATE,
    },
    { sequelize, tableName: 'sessions', modelName: 'Session', ...appendOnly },
  );
  return {
    User: UserModel,
    Instance: InstanceModel,
    InstanceEvent: InstanceEventModel,
    AuditEntry: AuditEntryModel,
    AccessCode: AccessCodeModel,
    Session: SessionModel,
  };
}
