/**
 * Admin pages for model spend (role admin): spend per day and per model, the top
 * spenders with their budgets, setting anyone's budget, the ledger as CSV, and prices.
 * Forms are CSRF-checked posts that redirect; every change is audited with it.
 */
import { Readable } from 'node:stream';
import { ValidationError } from '../../control/errors.ts';
import { parseBudgetInput, parsePriceInput, RATE_FIELDS } from '../../control/meter/admin-input.ts';
import { formatUsd } from '../../control/meter/money.ts';
import { checkForm, html, pageUser, requireAdmin, requireSession, type SignedIn, type SiteDeps, type SiteRouter, seeOther } from '../context.ts';
import { adminPricesPage, adminSpendPage, lastDays } from '../spend-views.ts';

const SPANS = [7, 30, 90];
const TOP = 20;

const flashOf = (query: Record<string, unknown>) => (typeof query.flash === 'string' ? query.flash.slice(0, 300) : null);

export function spendPages(router: SiteRouter, deps: SiteDeps): void {
  const admin = [requireSession(deps), requireAdmin] as const;
  const { books, reports, prices } = deps.spend;

  router.get<SignedIn>('/admin/spend', ...admin, async (ctx) => {
    const days = ctx.query.days === undefined ? 30 : Number(ctx.query.days);
    if (!SPANS.includes(days)) throw new ValidationError(`days must be one of ${SPANS.join(', ')}.`);
    const [byDay, byModel, top, platform] = await Promise.all([reports.byDay(days), reports.byModel(days), reports.topSpenders(days, TOP), books.platform()]);
    const withBudgets = await Promise.all(top.map(async (row) => ({ ...row, budget: await books.budget(row.userId) })));
    const { limit, period } = deps.settings.budgetDefaults;
    html(
      ctx,
      200,
      adminSpendPage(
        pageUser(ctx.state.session)!,
        { days, byDay: lastDays(byDay, days, new Date()), byModel, top: withBudgets, platform, defaults: { budget: limit, period } },
        flashOf(ctx.query),
      ),
    );
  });

  router.post<SignedIn>('/admin/spend/budget', ...admin, async (ctx) => {
    const form = await checkForm(ctx);
    const handle = (form.get('handle') ?? '').trim().toLowerCase();
    const userId = handle ? await deps.users.handleHolder(handle) : null;
    if (!userId) throw new ValidationError(`No user with handle "${handle.slice(0, 40)}".`);
    const usd = (form.get('usd') ?? '').trim();
    const change = parseBudgetInput({ usd: usd === '' ? null : usd, period: form.get('period') || null });
    await books.setBudget(userId, change, `admin:${ctx.state.session.user.id}`);
    const budget = await books.budget(userId);
    const message = `${handle} now has $${formatUsd(budget.limit)} (${budget.period}). Budget: $${formatUsd(budget.remaining)} remaining.`;
    seeOther(ctx, `/admin/spend?flash=${encodeURIComponent(message)}`);
  });

  router.get<SignedIn>('/admin/spend/ledger.csv', ...admin, (ctx) => {
    ctx.set('Content-Type', 'text/csv; charset=utf-8');
    ctx.set('Content-Disposition', 'attachment; filename="meter-ledger.csv"');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = Readable.from(reports.csv());
  });

  router.get<SignedIn>('/admin/prices', ...admin, (ctx) => {
    html(ctx, 200, adminPricesPage(pageUser(ctx.state.session)!, prices.current().families(), flashOf(ctx.query)));
  });

  router.post<SignedIn>('/admin/prices', ...admin, async (ctx) => {
    const form = await checkForm(ctx);
    const fields: Record<string, string> = {};
    for (const name of [...RATE_FIELDS, 'webSearchPerRequest']) {
      const value = form.get(name);
      if (value !== null && value.trim() !== '') fields[name] = value;
    }
    const price = parsePriceInput((form.get('family') ?? '').trim().toLowerCase(), fields);
    const version = await prices.set(price, `admin:${ctx.state.session.user.id}`);
    seeOther(ctx, `/admin/prices?flash=${encodeURIComponent(`${price.family} is priced (version ${version}).`)}`);
  });
}
