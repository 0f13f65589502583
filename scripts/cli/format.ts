/** Human output: tables, key: value lines and event lines. Pure functions, no I/O. */
import type { BudgetView, HealthReport, InstanceView, InviteView, PriceView, StoredEvent, SystemInfo, UsageReport } from './client.ts';

/** Left-aligned columns separated by two spaces; trailing spaces trimmed. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

function keyValues(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(...pairs.map(([k]) => k.length)) + 1;
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`).join('\n');
}

/** "3m ago", "2h ago", "just now"; "-" for null. */
export function ago(iso: string | null, now: number = Date.now()): string {
  if (!iso) return '-';
  const seconds = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (seconds < 10) return 'just now';
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86_400)}d ago`;
}

/** Local wall-clock time, HH:MM:SS. */
export function clock(iso: string): string {
  const d = new Date(iso);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

export function instanceTable(instances: readonly InstanceView[], total: number): string {
  if (instances.length === 0) return total > 0 ? `No instances on this page (${total} in all).` : 'No instances.';
  const rows = instances.map((i) => [i.handle, i.status, i.owner, ago(i.lastActiveAt), i.address?.gateway ?? '-']);
  const footer = total > instances.length ? `\n(${instances.length} of ${total} shown; use --limit to see more)` : '';
  return table(['HANDLE', 'STATUS', 'OWNER', 'LAST ACTIVE', 'ADDRESS'], rows) + footer;
}

export function instanceDetails(i: InstanceView): string {
  const when = (iso: string | null) => (iso ? `${iso} (${ago(iso)})` : '-');
  const pairs: [string, string][] = [
    ['handle', i.handle],
    ['status', i.status],
    ['owner', i.owner],
    ['driver', i.driver],
    ['gateway', i.address?.gateway ?? '-'],
    ['shell', i.address?.shell ?? '-'],
    ['last active', when(i.lastActiveAt)],
    ['requested', when(i.requestedAt)],
    ['started', when(i.startedAt)],
    ['stopped', when(i.stoppedAt)],
    ['attempts', String(i.attempts)],
  ];
  if (i.runtimeRef) pairs.push(['runtime', i.runtimeRef]);
  if (i.lastError) pairs.push(['last error', i.lastError]);
  if (i.archivePath) pairs.push(['archive', i.archivePath]);
  pairs.push(['created', i.createdAt], ['updated', i.updatedAt]);
  return keyValues(pairs);
}

/** `  12:00:01  requested → provisioning  Provisioning started` */
export function eventLine(e: StoredEvent): string {
  const what = e.to ? `${e.from ?? 'new'} → ${e.to}` : e.kind;
  return `  ${clock(e.at)}  ${what.padEnd(24)}  ${e.message}`.trimEnd();
}

export function healthLines(h: HealthReport): string {
  const mark = (ok: boolean) => (ok ? 'ok' : 'FAILING');
  return keyValues([
    ['status', h.status],
    ['database', `${mark(h.database.ok)} (${h.database.detail})`],
    ['orchestrator', `${mark(h.orchestrator.ok)} ${h.orchestrator.driver} (${h.orchestrator.detail})`],
  ]);
}

export function infoLines(info: SystemInfo): string {
  const counts = Object.entries(info.instances)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`);
  return keyValues([
    ['version', info.version],
    ['mode', info.mode],
    ['started', `${info.startedAt} (up ${info.uptimeSeconds}s)`],
    ['node', info.node],
    ['driver', info.driver],
    ['database', info.database],
    ['instances', counts.length ? counts.join(', ') : 'none'],
  ]);
}

const PERIOD_WORDS: Record<string, string> = { none: 'in all', daily: 'today', monthly: 'this month' };

export function budgetLines(handle: string, b: BudgetView): string {
  const pairs: [string, string][] = [
    ['spent', `$${b.spentUsd} of $${b.limitUsd} ${PERIOD_WORDS[b.period] ?? b.period}`],
    ['held now', `$${b.reservedUsd} (calls running)`],
    ['resets', b.resetsAt ?? 'never'],
  ];
  return `${handle}: ${b.message}\n${keyValues(pairs)}`;
}

export function usageLines(report: UsageReport): string {
  const sections = [`Model spend, last ${report.days} days.`];
  const { platform } = report;
  sections.push(
    platform.limitUsd === null
      ? 'No event-wide ceiling (METER_PLATFORM_BUDGET_USD is unset).'
      : `Event-wide ceiling: $${platform.spentUsd} spent and $${platform.reservedUsd} held of $${platform.limitUsd}.`,
  );
  if (report.byDay.length === 0) return [...sections, 'No calls in this period.'].join('\n\n');
  sections.push(
    table(
      ['DAY (UTC)', 'SPENT', 'CALLS'],
      report.byDay.map((d) => [d.day, `$${d.costUsd}`, String(d.calls)]),
    ),
  );
  sections.push(
    table(
      ['MODEL', 'SPENT', 'CALLS'],
      report.byModel.map((m) => [m.model, `$${m.costUsd}`, String(m.calls)]),
    ),
  );
  sections.push(
    table(
      ['HANDLE', 'SPENT', 'CALLS'],
      report.topSpenders.map((s) => [s.handle, `$${s.costUsd}`, String(s.calls)]),
    ),
  );
  return sections.join('\n\n');
}

export function priceTable(families: readonly PriceView[]): string {
  const short = (usd: string) => usd.replace(/\.?0+$/, '');
  const rows = families.map((p) => {
    const r = p.usdPerMillionTokens;
    return [
      p.family,
      short(r.input),
      short(r.cacheWrite5m),
      short(r.cacheWrite1h),
      short(r.cacheRead),
      short(r.output),
      short(p.webSearchPerRequestUsd),
      p.version,
    ];
  });
  return `${table(['FAMILY', 'INPUT', 'WRITE 5M', 'WRITE 1H', 'READ', 'OUTPUT', 'SEARCH', 'VERSION'], rows)}\n(US dollars per million tokens; web search per request)`;
}

export function inviteTable(invites: readonly InviteView[]): string {
  if (invites.length === 0) return 'No invites yet. Create one with: mxos invite --uses 30 --expires 7d --note "hackathon table 3"';
  const rows = invites.map((i) => [i.id, i.state, `${i.uses}/${i.maxUses}`, i.expiresAt ? i.expiresAt.slice(0, 16).replace('T', ' ') : '-', i.note ?? '']);
  return table(['ID', 'STATE', 'USED', 'EXPIRES (UTC)', 'NOTE'], rows);
}
