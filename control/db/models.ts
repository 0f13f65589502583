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
  /** The person last signed out (or was signed out everywhere): instance sessions from before it end. */
  declare signed_out_at: CreationOptional<Date | null>;
  /** The user chose not to appear in the community panel. */
  declare hidden: CreationOptional<boolean>;
  /** What the platform keeps of a public profile (the display name above, set on the dashboard). */
  declare bio: CreationOptional<string | null>;
  declare avatar_url: CreationOptional<string | null>;
  /** The user lets their instance post its own activity on the public feed. */
  declare share_activity: CreationOptional<boolean>;
  /** The invite this user signed up with, if any. */
  declare invite_id: CreationOptional<string | null>;
  /** The provider verified `email` (linking another sign-in by email requires it). */
  declare email_verified: CreationOptional<boolean>;
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
  /** Given one of MAX_RUNNING_INSTANCES places (cleared when it stops). */
  declare slot_at: CreationOptional<Date | null>;
  /** Waiting for a place since (null when not waiting). */
  declare waiting_since: CreationOptional<Date | null>;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
}

/** 'crash': the instance stopped running behind the platform's back (restarted, or failed past the limit). */
export type EventKind = 'transition' | 'progress' | 'error' | 'reconcile' | 'access' | 'crash';

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

export type MatrixAccountKind = 'human' | 'ai' | 'service';
/** pending: to register; active; deactivating: to deactivate; deactivated. */
export type MatrixAccountState = 'pending' | 'active' | 'deactivating' | 'deactivated';

export class MatrixAccount extends Model<InferAttributes<MatrixAccount>, InferCreationAttributes<MatrixAccount>> {
  declare id: CreationOptional<number>;
  declare handle: string;
  declare kind: MatrixAccountKind;
  declare epoch: CreationOptional<number>;
  declare matrix_user_id: string;
  declare password_sealed: string;
  declare access_token_sealed: CreationOptional<string | null>;
  declare device_id: CreationOptional<string | null>;
  declare token_generation: CreationOptional<number | null>;
  declare handed_over: CreationOptional<boolean>;
  declare state: MatrixAccountState;
  declare attempts: CreationOptional<number>;
  declare last_error: CreationOptional<string | null>;
  declare next_attempt_at: CreationOptional<Date | null>;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
}

export class SocialRoom extends Model<InferAttributes<SocialRoom>, InferCreationAttributes<SocialRoom>> {
  declare pair: string;
  declare room_id: string;
  declare joined: CreationOptional<boolean>;
  declare leaving: CreationOptional<string | null>;
  declare created_at: CreationOptional<Date>;
}

export type MessageState = 'queued' | 'delivered' | 'failed';

export class SocialMessage extends Model<InferAttributes<SocialMessage>, InferCreationAttributes<SocialMessage>> {
  declare id: string;
  declare sender_handle: string;
  declare recipient_handle: string;
  declare via: 'site' | 'instance';
  declare client_key: CreationOptional<string | null>;
  declare body: string;
  declare state: MessageState;
  declare attempts: CreationOptional<number>;
  declare last_error: CreationOptional<string | null>;
  declare next_attempt_at: CreationOptional<Date | null>;
  declare lease_owner: CreationOptional<string | null>;
  declare lease_expires_at: CreationOptional<Date | null>;
  declare room_id: CreationOptional<string | null>;
  declare event_id: CreationOptional<string | null>;
  declare created_at: CreationOptional<Date>;
  declare delivered_at: CreationOptional<Date | null>;
}

export class SocialBlock extends Model<InferAttributes<SocialBlock>, InferCreationAttributes<SocialBlock>> {
  declare blocker_id: string;
  declare blocked_id: string;
  declare created_at: CreationOptional<Date>;
}

export type FeedKind = 'joined' | 'message' | 'activity';

export class FeedEntry extends Model<InferAttributes<FeedEntry>, InferCreationAttributes<FeedEntry>> {
  declare id: CreationOptional<number>;
  declare kind: FeedKind;
  declare actor_handle: string;
  declare target_handle: CreationOptional<string | null>;
  declare text: CreationOptional<string | null>;
  declare created_at: CreationOptional<Date>;
}

/** Another sign-in of a user (GitHub besides OpenID Connect); the first one is on the user row. */
export class UserIdentity extends Model<InferAttributes<UserIdentity>, InferCreationAttributes<UserIdentity>> {
  declare issuer: string;
  declare subject: string;
  declare user_id: string;
  declare created_at: CreationOptional<Date>;
}

