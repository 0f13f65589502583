/** The landing page, and the site's own health check. */
import { html, pageUser, type SiteDeps, type SiteRouter, sessionOf } from '../context.ts';
import { landingPage } from '../views.ts';

export function landingPages(router: SiteRouter, deps: SiteDeps): void {
  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/', async (ctx) => {
    const { limit, holding } = await deps.capacity.view();
    const places = limit === null ? null : { free: Math.max(0, limit - holding), limit };
    html(ctx, 200, landingPage(pageUser(await sessionOf(ctx, deps)), deps.settings, places));
  });
}
