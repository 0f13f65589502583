/**
 * The composition root: the one place that builds the object graph of a process role.
 *
 * - all-in-one (main.ts; tests call startPlatform): the database, the provisioning
 *   worker, the lifecycle, the platform API, identity, and the public listener
 *   (the site and the router) in this process or in ROUTER_PROCESSES workers.
 * - router-worker (router/worker-main.ts): the same services over the database and
 *   the same public listener, nothing else. Its transitions reach the primary's
 *   provisioning worker over IPC; in-process, the bus does that.
 *
 * The orchestrator driver is picked in main.ts and passed in.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry, Registry } from 'prom-client';
import { createSiteHandler } from '../site/index.ts';
import { InstanceKeys } from './access/instance-keys.ts';
import { AccessCodes } from './access/login-codes.ts';
import { instanceUrl } from './access/urls.ts';
import { createApiApp } from './api/app.ts';
import type { Config } from './config.ts';
import { type Database, openDatabase } from './db/database.ts';
import { loadOrCreateDevSecrets } from './dev-secrets.ts';
import { startIdentity } from './identity/index.ts';
import type { OidcSettings } from './identity/oidc.ts';
import { ActivityRecorder, Lifecycle } from './lifecycle.ts';
import type { Logger } from './logger.ts';
import { bindMeterListener, type Meter, type MeterServices, openMeterServices, startMeter } from './meter/index.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import type { Orchestrator } from './orchestrator/types.ts';
import { Capacity } from './provisioning/capacity.ts';
import { InstanceService } from './provisioning/service.ts';
import { InstanceStore, type StoredEvent, type TransitionChange } from './provisioning/store.ts';
import { Supervisor } from './provisioning/supervisor.ts';
import { ProvisioningWorker } from './provisioning/worker.ts';
import { type Edge, startEdge } from './router/edge.ts';
import { RouteCache } from './router/route-cache.ts';
import { type RouterWorkers, startRouterWorkers, type WorkerMessage } from './router/workers.ts';
import { MatrixAccounts } from './social/accounts.ts';
import { SocialFeed } from './social/feed.ts';
import { createInstanceSocialApp } from './social/instance-api.ts';
import { MatrixClient } from './social/matrix-client.ts';
import { SecretBox } from './social/secret-box.ts';
import { SocialService } from './social/service.ts';
import { SocialWorker } from './social/worker.ts';
import { Admission } from './users/admission.ts';
import { Invites } from './users/invites.ts';
import { SiteSessions } from './users/sessions.ts';
import { UserStore } from './users/store.ts';

const PLATFORM_VERSION = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version as string;

export type Role =
  | { kind: 'all-in-one'; orchestrator: Orchestrator }
  | {
      kind: 'router-worker';
      secretKey: string;
      identity: OidcSettings | null;
      registry: Registry;
      toPrimary(message: WorkerMessage): void;
      /** The primary's supervisor checks an instance (over IPC). */
      checkInstance(handle: string): Promise<void>;
    };

/** What every role builds over the database. */
export interface Services {
  db: Database;
  store: InstanceStore;
  service: InstanceService;
  users: UserStore;
  /** Invite codes and the sign-up policy that redeems them. */
  invites: Invites;
  admission: Admission;
  /** MAX_RUNNING_INSTANCES: places, and the queue for them. */
  capacity: Capacity;
  codes: AccessCodes;
  activity: ActivityRecorder;
  /** Budgets, prices and spend (the meter itself runs in the all-in-one role). */
  spend: MeterServices;
  /** Discovery, profiles, messages, blocks and the feed (its worker runs in the all-in-one role). */
  social: SocialService;
}

export interface Platform extends Services {
  config: Config;
  worker: ProvisioningWorker;
  lifecycle: Lifecycle;
  /** Restarts crashed instances (bounded), from the orchestrator's watch, router checks and reconcile. */
  supervisor: Supervisor;
  metrics: Metrics;
  orchestrator: Orchestrator;
  /** The router and its public listener, when it runs in this process (ROUTER_PROCESSES=1). */
  edge: Edge | null;
  /** The router worker processes (ROUTER_PROCESSES > 1). */
  routerWorkers: RouterWorkers | null;
  /** The metering route instances call (ANTHROPIC_BASE_URL). */
  meter: Meter;
  /** Registers Matrix accounts and delivers messages. */
  socialWorker: SocialWorker;
  /** Where the public listener is bound, e.g. http://127.0.0.1:8000. */
  publicListenUrl: string;
  /** Base URL of the internal API, e.g. http://127.0.0.1:9000 */
  apiUrl: string;
  platformSecret: string;
  secretKey: string;
  /**
   * Stops serving and releases everything. Instances keep running (they are
   * re-adopted on the next start) unless `stopInstances`; returns how many were stopped.
   */
  close(options?: { stopInstances?: boolean }): Promise<{ stoppedInstances: number }>;
}

