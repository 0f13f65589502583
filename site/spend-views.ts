/**
 * Model spend on the site: the user's budget and a chart of spend per day (an inline
 * SVG drawn here, with the same numbers in a table for screen readers and for exact
 * figures), and the admin pages for spend and prices. No external assets, no script.
 */
import type { Budget } from '../control/meter/books.ts';
import { formatUsd } from '../control/meter/money.ts';
import { formatMicroUsd, type ModelPrice } from '../control/meter/price-data.ts';
import type { DaySpend } from '../control/meter/reports.ts';
import { escapeHtml as e } from '../control/web/html.ts';
import { adminNav } from './admin-views.ts';
import { barChart } from './charts.ts';
import { layout, type PageUser } from './views.ts';

const usd = (micro: number) => `$${formatUsd(micro)}`;
/** Spend is shown to the hundredth of a cent: a few calls cost less than a cent. */
const spent = (micro: number) => `$${formatUsd(micro, 4)}`;

const PERIOD_WORDS: Record<Budget['period'], string> = { none: 'in all', daily: 'today', monthly: 'this month' };

/** Every day of the last `span` days (UTC), oldest first, with its spend (0 when none). */
export function lastDays(rows: readonly DaySpend[], span: number, now: Date): DaySpend[] {
  const byDay = new Map(rows.map((r) => [r.day, r]));
  const days: DaySpend[] = [];
  for (let i = span - 1; i >= 0; i--) {
    const day = new Date(now.getTime() - i * 86_400_000).toISOString().slice(0, 10);
    days.push(byDay.get(day) ?? { day, cost: 0, calls: 0 });
  }
  return days;
}

/** Bars of spend per day, scaled to the busiest day; each bar names its day and amount. */
export function spendChart(days: readonly DaySpend[], caption: string): string {
  const max = Math.max(...days.map((d) => d.cost), 0);
  const total = days.reduce((sum, d) => sum + d.cost, 0);
  const rows = days
    .filter((d) => d.calls > 0)
    .map((d) => `<tr><td>${e(d.day)}</td><td>${spent(d.cost)}</td><td>${d.calls}</td></tr>`)
    .join('');
  const bars = days.map((d) => ({ value: d.cost, title: `${d.day}: ${spent(d.cost)} (${d.calls} call${d.calls === 1 ? '' : 's'})` }));
  return `${barChart(bars, `${caption}: ${spent(total)} in all${max > 0 ? `, at most ${spent(max)} a day` : ''}.`, 'chart-caption')}
<details><summary>Spend per day as a table</summary>
${rows ? `<div class="table" tabindex="0" role="region" aria-label="Spend per day"><table><thead><tr><th scope="col">Day (UTC)</th><th scope="col">Spent</th><th scope="col">Calls</th></tr></thead><tbody>${rows}</tbody></table></div>` : '<p>No calls yet.</p>'}
</details>`;
}

/** The dashboard's budget section: "Budget: $X.XX remaining", what was spent, when it resets, the chart. */
export function budgetSection(budget: Budget, days: readonly DaySpend[]): string {
  const resets = budget.resetsAt
    ? `<dt>Resets</dt><dd><time datetime="${budget.resetsAt.toISOString()}">${e(budget.resetsAt.toISOString().replace('T', ' ').slice(0, 16))} UTC</time></dd>`
    : '';
  return `<h2>Model budget</h2>
<p id="budget" class="budget"><strong>Budget: ${usd(budget.remaining)} remaining</strong></p>
<dl>
<dt>Spent ${PERIOD_WORDS[budget.period]}</dt><dd>${spent(budget.spent)} of ${usd(budget.limit)}</dd>
${budget.reserved > 0 ? `<dt>Held for calls running now</dt><dd>${spent(budget.reserved)}</dd>` : ''}
${resets}
</dl>
<p class="hint">Your Matrix OS calls the Anthropic API through the platform, which counts every call against this budget.</p>
${spendChart(days, `Spend per day, last ${days.length} days`)}`;
}

