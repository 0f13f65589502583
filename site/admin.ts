/**
 * Admin pages (role admin): users with their instance, searchable and paginated (fast
 * at 10,000 users: one indexed page query and one count), instance actions, roles,
 * suspension, the audit log. Every action is a CSRF-checked form and is audited.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { Op, type WhereOptions } from 'sequelize';
import type { User } from '../control/db/models.ts';
import { ForbiddenError, ValidationError } from '../control/errors.ts';
import type { SiteDeps, SiteKit } from './app.ts';
import type { SiteSession } from './sessions.ts';
import { adminAuditPage, adminUsersPage, type AdminRow } from './admin-views.ts';

export const PAGE_SIZE = 50;

export function adminRoutes(router: Router, deps: SiteDeps, kit: SiteKit): void {
  const requireAdmin = async (ctx: Context): Promise<SiteSession | null> => {
    const s = await kit.requireSession(ctx);
    if (s && s.user.role !== 'admin') throw new ForbiddenError('Only platform admins can see this page.');
    return s;
  };

  router.get('/admin', (ctx) => ctx.redirect('/admin/users'));

  router.get('/admin/users', async (ctx) => {
    const s = await requireAdmin(ctx);
    if (!s) return;
    const q = typeof ctx.query.q === 'string' ? ctx.query.q.trim().toLowerCase().slice(0, 100) : '';
    const page = pageParam(ctx);
    const { User, Instance } = deps.db.models;
    // Prefix search uses the handle and email indexes; a page is one query plus a count.
    const where: WhereOptions<User> = q ? { [Op.or]: [{ handle: { [Op.like]: `${escapeLike(q)}%` } }, { email: { [Op.like]: `${escapeLike(q)}%` } }] } : {};
    const [users, total] = await Promise.all([
      User.findAll({ where, order: [['created_at', 'DESC'], ['id', 'DESC']], limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE }),
      User.count({ where }),
    ]);
    const handles = users.map((u) => u.handle).filter((h): h is string => h !== null);
    const instances = handles.length ? await Instance.findAll({ where: { handle: handles } }) : [];
    const byHandle = new Map(instances.map((i) => [i.handle, i]));
    const rows: AdminRow[] = users.map((user) => ({ user, instance: user.handle ? byHandle.get(user.handle) ?? null : null }));
    kit.html(ctx, 200, adminUsersPage(kit.pageUser(s)!, rows, { q, page, total, pageSize: PAGE_SIZE }, flash(ctx)));
  });

  router.post('/admin/users/:id', async (ctx) => {
    const s = await requireAdmin(ctx);
    if (!s) return;
    const form = await kit.checkForm(ctx, s);
    const target = await deps.db.models.User.findByPk(ctx.params.id!);
    if (!target) throw new ValidationError('No such user.');
    const action = form.get('action') ?? '';
    const actor = `admin:${s.user.id}`;
    const message = await act(deps, target, action, form, actor, s);
    ctx.status = 303;
    ctx.redirect(`/admin/users?flash=${encodeURIComponent(message)}${form.get('q') ? `&q=${encodeURIComponent(form.get('q')!)}` : ''}`);
  });

  router.get('/admin/audit', async (ctx) => {
    const s = await requireAdmin(ctx);
    if (!s) return;
    const page = pageParam(ctx);
    const { AuditEntry } = deps.db.models;
    const [entries, total] = await Promise.all([
      AuditEntry.findAll({ order: [['id', 'DESC']], limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE }),
      AuditEntry.count(),
    ]);
    kit.html(ctx, 200, adminAuditPage(kit.pageUser(s)!, entries, { page, total, pageSize: PAGE_SIZE }));
  });
}

async function act(deps: SiteDeps, target: User, action: string, form: URLSearchParams, actor: string, s: SiteSession): Promise<string> {
  const { service } = deps;
  switch (action) {
    case 'start':
    case 'stop': {
      if (!target.handle) throw new ValidationError(`${target.email ?? target.id} has no instance.`);
      const { changed } = await service.request(target.handle, action, actor);
      if (changed) deps.kick();
      return `${action === 'start' ? 'Starting' : 'Stopping'} ${target.handle}.`;
    }
    case 'destroy': {
      if (!target.handle) throw new ValidationError(`${target.email ?? target.id} has no instance.`);
      if (form.get('confirm') !== target.handle) throw new ValidationError(`To destroy, type the handle "${target.handle}" in the confirmation box.`);
      const { changed } = await service.request(target.handle, 'destroy', actor);
      if (changed) deps.kick();
      return `Destroying ${target.handle}; its data is archived.`;
    }
    case 'make-admin':
    case 'make-user': {
      if (target.id === s.user.id) throw new ValidationError('You cannot change your own role.');
      const role = action === 'make-admin' ? 'admin' : 'user';
      await target.update({ role });
      await service.audit(actor, 'set_role', target.handle ?? target.id, { userId: target.id, role });
      return `${target.email ?? target.id} is now ${role === 'admin' ? 'an admin' : 'a user'}.`;
    }
    case 'suspend':
    case 'unsuspend': {
      if (target.id === s.user.id) throw new ValidationError('You cannot suspend yourself.');
      await target.update({ suspended_at: action === 'suspend' ? new Date() : null });
      const ended = action === 'suspend' ? await deps.sessions.revokeAll(target.id) : 0;
      await service.audit(actor, action, target.handle ?? target.id, { userId: target.id, sessionsEnded: ended });
      return `${target.email ?? target.id} is ${action === 'suspend' ? `suspended (${ended} session${ended === 1 ? '' : 's'} ended)` : 'active again'}.`;
    }
    case 'revoke-sessions': {
      const ended = await deps.sessions.revokeAll(target.id);
      await service.audit(actor, 'revoke_sessions', target.handle ?? target.id, { userId: target.id, sessionsEnded: ended });
      return `${ended} session${ended === 1 ? '' : 's'} of ${target.email ?? target.id} ended.`;
    }
    default:
      throw new ValidationError(`Unknown action "${action.slice(0, 40)}".`);
  }
}

function pageParam(ctx: Context): number {
  const raw = ctx.query.page;
  if (raw === undefined) return 1;
  const page = Number(raw);
  if (!Number.isInteger(page) || page < 1 || page > 100_000) throw new ValidationError('page must be a whole number from 1.');
  return page;
}

function flash(ctx: Context): string | null {
  return typeof ctx.query.flash === 'string' ? ctx.query.flash.slice(0, 300) : null;
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}
