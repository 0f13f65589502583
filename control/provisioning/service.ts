/**
 * What callers (the platform API, the site and the router) may ask of an
 * instance. Requests only move persisted state; the worker does the work.
 */
import { Op, UniqueConstraintError } from 'sequelize';
import { type AuditRecord, actorNames, recordAudit } from '../audit.ts';
import type { Database } from '../db/database.ts';
import type { Instance } from '../db/models.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { assertValidHandle } from '../handles.ts';
import { canRequest, INSTANCE_STATUSES, type InstanceRequest, isInstanceStatus, isSettled, REQUEST_TARGETS } from './states.ts';
import type { InstanceStore } from './store.ts';

const USER_ID_PATTERN = /^[A-Za-z0-9._:@+-]{1,64}$/;

interface ProvisionResult {
  instance: Instance;
  /** true when this call created (or re-provisioned) the instance. */
  created: boolean;
}

interface RequestResult {
  instance: Instance;
  /** false when the instance was already where the request leads. */
  changed: boolean;
}

export class InstanceService {
  constructor(
    private readonly db: Database,
    private readonly store: InstanceStore,
    private readonly driver: string,
  ) {}

  /** Idempotent for the same user; 409 when the handle or the user is taken. */
  async provision(input: { handle: unknown; userId: unknown }, actor: string): Promise<ProvisionResult> {
    const handle = assertValidHandle(input.handle);
    if (typeof input.userId !== 'string' || !USER_ID_PATTERN.test(input.userId)) {
      throw new ValidationError('userId is required: 1 to 64 characters of letters, digits and . _ : @ + -');
    }
    const userId = input.userId;
    try {
      const result = await this.db.transaction(async (transaction) => {
        const existing = await this.db.models.Instance.findOne({ where: { handle }, transaction });
        if (existing && existing.owner_id !== userId) throw handleTaken(handle);
        if (existing) return { instance: existing, created: false };
        const { User } = this.db.models;
        const user = await User.findByPk(userId, { transaction });
        if (user?.handle && user.handle !== handle) {
          throw new ConflictError('user_has_instance', `User "${userId}" already has the handle "${user.handle}": a user gets one instance.`);
        }
        const holder = await User.findOne({ where: { handle, id: { [Op.ne]: userId } }, transaction });
        if (holder) throw handleTaken(handle);
        if (!user) await User.create({ id: userId, handle }, { transaction });
        else if (!user.handle) await user.update({ handle }, { transaction });
        const instance = await this.store.create({ handle, owner_id: userId, driver: this.driver }, transaction);
        await recordAudit(this.db, { actor, action: 'provision', target: handle, detail: { userId } }, transaction);
        return { instance, created: true };
      });
      if (result.created || !['destroyed', 'failed'].includes(result.instance.status)) return result;
      // Provisioning again after a failure or a destroy, for the same user.
      const again = await this.request(handle, 'reprovision', actor);
      return { instance: again.instance, created: again.changed };
    } catch (err) {
      if (!(err instanceof UniqueConstraintError)) throw err;
      // Lost a race with a concurrent provision: answer as if we had come second.
      const winner = await this.store.findByHandle(handle);
      if (winner?.owner_id === userId) return { instance: winner, created: false };
      throw handleTaken(handle);
    }
  }

