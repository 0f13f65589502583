/**
 * What every page module of the site shares: its dependencies, the typed request
 * state, the session middleware, HTML answers, form checks and the sign-in rate limit.
 */
import type Router from '@koa/router';
import type { Context, Next, ParameterizedContext } from 'koa';
import type { AccessCodes } from '../control/access/login-codes.ts';
import type { BudgetPeriod } from '../control/config-meter.ts';
import type { SignupMode } from '../control/config-signup.ts';
import type { Database } from '../control/db/database.ts';
import { ForbiddenError, PlatformError } from '../control/errors.ts';
import type { GitHubLogin } from '../control/identity/github.ts';
import type { OidcLogin } from '../control/identity/oidc.ts';
import type { Logger } from '../control/logger.ts';
import type { MeterServices } from '../control/meter/index.ts';
import type { Capacity } from '../control/provisioning/capacity.ts';
import type { InstanceService } from '../control/provisioning/service.ts';
import type { InstanceStore } from '../control/provisioning/store.ts';
import type { SocialService } from '../control/social/service.ts';
import type { Invites } from '../control/users/invites.ts';
import type { SiteSession } from '../control/users/sessions.ts';
import type { UserStore } from '../control/users/store.ts';
import { readForm } from '../control/web/body.ts';
import type { TrustedProxies } from '../control/web/client-address.ts';
import { hostCookie, platformCookieName, readPlatformCookie } from '../control/web/cookies.ts';
import { assertFormFromSameOrigin } from '../control/web/origin.ts';
import { PAGE_SECURITY_HEADERS } from '../control/web/security-headers.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { PageUser } from './views.ts';

export interface SiteSettings {
  domain: string;
  /** Where instances live ({handle}.instanceDomain). */
  instanceDomain: string;
  publicUrl: string;
  /** https: cookies get Secure and the __Host- prefix. */
  secure: boolean;
  adminEmails: readonly string[];
  /** What each instance gets, as configured (shown to admins). */
  instanceLimits: { memoryMB: number; cpu: number };
  /** Every user's model budget unless an admin set another (µ$), and its reset period. */
  budgetDefaults: { limit: number; period: BudgetPeriod };
  /** Messages between AIs are possible (a Matrix homeserver is configured), and their longest text. */
  messaging: boolean;
  messageMaxChars: number;
  /** The OpenID Connect issuer (for the sign-in page); devIdentity: it is the embedded development one. */
  oidcIssuer: string | null;
  devIdentity: boolean;
  /** SIGNUP_MODE, and whom a refused person should ask. */
  signup: { mode: SignupMode; supportContact: string | null };
  /** The event (EVENT_*), for the landing page. */
  event: { name: string | null; description: string | null; dates: string | null; url: string | null };
  /** Minutes without use after which an instance sleeps (IDLE_TIMEOUT). */
  idleMinutes: number;
}

export interface SiteDeps {
  settings: SiteSettings;
  service: InstanceService;
  store: InstanceStore;
  users: UserStore;
  codes: AccessCodes;
  /** Model budgets, prices and spend. */
  spend: MeterServices;
  social: SocialService;
  invites: Invites;
  /** MAX_RUNNING_INSTANCES: places and the queue (positions on the dashboard, the admin page's numbers). */
  capacity: Capacity;
  /** The OpenID Connect provider (OIDC_ISSUER or the development one); null when only GitHub signs in. */
  login: OidcLogin | null;
  github: GitHubLogin | null;
  /** The audit log is read from here (admin page). */
  db: Database;
  secretKey: string;
  proxies: TrustedProxies;
  limiter: RateLimiter;
  instanceUrl(handle: string): string;
  logger: Logger;
}

/** Request state: the session, once looked up (undefined: not yet; null: none). */
export interface SiteState {
  session?: SiteSession | null;
}

/** State after requireSession: there is a session. */
export interface SignedIn {
  session: SiteSession;
}

export type SiteRouter = Router<SiteState>;
type SiteContext = ParameterizedContext<SiteState>;

export const cookieNames = (secure: boolean) => ({
  session: platformCookieName('site', secure),
  login: platformCookieName('login', secure),
  /** Set by a sign-out: the next sign-in lets the person choose another account at the provider. */
  signedOut: platformCookieName('signed-out', secure),
});

export function setCookie(ctx: Context, deps: SiteDeps, name: string, value: string, maxAgeSeconds: number): void {
  ctx.append('Set-Cookie', hostCookie(name, value, maxAgeSeconds, deps.settings.secure));
}

/** The session of this request, looked up once. */
export async function sessionOf(ctx: SiteContext, deps: SiteDeps): Promise<SiteSession | null> {
  if (ctx.state.session === undefined)
    ctx.state.session = await deps.users.sessions.find(readPlatformCookie(ctx.get('cookie'), cookieNames(deps.settings.secure).session));
  return ctx.state.session;
}

/** Middleware: without a session, off to sign-in (and back here afterwards). */
export function requireSession(deps: SiteDeps) {
  return async (ctx: ParameterizedContext<SiteState & SignedIn>, next: Next): Promise<void> => {
    // sessionOf stores the session in ctx.state: from here on the state is SignedIn.
    if (!(await sessionOf(ctx as SiteContext, deps))) return ctx.redirect(`/login?next=${encodeURIComponent(ctx.path)}`);
    return next();
  };
}

/** Middleware after requireSession: admins only. */
export async function requireAdmin(ctx: ParameterizedContext<SignedIn>, next: Next): Promise<void> {
  if (ctx.state.session.user.role !== 'admin') throw new ForbiddenError('Only platform admins can see this page.');
  return next();
}

export function pageUser(s: SiteSession | null | undefined): PageUser | null {
  return s ? { email: s.user.email ?? null, handle: s.user.handle, role: s.user.role, csrf: s.csrf } : null;
}

export function html(ctx: Context, status: number, body: string): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.set(PAGE_SECURITY_HEADERS);
  ctx.body = body;
}

/** A form post: from this origin only, carrying the session's CSRF token. */
export async function checkForm(ctx: ParameterizedContext<SignedIn>): Promise<URLSearchParams> {
  const form = await readForm(ctx.req);
  assertFormFromSameOrigin(ctx.req.headers, form.get('csrf'), ctx.state.session.csrf);
  return form;
}

/** Post/redirect/get: a form answers with a redirect, so reloading never sends it again. */
export function seeOther(ctx: Context, location: string): void {
  ctx.status = 303;
  ctx.redirect(location);
}

/** Sign-in and sign-up attempts per client (the client a trusted proxy names, not the proxy). */
export function rateLimit(ctx: Context, deps: SiteDeps): void {
  const client = deps.proxies.clientAddress(ctx.req);
  if (deps.limiter.take(client)) return;
  const seconds = deps.limiter.retryAfter(client);
  ctx.set('Retry-After', String(seconds));
  throw new PlatformError('rate_limited', `Too many attempts from your address. Wait ${seconds} ${seconds === 1 ? 'second' : 'seconds'} and try again.`, {
    status: 429,
  });
}
