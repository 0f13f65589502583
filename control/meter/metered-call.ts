/**
 * One metered POST /v1/messages: price the model (unpriced: refused), reserve the worst
 * case, forward, stream the answer back byte for byte while reading its usage, then
 * settle the exact cost exactly once. A client that leaves mid-stream is still billed
 * for what it used: the answer is read to its end in the background, up to a cap.
 */
import type { Context } from 'koa';
import type { Tenant } from '../access/instance-keys.ts';
import { PlatformError, UnavailableError, ValidationError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { readBody } from '../web/body.ts';
import { anthropicError } from './anthropic-errors.ts';
import { BudgetExhaustedError, type Charge, type MeterBooks } from './books.ts';
import { costOf, worstCaseCost } from './cost.ts';
import type { Drains } from './drains.ts';
import type { MeterMetrics, RefusalReason } from './metrics.ts';
import { formatUsd } from './money.ts';
import type { ModelPrice, PriceTable } from './prices.ts';
import { StreamUsage } from './stream-usage.ts';
import { passBackHeaders, type Upstream } from './upstream.ts';
import { fromAnthropicUsage, type MeteredUsage, NO_USAGE } from './usage.ts';

export interface MeteredCallDeps {
  books: MeterBooks;
  prices(): PriceTable;
  upstream: Upstream;
  drains: Drains;
  bodyLimitBytes: number;
  logger: Logger;
  /** The instance made a call: it is active. */
  onActivity(handle: string): void;
  /** Settlements under way, so that a shutdown waits for them. */
  settling: Set<Promise<void>>;
  metrics?: MeterMetrics;
}

/** Input tokens the API may add to a request beyond its bytes (tool definitions' system prompt). */
const API_PROMPT_TOKENS = 4096;

/** A non-streamed answer is read whole for its usage; past this it is passed on but not parsed. */
const JSON_ANSWER_LIMIT = 8 * 1024 * 1024;

interface Admitted {
  reservation: string;
  worst: number;
  price: ModelPrice;
  model: string;
}

export async function meteredCall(ctx: Context, deps: MeteredCallDeps, tenant: Tenant): Promise<void> {
  let admission: Awaited<ReturnType<typeof admit>>;
  try {
    admission = await admit(ctx, deps, tenant);
  } catch (err) {
    deps.metrics?.refusals.inc({ reason: refusalReason(err) });
    throw err;
  }
  const { id, remaining, worst, price, body, model } = admission;
  deps.metrics?.inFlight.inc();
  const admitted: Admitted = { reservation: id, worst, price, model };
  // Exactly one settlement per admitted call, whatever happens below: a failure past
  // this point leaves the usage unknown, so the documented worst case applies.
  let charge: ChargeParts = { usage: NO_USAGE, cost: worst, outcome: 'capped' };
  try {
    deps.onActivity(tenant.handle);
    charge = await forward(ctx, deps, tenant, admitted, body, remaining);
  } catch (err) {
    deps.logger.error({ handle: tenant.handle, err: (err as Error).message }, 'a metered call failed after admission; charged its reservation');
    throw err;
  } finally {
    deps.metrics?.inFlight.dec();
    deps.metrics?.calls.inc({ outcome: charge.outcome });
    deps.metrics?.spentMicro.inc(charge.cost);
    const settling = settleCharge(deps, admitted, charge);
    deps.settling.add(settling);
    void settling.finally(() => deps.settling.delete(settling));
  }
}

/** Why a call was refused before it reached the model API. */
function refusalReason(err: unknown): RefusalReason {
  if (err instanceof BudgetExhaustedError) return err.message.startsWith("The event's total budget") ? 'ceiling' : 'budget';
  if (err instanceof ValidationError && /has no price on this platform/.test(err.message)) return 'unpriced';
  if (err instanceof PlatformError && err.status < 500) return 'bad_request';
  return 'unavailable';
}

/** Reads, prices and admits a call: its reservation, or an error that refuses it. */
async function admit(ctx: Context, deps: MeteredCallDeps, tenant: Tenant) {
  if (!deps.upstream.configured) throw new UnavailableError('meter_unconfigured', 'The platform has no model API key configured; ask its operator.');
  const body = await readBody(ctx.req, deps.bodyLimitBytes);
  const request = parseRequest(body);
  const price = deps.prices().priceFor(request.model);
  if (!price)
    throw new ValidationError(
      `model: "${request.model.slice(0, 96)}" has no price on this platform, so it cannot be used; ask the platform admins to price it.`,
    );
  // Every prompt token is at least one byte of the request, so its size bounds the prompt,
  // plus what the API adds itself (the tool-use system prompt is a few hundred tokens).
  const worst = worstCaseCost(
    { promptTokensUpperBound: body.length + API_PROMPT_TOKENS, maxTokens: request.maxTokens, webSearchMaxUses: request.webSearchMaxUses },
    price,
  );
  const started = performance.now();
  const { id, remaining } = await deps.books.reserve(tenant.ownerId, tenant.handle, worst);
  deps.metrics?.admissionSeconds.observe((performance.now() - started) / 1000);
  return { id, remaining, worst, price, model: request.model, body };
}

type ChargeParts = Omit<Charge, 'model' | 'priceVersion'>;

/** Forwards an admitted call and streams the answer back; returns what to charge. */
async function forward(ctx: Context, deps: MeteredCallDeps, tenant: Tenant, admitted: Admitted, body: Buffer, remaining: number): Promise<ChargeParts> {
  const { worst, price } = admitted;
  let upstream: Awaited<ReturnType<Upstream['request']>>;
  try {
    upstream = await deps.upstream.request('POST', '/v1/messages', ctx.req.headers, body);
  } catch (err) {
    deps.logger.warn({ handle: tenant.handle, err: (err as Error).message }, 'the model API could not be reached');
    anthropicError(ctx, 503, 'The model API could not be reached; try again shortly.');
    return { usage: NO_USAGE, cost: 0, outcome: 'error' };
  }
  const res = ctx.res;
  ctx.respond = false;
  res.writeHead(upstream.statusCode, {
    ...passBackHeaders(upstream.headers),
    'cache-control': 'no-store',
    'x-mxos-budget': `Budget: $${formatUsd(remaining)} remaining`,
    'x-mxos-budget-remaining-usd': formatUsd(remaining),
  });
  res.flushHeaders();
  const streamed = String(upstream.headers['content-type'] ?? '').startsWith('text/event-stream');
  const reader = streamed ? new StreamUsage() : new JsonAnswer();
  const outcome = await pump(upstream.body, res, reader, deps.drains);
  if (upstream.statusCode !== 200) return { usage: NO_USAGE, cost: 0, outcome: 'error' };
  if (outcome === 'capped') return { usage: reader.usage ?? NO_USAGE, cost: worst, outcome: 'capped' };
  // An answer whose usage cannot be known (unreadable, or a stream cut off before its end)
  // is charged the most it could have cost: never less than the platform paid.
  const stream = streamed ? (reader as StreamUsage) : null;
  const failed = stream !== null && stream.error !== null;
  if (reader.usage === null || (stream !== null && (stream.problem !== null || (!stream.stopped && !failed))))
    return { usage: reader.usage ?? NO_USAGE, cost: worst, outcome: 'capped' };
  const cost = costOf(reader.usage, price);
  // The reservation is the most a call may spend; a cost above it means the estimate missed something.
  if (cost > worst)
    deps.logger.warn({ handle: tenant.handle, model: admitted.model, cost, worst }, 'a call cost more than its reservation; charged the reservation');
  return { usage: reader.usage, cost: Math.min(cost, worst), outcome: failed ? 'error' : outcome };
}

/** Copies the answer to the client chunk by chunk, reading usage as it passes. */
async function pump(
  body: NodeJS.ReadableStream & { destroy(): void },
  res: import('node:http').ServerResponse,
  reader: { push(chunk: Buffer): void; end(): void },
  drains: Drains,
): Promise<'ok' | 'disconnected' | 'capped'> {
  let gone = false;
  let release: (() => void) | null = null;
  let capped = false;
  const onClose = () => {
    if (res.writableFinished) return;
    gone = true;
    // The client left: keep reading the answer in the background to learn its usage, up to a cap.
    release = drains.enter(() => {
      capped = true;
      body.destroy();
    });
  };
  res.once('close', onClose);
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      reader.push(chunk);
      if (gone) continue;
      if (!res.write(chunk))
        await new Promise<void>((resolve) => {
          res.once('drain', resolve);
          res.once('close', resolve);
        });
    }
  } catch {
    /* capped, or the upstream broke off: what was read counts */
  } finally {
    reader.end();
    res.off('close', onClose);
    (release as (() => void) | null)?.();
  }
  if (!gone) res.end();
  return capped ? 'capped' : gone ? 'disconnected' : 'ok';
}

