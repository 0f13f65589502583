/**
 * control-scale: the control service with 10,000 users and 2,000 running instances,
 * behind the in-memory orchestrator (test/doubles/memory-orchestrator.ts), so only
 * the control service itself is measured.
 *
 *   npx tsx bench/control-scale.ts
 *
 * Per database dialect (SQLite always; PostgreSQL when TEST_PG_ADMIN_URL is set or a
 * throwaway cluster can be started, unless BENCH_SKIP_PG=1):
 *   1. seed a fresh database through Sequelize bulkCreate (timed separately);
 *   2. in a fresh child process (honest RSS): time startPlatform() until GET /health
 *      answers 200, run sweeps (first one, then steady-state ones, then ones with
 *      re-seeded idle instances), and read RSS after start-up and after the sweeps.
 *
 * Knobs (environment): BENCH_USERS (10000), BENCH_RUNNING (2000), BENCH_IDLE_PERCENT
 * (10), BENCH_SWEEP_RUNS (5), BENCH_EVENTS_PER_INSTANCE (4), BENCH_SKIP_PG=1.
 *
 * Modules (bench/control-scale/): plan.ts (parameters, seed plan, fake addresses),
 * seed.ts, parent.ts (per dialect: seed, spawn the child, collect), measure.ts (the
 * child), report.ts (targets, result file, summary).
 */
const child = process.argv.includes('--measure');
// Each side loads only its own modules: the child's RSS is the control service's.
const main = child ? (await import('./control-scale/measure.ts')).measure : (await import('./control-scale/parent.ts')).parent;
main().then(
  () => process.exit(0),
  (err) => {
    console.error(`control-scale${child ? ' child' : ''} failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
