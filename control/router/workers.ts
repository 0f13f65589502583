/**
 * ROUTER_PROCESSES > 1: the public listener runs in that many worker processes (one
 * Node process saturates a core near 14k requests/s; see docs/benchmarks.md). The
 * primary keeps the API, the provisioning worker and the lifecycle; it forks the
 * router workers with node:cluster, sends each the config, relays its transitions so
 * their route tables change at once, hears from them when their requests moved an
 * instance (so the provisioning worker acts at once), and replaces a worker that dies.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from '../config.ts';
import type { OidcSettings } from '../identity/oidc.ts';
import type { Logger } from '../logger.ts';
import type { InstanceStore, StoredEvent, TransitionChange } from '../provisioning/store.ts';

export type PrimaryMessage =
  | { type: 'start'; config: Config; secretKey: string; identity: OidcSettings | null }
  | { type: 'refresh'; handle: string }
  | { type: 'checked'; id: number }
  | { type: 'stop' };
/** A worker's own transitions and events go to the primary, which re-emits them on its bus. */
export type WorkerMessage =
  | { type: 'listening-for-start' }
  | { type: 'ready'; listenUrl: string; routes: number }
  | { type: 'transition'; change: TransitionChange }
  | { type: 'event'; event: StoredEvent }
  /** A refused connection: the primary checks the instance (its supervisor) and answers 'checked'. */
  | { type: 'check'; handle: string; id: number };

export interface RouterWorkers {
  listenUrl: string;
  /** Routes each worker loaded at start-up. */
  routesAtStart: number[];
  /** Every worker's router metrics, summed, in Prometheus text. */
  metrics(): Promise<string>;
  readonly pids: number[];
  close(): Promise<void>;
}

const STOP_GRACE_MS = 5000;

export async function startRouterWorkers(options: {
  config: Config;
  secretKey: string;
  identity: OidcSettings | null;
  store: InstanceStore;
  logger: Logger;
  checkInstance(handle: string): Promise<void>;
}): Promise<RouterWorkers> {
  const { config, secretKey, identity, store, logger, checkInstance } = options;
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker-main.ts', import.meta.url)), execArgv: process.execArgv });
  const workers = new Set<Worker>();
  const aggregator = new AggregatorRegistry();
  let closing = false;

  const relay = (change: { handle: string }) => {
    for (const worker of workers) if (worker.isConnected()) worker.send({ type: 'refresh', handle: change.handle } satisfies PrimaryMessage);
  };
  store.bus.on('transition', relay);
  store.bus.on('event', relay);

  const fork = (): Promise<{ listenUrl: string; routes: number }> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork();
      let ready = false;
      worker.on('message', (message: WorkerMessage) => {
        // Sent only once the worker listens: an IPC message with no listener is lost.
        if (message.type === 'listening-for-start') worker.send({ type: 'start', config, secretKey, identity } satisfies PrimaryMessage);
        // As if it had happened here: the provisioning worker acts (and aborts a step the request
        // overrides), this process's route table follows, and the relay tells every worker.
        if (message.type === 'transition') store.bus.emit('transition', message.change);
        if (message.type === 'event') store.bus.emit('event', message.event);
        if (message.type === 'check') {
          void checkInstance(message.handle).then(() => {
            if (worker.isConnected()) worker.send({ type: 'checked', id: message.id } satisfies PrimaryMessage);
          });
        }
        if (message.type === 'ready') {
          ready = true;
          workers.add(worker);
          resolve(message);
        }
      });
      worker.on('exit', (code, signal) => {
        workers.delete(worker);
        if (!ready) return reject(new Error(`a router worker exited during start-up (code ${code}, signal ${signal})`));
        if (closing) return;
        logger.error({ code, signal }, 'a router worker died; starting another');
        fork().catch((err) => logger.error({ err: String(err) }, 'could not replace a router worker'));
      });
    });

  let started: Array<{ listenUrl: string; routes: number }>;
  try {
    started = await Promise.all(Array.from({ length: config.router.processes }, fork));
  } catch (err) {
    closing = true;
    for (const worker of cluster.workers ? Object.values(cluster.workers) : []) worker?.kill();
    throw err;
  }
  logger.info({ processes: workers.size, listen: started[0]!.listenUrl }, 'router workers listening');

  return {
    listenUrl: started[0]!.listenUrl,
    metrics: () => aggregator.clusterMetrics(),
    routesAtStart: started.map((s) => s.routes),
    get pids() {
      return [...workers].map((w) => w.process.pid!);
    },
    async close() {
      closing = true;
      store.bus.off('transition', relay);
      store.bus.off('event', relay);
      await Promise.all(
        [...workers].map(
          (worker) =>
            new Promise<void>((resolve) => {
              if (worker.isDead()) return resolve();
              const timer = setTimeout(() => worker.kill('SIGKILL'), STOP_GRACE_MS);
              worker.once('exit', () => {
                clearTimeout(timer);
                resolve();
              });
              worker.send({ type: 'stop' } satisfies PrimaryMessage);
            }),
        ),
      );
    },
  };
}
