/** /health (no auth), /api/system/info, /metrics and POST /backups on the internal listener. */
import Router from '@koa/router';
import { recordAudit } from '../audit.ts';
import { createBackup } from '../backup.ts';
import type { Database } from '../db/database.ts';
import { describeError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { Orchestrator } from '../orchestrator/types.ts';
import type { InstanceStore } from '../provisioning/store.ts';
import { actorOf } from './auth.ts';

export interface SystemRoutesDeps {
  db: Database;
  orchestrator: Orchestrator;
  store: InstanceStore;
  metrics: Metrics;
  /** Metrics kept in other processes (router workers), appended to this process's. */
  workerMetrics?: () => Promise<string>;
  version: string;
  mode: string;
  startedAt: Date;
  /** Where backups are written (DATA_DIR/backups) and what they copy. */
  dataDir: string;
  databaseUrl: string;
}

export function systemRoutes(deps: SystemRoutesDeps): Router {
  const router = new Router();

  router.get('/health', async (ctx) => {
    const database = await deps.db.ping().then(
      () => ({ ok: true, detail: deps.db.dialect }),
      (err) => ({ ok: false, detail: describeError(err) }),
    );
    const orchestrator = await deps.orchestrator.health();
    const ok = database.ok && orchestrator.ok;
    ctx.status = ok ? 200 : 503;
    ctx.body = { status: ok ? 'ok' : 'degraded', database, orchestrator: { driver: deps.orchestrator.name, ...orchestrator } };
  });

  router.get('/api/system/info', async (ctx) => {
    ctx.body = {
      version: deps.version,
      mode: deps.mode,
      uptimeSeconds: Math.round((Date.now() - deps.startedAt.getTime()) / 1000),
      startedAt: deps.startedAt.toISOString(),
      node: process.version,
      driver: deps.orchestrator.name,
      database: deps.db.dialect,
      instances: await deps.store.countByState(),
    };
  });

  router.get('/metrics', async (ctx) => {
    ctx.set('Content-Type', deps.metrics.registry.contentType);
    const own = await deps.metrics.registry.metrics();
    ctx.body = deps.workerMetrics ? `${own}\n${await deps.workerMetrics()}` : own;
  });

  // A backup of the database and users/ under DATA_DIR/backups (restore: mxos restore, with the platform stopped).
  router.post('/backups', async (ctx) => {
    const backup = await createBackup({ db: deps.db, dataDir: deps.dataDir, databaseUrl: deps.databaseUrl });
    await recordAudit(deps.db, {
      actor: actorOf(ctx),
      action: 'backup',
      target: backup.path,
      detail: { users: backup.manifest.users.length, bytes: backup.manifest.bytes },
    });
    ctx.status = 201;
    ctx.body = { path: backup.path, manifest: backup.manifest };
  });

  return router;
}
