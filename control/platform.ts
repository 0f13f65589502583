/**
 * Assembles the control service from its parts. main.ts picks the orchestrator and
 * calls this; tests call it directly with their own orchestrator and port 0.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApiApp } from './api/app.ts';
import type { Config } from './config.ts';
import { openDatabase, type Database } from './db/database.ts';
import { loadOrCreateDevSecrets } from './dev-secrets.ts';
import { ActivityRecorder, Lifecycle } from './lifecycle.ts';
import type { Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import type { Orchestrator } from './orchestrator/types.ts';
import { InstanceService } from './provisioning/service.ts';
import { AccessCodes } from './access/login-codes.ts';
import { startEdge, type Edge } from './router/edge.ts';
import { startRouterWorkers, type RouterWorkers } from './router/workers.ts';
import { instanceUrl } from './access/urls.ts';
import { startIdentity } from './identity/index.ts';
import { createSiteHandler } from '../site/index.ts';
import { InstanceStore } from './provisioning/store.ts';
import { ProvisioningWorker } from './provisioning/worker.ts';

export const PLATFORM_VERSION = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version as string;

export interface Platform {
  config: Config;
  db: Database;
  store: InstanceStore;
  service: InstanceService;
  worker: ProvisioningWorker;
  lifecycle: Lifecycle;
  activity: ActivityRecorder;
  metrics: Metrics;
  orchestrator: Orchestrator;
  /** The router and its public listener, when it runs in this process (ROUTER_PROCESSES=1). */
  edge: Edge | null;
  /** The router worker processes (ROUTER_PROCESSES > 1). */
  routerWorkers: RouterWorkers | null;
  /** Where the public listener is bound, e.g. http://127.0.0.1:8000. */
  publicListenUrl: string;
  /** Base URL of the internal API, e.g. http://127.0.0.1:9000 */
  apiUrl: string;
  platformSecret: string;
  secretKey: string;
  close(): Promise<void>;
}

export async function startPlatform(config: Config, orchestrator: Orchestrator, logger: Logger): Promise<Platform> {
  const dev = config.platformSecret === null || config.secretKey === null ? loadOrCreateDevSecrets(config.dataDir) : null;
  const platformSecret = config.platformSecret ?? dev!.platformSecret;
  const secretKey = config.secretKey ?? dev!.secretKey;

  const db = await openDatabase(config.databaseUrl);
  const store = new InstanceStore(db);
  const service = new InstanceService(db, store, orchestrator.name);
  const metrics = createMetrics(() => store.countByState());
  const activity = new ActivityRecorder(db);
  const lifecycle = new Lifecycle({ db, store, orchestrator, activity, config, logger, metrics });
  const worker = new ProvisioningWorker({ store, orchestrator, config, secretKey, logger, metrics });

  // Leases held by this replica's previous run are ours to take back now, not after they expire.
  const reclaimed = await db.models.Instance.update({ lease_owner: null, lease_expires_at: null }, { where: { lease_owner: worker.replicaLeasePattern() } });
  if (reclaimed[0] > 0) logger.info({ count: reclaimed[0] }, 'took back leases from this replica\'s previous run');
  const fixes = await lifecycle.reconcile();
  if (fixes.length) logger.warn({ fixes }, 'start-up reconcile fixed drift');
  worker.start();
  lifecycle.start();

  const kick = () => worker.kick();
  const identity = await startIdentity(config, secretKey, logger);
  const codes = new AccessCodes(db);
  const inProcess = config.router.processes === 1;
  const site = inProcess
    ? createSiteHandler({ config, db, service, store, codes, identity: identity.settings, secretKey, instanceUrl: (h) => instanceUrl(config, h), kick, logger })
    : null;
  const edge = inProcess ? await startEdge({ config, db, store, service, activity, registry: metrics.registry, secretKey, logger, kick, site: site! }) : null;
  const routerWorkers = inProcess ? null : await startRouterWorkers({ config, secretKey, identity: identity.settings, store, kick, logger });

  const app = createApiApp({
    logger,
    metrics,
    service,
    store,
    db,
    orchestrator,
    bodyLimitBytes: config.api.bodyLimitBytes,
    kick,
    secretKey,
    codes,
    workerMetrics: routerWorkers ? () => routerWorkers.metrics() : undefined,
    instanceUrl: (handle) => instanceUrl(config, handle),
    platformSecret,
    authDisabled: config.apiAuthDisabled,
    version: PLATFORM_VERSION,
    mode: config.mode,
    startedAt: new Date(),
  });
  const server = http.createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.api.port, config.api.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host;

  let closing: Promise<void> | null = null;
  return {
    config, db, store, service, worker, lifecycle, activity, metrics, orchestrator, edge, routerWorkers, platformSecret, secretKey,
    publicListenUrl: edge?.listenUrl ?? routerWorkers!.listenUrl,
    apiUrl: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    close() {
      closing ??= (async () => {
        await edge?.close();
        await routerWorkers?.close();
        await identity.close();
        server.closeIdleConnections();
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        setTimeout(() => server.closeAllConnections(), 2000).unref();
        await worker.stop();
        await lifecycle.stop();
        await serverClosed;
        await orchestrator.close();
        await db.close();
      })();
      return closing;
    },
  };
}
