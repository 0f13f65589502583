/**
 * One line per benchmark comparing this run with the committed result
 * (bench/results/<name>.json at HEAD), so a regression shows the moment it happens.
 * Machines are noisy: only a change beyond REGRESSION_FACTOR is called a regression.
 */
import { spawnSync } from 'node:child_process';
import type { BenchResult, TargetResult } from './lib.ts';
import { REPO_ROOT, round } from './lib.ts';

/** A lower-is-better figure this much above the committed one is a regression. */
export const REGRESSION_FACTOR = 1.25;

/** The committed result of `name`, or null when HEAD has none. */
export function committedResult(name: string): BenchResult | null {
  const shown = spawnSync('git', ['show', `HEAD:bench/results/${name}.json`], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (shown.status !== 0) return null;
  try {
    return JSON.parse(shown.stdout) as BenchResult;
  } catch {
    return null;
  }
}

function describe(now: TargetResult, before: TargetResult | undefined): { text: string; regressed: boolean } {
  const value = now.value === null ? 'n/a' : `${now.value} ${now.unit}`;
  if (!before || before.value === null || now.value === null) return { text: `${now.name} ${value} (new)`, regressed: false };
  if (now.op === '==') return { text: `${now.name} ${value} (was ${before.value})`, regressed: now.pass !== before.pass && !now.pass };
  const ratio = before.value === 0 ? (now.value === 0 ? 1 : Number.POSITIVE_INFINITY) : now.value / before.value;
  const regressed = ratio > REGRESSION_FACTOR || (before.pass && !now.pass);
  return { text: `${now.name} ${value} (was ${before.value}, x${round(ratio, 2)}${regressed ? ' REGRESSION' : ''})`, regressed };
}

/** e.g. "control-scale vs committed 2026-11-25: ...; 1 regression". */
export function comparisonLine(current: BenchResult, committed: BenchResult | null): string {
  if (!committed) return `${current.name} vs committed: nothing committed yet`;
  const parts = current.targets.map((t) =>
    describe(
      t,
      committed.targets.find((c) => c.name === t.name),
    ),
  );
  const regressions = parts.filter((p) => p.regressed).length;
  return `${current.name} vs committed ${committed.date.slice(0, 10)}: ${parts.map((p) => p.text).join('; ')}; ${regressions === 0 ? 'no regression' : `${regressions} REGRESSION${regressions === 1 ? '' : 'S'}`}`;
}
