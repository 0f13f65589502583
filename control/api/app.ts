/** The internal platform API (default :9000): bearer PLATFORM_SECRET, JSON errors. */
import Koa from 'koa';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { renderErrors } from '../web/error-middleware.ts';
import { requirePlatformSecret } from './auth.ts';
import { type ContainerRoutesDeps, containerRoutes } from './containers.ts';
import { type InviteRoutesDeps, inviteRoutes } from './invites.ts';
import { type MeterRoutesDeps, meterRoutes } from './meter.ts';
import { requestLog } from './request-log.ts';
import { type SystemRoutesDeps, systemRoutes } from './system.ts';

interface ApiDeps extends ContainerRoutesDeps, SystemRoutesDeps, MeterRoutesDeps, InviteRoutesDeps {
  logger: Logger;
  metrics: Metrics;
  platformSecret: string;
  authDisabled: boolean;
}

const OPEN_PATHS: ReadonlySet<string> = new Set(['/health']);

export function createApiApp(deps: ApiDeps): Koa {
  const app = new Koa();
  app.silent = true; // errors are rendered and logged by renderErrors
  const containers = containerRoutes(deps);
  const system = systemRoutes(deps);
  const meter = meterRoutes(deps);
  const invites = inviteRoutes(deps);
  app.use(requestLog(deps.logger, deps.metrics));
  app.use(renderErrors({ logger: deps.logger }));
  app.use(requirePlatformSecret(deps.platformSecret, deps.authDisabled, OPEN_PATHS));
  app.use(system.routes()).use(system.allowedMethods());
  app.use(containers.routes()).use(containers.allowedMethods());
  app.use(meter.routes()).use(meter.allowedMethods());
  app.use(invites.routes()).use(invites.allowedMethods());
  return app;
}
