/**
 * What the router serves itself on an instance's host, under /_mxos/ (never proxied):
 * sign-in with a one-time code, the waiting page and its status feed, starting a
 * failed instance again, and signing out. State-changing requests must come from
 * the instance's own origin.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessCodes } from '../access/login-codes.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Capacity } from '../provisioning/capacity.ts';
import type { InstanceService } from '../provisioning/service.ts';
import type { InstanceStore } from '../provisioning/store.ts';
import { escapeHtml, page } from '../web/html.ts';
import { isSameOrigin } from '../web/origin.ts';
import { PAGE_SECURITY_HEADERS } from '../web/security-headers.ts';
import { authenticate } from './auth.ts';
import { type RouterReply, reply } from './pages.ts';
import type { Route } from './route-table.ts';
import type { SessionCookies } from './session.ts';
import { waitingPageHtml } from './waiting-page.ts';
import { isReady } from './wake.ts';

interface PlatformEndpointsDeps {
  sessions: SessionCookies;
  codes: AccessCodes;
  service: InstanceService;
  store: InstanceStore;
  capacity: Capacity;
  publicUrl: string;
  logger: Logger;
}

export class PlatformEndpoints {
  constructor(private readonly deps: PlatformEndpointsDeps) {}

  async handle(req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
    const url = new URL(req.url!, 'http://instance');
    const key = `${req.method} ${url.pathname}`;
    switch (key) {
      case 'GET /_mxos/login':
        return this.login(req, res, route, url.searchParams.get('code') ?? '');
      case 'GET /_mxos/status':
        return this.status(req, res, route);
      case 'POST /_mxos/start':
        return this.start(req, res, route);
      case 'POST /_mxos/logout':
        return this.logout(req, res);
      default:
        return reply(req, res, { status: 404, code: 'not_found', title: 'Not found', message: `${url.pathname} is not a platform page.` });
    }
  }

  /** `viewer`: the owner ("Your Matrix OS") or someone else, an admin ("alice's Matrix OS"). */
  waitingPage(req: IncomingMessage, res: ServerResponse, route: Route, viewer: 'owner' | 'other'): void {
    const body = waitingPageHtml(route, viewer);
    res.writeHead(503, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'retry-after': '2',
      ...PAGE_SECURITY_HEADERS,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  failedReply(route: Route): RouterReply {
    const reason = route.lastError ?? 'The instance failed to start.';
    return {
      status: 503,
      code: 'instance_failed',
      title: `${route.handle}'s Matrix OS could not start`,
      message: reason,
      html: `<form method="post" action="/_mxos/start"><button type="submit">Start again</button></form>`,
      json: { status: 'failed' },
    };
  }

  private async login(req: IncomingMessage, res: ServerResponse, route: Route, code: string): Promise<void> {
    // Only a top-level navigation may sign in (the apex's redirect, or a link the user opened):
    // a fetch, an image, a frame or a no-cors load from another page is refused, and the code kept.
    if (!isTopLevelNavigation(req)) {
      return reply(req, res, {
        status: 403,
        code: 'not_a_navigation',
        title: 'Open the link itself',
        message: 'Sign-in links work only when opened in the browser, not loaded by a page.',
      });
    }
    const redeemed = await this.deps.codes.redeem(code, route.handle);
    if (!redeemed) {
      return reply(req, res, {
        status: 400,
        code: 'invalid_login_code',
        title: 'This sign-in link no longer works',
        message: 'Sign-in links work once and for one minute.',
        html: `<p><a href="${escapeHtml(`${this.deps.publicUrl}/open/${route.handle}`)}">Open your Matrix OS again</a> from the platform.</p>`,
      });
    }
    const cookie = this.deps.sessions.issue(route, redeemed.userId, redeemed.access);
    res.writeHead(303, { location: redeemed.next, 'set-cookie': cookie.header, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
    res.end();
  }

  private async status(req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
    if (!authenticate(req, route, 'host', this.deps.sessions)) return reply(req, res, unauthorized());
    const events = await this.deps.store.latestEvents(route.handle, 8);
    const position = route.waiting ? await this.deps.capacity.position(route.handle) : null;
    const body = JSON.stringify({
      handle: route.handle,
      status: route.status,
      ready: isReady(route),
      // Waiting for a place (the platform is full): 1 = next.
      position,
      lastError: route.status === 'failed' ? route.lastError : null,
      events,
    });
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(body);
  }

  private async start(req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
    const principal = authenticate(req, route, 'host', this.deps.sessions);
    if (!principal) return reply(req, res, unauthorized());
    if (!isSameOrigin(req.headers))
      return reply(req, res, { status: 403, code: 'cross_origin', title: 'Refused', message: 'This form can only be sent from the instance page itself.' });
    try {
      await this.deps.service.request(route.handle, 'start', `router:${principal.userId}`);
    } catch (err) {
      this.deps.logger.warn({ handle: route.handle, err: describeError(err) }, 'start from the failure page refused');
    }
    res.writeHead(303, { location: '/', 'cache-control': 'no-store' });
    res.end();
  }

  private logout(req: IncomingMessage, res: ServerResponse): void {
    if (!isSameOrigin(req.headers))
      return reply(req, res, { status: 403, code: 'cross_origin', title: 'Refused', message: 'Sign out from the instance page itself.' });
    res.writeHead(303, { location: this.deps.publicUrl, 'set-cookie': this.deps.sessions.clear(), 'cache-control': 'no-store' });
    res.end(page('Signed out', '<p>Signed out.</p>'));
  }
}

/**
 * Browsers say what a request is for (Fetch Metadata): a top-level navigation is mode
 * "navigate" to destination "document". Clients without these headers (curl, the CLI's
 * users' scripts, old browsers) are let through: the code itself is the secret.
 */
function isTopLevelNavigation(req: IncomingMessage): boolean {
  const mode = req.headers['sec-fetch-mode'];
  const dest = req.headers['sec-fetch-dest'];
  return (mode === undefined || mode === 'navigate') && (dest === undefined || dest === 'document');
}

function unauthorized(): RouterReply {
  return { status: 401, code: 'unauthorized', title: 'Sign in first', message: 'Sign in to see this instance.' };
}
