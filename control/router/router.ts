/**
 * The edge router: every request on the public listener passes here. It decides the
 * target (site, an instance by host or by /proxy/ path), checks who may reach it,
 * wakes a sleeping instance, records activity and forwards. Nothing on this path
 * touches the database except waking, signing in and the waiting page's status.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Counter } from 'prom-client';
import type { ActivityRecorder } from '../lifecycle.ts';
import type { Logger } from '../logger.ts';
import { TrustedProxies } from '../web/client-address.ts';
import { toClientError } from '../web/errors.ts';
import { escapeHtml } from '../web/html.ts';
import { authenticate, crossSiteRefused, type Principal } from './auth.ts';
import { downstreamHeaders, upstreamHeaders } from './headers.ts';
import { HealthProbe } from './health-probe.ts';
import type { RouterMetrics } from './metrics.ts';
import { type RouterReply, rawReply, reply, wantsHtml } from './pages.ts';
import type { PlatformEndpoints } from './platform-endpoints.ts';
import { ConnectionRecovery } from './recovery.ts';
import { RouteMisses } from './route-miss.ts';
import type { Route, RouteTable } from './route-table.ts';
import type { SessionCookies } from './session.ts';
import { BadTargetError, classifyRequest, type Target } from './target.ts';
import { type ForwardSettings, forward, type UpstreamFailure, type UpstreamPools } from './upstream.ts';
import { isReady, type Waker } from './wake.ts';
import { type OpenSockets, proxyUpgrade } from './websocket.ts';

interface RouterSettings {
  domain: string;
  instanceDomain: string;
  publicUrl: string;
  gatewayPaths: readonly string[];
  bodyLimitBytes: number;
  upstreamTimeoutMs: number;
  wakeHoldMs: number;
  trustedProxies: readonly string[];
}

interface RouterDeps {
  settings: RouterSettings;
  routes: RouteTable;
  sessions: SessionCookies;
  waker: Waker;
  activity: ActivityRecorder;
  pools: UpstreamPools;
  sockets: OpenSockets;
  endpoints: PlatformEndpoints;
  site: RequestListener;
  metrics: RouterMetrics;
  logger: Logger;
  /** Asks the control service to check an instance with the orchestrator now (it restarts a crashed one). Never rejects. */
  checkInstance(handle: string): Promise<void>;
}

type InstanceTarget = Extract<Target, { kind: 'instance' }>;

const WAKE_RETRY_AFTER_SECONDS = '5';
/** Methods whose request may be sent again after a refused or reset connection (RFC 9110 §9.2.2), when bodiless. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
/** How long an API client is told to wait when the platform is full (it waits for someone else's instance to stop). */
const FULL_RETRY_AFTER_SECONDS = '30';

export class Router {
  private readonly trusted: TrustedProxies;
  private readonly gatewayPaths: readonly string[];
  private readonly forwarding: ForwardSettings;
  private readonly healthProbe: HealthProbe;
  private readonly recovery: ConnectionRecovery;
  private readonly misses: RouteMisses;
  /** Requests already sent again once after a refused or reset connection: never twice. */
  private readonly retried = new WeakSet<IncomingMessage>();
  /** "https:" or "http:", as browsers reach instances: part of every instance's origin. */
  private readonly scheme: string;
  /** Bound once: labelled counters are looked up per request otherwise. */
  private readonly counters: { proxied: Counter.Internal; unauthorized: Counter.Internal; waitingPage: Counter.Internal };

