// Counts results in ava's TAP output (`ava --tap`).
//
// What ava (7, via supertap) prints:
//   ok 1 - title                      passed test
//   ok 2 - title # SKIP               skipped test
//   not ok 3 - title # TODO           test.todo()
//   not ok 4 - title                  failed test or hook, followed by an
//     ---                             indented YAML error block
//     ...
//   not ok 5 - Error: boom            crash: uncaught exception, unhandled
//                                     rejection, "x.test.ts exited with a
//                                     non-zero exit code: 1", "No tests found
//                                     in x.test.ts", ...
// and at the end a plan plus summary comments:
//   1..N
//   # tests N
//   # pass N
//   # skip N                          only when > 0
//   # fail N                          failed + remaining + crashed + todo (!)
//
// `# fail` also counts tests that never ran because their worker crashed
// (no `not ok` line for those) but not failed hooks, and it includes todos.
// So the summary and the counted lines are combined, taking the larger
// failure count.

interface TapCounts {
  passed: number;
  failed: number;
  skipped: number;
  todo: number;
}

interface TapSummary extends TapCounts {
  /** Counted from `ok` / `not ok` lines alone. */
  lines: TapCounts;
  /** ava's own `# pass` / `# fail` / ... comments after the plan, if printed. */
  reported: { tests?: number; pass?: number; fail?: number; skip?: number; todo?: number } | null;
  /** The `1..N` plan, if printed. */
  plan: number | null;
  /** Number of `Bail out!` lines. */
  bailouts: number;
}

const TEST_LINE = /^(not ok|ok)\b(.*)$/;
const DIRECTIVE = /\s#\s*(skip|todo)\b[^#]*$/i;
const PLAN_LINE = /^1\.\.(\d+)\b/;
const SUMMARY_LINE = /^#\s+(tests|pass|fail|skip|todo)\s+(\d+)\s*$/;

export function parseTap(text: string): TapSummary {
  const lines: TapCounts = { passed: 0, failed: 0, skipped: 0, todo: 0 };
  let reported: TapSummary['reported'] = null;
  let plan: number | null = null;
  let bailouts = 0;

  for (const raw of text.split(/\r?\n/)) {
    // Only top-level lines: YAML error blocks and subtests are indented.
    const line = raw.trimEnd();

    const test = TEST_LINE.exec(line);
    if (test) {
      const ok = test[1] === 'ok';
      const directive = DIRECTIVE.exec(test[2] ?? '')?.[1]?.toLowerCase();
      if (directive === 'todo') lines.todo++;
      else if (directive === 'skip') lines.skipped++;
      else if (ok) lines.passed++;
      else lines.failed++;
      continue;
    }

    const planMatch = PLAN_LINE.exec(line);
    if (planMatch) {
      plan = Number(planMatch[1]);
      reported = {}; // ava prints its summary right after the plan
      continue;
    }

    if (line.startsWith('Bail out!')) {
      bailouts++;
      continue;
    }

    // Summary comments count only after the plan, so a hook titled
    // "pass 3" (printed as "# pass 3") cannot be mistaken for them.
    const summary = reported ? SUMMARY_LINE.exec(line) : null;
    if (summary && reported) {
      reported[summary[1] as keyof NonNullable<TapSummary['reported']>] = Number(summary[2]);
    }
  }

  const todo = Math.max(lines.todo, reported?.todo ?? 0);
  const skipped = Math.max(lines.skipped, reported?.skip ?? 0);
  const passed = reported?.pass ?? lines.passed;

  // Tests announced by the plan but never reported count as failed.
  const seen = lines.passed + lines.failed + lines.skipped + lines.todo;
  const missing = plan !== null && reported?.pass === undefined ? Math.max(0, plan - seen) : 0;
  const fromLines = lines.failed + missing + bailouts;
  const fromSummary = reported?.fail !== undefined ? reported.fail - lines.todo : 0;
  const failed = Math.max(fromLines, fromSummary, 0);

  return { passed, failed, skipped, todo, lines, reported: reported && Object.keys(reported).length ? reported : null, plan, bailouts };
}

/** `tests: N passed, N failed` plus `, N skipped` when N > 0. */
export function formatSummaryLine(counts: Pick<TapCounts, 'passed' | 'failed' | 'skipped'>): string {
  const skipped = counts.skipped > 0 ? `, ${counts.skipped} skipped` : '';
  return `tests: ${counts.passed} passed, ${counts.failed} failed${skipped}`;
}
