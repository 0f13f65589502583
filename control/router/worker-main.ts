/**
 * A router worker process (ROUTER_PROCESSES > 1): the public listener and the router,
 * nothing else. The primary sends the config and the key once; the worker opens the
 * database itself (route table, login codes, wake requests, activity) and shares the
 * listening port with its siblings through node:cluster. The primary relays its own
 * transitions so a worker's route table changes at once; the event-table tail covers
 * every other replica, as for any second control process.
 */
import { createSiteHandler } from '../../site/index.ts';
import type { Config } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import { describeError } from '../errors.ts';
import { ActivityRecorder } from '../lifecycle.ts';
import { createLogger } from '../logger.ts';
import { AggregatorRegistry, Registry } from 'prom-client';
import { InstanceService } from '../provisioning/service.ts';
import { InstanceStore } from '../provisioning/store.ts';
import { AccessCodes } from '../access/login-codes.ts';
import { startEdge } from './edge.ts';
import { instanceUrl } from '../access/urls.ts';
import type { OidcSettings } from '../identity/oidc.ts';
import type { PrimaryMessage, WorkerMessage } from './workers.ts';

const send = (message: WorkerMessage) => process.send?.(message);

async function run(config: Config, secretKey: string, identity: OidcSettings): Promise<void> {
  const logger = createLogger(config.logLevel).child({ routerProcess: process.pid });
  const db = await openDatabase(config.databaseUrl);
  const store = new InstanceStore(db);
  const service = new InstanceService(db, store, config.orchestrator);
  const activity = new ActivityRecorder(db);
  // The router's metrics: the primary's /metrics collects them from every worker (prom-client's cluster aggregation).
  const registry = new Registry();
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry();
  const edge = await startEdge({
    config, db, store, service, activity, registry, secretKey, logger,
    kick: () => send({ type: 'kick' }),
    site: createSiteHandler({
      config, db, service, store, codes: new AccessCodes(db), identity, secretKey, logger,
      instanceUrl: (handle) => instanceUrl(config, handle),
      kick: () => send({ type: 'kick' }),
    }),
  });
  const flushTimer = setInterval(() => {
    activity.flush().catch((err) => logger.error({ err: describeError(err) }, 'activity flush failed; will retry'));
  }, config.lifecycle.activityFlushIntervalMs);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(flushTimer);
    await edge.close();
    await activity.flush().catch(() => undefined);
    await db.close();
    process.exit(0);
  };
  process.on('message', (message: PrimaryMessage) => {
    if (message.type === 'refresh') void edge.routes.refresh(message.handle).catch(() => undefined);
    if (message.type === 'stop') void stop();
  });
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => undefined); // the primary decides when workers stop
  send({ type: 'ready', listenUrl: edge.listenUrl, routes: edge.routes.size });
}

process.once('message', (message: PrimaryMessage) => {
  if (message.type !== 'start') return;
  run(message.config, message.secretKey, message.identity).catch((err) => {
    process.stderr.write(`router worker failed to start: ${describeError(err)}\n`);
    process.exit(1);
  });
});
send({ type: 'listening-for-start' });