interface RouterWorkerProcess extends Services {
  edge: Edge;
  close(): Promise<void>;
}

export function compose(config: Config, logger: Logger, role: Extract<Role, { kind: 'all-in-one' }>): Promise<Platform>;
export function compose(config: Config, logger: Logger, role: Extract<Role, { kind: 'router-worker' }>): Promise<RouterWorkerProcess>;
export function compose(config: Config, logger: Logger, role: Role): Promise<Platform | RouterWorkerProcess> {
  return role.kind === 'all-in-one' ? composeAllInOne(config, logger, role.orchestrator) : composeRouterWorker(config, logger, role);
}

/** The all-in-one control service. */
export function startPlatform(config: Config, orchestrator: Orchestrator, logger: Logger): Promise<Platform> {
  return compose(config, logger, { kind: 'all-in-one', orchestrator });
}

async function openServices(config: Config, logger: Logger, secretKey: string): Promise<Services> {
  const db = await openDatabase(config.databaseUrl);
  const store = new InstanceStore(db);
  const activity = new ActivityRecorder(db);
  activity.startFlushing(config.lifecycle.activityFlushIntervalMs, logger);
  const invites = new Invites(db);
  const admission = new Admission(config.signup, invites, config.identity.adminEmails);
  const users = new UserStore(db, new SiteSessions(db, config.identity.sessionTtlMs), store, admission);
  return {
    db,
    store,
    service: new InstanceService(db, store, config.orchestrator),
    users,
    invites,
    admission,
    capacity: new Capacity(db, config.capacity.maxRunning, config.capacity.evictIdleWhenFull),
    codes: new AccessCodes(db),
    activity,
    spend: await openMeterServices(config, db, logger),
    social: new SocialService({
      db,
      users,
      feed: new SocialFeed(db),
      config: config.social,
      secretKey,
      instanceUrl: (handle) => instanceUrl(config, handle),
    }),
  };
}

/** The public listener: the site at the apex, the router for every instance host. */
function startPublicListener(
  config: Config,
  services: Services,
  options: { secretKey: string; identity: OidcSettings | null; registry: Registry; logger: Logger; checkInstance(handle: string): Promise<void> },
): Promise<Edge> {
  const { secretKey, identity, registry, logger, checkInstance } = options;
  const url = (handle: string) => instanceUrl(config, handle);
  const site = createSiteHandler({ config, ...services, identity, secretKey, instanceUrl: url, logger });
  return startEdge({ config, ...services, registry, secretKey, logger, site, checkInstance });
}

async function composeRouterWorker(config: Config, logger: Logger, role: Extract<Role, { kind: 'router-worker' }>): Promise<RouterWorkerProcess> {
  const services = await openServices(config, logger, role.secretKey);
  // What this process changed (a wake, a start or a token from the site) goes to the primary as
  // if it had happened there: its provisioning worker acts at once, and every other worker hears.
  const forwardTransition = (change: TransitionChange) => role.toPrimary({ type: 'transition', change });
  const forwardEvent = (event: StoredEvent) => role.toPrimary({ type: 'event', event });
  services.store.bus.on('transition', forwardTransition);
  services.store.bus.on('event', forwardEvent);
  const edge = await startPublicListener(config, services, {
    secretKey: role.secretKey,
    identity: role.identity,
    registry: role.registry,
    logger,
    checkInstance: role.checkInstance,
  });
  return {
    ...services,
    edge,
    async close() {
      services.store.bus.off('transition', forwardTransition);
      services.store.bus.off('event', forwardEvent);
      await edge.close();
      services.spend.prices.close();
      await services.activity.stop();
      await services.db.close();
    },
  };
}