export interface SpendPageData {
  days: number;
  byDay: DaySpend[];
  byModel: Array<{ model: string; cost: number; calls: number }>;
  top: Array<{ handle: string; cost: number; calls: number; budget: Budget }>;
  platform: { limit: number | null; spent: number; reserved: number };
  defaults: { budget: number; period: Budget['period'] };
}

export function adminSpendPage(me: PageUser, data: SpendPageData, flash: string | null): string {
  const csrf = `<input type="hidden" name="csrf" value="${e(me.csrf)}">`;
  const periodSelect = (id: string, selected: string | null) =>
    `<select id="${e(id)}" name="period"><option value=""${selected === null ? ' selected' : ''}>default (${data.defaults.period})</option>${(
      ['none', 'daily', 'monthly'] as const
    )
      .map((p) => `<option value="${p}"${selected === p ? ' selected' : ''}>${p}</option>`)
      .join('')}</select>`;
  const budgetForm = (handle: string, current: Budget | null, idSuffix: string) =>
    `<form method="post" action="/admin/spend/budget" class="inline">${csrf}<input type="hidden" name="handle" value="${e(handle)}">
<label class="sr-only" for="usd-${idSuffix}">Budget in US dollars for ${e(handle)}</label><input id="usd-${idSuffix}" name="usd" inputmode="decimal" size="6" placeholder="USD" value="${current ? e(formatUsd(current.limit)) : ''}">
<label class="sr-only" for="period-${idSuffix}">Reset period for ${e(handle)}</label>${periodSelect(`period-${idSuffix}`, current?.period ?? null)}
<button type="submit">Set</button></form>`;
  const top = data.top
    .map(
      (row, i) =>
        `<tr><td>${e(row.handle)}</td><td>${spent(row.cost)}</td><td>${row.calls}</td><td>${usd(row.budget.remaining)} of ${usd(row.budget.limit)} (${e(row.budget.period)})</td><td>${budgetForm(row.handle, row.budget, String(i))}</td></tr>`,
    )
    .join('\n');
  const models = data.byModel.map((m) => `<tr><td>${e(m.model)}</td><td>${spent(m.cost)}</td><td>${m.calls}</td></tr>`).join('\n');
  const { platform } = data;
  const ceiling =
    platform.limit === null
      ? 'No event-wide ceiling (METER_PLATFORM_BUDGET_USD is unset).'
      : `Event-wide ceiling: ${spent(platform.spent)} spent and ${spent(platform.reserved)} held of ${usd(platform.limit)}.`;
  return layout(
    'Admin: model spend',
    `<h1>Model spend</h1>
${adminNav('spend')}
${flash ? `<p class="flash" role="status">${e(flash)}</p>` : ''}
<p>${e(ceiling)} Every user starts with ${usd(data.defaults.budget)} (${e(data.defaults.period)}).</p>
<p>${[7, 30, 90].map((d) => (d === data.days ? `<strong>Last ${d} days</strong>` : `<a href="/admin/spend?days=${d}">Last ${d} days</a>`)).join(' · ')} · <a href="/admin/spend/ledger.csv" download>Download the ledger (CSV)</a></p>
${spendChart(data.byDay, `Spend per day, last ${data.days} days, everyone`)}
<h2>By model</h2>
${models ? `<div class="table" tabindex="0" role="region" aria-label="Spend per model"><table><thead><tr><th scope="col">Model</th><th scope="col">Spent</th><th scope="col">Calls</th></tr></thead><tbody>${models}</tbody></table></div>` : '<p>No calls in this period.</p>'}
<h2>Top spenders</h2>
${top ? `<div class="table" tabindex="0" role="region" aria-label="Top spenders"><table><thead><tr><th scope="col">Handle</th><th scope="col">Spent</th><th scope="col">Calls</th><th scope="col">Budget left</th><th scope="col">Set budget</th></tr></thead><tbody>${top}</tbody></table></div>` : '<p>No calls in this period.</p>'}
<h2>Set anyone's budget</h2>
<form method="post" action="/admin/spend/budget">${csrf}
<label for="budget-handle">Handle</label><input id="budget-handle" name="handle" required autocapitalize="none" spellcheck="false">
<label for="budget-usd">Budget in US dollars (0 stops all calls; empty: the default)</label><input id="budget-usd" name="usd" inputmode="decimal">
<label for="budget-period">Resets</label>${periodSelect('budget-period', null)}
<p><button type="submit">Set budget</button></p></form>`,
    me,
  );
}