  constructor(private readonly deps: RouterDeps) {
    this.trusted = new TrustedProxies(deps.settings.trustedProxies);
    this.gatewayPaths = deps.settings.gatewayPaths;
    this.healthProbe = new HealthProbe(deps.pools);
    this.misses = new RouteMisses(deps.routes);
    this.recovery = new ConnectionRecovery({ routes: deps.routes, probe: this.healthProbe, checkInstance: deps.checkInstance });
    this.scheme = new URL(deps.settings.publicUrl).protocol;
    this.forwarding = {
      pools: deps.pools,
      bodyLimitBytes: deps.settings.bodyLimitBytes,
      onFailure: (req, res, handle, failure, cause) => this.onUpstreamFailure(req, res, handle, failure, cause),
    };
    const { requests } = deps.metrics;
    this.counters = { proxied: requests.labels('proxied'), unauthorized: requests.labels('unauthorized'), waitingPage: requests.labels('waiting_page') };
    // An instance that stopped or moved leaves its keep-alive pools behind: close them.
    deps.routes.onChange((_handle, before, after) => {
      if (!before) return;
      if (before.gatewayUrl !== after?.gatewayUrl) deps.pools.drop(before.gatewayUrl);
      if (before.shellUrl !== after?.shellUrl) deps.pools.drop(before.shellUrl);
    });
  }

  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    let target: Target;
    try {
      target = classifyRequest(req, this.deps.settings.domain, this.deps.settings.instanceDomain);
    } catch (err) {
      return this.refuse(req, res, badTarget(err));
    }
    if (target.kind === 'site') return this.deps.site(req, res);
    if (target.kind === 'unknown-host') return this.refuse(req, res, unknownHost(target.hostname, this.deps.settings));
    // The common case (a running instance, a valid credential) stays synchronous: no promise per request.
    const { routes, endpoints, settings } = this.deps;
    const route = routes.get(target.handle);
    if (!route) return this.settle(req, res, target.handle, this.afterMiss(req, res, target.handle));
    if (isHealthPath(target.path)) return this.health(req, res, route);
    if (target.form === 'host' && target.path.startsWith('/_mxos/')) return this.settle(req, res, target.handle, endpoints.handle(req, res, route));

