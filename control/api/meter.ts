/**
 * The meter on the platform API: budgets (read, set), a user's meter key (rotate,
 * shown once), spend reports and the ledger as CSV, and prices (list, set).
 */
import { Readable } from 'node:stream';
import Router from '@koa/router';
import type { Context } from 'koa';
import { deriveCredential } from '../access/credentials.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { parseBudgetInput, parsePriceInput } from '../meter/admin-input.ts';
import type { MeterBooks } from '../meter/books.ts';
import { formatUsd } from '../meter/money.ts';
import type { PriceBook } from '../meter/price-book.ts';
import { formatMicroUsd, type ModelPrice, type Rates } from '../meter/price-data.ts';
import type { MeterReports } from '../meter/reports.ts';
import type { InstanceService } from '../provisioning/service.ts';
import type { UserStore } from '../users/store.ts';
import { readJsonObject } from '../web/body.ts';
import { actorOf } from './auth.ts';
import type { ContainerRoutesDeps } from './containers.ts';

export interface MeterRoutesDeps extends Pick<ContainerRoutesDeps, 'refreshRoute' | 'store'> {
  books: MeterBooks;
  prices: PriceBook;
  reports: MeterReports;
  users: UserStore;
  service: InstanceService;
  secretKey: string;
  bodyLimitBytes: number;
}

export function budgetView(budget: Awaited<ReturnType<MeterBooks['budget']>>) {
  return {
    message: `Budget: $${formatUsd(budget.remaining)} remaining`,
    remainingUsd: formatUsd(budget.remaining),
    limitUsd: formatUsd(budget.limit),
    spentUsd: formatUsd(budget.spent),
    reservedUsd: formatUsd(budget.reserved),
    remainingMicro: budget.remaining,
    period: budget.period,
    resetsAt: budget.resetsAt?.toISOString() ?? null,
  };
}

export function meterRoutes(deps: MeterRoutesDeps): Router {
  const router = new Router();
  // Budgets belong to the owner: the user holding the handle, else the owner its instance was provisioned for.
  const userOf = async (handle: string): Promise<string> => {
    const id = (await deps.users.handleHolder(handle)) ?? (await deps.store.findByHandle(handle))?.owner_id;
    if (!id) throw new NotFoundError(`No user or instance with handle "${handle}".`);
    return id;
  };

  router.get('/users/:handle/budget', async (ctx) => {
    ctx.body = { handle: ctx.params.handle, budget: budgetView(await deps.books.budget(await userOf(ctx.params.handle!))) };
  });

  router.put('/users/:handle/budget', async (ctx) => {
    const userId = await userOf(ctx.params.handle!);
    const change = parseBudgetInput(await readJsonObject(ctx.req, deps.bodyLimitBytes));
    await deps.books.setBudget(userId, change, actorOf(ctx));
    ctx.body = { handle: ctx.params.handle, budget: budgetView(await deps.books.budget(userId)) };
  });

  // The new key is in this answer only; the instance restarts with it and the old one dies at once.
  router.post('/users/:handle/meter-key', async (ctx) => {
    const handle = ctx.params.handle!;
    const { generation, redeploy } = await deps.service.rotateRuntimeCredentials(handle, actorOf(ctx));
    // The old key must be dead when this answer arrives (other replicas follow within ROUTE_SYNC_INTERVAL).
    await deps.refreshRoute(handle);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { handle, key: deriveCredential(deps.secretKey, 'meter-key', handle, generation), redeploying: redeploy };
  });

  router.get('/usage', async (ctx) => {
    const days = dayParam(ctx);
    const [byDay, byModel, top, platform] = await Promise.all([
      deps.reports.byDay(days),
      deps.reports.byModel(days),
      deps.reports.topSpenders(days, 20),
      deps.books.platform(),
    ]);
    const money = <T extends { cost: number }>({ cost, ...rest }: T) => ({ ...rest, costMicro: cost, costUsd: formatUsd(cost) });
    ctx.body = {
      days,
      byDay: byDay.map(money),
      byModel: byModel.map(money),
      topSpenders: top.map(money),
      platform: {
        limitUsd: platform.limit === null ? null : formatUsd(platform.limit),
        spentUsd: formatUsd(platform.spent),
        reservedUsd: formatUsd(platform.reserved),
      },
    };
  });

  router.get('/usage/ledger.csv', async (ctx) => {
    ctx.set('Content-Type', 'text/csv; charset=utf-8');
    ctx.set('Content-Disposition', 'attachment; filename="meter-ledger.csv"');
    ctx.body = Readable.from(deps.reports.csv());
  });

  router.get('/prices', (ctx) => {
    const table = deps.prices.current();
    ctx.body = { version: table.version, families: table.families().map(priceView) };
  });

  // Rates in US dollars per million tokens (decimal strings); web search in dollars per request.
  router.put('/prices/:family', async (ctx) => {
    const body = await readJsonObject(ctx.req, deps.bodyLimitBytes);
    const price = parsePriceInput(ctx.params.family!, body);
    const version = await deps.prices.set(price, actorOf(ctx));
    ctx.body = { family: price.family, version };
  });

  return router;
}

/** A price as admins write it: US dollars per million tokens, web search in dollars per request. */
export function priceView(price: ModelPrice) {
  const rates = (r: Rates) => Object.fromEntries(Object.entries(r).map(([field, micro]) => [field, formatMicroUsd(micro)]));
  return {
    family: price.family,
    version: price.version,
    aliases: price.aliases,
    usdPerMillionTokens: rates(price.rates),
    webSearchPerRequestUsd: formatMicroUsd(price.webSearchPerRequest),
    tiers: price.tiers.map((tier) => ({ abovePromptTokens: tier.abovePromptTokens, usdPerMillionTokens: rates(tier.rates) })),
  };
}

function dayParam(ctx: Context): number {
  const raw = ctx.query.days ?? '30';
  const days = Number(raw);
  if (!Number.isInteger(days) || days < 1 || days > 366) throw new ValidationError('days must be a whole number from 1 to 366.');
  return days;
}
