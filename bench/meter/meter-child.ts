/**
 * The metering route as production runs it (startMeter, real books on SQLite or
 * PostgreSQL), in its own process, with BENCH_TENANTS tenants whose budgets never run
 * out, and beside it a bare Node hop to the same upstream (bare-hop.ts). Answers over IPC: "stats" (ledger rows, what calls hold, leases against windows) and "profile" (the
 * cost of each step of a call, measured one at a time, to say where the time goes).
 */
import { Registry } from 'prom-client';
import { deriveCredential } from '../../control/access/credentials.ts';
import type { MeteredRoute, RouteSource } from '../../control/access/instance-keys.ts';
import { loadConfig } from '../../control/config.ts';
import { openDatabase } from '../../control/db/database.ts';
import { createLogger } from '../../control/logger.ts';
import { costOf, worstCaseCost } from '../../control/meter/cost.ts';
import { bindMeterListener, openMeterServices, startMeter } from '../../control/meter/index.ts';
import { StreamUsage } from '../../control/meter/stream-usage.ts';
import type { MeteredUsage } from '../../control/meter/usage.ts';
import { startBareHop } from './bare-hop.ts';

const env = process.env as Record<string, string>;
const config = loadConfig({ ...env, METER_PORT: '0', LOG_LEVEL: 'silent', METER_DEFAULT_BUDGET_USD: '1000000' }, env.DATA_DIR);
const db = await openDatabase(config.databaseUrl);
const tenants = Number(env.BENCH_TENANTS);
const handles = Array.from({ length: tenants }, (_, i) => `bench${i}`);
await db.models.User.bulkCreate(handles.map((handle) => ({ id: `u-${handle}`, handle })));
const routes: RouteSource<MeteredRoute> = {
  values: () => handles.map((handle) => ({ handle, ownerId: `u-${handle}`, suspended: false, tokenGeneration: 1 }))[Symbol.iterator](),
  onChange: () => undefined,
};
const services = await openMeterServices(config, db, createLogger('silent'));
const meter = await startMeter({
  listener: await bindMeterListener(config.meter),
  config,
  services,
  routes,
  secretKey: config.secretKey!,
  onActivity: () => undefined,
  logger: createLogger('silent'),
  // As production runs it: metrics recorded on every call.
  registry: new Registry(),
});

async function count(sql: string): Promise<number> {
  const [rows] = await db.sequelize.query(sql);
  return Number((rows as Array<{ n: number }>)[0]!.n);
}

/** Each step of a metered call alone, sequentially: mean microseconds per call. */
async function profile(): Promise<Record<string, number>> {
  // A request as the benchmark sends it, and one whole streamed answer to it.
  const sampleBody = JSON.stringify({
    model: 'claude-haiku-4-5',
    max_tokens: 256,
    stream: true,
    messages: [{ role: 'user', content: 'Say hello in three languages.' }],
  });
  const sampleStream = await fetch(`${config.meter.upstreamUrl}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': config.meter.upstreamKey! },
    body: sampleBody,
  }).then((r) => r.text());
  const key = deriveCredential(config.secretKey!, 'meter-key', handles[0]!, 1);
  const timeIt = async (runs: number, fn: () => unknown) => {
    for (let i = 0; i < Math.min(runs, 50); i++) await fn();
    const started = performance.now();
    for (let i = 0; i < runs; i++) await fn();
    return Math.round(((performance.now() - started) * 1000) / runs);
  };
  const price = services.prices.current().priceFor('claude-haiku-4-5')!;
  const body = Buffer.from(sampleBody);
  const stream = Buffer.from(sampleStream);
  let usage: MeteredUsage | null = null;
  return {
    keyLookupUs: await timeIt(20_000, () => meter.keys.tenant(key)),
    parseAndPriceUs: await timeIt(20_000, () => {
      const parsed = JSON.parse(body.toString('utf8')) as { model: string; max_tokens: number };
      return worstCaseCost(
        { promptTokensUpperBound: body.length + 4096, maxTokens: parsed.max_tokens, webSearchMaxUses: 0 },
        services.prices.current().priceFor(parsed.model)!,
      );
    }),
    readStreamUsageUs: await timeIt(5_000, () => {
      const reader = new StreamUsage();
      reader.push(stream);
      reader.end();
      usage = reader.usage;
    }),
    costUs: await timeIt(20_000, () => (usage ? costOf(usage, price) : 0)),
    // Admission from a lease (in memory); a user's first call in a while (a new lease:
    // one transaction on the call's path); and how soon 50 settled calls are in the
    // database (one batch, after the answers, including the 5 ms the batch waits to fill).
    reserveUs: await timeIt(500, () => services.books.reserve(`u-${handles[1]}`, handles[1]!, 1000)),
    coldReserveUs: await (async () => {
      let n = 0;
      return timeIt(300, () => services.books.reserve(`u-cold-${n++}`, `cold${n}`, 1000));
    })(),
    settle50WrittenUs: await timeIt(20, async () => {
      const ids = await Promise.all(Array.from({ length: 50 }, () => services.books.reserve(`u-${handles[2]}`, handles[2]!, 1000)));
      await Promise.all(
        ids.map(({ id }) => services.books.settle(id, { model: 'claude-haiku-4-5', priceVersion: 'bench', usage: usage!, cost: 10, outcome: 'ok' })),
      );
    }),
  };
}

process.on('message', (msg: { type: string }) => {
  const reply = (body: unknown) => process.send!({ type: msg.type, body });
  if (msg.type === 'stats')
    void (async () => {
      await services.books.flushed();
      let heldForCalls = 0;
      for (const handle of handles) heldForCalls += (await services.books.budget(`u-${handle}`)).reserved;
      const ledger = await count('SELECT COUNT(*) AS n FROM meter_ledger');
      // What the leases say they hold is exactly what the windows hold.
      const leases = await count('SELECT COALESCE(SUM(amount_micro), 0) AS n FROM meter_reservations WHERE settled_at IS NULL AND released_at IS NULL');
      const windows = await count("SELECT COALESCE(SUM(reserved_micro), 0) AS n FROM meter_windows WHERE scope <> '*'");
      reply({ ledger, heldForCalls, leases, windows });
    })();
  if (msg.type === 'profile') void profile().then(reply);
});
process.on('SIGTERM', () => {
  void bare
    .close()
    .then(() => meter.close())
    .then(() => services.prices.close())
    .then(() => db.close())
    .finally(() => process.exit(0));
});
const bare = await startBareHop(config.meter.upstreamUrl, config.meter.upstreamKey!);
process.send!({
  type: 'ready',
  body: { url: meter.url, bareUrl: bare.url, pid: process.pid, keys: handles.map((h) => deriveCredential(config.secretKey!, 'meter-key', h, 1)) },
});
