/**
 * nomad-provision: N provisions submitted at once on the NOMAD driver, against the
 * Nomad double (test/doubles/nomad) with 200 ms scheduling latency, until every one
 * is running; once per worker concurrency (16, the default, then 64), each round
 * with a fresh double and platform.
 *
 *   npx tsx bench/nomad-provision.ts
 *
 * Per round (bench/nomad-provision/round.ts): start the double (ACL token, docker
 * volumes enabled, a node big enough for N instances) whose allocations, when they
 * start, get two tiny HTTP servers on their gateway and shell ports answering
 * /health (bench/nomad-provision/health-servers.ts: the platform's real health probe
 * stays in the loop, 500 reference instances would not fit this machine); start the
 * platform in-process with ORCHESTRATOR=nomad; fire N POST /containers/provision;
 * poll until all run; read each instance's events (requested -> provisioning ->
 * starting -> running); count the double's requests during the burst (the start-up
 * reconcile excluded) by endpoint (bench/nomad-provision/requests.ts); destroy all
 * with purge, check the double has no job left; close everything, remove the temp dir.
 * Also measured: how long the platform's SQLite lock was held during the burst
 * (db-meter.ts) and the worker's slots in use; timing figures in timings.ts.
 *
 * Knobs (environment): BENCH_NOMAD_COUNT (500), BENCH_NOMAD_CONCURRENCY ("16,64"),
 * BENCH_NOMAD_SCHEDULING_MS (200), BENCH_NOMAD_CAP_S (600).
 */
import { intEnv, printTargets, round, type TargetResult, target, writeResult } from './lib.ts';
import { cleanup, type RoundResult, runRound } from './nomad-provision/round.ts';

const NAME = 'nomad-provision';
const REQUESTS_PER_PROVISION_LIMIT = 6;

const COUNT = intEnv('BENCH_NOMAD_COUNT', 500);
const SCHEDULING_MS = intEnv('BENCH_NOMAD_SCHEDULING_MS', 200, 0);
const CAP_MS = intEnv('BENCH_NOMAD_CAP_S', 600) * 1000;
const POLL_MS = 250;
const CONCURRENCIES = (process.env.BENCH_NOMAD_CONCURRENCY || '16,64').split(',').map((c) => {
  const n = Number(c.trim());
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`BENCH_NOMAD_CONCURRENCY: "${c}" is not a concurrency between 1 and 256`);
  return n;
});

const ratio = (a: number | null | undefined, b: number | null | undefined) => (a == null || b == null || b === 0 ? null : round(a / b, 2));