export class Invite extends Model<InferAttributes<Invite>, InferCreationAttributes<Invite>> {
  declare id: string;
  declare code_hash: string;
  declare note: CreationOptional<string | null>;
  declare max_uses: number;
  declare uses: CreationOptional<number>;
  declare expires_at: CreationOptional<Date | null>;
  declare created_by: string;
  declare created_at: CreationOptional<Date>;
  declare revoked_at: CreationOptional<Date | null>;
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
  MatrixAccount: typeof MatrixAccount;
  SocialRoom: typeof SocialRoom;
  SocialMessage: typeof SocialMessage;
  SocialBlock: typeof SocialBlock;
  FeedEntry: typeof FeedEntry;
  Invite: typeof Invite;
  UserIdentity: typeof UserIdentity;
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
      signed_out_at: { type: DataTypes.DATE, allowNull: true },
      hidden: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      bio: { type: DataTypes.STRING(500), allowNull: true },
      avatar_url: { type: DataTypes.STRING(500), allowNull: true },
      share_activity: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      invite_id: { type: DataTypes.STRING(24), allowNull: true },
      email_verified: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
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
      slot_at: DataTypes.DATE,
      waiting_since: DataTypes.DATE,
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
  const MatrixAccountModel = class extends MatrixAccount {};
  MatrixAccountModel.init(
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      handle: { type: DataTypes.STRING(32), allowNull: false },
      kind: { type: DataTypes.STRING(8), allowNull: false },
      epoch: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 1 },
      matrix_user_id: { type: DataTypes.STRING(255), allowNull: false },
      password_sealed: { type: DataTypes.TEXT, allowNull: false },
      access_token_sealed: DataTypes.TEXT,
      device_id: DataTypes.STRING(64),
      token_generation: DataTypes.INTEGER,
      handed_over: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      state: { type: DataTypes.STRING(16), allowNull: false },
      attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      last_error: DataTypes.TEXT,
      next_attempt_at: DataTypes.DATE,
      created_at: DataTypes.DATE,
      updated_at: DataTypes.DATE,
    },
    { sequelize, tableName: 'matrix_accounts', modelName: 'MatrixAccount', ...common },
  );
  const SocialRoomModel = class extends SocialRoom {};
  SocialRoomModel.init(
    {
      pair: { type: DataTypes.STRING(520), primaryKey: true },
      room_id: { type: DataTypes.STRING(255), allowNull: false },
      joined: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      leaving: DataTypes.STRING(255),
      created_at: DataTypes.DATE,
    },
    { sequelize, tableName: 'social_rooms', modelName: 'SocialRoom', ...appendOnly },
  );
  const SocialMessageModel = class extends SocialMessage {};
  SocialMessageModel.init(
    {
      id: { type: DataTypes.STRING(36), primaryKey: true },
      sender_handle: { type: DataTypes.STRING(32), allowNull: false },
      recipient_handle: { type: DataTypes.STRING(32), allowNull: false },
      via: { type: DataTypes.STRING(16), allowNull: false },
      client_key: DataTypes.STRING(128),
      body: { type: DataTypes.TEXT, allowNull: false },
      state: { type: DataTypes.STRING(16), allowNull: false },
      attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      last_error: DataTypes.TEXT,
      next_attempt_at: DataTypes.DATE,
      lease_owner: DataTypes.STRING(96),
      lease_expires_at: DataTypes.DATE,
      room_id: DataTypes.STRING(255),
      event_id: DataTypes.STRING(255),
      created_at: DataTypes.DATE,
      delivered_at: DataTypes.DATE,
    },
    { sequelize, tableName: 'social_messages', modelName: 'SocialMessage', ...appendOnly },
  );
  const SocialBlockModel = class extends SocialBlock {};
  SocialBlockModel.init(
    {
      blocker_id: { type: DataTypes.STRING(64), primaryKey: true },
      blocked_id: { type: DataTypes.STRING(64), primaryKey: true },
      created_at: DataTypes.DATE,
    },
    { sequelize, tableName: 'social_blocks', modelName: 'SocialBlock', ...appendOnly },
  );
  const FeedEntryModel = class extends FeedEntry {};
  FeedEntryModel.init(
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      kind: { type: DataTypes.STRING(16), allowNull: false },
      actor_handle: { type: DataTypes.STRING(32), allowNull: false },
      target_handle: DataTypes.STRING(32),
      text: DataTypes.STRING(500),
      created_at: DataTypes.DATE,
    },
    { sequelize, tableName: 'social_feed', modelName: 'FeedEntry', ...appendOnly },
  );
  const InviteModel = class extends Invite {};
  InviteModel.init(
    {
      id: { type: DataTypes.STRING(24), primaryKey: true },
      code_hash: { type: DataTypes.STRING(64), allowNull: false, unique: true },
      note: DataTypes.STRING(200),
      max_uses: { type: DataTypes.INTEGER, allowNull: false },
      uses: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      expires_at: DataTypes.DATE,
      created_by: { type: DataTypes.STRING(128), allowNull: false },
      created_at: DataTypes.DATE,
      revoked_at: DataTypes.DATE,
    },
    { sequelize, tableName: 'invites', modelName: 'Invite', ...appendOnly },
  );
  const UserIdentityModel = class extends UserIdentity {};
  UserIdentityModel.init(
    {
      issuer: { type: DataTypes.STRING(512), primaryKey: true },
      subject: { type: DataTypes.STRING(255), primaryKey: true },
      user_id: { type: DataTypes.STRING(64), allowNull: false },
      created_at: DataTypes.DATE,
    },
    { sequelize, tableName: 'user_identities', modelName: 'UserIdentity', ...appendOnly },
  );
  return {
    UserIdentity: UserIdentityModel,
    Invite: InviteModel,
    MatrixAccount: MatrixAccountModel,
    SocialRoom: SocialRoomModel,
    SocialMessage: SocialMessageModel,
    SocialBlock: SocialBlockModel,
    FeedEntry: FeedEntryModel,
    User: UserModel,
    Instance: InstanceModel,
    InstanceEvent: InstanceEventModel,
    AuditEntry: AuditEntryModel,
    AccessCode: AccessCodeModel,
    Session: SessionModel,
  };
}
