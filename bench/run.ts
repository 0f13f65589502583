/**
 * `npm run bench [-- name ...]`: runs the benchmarks one after another, each in its own
 * child process (clean RSS, nothing shared), then prints a summary table of the
 * targets from bench/results/<name>.json.
 *
 *   npm run bench                   # all of them
 *   npm run bench -- control-scale  # a subset, by name
 *
 * Then one line per benchmark compares the run with the committed result (HEAD), so a
 * regression is seen when it happens. Exits 1 when a benchmark crashed or timed out,
 * or (with --strict) missed a target.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { committedResult, comparisonLine } from './compare.ts';
import { BENCH_DIR, type BenchResult, REPO_ROOT, RESULTS_DIR, round } from './lib.ts';

interface BenchDef {
  name: string;
  /** Hard cap for the child process; the benchmark bounds itself well below this. */
  timeoutMs: number;
}

const BENCHMARKS: BenchDef[] = [
  { name: 'control-scale', timeoutMs: 15 * 60_000 },
  { name: 'signup-burst', timeoutMs: 25 * 60_000 },
  { name: 'capacity-burst', timeoutMs: 25 * 60_000 },
  { name: 'nomad-provision', timeoutMs: 30 * 60_000 },
  { name: 'router', timeoutMs: 10 * 60_000 },
  { name: 'site', timeoutMs: 10 * 60_000 },
  { name: 'meter', timeoutMs: 15 * 60_000 },
];

interface Outcome {
  name: string;
  status: 'ok' | 'crashed' | 'timed out';
  wallMs: number;
  result: BenchResult | null;
}

function runOne(def: BenchDef): Promise<Outcome> {
  const resultFile = path.join(RESULTS_DIR, `${def.name}.json`);
  const before = fs.existsSync(resultFile) ? fs.statSync(resultFile).mtimeMs : 0;
  const started = Date.now();
  return new Promise((resolve) => {
    console.log(`\n=== ${def.name} ===`);
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(BENCH_DIR, `${def.name}.ts`)], {
      cwd: REPO_ROOT,
      env: process.env,
      stdio: 'inherit',
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      console.error(`${def.name}: no result after ${def.timeoutMs / 60_000} min: sending SIGTERM (it cleans up), SIGKILL 30 s later`);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
    }, def.timeoutMs);
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('exit', (code) => {
      clearTimeout(timer);
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      let result: BenchResult | null = null;
      if (code === 0 && fs.existsSync(resultFile) && fs.statSync(resultFile).mtimeMs > before) {
        result = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as BenchResult;
      }
      resolve({ name: def.name, status: timedOut ? 'timed out' : result ? 'ok' : 'crashed', wallMs: Date.now() - started, result });
    });
  });
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const strict = args.includes('--strict');
  const names = args.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}`);
    return 2;
  }
  const selected = names.length ? BENCHMARKS.filter((b) => names.includes(b.name)) : BENCHMARKS;
  const outcomes: Outcome[] = [];
  for (const def of selected) outcomes.push(await runOne(def));

  console.log('\n=== summary ===');
  const rows: string[][] = [['benchmark', 'target', 'value', 'limit', 'result']];
  for (const o of outcomes) {
    if (!o.result) {
      rows.push([o.name, '(no result)', '', '', o.status.toUpperCase()]);
      continue;
    }
    for (const t of o.result.targets) {
      rows.push([o.name, t.name, t.value === null ? 'n/a' : `${t.value} ${t.unit}`, `${t.op} ${t.limit} ${t.unit}`, t.pass ? 'pass' : 'FAIL']);
    }
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const [i, r] of rows.entries()) {
    console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  for (const o of outcomes)
    console.log(`${o.name}: ${o.status}, ${round(o.wallMs / 1000, 0)} s${o.result ? `, ${o.result.pass ? 'all targets met' : 'targets missed'}` : ''}`);
  for (const o of outcomes) if (o.result) console.log(comparisonLine(o.result, committedResult(o.name)));
  const crashed = outcomes.some((o) => o.status !== 'ok');
  const missed = outcomes.some((o) => o.result && !o.result.pass);
  return crashed || (strict && missed) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`bench runner failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
