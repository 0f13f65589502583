/**
 * Builds the metering route and its listener (METER_HOST:METER_PORT, default
 * 127.0.0.1:8080): the books, the prices, the key index over the route table, and the
 * sweep that releases the leases of replicas that died.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import type { Registry } from 'prom-client';
import { InstanceKeys, type MeteredRoute, type RouteSource } from '../access/instance-keys.ts';
import type { Config } from '../config.ts';
import { listenerUrl } from '../config-meter.ts';
import type { Database } from '../db/database.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { createMeterApp } from './app.ts';
import { MeterBooks } from './books.ts';
import { Drains } from './drains.ts';
import { createMeterMetrics } from './metrics.ts';
import { PriceBook } from './price-book.ts';
import { PriceTable } from './prices.ts';
import { MeterReports } from './reports.ts';
import { Upstream } from './upstream.ts';

export interface Meter extends MeterServices {
  url: string;
  keys: InstanceKeys;
  drains: Drains;
  close(): Promise<void>;
}

const SWEEP_MS = 60_000;

/**
 * The meter's port, bound first because instances are given its URL; a call that
 * arrives before the meter is ready waits for it.
 */
export interface MeterListener {
  url: string;
  server: http.Server;
  serve(handler: http.RequestListener): void;
}

export async function bindMeterListener(settings: Config['meter']): Promise<MeterListener> {
  let serve!: (handler: http.RequestListener) => void;
  const ready = new Promise<http.RequestListener>((resolve) => {
    serve = resolve;
  });
  const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (req, res) => {
    void ready.then((handler) => handler(req, res));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => resolve());
  });
  return { url: listenerUrl(settings, (server.address() as AddressInfo).port), server, serve };
}

/** The meter's books, prices and reports: every role reads them (the site's pages too). */
export interface MeterServices {
  books: MeterBooks;
  prices: PriceBook;
  reports: MeterReports;
}

export async function openMeterServices(config: Config, db: Database, logger: Logger): Promise<MeterServices> {
  // A reservation's owner: this replica and this boot, so a restart knows what its last run held.
  const owner = `${config.replicaId}:${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const books = new MeterBooks(db, { ...config.meter, owner }, logger.child({ component: 'meter' }));
  const prices = new PriceBook(db, PriceTable.fromFile(), logger.child({ component: 'meter' }));
  await prices.load();
  return { books, prices, reports: new MeterReports(db) };
}

export async function startMeter(deps: {
  listener: MeterListener;
  config: Config;
  services: MeterServices;
  routes: RouteSource<MeteredRoute>;
  secretKey: string;
  onActivity(handle: string): void;
  logger: Logger;
  /** Where the meter's metrics go (the control service's /metrics); none in tests that do not look. */
  registry?: Registry;
  /** Other platform APIs for instances served on this listener under their own path prefix. */
  mounts?: Array<{ prefix: string; app: Koa }>;
}): Promise<Meter> {
  const { config } = deps;
  const settings = config.meter;
  const logger = deps.logger.child({ component: 'meter' });
  const { books, prices } = deps.services;
  // Reservations this replica held before a restart died with their calls.
  const released = await books.releaseStale(new Date(), `${config.replicaId}:`);
  if (released > 0) logger.warn({ released }, "released reservations of this replica's previous run");
  books.start();
  const metrics = deps.registry ? createMeterMetrics(deps.registry) : undefined;
  if (metrics)
    books.onWrite = (calls, committed) => {
      metrics.writeBatches.inc({ result: committed ? 'ok' : 'failed' });
      if (committed) metrics.writeBatchSize.observe(calls);
    };
  const upstream = new Upstream(settings);
  if (!upstream.configured) logger.warn('ANTHROPIC_API_KEY is not set: the meter refuses model calls (503)');
  const drains = new Drains({ max: settings.drainMax, timeoutMs: settings.drainTimeoutMs });
  const keys = new InstanceKeys(deps.secretKey, 'meter-key', deps.routes);
  const settling = new Set<Promise<void>>();
  const app = createMeterApp({
    keys,
    books,
    prices: () => prices.current(),
    upstream,
    drains,
    bodyLimitBytes: settings.bodyLimitBytes,
    logger,
    onActivity: deps.onActivity,
    settling,
    metrics,
  });
  const sweep = setInterval(() => {
    books.releaseStale().catch((err) => logger.warn({ err: describeError(err) }, 'could not release stale reservations; the next sweep retries'));
  }, SWEEP_MS);
  sweep.unref();
  const { server, url } = deps.listener;
  const meterCallback = app.callback();
  const mounts = (deps.mounts ?? []).map((m) => ({ prefix: m.prefix, callback: m.app.callback() }));
  deps.listener.serve((req, res) => {
    const mount = mounts.find((m) => req.url?.startsWith(m.prefix));
    return (mount?.callback ?? meterCallback)(req, res);
  });
  return {
    url,
    keys,
    ...deps.services,
    drains,
    async close() {
      clearInterval(sweep);
      server.closeIdleConnections();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      setTimeout(() => server.closeAllConnections(), 2000).unref();
      await closed;
      // Answers still being read for their usage get a moment, then are cut (and charged their reservation).
      await upstream.close(2000);
      // Settlements resolve once written; a database that does not answer is not waited for long.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(settling), new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
      clearTimeout(timer);
      // The leases give their budget back; the books bound that wait too.
      await books.close();
    },
  };
}
