/**
 * The site at the apex: a Koa app composed of small page modules (pages/). Server-side
 * sessions behind an HttpOnly cookie; every form is a POST carrying the session's CSRF
 * token from this origin and answers with a redirect; sign-in and sign-up are rate-limited.
 */
import fs from 'node:fs';
import Router from '@koa/router';
import Koa from 'koa';
import { renderErrors } from '../control/web/error-middleware.ts';
import { pageUser, type SiteDeps, type SiteState, sessionOf } from './context.ts';
import { adminPages } from './pages/admin.ts';
import { authPages } from './pages/auth.ts';
import { communityPages } from './pages/community.ts';
import { dashboardPages } from './pages/dashboard.ts';
import { invitePages } from './pages/invites.ts';
import { landingPages } from './pages/landing.ts';
import { openPages } from './pages/open.ts';
import { signupPages } from './pages/signup.ts';
import { socialPages } from './pages/social.ts';
import { spendPages } from './pages/spend.ts';
import { tokenPages } from './pages/token.ts';
import { errorPage } from './views.ts';

const ASSETS: Record<string, { file: URL; type: string }> = {
  '/assets/site.css': { file: new URL('./assets/site.css', import.meta.url), type: 'text/css; charset=utf-8' },
  '/assets/site.js': { file: new URL('./assets/site.js', import.meta.url), type: 'text/javascript; charset=utf-8' },
  '/assets/favicon.svg': { file: new URL('./assets/favicon.svg', import.meta.url), type: 'image/svg+xml' },
  // Asked for by browsers (and tools) whatever the page says.
  '/favicon.ico': { file: new URL('./assets/favicon.svg', import.meta.url), type: 'image/svg+xml' },
};

const PAGES = [landingPages, authPages, signupPages, dashboardPages, tokenPages, openPages, communityPages, socialPages, adminPages, invitePages, spendPages];

export function createSiteApp(deps: SiteDeps): Koa<SiteState> {
  const app = new Koa<SiteState>();
  app.silent = true;
  app.proxy = false;
  const assets = new Map(Object.entries(ASSETS).map(([path, a]) => [path, { body: fs.readFileSync(a.file), type: a.type }]));

  app.use(
    renderErrors({
      logger: deps.logger,
      page: async (ctx, error) => errorPage(error.status, error.message, pageUser(await sessionOf(ctx, deps).catch(() => null))),
    }),
  );
  app.use(async (ctx, next) => {
    const asset = assets.get(ctx.path);
    if (!asset) return next();
    ctx.type = asset.type;
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = asset.body;
  });
  const router = new Router<SiteState>();
  for (const pages of PAGES) pages(router, deps);
  app.use(router.routes()).use(router.allowedMethods());
  return app;
}
