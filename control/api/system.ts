/** /health (no auth), /api/system/info and /metrics on the internal listener. */
import Router from '@koa/router';
import type { Database } from '../db/database.ts';
import { describeError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { Orchestrator } from '../orchestrator/types.ts';
import type { InstanceStore } from '../provisioning/store.ts';

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

  return router;
}
