/**
 * meter: what the metering route adds to a model call. The Anthropic double (its own
 * process) is called directly and through the meter (its own process, real books on
 * SQLite, then PostgreSQL), side by side in alternating rounds, streaming and not, at
 * 1, 50 and 200 concurrent clients. Reported: added latency (p50, p99 of the time to
 * the last byte) and the first-byte difference, the meter's CPU per call, and each
 * step of a call measured alone (where the time goes). Every call is checked: all 200,
 * one ledger row each, nothing left held for a call, leases and windows balanced.
 *
 *   npm run bench -- meter      (or: npx tsx bench/meter.ts)
 *
 * Knobs: BENCH_METER_ROUNDS (3), BENCH_METER_SERIAL (200 requests per round at 1
 * client), BENCH_METER_PER_CLIENT (10 requests per client per round at 50 and 200),
 * BENCH_METER_TENANTS (200), BENCH_SKIP_PG=1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type PostgresCluster, postgresAvailable, startPostgresCluster } from '../test/helpers/postgres.ts';
import { waitUntil } from '../test/helpers/wait.ts';
import { BENCH_DIR, benchSecret, codeUnderTest, intEnv, percentile, printTargets, round, type TargetResult, target, writeResult } from './lib.ts';
import { type LoadRun, loadTarget, runLoad } from './meter/load.ts';
import { cleanupAll, cpuMs, onCleanup, spawnNode, stopChild } from './procs.ts';

const dir = path.join(BENCH_DIR, 'meter');
/**
 * instant: the double answers at once, clients send back to back: every process is
 * CPU-bound, so this measures what a call costs (CPU, throughput) more than latency.
 * paced: the double answers as a model does, first byte after a delay, then events
 * spaced out: the load of that many streams open at once, which the targets are about.
 */
type Load = 'instant' | 'paced';
// A model's pace, faster than most: the first byte after 300 ms, then an event every 20 ms.
const PACE = { latencyMs: 300, eventDelayMs: 20 };

const params = {
  rounds: intEnv('BENCH_METER_ROUNDS', 3),
  serialRequests: intEnv('BENCH_METER_SERIAL', 200),
  perClient: intEnv('BENCH_METER_PER_CLIENT', 10),
  tenants: intEnv('BENCH_METER_TENANTS', 200),
  concurrency: [1, 50, 200],
  pacedSerialRequests: intEnv('BENCH_METER_PACED_SERIAL', 10),
  pacedPerClient: intEnv('BENCH_METER_PACED_PER_CLIENT', 3),
  pace: PACE,
  maxTokens: 256,
};
type Mode = 'json' | 'stream';
const requestBody = (stream: boolean) =>
  JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: params.maxTokens, stream, messages: [{ role: 'user', content: 'Say hello in three languages.' }] });

interface Cell {
  load: Load;
  mode: Mode;
  concurrency: number;
  requests: number;
  direct: Summary;
  /** A bare Node hop (bench/meter/bare-hop.ts): the floor any Node proxy pays. */
  bareHop: Summary;
  meter: Summary;
  addedP50Ms: number;
  addedP99Ms: number;
  firstByteDiffP50Ms: number;
  bareHopAddedP50Ms: number;
  meterOverBareHopP50Ms: number;
  meterCpuUsPerCall: number;
}

interface Summary {
  p50Ms: number;
  p99Ms: number;
  firstByteP50Ms: number;
  requestsPerSec: number;
}

function summary(runs: LoadRun[]): Summary {
  const total = runs.flatMap((r) => r.totalMs);
  const first = runs.flatMap((r) => r.firstByteMs);
  const wall = runs.reduce((sum, r) => sum + r.wallMs, 0);
  return {
    p50Ms: round(percentile(total, 50)!, 3),
    p99Ms: round(percentile(total, 99)!, 3),
    firstByteP50Ms: round(percentile(first, 50)!, 3),
    requestsPerSec: round((total.length / wall) * 1000, 0),
  };
}

interface UpstreamChild {
  ready: { url: string; apiKey: string };
  ask<R>(type: string): Promise<R>;
}

