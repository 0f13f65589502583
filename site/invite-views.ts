/** The admin page of invite codes: the list, the form that makes one, and the code shown once. */
import type { SignupMode } from '../control/config-signup.ts';
import type { InviteView } from '../control/users/invites.ts';
import { escapeHtml as e } from '../control/web/html.ts';
import { adminNav } from './admin-views.ts';
import { layout, type PageUser } from './views.ts';

const date = (iso: string | null) => (iso ? `<time datetime="${e(iso)}">${e(iso.slice(0, 16).replace('T', ' '))}</time>` : 'never');

export function adminInvitesPage(user: PageUser, invites: InviteView[], mode: SignupMode, created: { code: string; url: string } | null): string {
  const csrf = `<input type="hidden" name="csrf" value="${e(user.csrf)}">`;
  const rows = invites
    .map(
      (
        i,
      ) => `<tr><td><code>${e(i.id)}</code></td><td>${e(i.note ?? '')}</td><td>${i.uses} of ${i.maxUses}</td><td>${date(i.expiresAt)}</td><td>${e(i.state)}</td>
<td>${i.state === 'active' ? `<form method="post" action="/admin/invites/${e(i.id)}/revoke" class="inline">${csrf}<button type="submit">Withdraw</button></form>` : ''}</td></tr>`,
    )
    .join('');
  const shown = created
    ? `<div class="flash" role="status"><p>The invite code, shown only now: <code id="invite-code">${e(created.code)}</code></p>
<p>Sign-up link: <code id="invite-url">${e(created.url)}</code></p></div>`
    : '';
  return layout(
    'Invites',
    `<h1>Invites</h1>${adminNav('invites')}
<p>Sign-up mode: <strong>${e(mode)}</strong>${mode === 'invite' ? '' : ' (codes admit new people only when SIGNUP_MODE=invite)'}.</p>
${shown}
<h2>New invite</h2>
<form method="post" action="/admin/invites">${csrf}
<label for="uses">Sign-ups it admits</label><input id="uses" name="uses" type="number" min="1" max="10000" value="1" required>
<label for="days">Valid for (days; empty: no expiry)</label><input id="days" name="days" type="number" min="1" max="366">
<label for="note">Note (who it is for)</label><input id="note" name="note" maxlength="200">
<button type="submit">Create invite</button></form>
<h2>Codes</h2>
${rows ? `<table><thead><tr><th>Id</th><th>Note</th><th>Used</th><th>Expires (UTC)</th><th>State</th><th></th></tr></thead><tbody>${rows}</tbody></table>` : '<p>No invites yet.</p>'}`,
    user,
  );
}
