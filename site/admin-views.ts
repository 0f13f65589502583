/** Admin pages: plain tables that work without JavaScript. */
import type { AuditEntry, User } from '../control/db/models.ts';
import { canRequest } from '../control/provisioning/states.ts';
import type { InstanceSummary } from '../control/provisioning/store.ts';
import { escapeHtml as e } from '../control/web/html.ts';
import { layout, type PageUser } from './views.ts';

export interface AdminRow {
  user: User;
  instance: InstanceSummary | null;
}

interface Paging {
  page: number;
  total: number;
  pageSize: number;
}

/** Compact: "Dec 5, 14:03" this year, "2025-11-30" before (UTC, said in the column heading). */
const time = (d: Date | null | undefined, now = new Date()) => {
  if (!d) return '—';
  const at = new Date(d);
  if (at.getUTCFullYear() !== now.getUTCFullYear()) return at.toISOString().slice(0, 10);
  const month = at.toLocaleString('en', { month: 'short', timeZone: 'UTC' });
  return `<time datetime="${at.toISOString()}">${month} ${at.getUTCDate()}, ${at.toISOString().slice(11, 16)}</time>`;
};

export function adminUsersPage(
  me: PageUser & { id: string },
  rows: AdminRow[],
  paging: Paging & { q: string },
  notice: { text: string; error: boolean } | null,
  limits: { memoryMB: number; cpu: number },
  /** The fleet at a glance (overview-views.ts), shown before the table. */
  overview: string,
): string {
  const csrf = `<input type="hidden" name="csrf" value="${e(me.csrf)}"><input type="hidden" name="q" value="${e(paging.q)}">`;
  const action = (id: string, value: string, label: string, extra = '') =>
    `<form method="post" action="/admin/users/${e(id)}" class="inline">${csrf}<input type="hidden" name="action" value="${value}">${extra}<button type="submit">${label}</button></form>`;
  const body = rows
    .map(({ user, instance }) => {
      // Your own row offers nothing the server refuses (your own role, suspending yourself).
      const mine = user.id === me.id;
      const actions = [
        instance && canRequest(instance.status, 'start') ? action(user.id, 'start', 'Start') : '',
        instance && canRequest(instance.status, 'stop') ? action(user.id, 'stop', 'Stop') : '',
        instance && canRequest(instance.status, 'destroy')
          ? action(
              user.id,
              'destroy',
              'Destroy',
              `<label class="sr-only" for="confirm-${e(user.id)}">Type ${e(user.handle ?? '')} to confirm</label><input id="confirm-${e(user.id)}" name="confirm" placeholder="type ${e(user.handle ?? '')}" size="10">`,
            )
          : '',
        mine ? '' : action(user.id, user.role === 'admin' ? 'make-user' : 'make-admin', user.role === 'admin' ? 'Make user' : 'Make admin'),
        mine ? '' : action(user.id, user.suspended_at ? 'unsuspend' : 'suspend', user.suspended_at ? 'Unsuspend' : 'Suspend'),
        action(user.id, 'revoke-sessions', 'Sign out everywhere'),
      ]
        .filter(Boolean)
        .join(' ');
      return `<tr><td data-label="Handle">${e(user.handle ?? '—')}</td><td data-label="Email">${e(user.email ?? '—')}</td><td data-label="Role">${e(user.role)}${user.suspended_at ? ' <strong>suspended</strong>' : ''}</td>
<td data-label="Instance"><span class="instance-status"${user.handle ? ` data-handle="${e(user.handle)}"` : ''}>${e(instance?.status ?? 'none')}</span>${instance?.status === 'failed' && instance.last_error ? `<br><span class="error">${e(instance.last_error)}</span>` : ''}</td><td data-label="Last active">${time(instance?.last_active_at)}</td><td data-label="Actions">${actions}</td></tr>`;
    })
    .join('\n');
  return layout(
    'Admin: users',
    `<h1>Users and instances</h1>
${notice ? (notice.error ? `<p class="error flash" role="alert">${e(notice.text)}</p>` : `<p class="flash" role="status" data-once>${e(notice.text)}</p>`) : ''}
${adminNav('users')}
<form method="get" action="/admin/users" role="search"><label for="q">Search by handle or email (prefix)</label><input id="q" name="q" value="${e(paging.q)}"> <button type="submit">Search</button></form>
${overview}
<p>${paging.total} user${paging.total === 1 ? '' : 's'}; limits per instance: ${limits.memoryMB} MB, ${limits.cpu} CPU (INSTANCE_MEMORY_MB, INSTANCE_CPU).</p>
${
  rows.length === 0 && paging.q
    ? `<p id="no-match">No user's handle or email starts with "${e(paging.q)}".</p>`
    : `<div class="table" tabindex="0" role="region" aria-label="Users"><table class="cards"><thead><tr><th scope="col">Handle</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Instance</th><th scope="col">Last active (UTC)</th><th scope="col">Actions</th></tr></thead>
<tbody>${body}</tbody></table></div>`
}
${pager('/admin/users', paging, paging.q ? `q=${encodeURIComponent(paging.q)}&` : '')}`,
    me,
  );
}

/** `names`: each actor as people read it (actorNames). */
export function adminAuditPage(me: PageUser, entries: AuditEntry[], names: ReadonlyMap<string, string>, paging: Paging): string {
  const rows = entries
    .map(
      (a) =>
        `<tr><td>${time(a.created_at)}</td><td>${e(names.get(a.actor) ?? a.actor)}</td><td>${e(a.action)}</td><td>${e(a.target ?? '—')}</td><td><code>${e(a.detail ?? '')}</code></td></tr>`,
    )
    .join('\n');
  return layout(
    'Admin: audit log',
    `<h1>Audit log</h1>${adminNav('audit')}
<div class="table" tabindex="0" role="region" aria-label="Audit log"><table><thead><tr><th scope="col">When (UTC)</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Target</th><th scope="col">Detail</th></tr></thead><tbody>${rows}</tbody></table></div>
${pager('/admin/audit', paging, '')}`,
    me,
  );
}

const ADMIN_PAGES = [
  ['users', '/admin/users', 'Users and instances'],
  ['spend', '/admin/spend', 'Model spend'],
  ['prices', '/admin/prices', 'Prices'],
  ['invites', '/admin/invites', 'Invites'],
  ['audit', '/admin/audit', 'Audit log'],
] as const;

/** Links between the admin pages; the current one is marked for screen readers too. */
export function adminNav(current: (typeof ADMIN_PAGES)[number][0]): string {
  const links = ADMIN_PAGES.map(([id, href, label]) =>
    id === current ? `<a href="${href}" aria-current="page"><strong>${label}</strong></a>` : `<a href="${href}">${label}</a>`,
  );
  return `<nav aria-label="Admin pages" class="admin-nav">${links.join(' ')}</nav>`;
}

function pager(path: string, { page, total, pageSize }: Paging, query: string): string {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const link = (p: number, label: string) => `<a href="${path}?${query}page=${p}">${label}</a>`;
  return `<nav aria-label="Pages"><p>${page > 1 ? link(page - 1, 'Previous') : ''} Page ${page} of ${pages} ${page < pages ? link(page + 1, 'Next') : ''}</p></nav>`;
}