async function runDialect(dialect: 'sqlite' | 'postgres', upstreamChild: UpstreamChild): Promise<{ cells: Cell[]; profile: Record<string, number> }> {
  const upstream = upstreamChild.ready;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-meter-${dialect}-`));
  onCleanup(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  let databaseUrl = `sqlite:${path.join(dataDir, 'platform.sqlite')}`;
  if (dialect === 'postgres') {
    const db = await createTestDatabase();
    if (!db) throw new Error('PostgreSQL became unavailable');
    onCleanup(() => db.drop());
    databaseUrl = db.url;
  }
  const meter = await spawnNode<{ url: string; bareUrl: string; pid: number; keys: string[] }>(path.join(dir, 'meter-child.ts'), {
    PATH: process.env.PATH,
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    SECRET_KEY: benchSecret('key'),
    PLATFORM_SECRET: benchSecret('platform'),
    ANTHROPIC_BASE_URL: upstream.url,
    ANTHROPIC_API_KEY: upstream.apiKey,
    REPLICA_ID: 'bench-meter',
    BENCH_TENANTS: String(params.tenants),
  });
  const { keys } = meter.ready;
  const cells: Cell[] = [];
  let sent = 0;
  for (const load of ['instant', 'paced'] as const) {
    await upstreamChild.ask(load);
    for (const mode of ['json', 'stream'] as const) {
      const body = requestBody(mode === 'stream');
      for (const concurrency of params.concurrency) {
        const paced = load === 'paced';
        const requests =
          concurrency === 1 ? (paced ? params.pacedSerialRequests : params.serialRequests) : concurrency * (paced ? params.pacedPerClient : params.perClient);
        const headers = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' };
        const direct = loadTarget(upstream.url, concurrency, () => ({ ...headers, 'x-api-key': upstream.apiKey }));
        const bare = loadTarget(meter.ready.bareUrl, concurrency, () => headers);
        // Each client is a different tenant, as instances are.
        const metered = loadTarget(meter.ready.url, concurrency, (i) => ({ ...headers, 'x-api-key': keys[i % keys.length]! }));
        // Warm every path (connections, JIT, leases), then alternate rounds. Paced
        // clients are spread over one answer’s time, as independent agents' calls are.
        const warm = await runLoad(direct, body, concurrency, Math.min(requests, 200));
        const stagger = paced ? percentile(warm.totalMs, 50)! : 0;
        await runLoad(bare, body, concurrency, Math.min(requests, 200));
        await runLoad(metered, body, concurrency, Math.min(requests, 200));
        sent += Math.min(requests, 200);
        const directRuns: LoadRun[] = [];
        const bareRuns: LoadRun[] = [];
        const meterRuns: LoadRun[] = [];
        let meterCpu = 0;
        for (let round = 0; round < params.rounds; round++) {
          directRuns.push(await runLoad(direct, body, concurrency, requests, stagger));
          bareRuns.push(await runLoad(bare, body, concurrency, requests, stagger));
          const cpuBefore = cpuMs([meter.ready.pid]);
          meterRuns.push(await runLoad(metered, body, concurrency, requests, stagger));
          meterCpu += cpuMs([meter.ready.pid]) - cpuBefore;
          sent += requests;
        }
        for (const pool of [direct.pool, bare.pool, metered.pool]) await pool.close();
        const bad = [...directRuns, ...bareRuns, ...meterRuns].reduce((n, r) => n + r.non200 + r.errors, 0);
        if (bad > 0) throw new Error(`[${dialect}] ${mode} at ${concurrency}: ${bad} calls failed; the measurement is not valid`);
        const d = summary(directRuns);
        const b = summary(bareRuns);
        const m = summary(meterRuns);
        const cell: Cell = {
          load,
          mode,
          concurrency,
          requests: requests * params.rounds,
          direct: d,
          bareHop: b,
          meter: m,
          addedP50Ms: round(m.p50Ms - d.p50Ms, 3),
          addedP99Ms: round(m.p99Ms - d.p99Ms, 3),
          firstByteDiffP50Ms: round(m.firstByteP50Ms - d.firstByteP50Ms, 3),
          bareHopAddedP50Ms: round(b.p50Ms - d.p50Ms, 3),
          meterOverBareHopP50Ms: round(m.p50Ms - b.p50Ms, 3),
          meterCpuUsPerCall: round((meterCpu * 1000) / (requests * params.rounds), 0),
        };
        cells.push(cell);
        console.log(
          `[${dialect}] ${load.padEnd(7)} ${mode.padEnd(6)} c=${String(concurrency).padEnd(3)} direct p50 ${d.p50Ms} p99 ${d.p99Ms} ms | meter p50 ${m.p50Ms} p99 ${m.p99Ms} ms | added p50 ${cell.addedP50Ms} p99 ${cell.addedP99Ms} ms (bare hop ${cell.bareHopAddedP50Ms}), first byte +${cell.firstByteDiffP50Ms} ms, meter CPU ${cell.meterCpuUsPerCall} µs/call`,
        );
      }
    }
  }
  // Every metered call settled once; nothing is left held for a call; the books balance.
  type Stats = { ledger: number; heldForCalls: number; leases: number; windows: number };
  // The last settlements may still be on their way to the database: wait for them, with a deadline.
  let stats = await meter.ask<Stats>('stats');
  await waitUntil(
    async () => {
      stats = await meter.ask<Stats>('stats');
      return stats.ledger >= sent && stats.heldForCalls === 0;
    },
    { timeoutMs: 5000, intervalMs: 100 },
  ).catch(() => undefined);
  if (stats.ledger !== sent || stats.heldForCalls !== 0 || stats.leases !== stats.windows)
    throw new Error(`[${dialect}] ${sent} metered calls, but the books say ${JSON.stringify(stats)}`);
  const profile = await meter.ask<Record<string, number>>('profile', 120_000);
  await stopChild(meter.child);
  return { cells, profile };
}

async function main(): Promise<void> {
  const started = performance.now();
  const code = codeUnderTest();
  const notes: string[] = [];
  const upstream = await spawnNode<{ url: string; apiKey: string; pid: number }>(path.join(dir, 'upstream-child.ts'), {
    PATH: process.env.PATH,
    BENCH_PACE_LATENCY_MS: String(PACE.latencyMs),
    BENCH_PACE_EVENT_DELAY_MS: String(PACE.eventDelayMs),
  });
  const dialects: Record<string, { cells: Cell[]; profile: Record<string, number> }> = {};
  dialects.sqlite = await runDialect('sqlite', upstream);

  let cluster: PostgresCluster | null = null;
  let pgReason: string | null = null;
  if (process.env.BENCH_SKIP_PG === '1') pgReason = 'BENCH_SKIP_PG=1';
  else if (!process.env.TEST_PG_ADMIN_URL) {
    const available = postgresAvailable();
    if (!available.ok) pgReason = available.reason;
    else {
      cluster = await startPostgresCluster();
      onCleanup(() => cluster?.stop());
      process.env.TEST_PG_ADMIN_URL = cluster.adminUrl;
      notes.push('PostgreSQL: throwaway local cluster (fsync=off, synchronous_commit=off) on the same machine.');
    }
  }
  if (pgReason === null) dialects.postgres = await runDialect('postgres', upstream);
  else notes.push(`PostgreSQL skipped: ${pgReason}`);

  const targets: TargetResult[] = [];
  for (const [dialect, run] of Object.entries(dialects)) {
    const at50 = (mode: Mode) => run.cells.find((c) => c.load === 'paced' && c.mode === mode && c.concurrency === 50)!;
    for (const mode of ['json', 'stream'] as const) {
      targets.push(target(`${dialect} ${mode} added p50 at 50 concurrent (paced)`, at50(mode).addedP50Ms, '<=', 0.5, 'ms'));
      targets.push(target(`${dialect} ${mode} added p99 at 50 concurrent (paced)`, at50(mode).addedP99Ms, '<=', 3, 'ms'));
    }
    targets.push(target(`${dialect} first-byte difference at 50 concurrent streams (paced)`, at50('stream').firstByteDiffP50Ms, '<=', 1, 'ms'));
  }
  notes.push(
    'Three processes share 2 cores (load generator, meter, upstream double). instant: answers at once and clients send back to back, so every process is CPU-bound; the added latency there is queueing for the CPU the meter costs (see meterCpuUsPerCall), a measure of throughput. paced: the double answers like a model (first byte after pace.latencyMs, stream events pace.eventDelayMs apart), i.e. that many streams open at once, and clients start spread over one answer’s time (the direct median) as independent agents’ calls arrive; the targets apply there. A burst of N simultaneous calls waits behind N times the meter’s CPU per call instead (see instant).',
    'profile: each step of a metered call alone and sequentially, mean µs per call (keyLookup: digest index; parseAndPrice: request JSON and worst case; readStreamUsage: the SSE reader over one whole answer; reserve: admission from a lease, in memory; coldReserve: a user’s first call in a while, a new lease (one transaction on the call’s path); settle50Written: 50 calls admitted and settled until their batch is written (after the answers; includes the 5 ms a batch waits to fill)).',
    'bareHop: a bare Node proxy (no key, budget or parsing) in the meter’s process through the same kind of pool: the floor of any Node hop; meterOverBareHopP50Ms is what the meter adds on top.',
    'Anchors: LiteLLM adds 2/8/13 ms (p50/p95/p99); a Go gateway 0.44 ms on localhost.',
  );
  const result = writeResult({
    name: 'meter',
    parameters: { ...params, code, wallS: round((performance.now() - started) / 1000, 0) },
    figures: dialects,
    targets,
    notes,
  });
  printTargets(result.targets);
}

let exiting = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (exiting) return;
    exiting = true;
    void cleanupAll().finally(() => process.exit(130));
  });
}

main()
  .then(
    () => cleanupAll(),
    async (err) => {
      console.error(`meter benchmark failed: ${err instanceof Error ? err.stack : String(err)}`);
      await cleanupAll();
      process.exitCode = 1;
    },
  )
  .finally(() => process.exit(process.exitCode ?? 0));
