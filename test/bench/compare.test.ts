import test from 'ava';
import { comparisonLine } from '../../bench/compare.ts';
import type { BenchResult, TargetResult } from '../../bench/lib.ts';

const result = (date: string, targets: Array<Partial<TargetResult> & { name: string; value: number | null }>): BenchResult =>
  ({
    name: 'control-scale',
    date,
    machine: {},
    parameters: {},
    figures: {},
    targets: targets.map((t) => ({ unit: 'ms', op: '<', limit: 200, pass: t.value !== null && t.value < 200, ...t })),
    pass: true,
    notes: [],
  }) as unknown as BenchResult;

test('one line compares each target with the committed run and names regressions', (t) => {
  const committed = result('2026-11-25T00:42:08.823Z', [
    { name: 'first sweep', value: 137.1 },
    { name: 'start-up', value: 100 },
    { name: 'drift fixes', value: 0, op: '==', limit: 0, pass: true },
  ]);
  const now = result('2026-12-05T09:00:00.000Z', [
    { name: 'first sweep', value: 368.3 },
    { name: 'start-up', value: 110 },
    { name: 'drift fixes', value: 0, op: '==', limit: 0, pass: true },
    { name: 'brand new', value: 5 },
  ]);
  const line = comparisonLine(now, committed);
  t.false(line.includes('\n'));
  t.regex(line, /^control-scale vs committed 2026-11-25: /);
  t.regex(line, /first sweep 368\.3 ms \(was 137\.1, x2\.69 REGRESSION\)/);
  t.regex(line, /start-up 110 ms \(was 100, x1\.1\);/, 'within the noise: no regression');
  t.regex(line, /drift fixes 0 ms \(was 0\)/);
  t.regex(line, /brand new 5 ms \(new\)/);
  t.regex(line, /1 REGRESSION$/);
  t.regex(comparisonLine(committed, committed), /no regression$/);
  t.is(comparisonLine(now, null), 'control-scale vs committed: nothing committed yet');
});
