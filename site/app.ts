/**
 * The site at the apex: landing, sign-in (OpenID Connect), sign-up (choose a handle),
 * the dashboard with live progress, the one-time hop into the instance, sign-out.
 * Server-side sessions behind an HttpOnly cookie; every state-changing form carries the
 * session's CSRF token and must come from this origin; sign-in and sign-up are rate-limited.
 */
import fs from 'node:fs';
import Koa, { type Context, type Next } from 'koa';
import Router from '@koa/router';
import { deriveCredential } from '../control/access/credentials.ts';
import type { AccessCodes } from '../control/access/login-codes.ts';
import { LOGIN_PATH } from '../control/access/urls.ts';
import type { Database } from '../control/db/database.ts';
import { PlatformError, UnauthorizedError, ValidationError } from '../control/errors.ts';
import { checkHandle, RESERVED_HANDLES } from '../control/handles.ts';
import type { OidcLogin, PendingLogin } from '../control/identity/oidc.ts';
import type { Logger } from '../control/logger.ts';
import type { InstanceService } from '../control/provisioning/service.ts';
import type { InstanceStore } from '../control/provisioning/store.ts';
import { instanceView } from '../control/provisioning/views.ts';
import { readForm } from '../control/web/body.ts';
import { TrustedProxies } from '../control/web/client-address.ts';
import { hostCookie, platformCookieName, readCookie } from '../control/web/cookies.ts';
import { renderErrors } from '../control/web/error-middleware.ts';
import { safeNextPath } from '../control/web/next-path.ts';
import { assertFormFromSameOrigin } from '../control/web/origin.ts';
import { PAGE_SECURITY_HEADERS } from '../control/web/security-headers.ts';
import { signJson, verifyJson } from '../control/web/signed.ts';
import { streamEvents } from '../control/web/sse.ts';
import { RateLimiter } from './rate-limit.ts';
import type { SiteSession, SiteSessions } from './sessions.ts';
import { dashboardPage, errorPage, landingPage, signupPage, tokenFlash, type PageUser } from './views.ts';
import { findOrCreateUser } from './users.ts';
import { adminRoutes } from './admin.ts';
import { communityRoutes } from './community.ts';

/** What the route modules share: sessions, rendering and form checks. */
export interface SiteKit {
  session(ctx: Context): Promise<SiteSession | null>;
  /** Redirects to sign-in and returns null when there is no session. */
  requireSession(ctx: Context): Promise<SiteSession | null>;
  html(ctx: Context, status: number, body: string): void;
  checkForm(ctx: Context, s: SiteSession): Promise<URLSearchParams>;
  pageUser(s: SiteSession | null): PageUser | null;
}

export interface SiteDeps {
  db: Database;
  service: InstanceService;
  store: InstanceStore;
  codes: AccessCodes;
  sessions: SiteSessions;
  login: OidcLogin;
  secretKey: string;
  domain: string;
  publicUrl: string;
  secure: boolean;
  adminEmails: readonly string[];
  /** Peers whose X-Forwarded-For names the client (rate limits per client). */
  trustedProxies: readonly string[];
  instanceUrl(handle: string): string;
  kick(): void;
  logger: Logger;
}

const ASSETS: Record<string, { file: URL; type: string }> = {
  '/assets/site.css': { file: new URL('./assets/site.css', import.meta.url), type: 'text/css; charset=utf-8' },
  '/assets/site.js': { file: new URL('./assets/site.js', import.meta.url), type: 'text/javascript; charset=utf-8' },
};