export function adminPricesPage(me: PageUser, families: readonly ModelPrice[], flash: string | null): string {
  const rate = (micro: number) => formatMicroUsd(micro).replace(/\.?0+$/, '');
  const rows = families
    .map(
      (p) =>
        `<tr><td>${e(p.family)}${p.aliases.length ? `<br><span class="hint">${e(p.aliases.join(', '))}</span>` : ''}</td><td>${rate(p.rates.input)}</td><td>${rate(p.rates.cacheWrite5m)}</td><td>${rate(p.rates.cacheWrite1h)}</td><td>${rate(p.rates.cacheRead)}</td><td>${rate(p.rates.output)}</td><td>${rate(p.webSearchPerRequest)}</td><td>${p.tiers.length ? p.tiers.map((t) => `above ${t.abovePromptTokens.toLocaleString('en')} tokens: ${rate(t.rates.input)} / ${rate(t.rates.output)}`).join('<br>') : '—'}</td><td><code>${e(p.version)}</code></td></tr>`,
    )
    .join('\n');
  const field = (name: string, label: string, hint: string) =>
    `<label for="price-${name}">${label}</label><input id="price-${name}" name="${name}" inputmode="decimal" required aria-describedby="price-${name}-hint"><p id="price-${name}-hint" class="hint">${hint}</p>`;
  return layout(
    'Admin: prices',
    `<h1>Model prices</h1>
${adminNav('prices')}
${flash ? `<p class="flash" role="status">${e(flash)}</p>` : ''}
<p>US dollars per million tokens; web search per request. A model that is not listed is refused until it is priced here. Dated ids (e.g. <code>claude-haiku-4-5-20251001</code>) price like their family.</p>
<div class="table" tabindex="0" role="region" aria-label="Prices"><table><thead><tr><th scope="col">Model</th><th scope="col">Input</th><th scope="col">Cache write 5m</th><th scope="col">Cache write 1h</th><th scope="col">Cache read</th><th scope="col">Output</th><th scope="col">Web search</th><th scope="col">Long prompts</th><th scope="col">Version</th></tr></thead>
<tbody>${rows}</tbody></table></div>
<h2>Add or change a price</h2>
<p class="hint">Check the figures against Anthropic's pricing page first. The new price applies to the next call; calls already billed keep their version.</p>
<form method="post" action="/admin/prices"><input type="hidden" name="csrf" value="${e(me.csrf)}">
<label for="price-family">Model family</label><input id="price-family" name="family" required autocapitalize="none" spellcheck="false" placeholder="claude-opus-4-6">
${field('input', 'Input', 'e.g. 5')}
${field('cacheWrite5m', 'Cache write, 5 minutes', 'e.g. 6.25')}
${field('cacheWrite1h', 'Cache write, 1 hour', 'e.g. 10')}
${field('cacheRead', 'Cache read', 'e.g. 0.50')}
${field('output', 'Output', 'e.g. 25')}
<label for="price-webSearchPerRequest">Web search, per request</label><input id="price-webSearchPerRequest" name="webSearchPerRequest" inputmode="decimal" value="0.01">
<p><button type="submit">Save price</button></p></form>`,
    me,
  );
}
