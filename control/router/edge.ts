/**
 * Builds the router and its public listener (default port 8000) from the platform's
 * parts. The route table is loaded before the port opens, so the first request after
 * a restart already finds every route.
 */

import type { RequestListener } from 'node:http';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { AccessCodes } from '../access/login-codes.ts';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import type { ActivityRecorder } from '../lifecycle.ts';
import type { Logger } from '../logger.ts';
import type { Capacity } from '../provisioning/capacity.ts';
import type { InstanceService } from '../provisioning/service.ts';
import type { InstanceStore } from '../provisioning/store.ts';
import type { UserStore } from '../users/store.ts';
import { AdminSet } from './admin-set.ts';
import { createRouterMetrics } from './metrics.ts';
import { PlatformEndpoints } from './platform-endpoints.ts';
import { RouteCache } from './route-cache.ts';
import { Router } from './router.ts';
import { SessionCookies } from './session.ts';
import { SignedOut } from './signed-out.ts';
import { UpstreamPools } from './upstream.ts';
import { Waker } from './wake.ts';
import { OpenSockets } from './websocket.ts';

export interface Edge {
  /** Where the listener is bound, e.g. http://127.0.0.1:8000 (tests send Host headers to it). */
  listenUrl: string;
  routes: RouteCache;
  /** Who is an admin now, as this router sees it. */
  admins: AdminSet;
  router: Router;
  codes: AccessCodes;
  sessions: SessionCookies;
  sockets: OpenSockets;
  close(): Promise<void>;
}

interface EdgeDeps {
  config: Config;
  db: Database;
  store: InstanceStore;
  service: InstanceService;
  activity: ActivityRecorder;
  codes: AccessCodes;
  users: UserStore;
  capacity: Capacity;
  /** Where the router's metrics are registered. */
  registry: Registry;
  secretKey: string;
  logger: Logger;
  site: RequestListener;
  /** Asks the control service to check an instance with the orchestrator now (after a refused connection). */
  checkInstance(handle: string): Promise<void>;
}

export async function startEdge(deps: EdgeDeps): Promise<Edge> {
  const { config, db, store, service, activity, codes, secretKey, logger } = deps;
  const log = logger.child({ component: 'router' });
  const routes = new RouteCache({ db, bus: store.bus, secretKey, syncIntervalMs: config.router.routeSyncIntervalMs, logger: log });
  await routes.load();
  const metrics = createRouterMetrics(deps.registry);
  const admins = new AdminSet({ db, changes: deps.users.changes, syncIntervalMs: config.router.routeSyncIntervalMs, logger: log });
  await admins.load();
  const sockets = new OpenSockets(activity, config.router.wsActivityIntervalMs);
  const signedOut = new SignedOut({
    db,
    changes: deps.users.changes,
    sessionTtlMs: config.router.sessionTtlMs,
    syncIntervalMs: config.router.routeSyncIntervalMs,
    logger: log,
    // A browser's open WebSockets end with its user's sign-out too, not only its next request.
    onRead: () => void sockets.endSignedOut((id) => signedOut.since(id)),
  });
  await signedOut.load();
  const sessions = new SessionCookies(secretKey, {
    secure: config.public.secureCookies,
    ttlMs: config.router.sessionTtlMs,
    isAdmin: (id) => admins.has(id),
    signedOutAt: (id) => signedOut.since(id),
  });
  const pools = new UpstreamPools({
    connections: config.router.upstreamConnections,
    connectTimeoutMs: config.router.connectTimeoutMs,
    headersTimeoutMs: config.router.upstreamTimeoutMs,
  });
  const waker = new Waker({
    routes,
    service,
    logger: log,
    onWoken: (_handle, seconds) => {
      metrics.wakes.inc();
      if (seconds !== null) metrics.wakeSeconds.observe(seconds);
    },
  });
  const endpoints = new PlatformEndpoints({ sessions, codes, service, store, capacity: deps.capacity, publicUrl: config.public.url, logger: log });
  const router = new Router({
    settings: {
      domain: config.public.domain,
      instanceDomain: config.public.instanceDomain,
      publicUrl: config.public.url,
      gatewayPaths: config.router.gatewayPaths,
      bodyLimitBytes: config.router.bodyLimitBytes,
      upstreamTimeoutMs: config.router.upstreamTimeoutMs,
      wakeHoldMs: config.router.wakeHoldMs,
      trustedProxies: config.public.trustedProxies,
    },
    routes,
    sessions,
    waker,
    activity,
    pools,
    sockets,
    endpoints,
    site: deps.site,
    metrics,
    logger: log,
    checkInstance: deps.checkInstance,
  });

  const server = http.createServer({ requestTimeout: 0, keepAliveTimeout: 65_000 }, router.handleRequest);
  // A client may half-close its side once it has sent a whole request (legal in HTTP/1.1):
  // answer it anyway. Node's default aborts every request in flight on that connection.
  // (Not in Node's typings; honoured by node:http since v10.)
  (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  server.on('upgrade', router.handleUpgrade);
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.public.port, config.public.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = config.public.host === '0.0.0.0' ? '127.0.0.1' : config.public.host.includes(':') ? `[${config.public.host}]` : config.public.host;

  return {
    listenUrl: `http://${host}:${port}`,
    routes,
    admins,
    router,
    codes,
    sessions,
    sockets,
    async close() {
      routes.close();
      admins.close();
      signedOut.close();
      server.closeIdleConnections();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      sockets.close();
      setTimeout(() => server.closeAllConnections(), 2000).unref();
      await closed;
      await pools.close();
    },
  };
}