    const principal = authenticate(req, route, target.form, this.deps.sessions);
    if (!principal) {
      this.counters.unauthorized.inc();
      return this.refuse(req, res, signInFirst(req, target, settings.publicUrl));
    }
    if (crossSiteRefused(req, principal, this.scheme, false)) return this.refuse(req, res, crossSite());
    const refusal = suspendedRefusal(route, principal);
    if (refusal) return this.refuse(req, res, refusal);
    if (Number(req.headers['content-length']) > settings.bodyLimitBytes) {
      return this.refuse(req, res, {
        status: 413,
        code: 'payload_too_large',
        title: 'Too large',
        message: `The request body is larger than ${settings.bodyLimitBytes} bytes.`,
      });
    }
    if (isReady(route)) return this.proxy(req, res, target, route, true);
    this.settle(req, res, target.handle, this.wakeThenProxy(req, res, target, route, principal));
  };

  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    let target: Target;
    try {
      target = classifyRequest(req, this.deps.settings.domain, this.deps.settings.instanceDomain);
    } catch (err) {
      return rawReply(socket, badTarget(err));
    }
    if (target.kind !== 'instance')
      return rawReply(socket, { status: 404, code: 'not_found', title: 'Not found', message: 'WebSockets are served on instance hosts only.' });
    void this.upgradeInstance(req, socket, head, target).catch((err) => {
      this.deps.logger.error({ err, handle: target.handle }, 'router failed on an upgrade');
      rawReply(socket, routerFailure(err, 'The router could not pass this connection on.'));
    });
  };

  private async wakeThenProxy(req: IncomingMessage, res: ServerResponse, target: InstanceTarget, route: Route, principal: Principal): Promise<void> {
    const { endpoints, waker, settings } = this.deps;
    if (route.status === 'failed') return this.refuse(req, res, endpoints.failedReply(route));
    const actor = actorOf(principal);
    if (wantsHtml(req)) {
      void waker.wake(route.handle, actor);
      this.counters.waitingPage.inc();
      return endpoints.waitingPage(req, res, route, principal.access === 'admin' && principal.userId !== route.ownerId ? 'other' : 'owner');
    }
    const outcome = await waker.hold(route.handle, actor, settings.wakeHoldMs);
    if (!outcome.ready) return this.refuse(req, res, notReady(outcome.route ?? route, outcome.reason, endpoints, settings.publicUrl));
    this.proxy(req, res, target, outcome.route, true);
  }

  /** Not in the route table: perhaps created a moment ago. Read once, then serve it or answer 404. */
  private async afterMiss(req: IncomingMessage, res: ServerResponse, handle: string): Promise<void> {
    await this.misses.lookup(handle);
    if (this.deps.routes.get(handle) === undefined) return this.refuse(req, res, noSuchInstance(handle, this.deps.settings.publicUrl));
    this.handleRequest(req, res);
  }

  /** The slow paths are async: a failure there is logged and answered, never left hanging. */
  private settle(req: IncomingMessage, res: ServerResponse, handle: string, work: Promise<void>): void {
    work.catch((err) => {
      this.deps.logger.error({ err, handle }, 'router failed on a request');
      this.refuse(req, res, routerFailure(err, 'The router could not pass this request on. Try again.'));
    });
  }

  /**
   * Answered by the router from its own probe, with a body of its own: unauthenticated
   * clients never see anything the instance serves. Never wakes and never counts as
   * activity (probes must not keep an instance awake).
   */
  private health(req: IncomingMessage, res: ServerResponse, route: Route): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return this.refuse(req, res, {
        status: 405,
        code: 'method_not_allowed',
        title: 'Not allowed',
        message: '/health answers GET and HEAD only.',
        headers: { allow: 'GET, HEAD' },
      });
    }
    if (!isReady(route)) {
      return this.refuse(req, res, {
        status: 503,
        code: 'instance_not_running',
        title: 'Not running',
        message: `${route.handle}'s instance is ${route.status}.`,
        json: { status: route.status },
      });
    }
    this.settle(req, res, route.handle, this.answerHealth(req, res, route));
  }

  private async answerHealth(req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
    if (!req.complete) req.resume();
    if (await this.healthProbe.healthy(route.handle, route.gatewayUrl!)) {
      const body = JSON.stringify({ status: 'ok', handle: route.handle });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    this.refuse(req, res, {
      status: 503,
      code: 'instance_unhealthy',
      title: 'Not answering',
      message: `${route.handle}'s instance is running but does not answer its health check.`,
      json: { status: 'unhealthy' },
    });
  }

  private proxy(req: IncomingMessage, res: ServerResponse, target: InstanceTarget, route: Route, counts: boolean): void {
    if (counts) this.deps.activity.record(route.handle);
    this.counters.proxied.inc();
    const allowCookies = target.form === 'host';
    const { forwardedFor, proto } = this.trusted.resolve(req);
    forward(this.forwarding, req, res, {
      handle: route.handle,
      origin: this.upstreamOrigin(route, target.path),
      path: target.path,
      headers: upstreamHeaders(req, {
        forwardedFor,
        proto,
        host: req.headers.host!,
        prefix: target.prefix,
        routerToken: route.routerToken,
        allowCookies,
        upgrade: false,
      }),
      allowCookies,
    });
  }

  private onUpstreamFailure(req: IncomingMessage, res: ServerResponse, handle: string, failure: UpstreamFailure, cause: Error): void {
    this.deps.metrics.requests.inc({ outcome: `upstream_${failure.status}` });
    const connectionLost = failure.code === 'upstream_refused' || failure.code === 'upstream_reset';
    if (connectionLost && !this.retried.has(req)) {
      this.deps.logger.warn({ handle, code: failure.code, cause: cause.message }, 'instance refused or dropped a connection; checking it');
      return this.settle(req, res, handle, this.recover(req, res, handle));
    }
    if (failure.status !== 413) {
      this.deps.logger.warn({ handle, code: failure.code, cause: cause.message }, 'instance did not answer');
      // The address may be stale (moved by another replica): read it again.
      void this.deps.routes.refresh(handle).catch(() => undefined);
    }
    if (connectionLost) return this.refuse(req, res, restarting(handle, 'still does not answer'));
    this.refuse(req, res, {
      status: failure.status,
      code: failure.code,
      title: failure.status === 504 ? 'The instance is slow to answer' : 'The instance did not answer',
      message: failure.message,
    });
  }

  /**
   * After a refused or reset connection, once the instance was checked (recovery):
   * an idempotent bodiless request is sent again through the whole pipeline, so it
   * reaches a restarted instance, waits for one being restarted like a wake (a browser
   * gets the waiting page), or gets the failure; anything else gets 503 + Retry-After.
   */
  private async recover(req: IncomingMessage, res: ServerResponse, handle: string): Promise<void> {
    const outcome = await this.recovery.recover(handle);
    if (res.headersSent || res.destroyed) return;
    this.retried.add(req);
    const bodiless = req.headers['content-length'] === undefined || req.headers['content-length'] === '0';
    if (IDEMPOTENT.has(req.method ?? '') && bodiless && req.headers['transfer-encoding'] === undefined) {
      this.deps.metrics.requests.inc({ outcome: 'retried' });
      return this.handleRequest(req, res);
    }
    const route = this.deps.routes.get(handle);
    if (route?.status === 'failed') return this.refuse(req, res, this.deps.endpoints.failedReply(route));
    this.refuse(req, res, restarting(handle, outcome === 'healthy' ? 'dropped the connection' : 'stopped answering and is being restarted'));
  }

  private async upgradeInstance(req: IncomingMessage, socket: Duplex, head: Buffer, target: InstanceTarget): Promise<void> {
    const { routes, waker, settings, sockets, endpoints } = this.deps;
    let route = routes.get(target.handle);
    if (!route) return rawReply(socket, noSuchInstance(target.handle, settings.publicUrl));
    // The router's own paths and the health check are never tunnelled to the instance.
    if (target.form === 'host' && (target.path.startsWith('/_mxos/') || isHealthPath(target.path))) {
      return rawReply(socket, {
        status: 404,
        code: 'not_found',
        title: 'Not found',
        message: `${target.path.split('?')[0]} does not take WebSocket connections.`,
      });
    }
    const principal = authenticate(req, route, target.form, this.deps.sessions);
    if (!principal) return rawReply(socket, signInFirst(req, target, settings.publicUrl));
    if (crossSiteRefused(req, principal, this.scheme, true)) return rawReply(socket, crossSite());
    const refusal = suspendedRefusal(route, principal);
    if (refusal) return rawReply(socket, refusal);
    if (!isReady(route)) {
      if (route.status === 'failed') return rawReply(socket, endpoints.failedReply(route));
      const outcome = await waker.hold(route.handle, actorOf(principal), settings.wakeHoldMs);
      if (!outcome.ready) return rawReply(socket, notReady(outcome.route ?? route, outcome.reason, endpoints, settings.publicUrl));
      route = outcome.route;
    }
    const allowCookies = target.form === 'host';
    const { forwardedFor, proto } = this.trusted.resolve(req);
    const ready = route;
    proxyUpgrade(req, socket, head, {
      origin: this.upstreamOrigin(ready, target.path),
      path: target.path,
      headers: upstreamHeaders(req, {
        forwardedFor,
        proto,
        host: req.headers.host!,
        prefix: target.prefix,
        routerToken: ready.routerToken,
        allowCookies,
        upgrade: true,
      }),
      timeoutMs: settings.upstreamTimeoutMs,
      downstreamHeaders: (raw) => downstreamHeaders(raw, allowCookies),
      onOpen: (client) => sockets.add(client, ready.handle, principal.access === 'token' ? undefined : { userId: principal.userId, openedAt: Date.now() }),
    });
  }

  private upstreamOrigin(route: Route, path: string): string {
    return this.isGatewayPath(path) ? route.gatewayUrl! : route.shellUrl!;
  }

  /** Entries ending in "/" match as prefixes; others match exactly or before "/" or "?". */
  isGatewayPath(path: string): boolean {
    for (const entry of this.gatewayPaths) {
      if (!path.startsWith(entry)) continue;
      if (entry.endsWith('/')) return true;
      const next = path.charCodeAt(entry.length);
      if (Number.isNaN(next) || next === 47 /* / */ || next === 63 /* ? */) return true;
    }
    return false;
  }

  private refuse(req: IncomingMessage, res: ServerResponse, r: RouterReply): void {
    // Drain what the client is still sending so the connection can be reused.
    if (!req.complete) req.resume();
    reply(req, res, r);
  }
}