export function createSiteApp(deps: SiteDeps): Koa {
  const app = new Koa();
  app.silent = true;
  app.proxy = false;
  const sessionCookie = platformCookieName('site', deps.secure);
  const loginCookie = platformCookieName('login', deps.secure);
  const cookie = (name: string, value: string, maxAgeS: number) => hostCookie(name, value, maxAgeS, deps.secure);
  const assets = new Map(Object.entries(ASSETS).map(([path, a]) => [path, { body: fs.readFileSync(a.file), type: a.type }]));
  const limiter = new RateLimiter({ perMinute: 20, burst: 20 });

  const pageUser = (s: SiteSession | null): PageUser | null => (s ? { email: s.user.email ?? null, handle: s.user.handle, role: s.user.role, csrf: s.csrf } : null);
  const session = async (ctx: Context): Promise<SiteSession | null> => {
    ctx.state.session ??= await deps.sessions.find(readCookie(ctx.get('cookie'), sessionCookie) ?? undefined);
    return ctx.state.session as SiteSession | null;
  };
  const requireSession = async (ctx: Context): Promise<SiteSession | null> => {
    const s = await session(ctx);
    if (!s) ctx.redirect(`/login?next=${encodeURIComponent(ctx.path)}`);
    return s;
  };
  const html = (ctx: Context, status: number, body: string) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.set(PAGE_SECURITY_HEADERS);
    ctx.body = body;
  };
  const proxies = new TrustedProxies(deps.trustedProxies);
  const limit = (ctx: Context) => {
    // Behind cloudflared every request comes from 127.0.0.1: the client is the first X-Forwarded-For entry it vouches for.
    const client = proxies.clientAddress(ctx.req);
    if (limiter.take(client)) return;
    ctx.set('Retry-After', String(limiter.retryAfter(client)));
    throw new PlatformError('rate_limited', 'Too many attempts from your address. Wait a minute and try again.', { status: 429 });
  };
  /** Forms: this origin only, and the session's CSRF token. */
  const checkForm = async (ctx: Context, s: SiteSession): Promise<URLSearchParams> => {
    const form = await readForm(ctx.req);
    assertFormFromSameOrigin(ctx.req.headers, form.get('csrf'), s.csrf);
    return form;
  };

  app.use(renderErrors({ logger: deps.logger, page: async (ctx, error) => errorPage(error.status, error.message, pageUser(await session(ctx).catch(() => null))) }));
  app.use(async (ctx, next) => {
    const asset = assets.get(ctx.path);
    if (!asset) return next();
    ctx.type = asset.type;
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = asset.body;
  });

  const router = new Router();
  const kit: SiteKit = { session, requireSession, html, checkForm, pageUser };
  adminRoutes(router, deps, kit);
  communityRoutes(router, deps, kit);
  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/', async (ctx) => html(ctx, 200, landingPage(pageUser(await session(ctx)), deps.domain)));

  router.get('/login', async (ctx) => {
    limit(ctx);
    const next = safeNextPath(typeof ctx.query.next === 'string' ? ctx.query.next : '/dashboard');
    const { url, pending } = await deps.login.begin(next);
    ctx.set('Set-Cookie', cookie(loginCookie, signJson(deps.secretKey, 'pending-login', pending), 600));
    ctx.redirect(url);
  });

  router.get('/auth/callback', async (ctx) => {
    limit(ctx);
    const pending = verifyJson<PendingLogin>(deps.secretKey, 'pending-login', readCookie(ctx.get('cookie'), loginCookie));
    if (!pending) throw new ValidationError('This sign-in started elsewhere or too long ago. Start again from the sign-in link.');
    const identity = await deps.login.complete(new URL(ctx.originalUrl, deps.publicUrl), pending);
    const user = await findOrCreateUser(deps.db, identity, deps.adminEmails);
    const { token, expiresAt } = await deps.sessions.create(user.id);
    // The cookie lives exactly as long as the session row.
    ctx.set('Set-Cookie', [cookie(loginCookie, '', 0), cookie(sessionCookie, token, Math.floor((expiresAt.getTime() - Date.now()) / 1000))]);
    ctx.redirect(user.handle ? pending.next : '/signup');
  });

  router.get('/signup', async (ctx) => {
    const s = await requireSession(ctx);
    if (!s) return;
    if (s.user.handle) return ctx.redirect('/dashboard');
    html(ctx, 200, signupPage(pageUser(s)!, { handle: '', problem: null }, deps.domain));
  });

  router.post('/signup', async (ctx) => {
    const s = await requireSession(ctx);
    if (!s) return;
    const form = await checkForm(ctx, s);
    limit(ctx);
    const handle = (form.get('handle') ?? '').trim().toLowerCase();
    const problem = await handleProblem(deps.db, handle, s.user.id);
    if (problem) return html(ctx, problem.status, signupPage(pageUser(s)!, { handle, problem: problem.message }, deps.domain));
    try {
      const { created } = await deps.service.provision({ handle, userId: s.user.id }, `site:${s.user.id}`);
      if (created) deps.kick();
    } catch (err) {
      if (!(err instanceof PlatformError) || err.status >= 500) throw err;
      return html(ctx, err.status, signupPage(pageUser(s)!, { handle, problem: err.message }, deps.domain));
    }
    ctx.status = 303;
    ctx.redirect('/dashboard');
  });

  router.get('/api/handles/:handle', async (ctx) => {
    const s = await session(ctx);
    const problem = await handleProblem(deps.db, ctx.params.handle!.toLowerCase(), s?.user.id ?? null);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { handle: ctx.params.handle, available: problem === null, problem: problem?.message ?? null };
  });

  router.get('/dashboard', async (ctx) => {
    const s = await requireSession(ctx);
    if (!s) return;
    const instance = s.user.handle ? await deps.store.findByHandle(s.user.handle) : null;
    const view = instance && instance.owner_id === s.user.id && instance.status !== 'destroyed' ? instanceView(instance) : null;
    const events = view ? await deps.store.latestEvents(view.handle, 10) : [];
    html(ctx, 200, dashboardPage(pageUser(s)!, view, view ? deps.instanceUrl(view.handle) : null, null, events));
  });

  router.get('/dashboard/events', async (ctx) => {
    const s = await session(ctx);
    if (!s?.user.handle) throw new UnauthorizedError('Sign in to follow your instance.');
    const after = Number(ctx.query.after ?? 0);
    streamEvents(ctx, deps.store.eventFeed(s.user.handle), Number.isSafeInteger(after) && after >= 0 ? after : 0, 'instance');
  });

  for (const action of ['start', 'stop', 'reprovision'] as const) {
    router.post(`/dashboard/${action}`, async (ctx) => {
      const s = await requireSession(ctx);
      if (!s) return;
      await checkForm(ctx, s);
      if (!s.user.handle) throw new ValidationError('You have no Matrix OS yet: choose a handle first.');
      const { changed } = await deps.service.request(s.user.handle, action, `site:${s.user.id}`);
      if (changed) deps.kick();
      ctx.status = 303;
      ctx.redirect('/dashboard');
    });
  }

  // Reveal: the current token, derived again (the platform stores none); a POST so it never sits in a URL or a cache.
  router.post('/dashboard/token/reveal', async (ctx) => {
    const s = await requireSession(ctx);
    if (!s) return;
    await checkForm(ctx, s);
    const instance = s.user.handle ? await deps.store.findByHandle(s.user.handle) : null;
    if (!instance || instance.owner_id !== s.user.id || instance.status === 'destroyed') throw new ValidationError('You have no Matrix OS yet: choose a handle first.');
    const token = deriveCredential(deps.secretKey, 'instance-token', instance.handle, instance.access_generation);
    html(ctx, 200, dashboardPage(pageUser(s)!, instanceView(instance), deps.instanceUrl(instance.handle), tokenFlash(token, false)));
  });

  router.post('/dashboard/token', async (ctx) => {
    const s = await requireSession(ctx);
    if (!s) return;
    await checkForm(ctx, s);
    if (!s.user.handle) throw new ValidationError('You have no Matrix OS yet: choose a handle first.');
    const generation = await deps.service.rotateAccess(s.user.handle, `site:${s.user.id}`);
    const instance = await deps.store.findByHandle(s.user.handle);
    const token = deriveCredential(deps.secretKey, 'instance-token', s.user.handle, generation);
    // Shown in this response only, never in a URL or a later page.
    html(ctx, 200, dashboardPage(pageUser(s)!, instance ? instanceView(instance) : null, deps.instanceUrl(s.user.handle), tokenFlash(token)));
  });

  router.get('/open/:handle', async (ctx) => {
    const s = await requireSession(ctx);
    if (!s) return;
    const next = typeof ctx.query.next === 'string' ? ctx.query.next : '/';
    const issued = await deps.codes.issue({ handle: ctx.params.handle!, userId: s.user.id, next });
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(`${deps.instanceUrl(ctx.params.handle!)}${LOGIN_PATH}?code=${issued.code}`);
  });

  router.post('/logout', async (ctx) => {
    const s = await session(ctx);
    if (s) {
      await checkForm(ctx, s);
      await deps.sessions.revoke(s.tokenHash);
    }
    ctx.set('Set-Cookie', cookie(sessionCookie, '', 0));
    ctx.status = 303;
    ctx.redirect('/');
  });

  app.use(router.routes()).use(router.allowedMethods());
  return app;
}

async function handleProblem(db: Database, handle: string, userId: string | null): Promise<{ status: number; message: string } | null> {
  const rule = checkHandle(handle);
  if (rule) return { status: 400, message: rule.message };
  if (RESERVED_HANDLES.has(handle)) return { status: 400, message: `"${handle}" is reserved` };
  const holder = await db.models.User.findOne({ where: { handle }, attributes: ['id'] });
  const instance = await db.models.Instance.findOne({ where: { handle }, attributes: ['owner_id'] });
  const owner = holder?.id ?? instance?.owner_id;
  if (owner && owner !== userId) return { status: 409, message: `"${handle}" is taken: choose another handle.` };
  return null;
}