async function settleCharge(deps: MeteredCallDeps, admitted: Admitted, charge: ChargeParts): Promise<void> {
  // The books retry a write until the database answers; this only fails on a bug.
  try {
    await deps.books.settle(admitted.reservation, { ...charge, model: admitted.model, priceVersion: admitted.price.version });
  } catch (err) {
    deps.logger.error({ reservation: admitted.reservation, err: (err as Error).message }, 'could not settle a metered call');
  }
}

/** A non-streamed answer: its usage is in the JSON body. */
class JsonAnswer {
  private chunks: Buffer[] = [];
  private size = 0;
  usage: MeteredUsage | null = null;

  push(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size <= JSON_ANSWER_LIMIT) this.chunks.push(chunk);
  }

  end(): void {
    if (this.size > JSON_ANSWER_LIMIT) return;
    try {
      const parsed = JSON.parse(Buffer.concat(this.chunks).toString('utf8')) as { usage?: unknown };
      if (parsed.usage) this.usage = fromAnthropicUsage(parsed.usage);
    } catch {
      /* not a JSON message: no usage */
    }
    this.chunks = [];
  }
}

interface CallRequest {
  model: string;
  maxTokens: number;
  webSearchMaxUses: number;
}

function parseRequest(body: Buffer): CallRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ValidationError('The request body is not valid JSON.');
  }
  const r = parsed as { model?: unknown; max_tokens?: unknown; tools?: unknown };
  if (typeof r.model !== 'string' || r.model === '') throw new ValidationError('model: Field required');
  if (typeof r.max_tokens !== 'number' || !Number.isSafeInteger(r.max_tokens) || r.max_tokens < 1)
    throw new ValidationError('max_tokens: must be a positive integer');
  let webSearchMaxUses = 0;
  for (const tool of Array.isArray(r.tools) ? (r.tools as Array<{ type?: unknown; max_uses?: unknown }>) : []) {
    if (typeof tool?.type !== 'string' || !tool.type.startsWith('web_search')) continue;
    // Each search costs money: without a bound there is no worst case to reserve.
    if (typeof tool.max_uses !== 'number' || !Number.isSafeInteger(tool.max_uses) || tool.max_uses < 1) {
      throw new ValidationError('tools: a web_search tool needs max_uses on this platform, so that the most it can cost is known before the call.');
    }
    webSearchMaxUses += tool.max_uses;
  }
  return { model: r.model, maxTokens: r.max_tokens, webSearchMaxUses };
}