export function actorOf(principal: Principal): string {
  return `router:${principal.access === 'admin' ? `admin ${principal.userId}` : principal.userId}`;
}

/** The platform's error policy: a dependency that is down (the database) is a 503 saying so; anything else a 502. */
function routerFailure(err: unknown, message: string): RouterReply {
  const error = toClientError(err);
  if (error.status === 503) return { status: 503, code: error.code, title: 'Try again shortly', message: error.message, headers: error.headers };
  return { status: 502, code: 'router_error', title: 'Something went wrong', message };
}

/** A suspended owner's instance: only admins get through, and only while it still runs (nothing wakes it). */
function suspendedRefusal(route: Route, principal: Principal): RouterReply | null {
  if (!route.suspended || (principal.access === 'admin' && isReady(route))) return null;
  return {
    status: 403,
    code: 'instance_suspended',
    title: 'Suspended',
    message: `${route.handle}'s Matrix OS is suspended by the platform's admins; ask them to lift it.`,
  };
}

function crossSite(): RouterReply {
  return {
    status: 403,
    code: 'cross_origin',
    title: 'Refused',
    message: "A browser sent this from another page: only the instance's own pages may change it or open a WebSocket with its sign-in.",
  };
}

function isHealthPath(path: string): boolean {
  return path === '/health' || path.startsWith('/health?');
}