async function composeAllInOne(configured: Config, logger: Logger, orchestrator: Orchestrator): Promise<Platform> {
  // Instances are given the meter's URL, so its port is bound before any instance starts.
  const meterListener = await bindMeterListener(configured.meter);
  const config: Config = { ...configured, meterUrl: configured.meterUrl ?? meterListener.url };
  const dev = config.platformSecret === null || config.secretKey === null ? loadOrCreateDevSecrets(config.dataDir) : null;
  const platformSecret = config.platformSecret ?? dev!.platformSecret;
  const secretKey = config.secretKey ?? dev!.secretKey;

  const services = await openServices(config, logger, secretKey);
  const { db, store, service, activity, codes } = services;
  const metrics = createMetrics(() => store.countByState());
  const supervisor = new Supervisor({ store, orchestrator, policy: config.lifecycle, logger: logger.child({ component: 'supervisor' }), metrics });
  const lifecycle = new Lifecycle({ db, store, orchestrator, activity, config, logger, metrics, supervisor });
  const socialWorker = composeSocialWorker(config, services, secretKey, logger);
  const worker = new ProvisioningWorker({ store, orchestrator, config, secretKey, logger, metrics, hooks: socialWorker.hooks(), capacity: services.capacity });

  // Leases held by this replica's previous run are ours to take back now, not after they expire.
  const reclaimed = await store.releaseLeases(worker.replicaLeasePattern());
  if (reclaimed > 0) logger.info({ count: reclaimed }, "took back leases from this replica's previous run");
  // Watching before the start-up reconcile: a crash meanwhile is not missed.
  supervisor.start();
  const fixes = await lifecycle.reconcile();
  if (fixes.length) logger.warn({ fixes }, 'start-up reconcile fixed drift');
  worker.start();
  lifecycle.start();
  socialWorker.start();

  const identity = await startIdentity(config, secretKey, logger);
  const inProcess = config.router.processes === 1;
  const checkInstance = (handle: string) => supervisor.check(handle);
  const edge = inProcess
    ? await startPublicListener(config, services, { secretKey, identity: identity.settings, registry: metrics.registry, logger, checkInstance })
    : null;
  // The meter finds tenants by key in a route table: the edge's, or its own when the edge runs in workers.
  const meterRoutes = edge?.routes ?? new RouteCache({ db, bus: store.bus, secretKey, syncIntervalMs: config.router.routeSyncIntervalMs, logger });
  if (!edge) await meterRoutes.load();
  const meter = await startMeter({
    listener: meterListener,
    config,
    services: services.spend,
    routes: meterRoutes,
    secretKey,
    onActivity: (handle) => activity.record(handle),
    logger,
    registry: metrics.registry,
    // Instances reach the platform on this one port: the social API for them shares it.
    mounts: [
      { prefix: '/social/', app: createInstanceSocialApp({ service: services.social, keys: new InstanceKeys(secretKey, 'social-key', meterRoutes), logger }) },
    ],
  });
  const routerWorkers = inProcess ? null : await startRouterWorkers({ config, secretKey, identity: identity.settings, store, logger, checkInstance });

  const app = createApiApp({
    logger,
    metrics,
    service,
    store,
    db,
    orchestrator,
    bodyLimitBytes: config.api.bodyLimitBytes,
    secretKey,
    codes,
    users: services.users,
    invites: services.invites,
    publicUrl: config.public.url,
    ...services.spend,
    workerMetrics: routerWorkers ? () => routerWorkers.metrics() : undefined,
    instanceUrl: (handle) => instanceUrl(config, handle),
    refreshRoute: (handle) => meterRoutes.refresh(handle),
    platformSecret,
    authDisabled: config.apiAuthDisabled,
    version: PLATFORM_VERSION,
    mode: config.mode,
    startedAt: new Date(),
    dataDir: config.dataDir,
    databaseUrl: config.databaseUrl,
  });
  const server = http.createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.api.port, config.api.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host;

  let closing: Promise<{ stoppedInstances: number }> | null = null;
  return {
    ...services,
    config,
    worker,
    lifecycle,
    supervisor,
    metrics,
    orchestrator,
    edge,
    routerWorkers,
    meter,
    socialWorker,
    platformSecret,
    secretKey,
    publicListenUrl: edge?.listenUrl ?? routerWorkers!.listenUrl,
    apiUrl: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    close(options = {}) {
      closing ??= (async () => {
        await edge?.close();
        await routerWorkers?.close();
        await meter.close();
        services.spend.prices.close();
        if (!edge) meterRoutes.close();
        await identity.close();
        server.closeIdleConnections();
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        setTimeout(() => server.closeAllConnections(), 2000).unref();
        supervisor.stop();
        await worker.stop();
        await socialWorker.stop();
        await lifecycle.stop();
        await activity.stop();
        const stopped = options.stopInstances ? await lifecycle.stopAll('Stopping: the control service was shut down; the next visit wakes it') : [];
        await serverClosed;
        await orchestrator.close();
        await db.close();
        return { stoppedInstances: stopped.length };
      })();
      return closing;
    },
  };
}

/** The social worker; with a homeserver configured, the Matrix accounts it keeps (tokens sealed under SECRET_KEY). */
function composeSocialWorker(config: Config, services: Services, secretKey: string, logger: Logger): SocialWorker {
  const matrix = config.social.matrix;
  const client = matrix ? new MatrixClient(matrix.homeserverUrl, { timeoutMs: matrix.timeoutMs }) : null;
  const accounts = matrix ? new MatrixAccounts(services.db, client!, new SecretBox(secretKey, 'matrix-tokens', config.secretKeyPrevious), matrix) : null;
  return new SocialWorker({
    db: services.db,
    store: services.store,
    service: services.social,
    feed: services.social.feed,
    accounts,
    client,
    config: config.social,
    owner: `${config.replicaId}:${process.pid}`,
    pollIntervalMs: config.provisioning.pollIntervalMs,
    logger: logger.child({ component: 'social' }),
  });
}

/** A router worker's metrics registry: the primary's /metrics collects it (prom-client's cluster aggregation). */
export function routerWorkerRegistry(): Registry {
  const registry = new Registry();
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry();
  return registry;
}