  /** start / stop / destroy / reprovision. Idempotent when already there (or on the way). */
  async request(handle: string, request: InstanceRequest, actor: string, options: { purge?: boolean } = {}): Promise<RequestResult> {
    const target = REQUEST_TARGETS[request];
    for (let attempt = 0; attempt < 3; attempt++) {
      const instance = await this.get(handle);
      if (isSettled(instance.status, request)) return { instance, changed: false };
      if (instance.owner_suspended && (request === 'start' || request === 'reprovision')) {
        throw new ConflictError('owner_suspended', `The owner of "${handle}" is suspended: an admin must unsuspend them before it can start.`);
      }
      if (!canRequest(instance.status, request)) {
        throw new ConflictError('invalid_state', `Cannot ${request} "${handle}" while it is ${instance.status}.`);
      }
      const now = new Date();
      const patch = {
        attempts: 0,
        last_error: null,
        next_attempt_at: null,
        ...(target === 'requested' || target === 'starting' ? { requested_at: now } : {}),
        ...(request === 'destroy' ? { purge_on_destroy: options.purge === true } : {}),
        ...(request === 'reprovision' ? { archive_path: null, purge_on_destroy: false } : {}),
      };
      const audit = { actor, action: request, target: handle, detail: options.purge ? { purge: true } : null };
      const moved = await this.store.transition(handle, [instance.status], target, `${capitalize(request)} requested by ${await this.actorName(actor)}`, {
        patch,
        audit,
      });
      if (moved) return { instance: (await this.store.findByHandle(handle))!, changed: true };
    }
    throw new ConflictError('busy', `"${handle}" is changing state right now: try again in a moment.`);
  }

  /**
   * Rotates the user-facing instance token: every earlier token and browser session on
   * the instance's host stops working at once; the instance itself keeps running.
   * Returns the new generation. Throws NotFoundError; a concurrent change is 409 busy.
   */
  async rotateAccess(handle: string, actor: string): Promise<number> {
    const message = `Instance token rotated by ${await this.actorName(actor)}: earlier tokens and browser sessions no longer work`;
    return (await this.rotate(handle, 'access', message, { actor, action: 'rotate_token', target: handle })).generation;
  }

  /**
   * Rotates what the instance itself holds: the router's token to it (mxr_) and its
   * meter key (mxm_), one generation for both. A running instance is redeployed with
   * the new values (through `starting`); a stopped one gets them at its next start.
   * The old values stop working as the instance restarts. Throws as rotateAccess.
   */
  async rotateRuntimeCredentials(handle: string, actor: string): Promise<{ generation: number; redeploy: boolean }> {
    const message = `Router token and meter key rotated by ${await this.actorName(actor)}; the instance restarts with the new ones`;
    return this.rotate(handle, 'token', message, { actor, action: 'rotate_runtime_credentials', target: handle });
  }

  /** Who asked, as the instance's owner reads it in its events (see actorNames). */
  private async actorName(actor: string): Promise<string> {
    return (await actorNames(this.db, [actor], { emails: false })).get(actor)!;
  }

  private async rotate(handle: string, kind: 'access' | 'token', message: string, audit: AuditRecord): Promise<{ generation: number; redeploy: boolean }> {
    await this.get(handle);
    const rotated = await this.store.rotateGeneration(handle, kind, message, audit);
    if (rotated === null) {
      const instance = await this.get(handle);
      if (instance.status === 'destroyed') throw new ConflictError('invalid_state', `"${handle}" is destroyed: there is nothing to rotate.`);
      throw new ConflictError('busy', `"${handle}" changed at the same moment: try again.`);
    }
    return rotated;
  }

  async get(handle: string): Promise<Instance> {
    const instance = await this.store.findByHandle(handle);
    if (!instance) throw new NotFoundError(`No instance with handle "${handle}".`);
    return instance;
  }

  async list(filter: { status?: string; limit: number; offset: number }): Promise<{ instances: Instance[]; total: number }> {
    const where: Record<string, unknown> = {};
    if (filter.status !== undefined) {
      if (!isInstanceStatus(filter.status)) throw new ValidationError(`status must be one of ${INSTANCE_STATUSES.join(', ')}; got "${filter.status}"`);
      where.status = filter.status;
    }
    const { rows, count } = await this.db.models.Instance.findAndCountAll({ where, order: [['handle', 'ASC']], limit: filter.limit, offset: filter.offset });
    return { instances: rows, total: count };
  }
}

function handleTaken(handle: string): ConflictError {
  return new ConflictError('handle_taken', `The handle "${handle}" belongs to another user: choose another handle.`);
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