function badTarget(err: unknown): RouterReply {
  const message = err instanceof BadTargetError ? err.message : 'The request could not be understood.';
  return { status: 400, code: 'bad_request', title: 'Bad request', message };
}

function unknownHost(hostname: string, settings: RouterSettings): RouterReply {
  const { publicUrl, domain, instanceDomain } = settings;
  // With INSTANCE_DOMAIN set, {handle}.DOMAIN is not an instance: say where instances live.
  const moved = instanceDomain !== domain && hostname.endsWith(`.${domain}`) ? ` Instances are at {handle}.${instanceDomain}.` : '';
  return {
    status: 404,
    code: 'unknown_host',
    title: 'Unknown address',
    message: `This platform does not serve "${hostname.slice(0, 100)}". The platform is at ${publicUrl}.${moved}`,
  };
}

function noSuchInstance(handle: string, publicUrl: string): RouterReply {
  return {
    status: 404,
    code: 'no_such_instance',
    title: 'No Matrix OS here',
    message: `There is no Matrix OS called "${handle}". Check the address, or sign up to claim it.`,
    html: `<p><a class="button" href="${escapeHtml(publicUrl)}/login?next=%2Fsignup">Sign up</a> or go to <a href="${escapeHtml(publicUrl)}/">the platform</a>.</p>`,
  };
}

function signInFirst(req: IncomingMessage, target: InstanceTarget, publicUrl: string): RouterReply {
  const open = `${publicUrl}/open/${target.handle}?next=${encodeURIComponent(target.form === 'host' ? target.path : '/')}`;
  const html = target.form === 'host' && wantsHtml(req);
  return {
    status: 401,
    code: 'unauthorized',
    title: `Sign in to open ${target.handle}'s Matrix OS`,
    message: html
      ? `Only ${target.handle} (and platform admins) can open this Matrix OS.`
      : `Send the instance token: Authorization: Bearer <token> (get or rotate it on ${publicUrl}).`,
    html: html ? `<p><a href="${escapeHtml(open)}">Sign in on the platform</a> to continue.</p>` : undefined,
    headers: { 'www-authenticate': `Bearer realm="${target.handle}"` },
  };
}

/** A request that cannot be sent again by the router: the client retries after a moment. */
function restarting(handle: string, what: string): RouterReply {
  return {
    status: 503,
    code: 'instance_restarting',
    title: 'Back in a moment',
    message: `${handle}'s instance ${what}. Retry in a few seconds.`,
    headers: { 'retry-after': WAKE_RETRY_AFTER_SECONDS },
  };
}

function notReady(route: Route, reason: 'failed' | 'timeout' | 'gone' | 'waiting', endpoints: PlatformEndpoints, publicUrl: string): RouterReply {
  if (reason === 'failed') return endpoints.failedReply(route);
  if (reason === 'gone') return noSuchInstance(route.handle, publicUrl);
  if (reason === 'waiting')
    return {
      status: 503,
      code: 'waiting_for_capacity',
      title: 'Waiting for a place',
      message: `The platform is full: ${route.handle}'s instance is waiting for a place and starts when one frees. Retry later.`,
      headers: { 'retry-after': FULL_RETRY_AFTER_SECONDS },
      json: { status: route.status, waiting: true },
    };
  return {
    status: 503,
    code: 'instance_waking',
    title: 'Still waking up',
    message: `${route.handle}'s instance is ${route.status} and not ready yet. Retry in a few seconds.`,
    headers: { 'retry-after': WAKE_RETRY_AFTER_SECONDS },
    json: { status: route.status },
  };
}