async function main(): Promise<void> {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    console.error(`${NAME}: ${signal}: closing the platform and the Nomad double, removing the temp dir`);
    void (async () => {
      await cleanup.current?.().catch(() => undefined);
      process.exit(130);
    })();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  console.log(
    `${NAME}: ${COUNT} provisions at once on the nomad driver, scheduling latency ${SCHEDULING_MS} ms, worker concurrency ${CONCURRENCIES.join(' then ')}`,
  );
  const rounds: RoundResult[] = [];
  for (const concurrency of CONCURRENCIES) {
    rounds.push(await runRound({ count: COUNT, concurrency, schedulingLatencyMs: SCHEDULING_MS, capMs: CAP_MS, pollMs: POLL_MS }));
  }

  const targets: TargetResult[] = [];
  for (const r of rounds) {
    const c = `concurrency ${r.workerConcurrency}`;
    targets.push(
      target(`${c}: failures (failed + unfinished + rejected)`, r.failures, '==', 0, 'instances'),
      target(`${c}: Nomad requests per provision`, r.nomad.requestsPerProvision, '<=', REQUESTS_PER_PROVISION_LIMIT, 'requests'),
      target(
        `${c}: left after destroy (jobs + live allocations + servers + temp dir)`,
        r.leftovers.nomadJobs + r.leftovers.allocationsNotTerminal + r.leftovers.healthServersOpen + (r.leftovers.tempDirRemoved ? 0 : 1),
        '==',
        0,
        'items',
      ),
    );
  }
  const [base, other] = rounds;
  const comparison =
    base && other
      ? {
          of: `${other.workerConcurrency} / ${base.workerConcurrency}`,
          totalWall: ratio(other.totalWallMs, base.totalWallMs),
          requestedToRunningP50: ratio(other.requestedToRunningMs.p50, base.requestedToRunningMs.p50),
          requestedToRunningP99: ratio(other.requestedToRunningMs.p99, base.requestedToRunningMs.p99),
          startP50: ratio(other.startMs.p50, base.startMs.p50),
          requestsPerProvision: ratio(other.nomad.requestsPerProvision, base.nomad.requestsPerProvision),
          throughput: ratio(other.throughputPerSecond, base.throughputPerSecond),
        }
      : null;
  const notes = [
    ...rounds.flatMap((r) => r.notes.map((n) => `concurrency ${r.workerConcurrency}: ${n}`)),
    "Instances are not real: each allocation gets two node:http servers (gateway, shell) on its Nomad ports answering /health 200, started in onAllocationRunning and closed in onAllocationStopped; the platform's own health probe still has to reach them.",
    'requestedToRunning: "requested" event -> "running" event (database timestamps). queueWait: requested -> provisioning (waiting for a worker slot). ensure: provisioning -> starting (driver.ensure: read job + register). start: starting -> running (scheduling latency, allocation start, awaitRunning, /health). workerSlot: provisioning -> running.',
    'Nomad requests: the double\'s request log from the first provision to the moment all were running (start-up reconcile excluded), by method and path with ids replaced; "(blocking)" marks requests carrying ?index=. burstRequestsByClient is the NomadClient\'s own count over the same window (it also counts retried attempts).',
    "database: on SQLite the platform runs one statement or transaction at a time (control/db/database.ts); lockHeldMs sums the time each held that lock during the burst (Sequelize hooks plus a wrapper around sequelize.transaction, added by the benchmark), lockHeldShare divides it by the burst's wall time. workerSlotsHeld samples the worker's in-flight map (a private field) every poll.",
    `The double processes evaluations one at a time, each ${SCHEDULING_MS} ms after it is created; SWEEP_INTERVAL=1h keeps the periodic sweep out of the window.`,
  ];
  const result = writeResult({
    name: NAME,
    parameters: {
      count: COUNT,
      schedulingLatencyMs: SCHEDULING_MS,
      workerConcurrency: CONCURRENCIES,
      capMs: CAP_MS,
      pollMs: POLL_MS,
      workerPollIntervalMs: 100,
      orchestrator: 'nomad (test/doubles/nomad)',
      database: 'sqlite',
    },
    figures: { rounds, comparison },
    targets,
    notes,
  });

  console.log(`\n${NAME}: ${COUNT} provisions at once, Nomad double with ${SCHEDULING_MS} ms scheduling latency`);
  for (const r of rounds) {
    const s = r.requestedToRunningMs;
    console.log(
      `  concurrency ${r.workerConcurrency}: all running after ${r.totalWallMs === null ? 'n/a' : `${round(r.totalWallMs / 1000, 1)} s`} (${r.throughputPerSecond}/s, predicted ${r.predictedTotalMs} ms), failures ${r.failures}`,
    );
    console.log(
      `    requested -> running p50 ${s.p50} / p90 ${s.p90} / p99 ${s.p99} ms; queue p50 ${r.queueWaitMs.p50}, ensure p50 ${r.ensureMs.p50}, start p50 ${r.startMs.p50} ms; worker slots held max ${r.workerSlotsHeld?.max ?? 'n/a'}, max between provisioning and running ${r.maxInFlight}`,
    );
    console.log(
      `    SQLite lock held ${Math.round((r.database.lockHeldShare ?? 0) * 100)} % of the burst: ${r.database.transactions} transactions (mean ${r.database.meanTransactionMs} ms), ${r.database.statementsOutsideTransactions} statements outside (mean ${r.database.meanStatementMs} ms)`,
    );
    console.log(
      `    Nomad requests per provision ${r.nomad.requestsPerProvision} (${r.nomad.burstRequests} in the burst; per instance min ${r.nomad.perInstance.min} / median ${r.nomad.perInstance.median} / max ${r.nomad.perInstance.max}):`,
    );
    for (const e of r.nomad.burstBreakdown) console.log(`      ${e.perProvision.toFixed(2).padStart(6)}  ${e.endpoint}  ${JSON.stringify(e.statuses)}`);
    console.log(
      `    destroy: ${r.destroy.destroyed} in ${round(r.destroy.wallMs / 1000, 1)} s, ${r.nomad.destroyRequestsPerInstance} Nomad requests each; leftovers ${JSON.stringify(r.leftovers)}`,
    );
  }
  if (comparison) console.log(`  ratios ${comparison.of}: ${JSON.stringify(comparison)}`);
  printTargets(targets);
  console.log(`  -> bench/results/${NAME}.json (${result.pass ? 'all targets met' : 'some targets missed'})`);
}

main().then(
  () => process.exit(0),
  async (err) => {
    console.error(`${NAME} failed: ${err instanceof Error ? err.stack : String(err)}`);
    await cleanup.current?.().catch(() => undefined);
    process.exit(1);
  },
);
