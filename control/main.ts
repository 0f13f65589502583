/**
 * Entry point of the control service: config -> database -> orchestrator -> listeners.
 * The only place that picks an orchestrator driver.
 */
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { instanceUrl } from './access/urls.ts';
import { writeControlPid } from './backup.ts';
import { startPlatform } from './compose.ts';
import { type Config, loadConfig } from './config.ts';
import { ConfigError, describeError } from './errors.ts';
import { createLogger, type Logger, readableDestination } from './logger.ts';
import { LocalOrchestrator } from './orchestrator/local.ts';
import { createNomadOrchestrator } from './orchestrator/nomad/index.ts';
import type { Orchestrator } from './orchestrator/types.ts';

/** argv that runs instance/server.ts under tsx, independent of the child's cwd. */
export function referenceInstanceCommand(): string[] {
  return [process.execPath, '--import', import.meta.resolve('tsx'), fileURLToPath(new URL('../instance/server.ts', import.meta.url))];
}

export function localDriverId(dataDir: string): string {
  return crypto.createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
}

export function createOrchestrator(config: Config): Orchestrator {
  switch (config.orchestrator) {
    case 'local':
      return new LocalOrchestrator({ dataDir: config.dataDir, driverId: localDriverId(config.dataDir), referenceCommand: referenceInstanceCommand() });
    case 'nomad':
      return createNomadOrchestrator(config);
  }
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(
        `Configuration error:\n${err.message
          .split('\n')
          .map((l) => `  ${l}`)
          .join('\n')}\n`,
      );
      process.exit(78);
    }
    throw err;
  }
  // Readable lines for a person at a terminal in development; JSON for everything else.
  const logger: Logger = createLogger(config.logLevel, config.mode === 'development' && process.stdout.isTTY ? await readableDestination() : undefined);
  for (const warning of config.devWarnings) logger.warn(`DEVELOPMENT ONLY: ${warning}`);
  const orchestrator = createOrchestrator(config);
  if (orchestrator instanceof LocalOrchestrator) {
    // Files the platform creates (the database, logs) are its own: instances run as other users.
    if (process.getuid?.() === 0) process.umask(0o077);
    const warning = orchestrator.isolationWarning();
    if (warning) logger.warn(`DEVELOPMENT ONLY: ${warning}`);
  }
  const platform = await startPlatform(config, orchestrator, logger);
  // mxos restore refuses while this pid is alive.
  const removePid = writeControlPid(config.dataDir);
  process.once('exit', removePid);
  logger.info(
    {
      public: config.public.url,
      router: platform.publicListenUrl,
      routerProcesses: config.router.processes,
      api: platform.apiUrl,
      meter: platform.meter.url,
      driver: platform.orchestrator.name,
      database: platform.db.dialect,
      mode: config.mode,
    },
    'control service ready',
  );
  process.stdout.write(
    `\nMatrix OS platform ${config.mode}\n` +
      `  site and instances: ${config.public.url} (instances at ${instanceUrl(config, '{handle}')}; listening on ${platform.publicListenUrl})\n` +
      `  platform API:       ${platform.apiUrl} (health: ${platform.apiUrl}/health, metrics: ${platform.apiUrl}/metrics)\n` +
      `  model meter:        ${platform.meter.url} (instances' ANTHROPIC_BASE_URL: ${platform.config.meterUrl})${config.meter.upstreamKey ? '' : '; set ANTHROPIC_API_KEY to let instances call models'}\n` +
      `Operator CLI: npm run cli -- list; open an instance in a browser: npm run cli -- open <handle>\n\n`,
  );

  let stopping = false;
  const shutdown = (signal: string) => {
    // A second Ctrl-C while shutting down (say an instance that will not stop): leave now.
    if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
    stopping = true;
    // Ctrl-C in development: stop the instances too (the next visit wakes them), so nothing keeps
    // running unseen. Otherwise (production, or SIGTERM from a service manager restarting us):
    // users' instances outlive a control restart, and the next start re-adopts them.
    const stopInstances = config.mode === 'development' && signal === 'SIGINT';
    const keptRunning = stopInstances
      ? Promise.resolve(0)
      : platform.store.countByState().then(
          (c) => c.running + c.starting,
          () => 0,
        );
    logger.info({ signal }, stopInstances ? 'shutting down; stopping instances (development, Ctrl-C)' : 'shutting down; instances keep running');
    keptRunning
      .then(async (running) => {
        const { stoppedInstances } = await platform.close({ stopInstances });
        if (stopInstances) logger.info({ stopped: stoppedInstances }, `stopped ${stoppedInstances} instance(s); the next visit wakes them`);
        else logger.info({ running }, `${running} instance(s) keep running: they outlive a control restart and the next start re-adopts them`);
      })
      .then(
        () => process.exit(0),
        (err) => {
          logger.error({ err: describeError(err) }, 'unclean shutdown');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err) => {
    process.stderr.write(`Control service failed to start: ${describeError(err)}\n`);
    process.exit(1);
  });
}
