// The test runner's TAP parsing: counts must never lose failures.
import test from 'ava';
import { formatSummaryLine, parseTap } from '../../scripts/tap-summary.ts';

const passing = `TAP version 13
ok 1 - a › adds
ok 2 - a › subtracts

1..2
# tests 2
# pass 2
# fail 0
`;

const failing = `TAP version 13
ok 1 - a › adds
not ok 2 - a › subtracts
  ---
    name: AssertionError
    message: Difference is not 0
    assertion: t.is()
    details:
      'Difference (- actual, + expected):': |-
        - 1
        + 0
    at: 'file:///repo/test/a.test.ts:5:5'
  ...
ok 3 - b › works

1..3
# tests 3
# pass 2
# fail 1
`;

// Skips and todos; ava counts todos in "# fail".
const skippedAndTodo = `TAP version 13
ok 1 - a › runs
ok 2 - a › later # SKIP
not ok 3 - a › someday # TODO

1..3
# tests 2
# pass 1
# skip 1
# fail 1
`;

// A worker crashing: an uncaught exception, its test file exiting non-zero,
// and a test that never ran (only present in "# fail").
const crash = `TAP version 13
ok 1 - a › adds
not ok 2 - Error: boom
  ---
    name: Error
    message: boom
    at: 'file:///repo/test/b.test.ts:4:9'
  ...
not ok 3 - b.test.ts exited with a non-zero exit code: 1

1..2
# tests 2
# pass 1
# fail 3
`;

// A test file that fails to import: no tests at all, only the crash.
const importFailure = `TAP version 13
not ok 1 - SyntaxError: The requested module './x.ts' does not provide an export named 'y'
  ---
    name: SyntaxError
    message: The requested module './x.ts' does not provide an export named 'y'
  ...
not ok 2 - c.test.ts exited with a non-zero exit code: 1

1..0
# tests 0
# pass 0
# fail 2
`;

test('counts a passing run', (t) => {
  const s = parseTap(passing);
  t.like(s, { passed: 2, failed: 0, skipped: 0, todo: 0, plan: 2 });
  t.is(formatSummaryLine(s), 'tests: 2 passed, 0 failed');
});

test('counts a failing test and ignores its indented YAML block', (t) => {
  const s = parseTap(failing);
  t.like(s, { passed: 2, failed: 1, skipped: 0 });
  t.is(formatSummaryLine(s), 'tests: 2 passed, 1 failed');
});

test('counts skipped and todo tests, not as failures', (t) => {
  const s = parseTap(skippedAndTodo);
  t.like(s, { passed: 1, failed: 0, skipped: 1, todo: 1 });
  t.is(formatSummaryLine(s), 'tests: 1 passed, 0 failed, 1 skipped');
});

test('counts crashes and tests that never ran as failures', (t) => {
  const s = parseTap(crash);
  t.like(s, { passed: 1, failed: 3 });
  t.like(s.lines, { passed: 1, failed: 2 });
});

test('counts a test file that fails to import as failures', (t) => {
  const s = parseTap(importFailure);
  t.like(s, { passed: 0, failed: 2 });
});

test('without ava summary, falls back to counted lines (ava killed mid-run)', (t) => {
  const s = parseTap('TAP version 13\nok 1 - a\nnot ok 2 - b\nok 3 - c # SKIP\n');
  t.like(s, { passed: 1, failed: 1, skipped: 1, reported: null, plan: null });
});

test('a summary that under-reports is cross-checked with the lines (failed hooks)', (t) => {
  const s = parseTap('TAP version 13\nok 1 - a\nnot ok 2 - a › before hook\n\n1..1\n# tests 1\n# pass 1\n# fail 0\n');
  t.like(s, { passed: 1, failed: 1 });
});

test('tests announced by a plan but never reported count as failed', (t) => {
  const s = parseTap('1..3\nok 1 - a\nok 2 - b\n');
  t.like(s, { passed: 2, failed: 1 });
});

test('comments that look like summary lines before the plan are ignored', (t) => {
  const s = parseTap('TAP version 13\n# pass 7\n# fail 9\nok 1 - a\n\n1..1\n# tests 1\n# pass 1\n# fail 0\n');
  t.like(s, { passed: 1, failed: 0 });
});

test('Bail out! counts as a failure', (t) => {
  t.like(parseTap('TAP version 13\nok 1 - a\nBail out! database gone\n'), { passed: 1, failed: 1 });
});

test('empty output counts nothing', (t) => {
  t.like(parseTap(''), { passed: 0, failed: 0, skipped: 0, todo: 0 });
});
