/**
 * A router worker process (ROUTER_PROCESSES > 1): the public listener and the router,
 * nothing else, built by the composition root. The primary sends the config and the
 * key once; the worker shares the listening port with its siblings through
 * node:cluster. The primary relays its own transitions so a worker's route table
 * changes at once; the event-table tail covers every other replica.
 */
import { compose, routerWorkerRegistry } from '../compose.ts';
import type { Config } from '../config.ts';
import { describeError } from '../errors.ts';
import type { OidcSettings } from '../identity/oidc.ts';
import { createLogger } from '../logger.ts';
import type { PrimaryMessage, WorkerMessage } from './workers.ts';

const send = (message: WorkerMessage) => process.send?.(message);

/** How long a router worker waits for the primary's answer to a check before going on without it. */
const CHECK_TIMEOUT_MS = 5000;
const checks = new Map<number, () => void>();
let nextCheck = 0;

/** The primary's supervisor checks the instance; resolves when it answers (or after CHECK_TIMEOUT_MS). */
function checkInstance(handle: string): Promise<void> {
  const id = ++nextCheck;
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      checks.delete(id);
      resolve();
    };
    const timer = setTimeout(done, CHECK_TIMEOUT_MS);
    checks.set(id, done);
    send({ type: 'check', handle, id });
  });
}

async function run(config: Config, secretKey: string, identity: OidcSettings | null): Promise<void> {
  const logger = createLogger(config.logLevel).child({ routerProcess: process.pid });
  const worker = await compose(config, logger, {
    kind: 'router-worker',
    secretKey,
    identity,
    registry: routerWorkerRegistry(),
    toPrimary: send,
    checkInstance,
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await worker.close();
    process.exit(0);
  };
  process.on('message', (message: PrimaryMessage) => {
    if (message.type === 'refresh') void worker.edge.routes.refresh(message.handle).catch(() => undefined);
    if (message.type === 'checked') checks.get(message.id)?.();
    if (message.type === 'stop') void stop();
  });
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => undefined); // the primary decides when workers stop
  send({ type: 'ready', listenUrl: worker.edge.listenUrl, routes: worker.edge.routes.size });
}

process.once('message', (message: PrimaryMessage) => {
  if (message.type !== 'start') return;
  run(message.config, message.secretKey, message.identity).catch((err) => {
    process.stderr.write(`router worker failed to start: ${describeError(err)}\n`);
    process.exit(1);
  });
});
send({ type: 'listening-for-start' });
