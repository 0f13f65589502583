/**
 * The metering route alone, for a test: a real database, the Anthropic double as the
 * upstream, and a route table the test edits (which tenants exist, their key
 * generation, suspension). Everything stops when the test ends.
 */
import fs from 'node:fs';
import type { ExecutionContext } from 'ava';
import type { Registry } from 'prom-client';
import { deriveCredential } from '../../control/access/credentials.ts';
import type { MeteredRoute, RouteSource } from '../../control/access/instance-keys.ts';
import { type Database, openDatabase } from '../../control/db/database.ts';
import { createLogger, type Logger } from '../../control/logger.ts';
import { bindMeterListener, type Meter, openMeterServices, startMeter } from '../../control/meter/index.ts';
import { type AnthropicDouble, type AnthropicDoubleOptions, startAnthropicDouble } from '../doubles/anthropic/index.ts';
import { makeDataDir, TEST_KEY, testConfig } from './platform.ts';
import { waitUntil } from './wait.ts';

type Listener = (handle: string, before: MeteredRoute | undefined, after: MeteredRoute | undefined) => void;

/** The slice of a route table the meter reads, edited by the test. */
export class TestRoutes implements RouteSource<MeteredRoute> {
  private readonly routes = new Map<string, MeteredRoute>();
  private readonly listeners: Listener[] = [];

  values(): IterableIterator<MeteredRoute> {
    return this.routes.values();
  }

  onChange(listener: Listener): void {
    this.listeners.push(listener);
  }

  set(route: MeteredRoute): void {
    const before = this.routes.get(route.handle);
    this.routes.set(route.handle, route);
    for (const listener of this.listeners) listener(route.handle, before, route);
  }

  delete(handle: string): void {
    const before = this.routes.get(handle);
    this.routes.delete(handle);
    for (const listener of this.listeners) listener(handle, before, undefined);
  }

  get(handle: string): MeteredRoute | undefined {
    return this.routes.get(handle);
  }
}

export interface LedgerRow {
  handle: string;
  model: string;
  cost_micro: number;
  outcome: string;
  price_version: string;
  input_tokens: number;
  output_tokens: number;
}

export interface TestMeter {
  meter: Meter;
  double: AnthropicDouble;
  db: Database;
  routes: TestRoutes;
  /** Handles in the order the meter reported activity for them. */
  activity: string[];
  /** The key an instance of `handle` holds now. */
  keyOf(handle: string): string;
  /** POST /v1/messages as the instance of `handle` would (x-api-key unless `bearer`). */
  call(handle: string, body: Record<string, unknown>, init?: { bearer?: boolean; headers?: Record<string, string>; signal?: AbortSignal }): Promise<Response>;
  ledger(): Promise<LedgerRow[]>;
  /** Resolves once the ledger holds `count` rows. */
  ledgerRows(count: number): Promise<LedgerRow[]>;
  /** What calls in flight hold, over every tenant (a lease's free part is no call's). */
  heldForCalls(): Promise<number>;
}

export const MODEL = 'claude-haiku-4-5';

export function message(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: MODEL, max_tokens: 256, messages: [{ role: 'user', content: 'Hello there' }], ...over };
}

export async function startTestMeter(
  t: ExecutionContext,
  options: {
    databaseUrl?: string;
    env?: Record<string, string>;
    tenants?: string[];
    double?: AnthropicDoubleOptions;
    logger?: Logger;
    registry?: Registry;
  } = {},
): Promise<TestMeter> {
  const dataDir = await makeDataDir('mxos-meter-');
  const double = await startAnthropicDouble(options.double);
  const config = testConfig(dataDir, {
    DATABASE_URL: options.databaseUrl ?? `sqlite:${dataDir}/platform.sqlite`,
    ANTHROPIC_BASE_URL: double.url,
    ANTHROPIC_API_KEY: double.apiKey,
    ...options.env,
  });
  const db = await openDatabase(config.databaseUrl);
  const routes = new TestRoutes();
  for (const handle of options.tenants ?? ['alice']) {
    await db.models.User.findOrCreate({ where: { id: `u-${handle}` }, defaults: { id: `u-${handle}`, handle } });
    routes.set({ handle, ownerId: `u-${handle}`, suspended: false, tokenGeneration: 1 });
  }
  const activity: string[] = [];
  const meter = await startMeter({
    listener: await bindMeterListener(config.meter),
    config,
    services: await openMeterServices(config, db, createLogger('silent')),
    routes,
    secretKey: TEST_KEY,
    onActivity: (handle) => activity.push(handle),
    logger: options.logger ?? createLogger('silent'),
    registry: options.registry,
  });
  t.teardown(async () => {
    await meter.close();
    meter.prices.close();
    await double.close();
    await db.close();
    await fs.promises.rm(dataDir, { recursive: true, force: true });
  });

  const keyOf = (handle: string) => deriveCredential(TEST_KEY, 'meter-key', handle, routes.get(handle)?.tokenGeneration ?? 1);
  const ledger = async () => {
    const [rows] = await db.sequelize.query(
      'SELECT handle, model, cost_micro, outcome, price_version, input_tokens, output_tokens FROM meter_ledger ORDER BY id',
    );
    return (rows as LedgerRow[]).map((r) => ({
      ...r,
      cost_micro: Number(r.cost_micro),
      input_tokens: Number(r.input_tokens),
      output_tokens: Number(r.output_tokens),
    }));
  };
  return {
    meter,
    double,
    db,
    routes,
    activity,
    keyOf,
    call(handle, body, init = {}) {
      const key = keyOf(handle);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
        ...(init.bearer ? { authorization: `Bearer ${key}` } : { 'x-api-key': key }),
        ...init.headers,
      };
      return fetch(`${meter.url}/v1/messages`, { method: 'POST', headers, body: JSON.stringify(body), signal: init.signal });
    },
    ledger,
    async ledgerRows(count) {
      let last: LedgerRow[] = [];
      await waitUntil(
        async () => {
          last = await ledger();
          return last.length >= count;
        },
        { message: () => `${count} ledger rows (have ${last.length})` },
      );
      return last;
    },
    async heldForCalls() {
      let held = 0;
      for (const route of routes.values()) held += (await meter.books.budget(route.ownerId)).reserved;
      return held;
    },
  };
}
