// `npm test`: runs the whole ava suite (extra CLI args such as file globs are
// passed through to ava) and ends with exactly one line:
//   tests: N passed, N failed[, N skipped]
//
// Before ava it starts one throwaway PostgreSQL cluster for the whole run and
// exports its admin URL to the tests as TEST_PG_ADMIN_URL (see
// test/helpers/postgres.ts); the cluster is always stopped afterwards.

import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type PostgresCluster, postgresAvailable, startPostgresCluster } from '../test/helpers/postgres.ts';
import { formatSummaryLine, parseTap } from './tap-summary.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let cluster: PostgresCluster | null = null;
let ava: ChildProcess | null = null;
let interrupted: NodeJS.Signals | null = null;

async function startPostgres(env: NodeJS.ProcessEnv): Promise<void> {
  if (process.env.TEST_PG_ADMIN_URL) {
    console.log('postgres: using TEST_PG_ADMIN_URL from the environment');
    return;
  }
  const available = postgresAvailable();
  if (!available.ok) {
    console.log(`postgres: skipping PostgreSQL cases: ${available.reason}`);
    return;
  }
  cluster = await startPostgresCluster();
  console.log(`postgres: throwaway cluster at ${cluster.adminUrl}`);
  env.TEST_PG_ADMIN_URL = cluster.adminUrl;
}

/** Runs ava with the TAP reporter, streaming its output; returns stdout and the exit code. */
function runAva(args: string[], env: NodeJS.ProcessEnv): Promise<{ tap: string; code: number }> {
  return new Promise((resolve) => {
    const bin = path.join(repoRoot, 'node_modules', '.bin', 'ava');
    const child = spawn(bin, ['--tap', ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'inherit'] });
    ava = child;
    let tap = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      tap += chunk;
      process.stdout.write(chunk);
    });
    child.on('error', (err) => {
      console.error(`could not run ava: ${err.message}`);
      resolve({ tap, code: 1 });
    });
    child.on('close', (code, signal) => {
      ava = null;
      resolve({ tap, code: code ?? (signal ? 1 : 0) });
    });
  });
}

async function main(): Promise<number> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  let tap = '';
  let code = 1;
  try {
    await startPostgres(env);
    if (!interrupted) ({ tap, code } = await runAva(process.argv.slice(2), env));
  } catch (err) {
    console.error(`test run failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    code = 1;
  } finally {
    await stopPostgres();
  }

  const summary = parseTap(tap);
  const counts = { passed: summary.passed, failed: summary.failed, skipped: summary.skipped };
  if (code !== 0 && counts.failed === 0) {
    // ava failed without reporting a failing test (bad config, crash before
    // any test, killed...): never report that as all green.
    console.log(`ava exited with code ${code} without reporting a failed test`);
    counts.failed = 1;
  }
  if (counts.passed + counts.failed === 0) console.log('no tests ran');
  // Every case that could not run here, with its reason (in its title).
  for (const line of tap.split('\n'))
    if (/^ok \d+ - .*# SKIP/.test(line)) console.log(`skipped: ${line.replace(/^ok \d+ - /, '').replace(/\s*# SKIP.*$/, '')}`);
  console.log(formatSummaryLine(counts));

  if (interrupted) return interrupted === 'SIGINT' ? 130 : 143;
  return code !== 0 || counts.failed > 0 || counts.passed + counts.failed === 0 ? 1 : 0;
}

async function stopPostgres(): Promise<void> {
  const c = cluster;
  cluster = null;
  if (!c) return;
  try {
    await c.stop();
  } catch (err) {
    console.error(`postgres: could not stop the cluster: ${(err as Error).message}`);
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) {
      // Second signal: stop now.
      cluster?.stopSync();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    interrupted = signal;
    ava?.kill(signal); // main() then stops the cluster and exits
  });
}
// Last resort if the process exits some other way.
process.on('exit', () => cluster?.stopSync());

process.exitCode = await main();
