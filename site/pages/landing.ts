/** The landing page, and the site's own health check. */
import { html, pageUser, type SiteDeps, type SiteRouter, sessionOf } from '../context.ts';
import { landingPage } from '../views.ts';

export function landingPages(router: SiteRouter, deps: SiteDeps): void {
  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/', async (ctx) => html(ctx, 200, landingPage(pageUser(await sessionOf(ctx, deps)), deps.settings.domain, deps.settings.signup)));
}
