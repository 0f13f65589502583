/**
 * Admin pages (role admin): users with their instance, searchable and paginated (one
 * indexed page query and one count), instance actions, roles, suspension, the audit
 * log. Every action is a CSRF-checked form, audited with its change, and redirects.
 */
import type { Context } from 'koa';
import { actorNames, auditPage } from '../../control/audit.ts';
import type { User } from '../../control/db/models.ts';
import { ValidationError } from '../../control/errors.ts';
import { setUserSuspended } from '../../control/users/suspension.ts';
import { type AdminRow, adminAuditPage, adminUsersPage } from '../admin-views.ts';
import { checkForm, html, pageUser, requireAdmin, requireSession, type SignedIn, type SiteDeps, type SiteRouter, seeOther } from '../context.ts';
import { overviewSection } from '../overview-views.ts';

const PAGE_SIZE = 50;

export function adminPages(router: SiteRouter, deps: SiteDeps): void {
  const admin = [requireSession(deps), requireAdmin] as const;

  router.get('/admin', (ctx) => ctx.redirect('/admin/users'));

  /** The users page; `notice`: what the last action did, or (status 400) why it was refused, shown in place. */
  const usersPage = async (ctx: Context & { state: SignedIn }, q: string, page: number, notice: { text: string; error: boolean } | null, status = 200) => {
    const { users, total } = await deps.users.page({ q, offset: (page - 1) * PAGE_SIZE, limit: PAGE_SIZE });
    const instances = await deps.store.summaries(users.map((u) => u.handle).filter((h): h is string => h !== null));
    const rows: AdminRow[] = users.map((user) => ({ user, instance: user.handle ? (instances.get(user.handle) ?? null) : null }));
    const [capacity, signups, states] = await Promise.all([deps.capacity.view(), deps.users.signupsPerHour(24), deps.store.countByState()]);
    const overview = overviewSection({
      users: signups.total,
      signupsPerHour: signups.perHour,
      states,
      capacity,
      memoryMB: deps.settings.instanceLimits.memoryMB,
    });
    const me = { ...pageUser(ctx.state.session)!, id: ctx.state.session.user.id };
    html(ctx, status, adminUsersPage(me, rows, { q, page, total, pageSize: PAGE_SIZE }, notice, deps.settings.instanceLimits, overview));
  };
  const searchOf = (value: unknown) => (typeof value === 'string' ? value.trim().toLowerCase().slice(0, 100) : '');

  router.get<SignedIn>('/admin/users', ...admin, async (ctx) => {
    const flash = typeof ctx.query.flash === 'string' ? ctx.query.flash.slice(0, 300) : null;
    await usersPage(ctx, searchOf(ctx.query.q), pageParam(ctx), flash ? { text: flash, error: false } : null);
  });

  router.post<SignedIn>('/admin/users/:id', ...admin, async (ctx) => {
    const form = await checkForm(ctx);
    const q = form.get('q');
    const target = await deps.users.findById(ctx.params.id!);
    let message: string;
    try {
      if (!target) throw new ValidationError('No such user.');
      message = await act(deps, target, form, ctx.state.session.user);
    } catch (err) {
      // A refused action (say, a missing confirmation) is shown on the same page, beside the table.
      if (!(err instanceof ValidationError)) throw err;
      return usersPage(ctx, searchOf(q), 1, { text: err.message, error: true }, 400);
    }
    seeOther(ctx, `/admin/users?flash=${encodeURIComponent(message)}${q ? `&q=${encodeURIComponent(q)}` : ''}`);
  });

  // The users page's instance states, for its live refresh: at most a page of handles.
  router.get<SignedIn>('/admin/instances/status', ...admin, async (ctx) => {
    const handles = (typeof ctx.query.handles === 'string' ? ctx.query.handles.split(',') : []).filter(Boolean).slice(0, PAGE_SIZE);
    const summaries = await deps.store.summaries(handles);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { states: Object.fromEntries([...summaries].map(([handle, s]) => [handle, s.status])) };
  });

  router.get<SignedIn>('/admin/audit', ...admin, async (ctx) => {
    const page = pageParam(ctx);
    const { entries, total } = await auditPage(deps.db, (page - 1) * PAGE_SIZE, PAGE_SIZE);
    const names = await actorNames(
      deps.db,
      entries.map((a) => a.actor),
      { emails: true },
    );
    html(ctx, 200, adminAuditPage(pageUser(ctx.state.session)!, entries, names, { page, total, pageSize: PAGE_SIZE }));
  });
}

/** One admin action on `target`; returns what to tell the admin. */
async function act(deps: SiteDeps, target: User, form: URLSearchParams, me: User): Promise<string> {
  const action = form.get('action') ?? '';
  const actor = `admin:${me.id}`;
  const who = target.email ?? target.id;
  const handleOf = () => {
    if (!target.handle) throw new ValidationError(`${who} has no instance.`);
    return target.handle;
  };
  switch (action) {
    case 'start':
    case 'stop':
      await deps.service.request(handleOf(), action, actor);
      return `${action === 'start' ? 'Starting' : 'Stopping'} ${target.handle}.`;
    case 'destroy': {
      const handle = handleOf();
      if (form.get('confirm') !== handle) throw new ValidationError(`To destroy, type the handle "${handle}" in the confirmation box.`);
      await deps.service.request(handle, 'destroy', actor);
      return `Destroying ${handle}; its data is archived.`;
    }
    case 'make-admin':
    case 'make-user': {
      if (target.id === me.id) throw new ValidationError('You cannot change your own role.');
      const role = action === 'make-admin' ? 'admin' : 'user';
      await deps.users.setRole(target.id, role, actor);
      return `${who} is now ${role === 'admin' ? 'an admin' : 'a user'}.`;
    }
    case 'suspend':
    case 'unsuspend': {
      if (target.id === me.id) throw new ValidationError('You cannot suspend yourself.');
      const { sessionsEnded: ended } = await setUserSuspended(deps, target.id, action === 'suspend', actor);
      return `${who} is ${action === 'suspend' ? `suspended (${plural(ended, 'session')} ended)` : 'active again'}.`;
    }
    case 'revoke-sessions':
      return `${plural(await deps.users.endSessions(target.id, actor), 'session')} of ${who} ended.`;
    default:
      throw new ValidationError(`Unknown action "${action.slice(0, 40)}".`);
  }
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function pageParam(ctx: Context): number {
  const raw = ctx.query.page;
  if (raw === undefined) return 1;
  const page = Number(raw);
  if (!Number.isInteger(page) || page < 1 || page > 100_000) throw new ValidationError('page must be a whole number from 1.');
  return page;
}
