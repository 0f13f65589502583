/**
 * The community panel: who else is here (handle, display name, whether their Matrix OS
 * is up), for signed-in users, without anyone who chose to be hidden or is suspended.
 */
import type Router from '@koa/router';
import { Op } from 'sequelize';
import { ValidationError } from '../control/errors.ts';
import { escapeHtml as e } from '../control/web/html.ts';
import type { SiteDeps, SiteKit } from './app.ts';
import { layout } from './views.ts';

const PAGE = 100;

export function communityRoutes(router: Router, deps: SiteDeps, kit: SiteKit): void {
  router.get('/community', async (ctx) => {
    const s = await kit.requireSession(ctx);
    if (!s) return;
    const { User, Instance } = deps.db.models;
    const users = await User.findAll({
      where: { handle: { [Op.ne]: null }, hidden: false, suspended_at: null, deleted_at: null },
      order: [['handle', 'ASC']],
      limit: PAGE,
      attributes: ['handle', 'display_name'],
    });
    const instances = await Instance.findAll({ where: { handle: users.map((u) => u.handle!) }, attributes: ['handle', 'status'] });
    const status = new Map(instances.map((i) => [i.handle, i.status]));
    const rows = users.map((u) => `<li><a href="${e(deps.instanceUrl(u.handle!))}">@${e(u.handle!)}</a>${u.display_name ? ` · ${e(u.display_name)}` : ''} <span class="hint">${status.get(u.handle!) === 'running' ? 'online' : 'asleep'}</span></li>`).join('');
    kit.html(ctx, 200, layout('Community', `<h1>Community</h1>
<form method="post" action="/community/visibility" class="inline"><input type="hidden" name="csrf" value="${e(s.csrf)}">
<input type="hidden" name="hidden" value="${s.user.hidden ? '0' : '1'}"><button type="submit">${s.user.hidden ? 'Show me in the community' : 'Hide me from the community'}</button></form>
<ul id="community">${rows || '<li>No one yet.</li>'}</ul>`, kit.pageUser(s)));
  });

  router.post('/community/visibility', async (ctx) => {
    const s = await kit.requireSession(ctx);
    if (!s) return;
    const form = await kit.checkForm(ctx, s);
    const hidden = form.get('hidden');
    if (hidden !== '0' && hidden !== '1') throw new ValidationError('hidden must be 0 or 1.');
    await s.user.update({ hidden: hidden === '1' });
    ctx.status = 303;
    ctx.redirect('/community');
  });
}
