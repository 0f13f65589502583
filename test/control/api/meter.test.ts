/**
 * The meter on the platform API, with the whole platform running (local driver, the
 * reference instance, the Anthropic double upstream): budgets, meter-key rotation,
 * spend reports, the ledger as CSV, prices.
 */
import fs from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { deriveCredential } from '../../../control/access/credentials.ts';
import { localDriverId } from '../../../control/main.ts';
import { scanProcesses } from '../../../control/orchestrator/local-processes.ts';
import { type AnthropicDouble, DEFAULT_MODELS, startAnthropicDouble } from '../../doubles/anthropic/index.ts';
import { message } from '../../helpers/meter.ts';
import { startTestPlatform, TEST_KEY, type TestPlatform } from '../../helpers/platform.ts';
import { waitUntil } from '../../helpers/wait.ts';

async function withUpstream(t: ExecutionContext, env: Record<string, string> = {}): Promise<{ platform: TestPlatform; double: AnthropicDouble }> {
  const double = await startAnthropicDouble({
    models: [...DEFAULT_MODELS, { id: 'claude-opus-4-6', display_name: 'Claude Opus 4.6', created_at: '2026-02-05T00:00:00Z' }],
  });
  t.teardown(() => double.close());
  const platform = await startTestPlatform(t, { env: { ANTHROPIC_BASE_URL: double.url, ANTHROPIC_API_KEY: double.apiKey, ...env } });
  return { platform, double };
}

async function provision(platform: TestPlatform, handle: string): Promise<void> {
  await platform.db.models.User.create({ id: `u-${handle}`, handle });
  await (await platform.api('/containers/provision', { method: 'POST', json: { handle, userId: `u-${handle}` } })).body?.cancel();
  await platform.waitFor(handle, 'running');
}

function call(platform: TestPlatform, key: string, body: Record<string, unknown> = message()): Promise<Response> {
  return fetch(`${platform.meter.url}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'anthropic-version': '2026-10-21' },
    body: JSON.stringify(body),
  });
}

async function errorMessage(response: Response): Promise<string> {
  return ((await response.json()) as { error: { message: string } }).error.message;
}

test('budgets: set, read and enforced; bad amounts are refused with a message naming the problem', async (t) => {
  const { platform, double } = await withUpstream(t);
  await provision(platform, 'alice');
  const key = deriveCredential(TEST_KEY, 'meter-key', 'alice', 1);

  const initial = await platform.api('/users/alice/budget');
  t.like(((await initial.json()) as { budget: Record<string, unknown> }).budget, { message: 'Budget: $5.00 remaining', limitUsd: '5.00', period: 'none' });

  for (const [body, pattern] of [
    [{ usd: 'five' }, /usd must be an amount/],
    [{ usd: -1 }, /usd must be an amount/],
    [{ usd: '1.0000001' }, /usd must be an amount/],
    [{ usd: 1e21 }, /usd must be an amount/],
    [{}, /Give usd/],
    [{ usd: true }, /usd must be an amount/],
    [{ usd: 1, period: 'weekly' }, /period must be one of none, daily, monthly/],
  ] as const) {
    const response = await platform.api('/users/alice/budget', { method: 'PUT', json: body });
    t.is(response.status, 400, JSON.stringify(body));
    t.regex(await errorMessage(response), pattern);
  }
  const notJson = await platform.api('/users/alice/budget', { method: 'PUT', body: '{', headers: { 'content-type': 'application/json' } });
  t.is(notJson.status, 400);
  const nobody = await platform.api('/users/nobody/budget', { method: 'PUT', json: { usd: 1 } });
  t.is(nobody.status, 404);
  t.regex(await errorMessage(nobody), /No user or instance with handle "nobody"/);
  t.is((await fetch(`${platform.apiUrl}/users/alice/budget`)).status, 401, 'the platform secret is required');

  const zero = await platform.api('/users/alice/budget', { method: 'PUT', json: { usd: 0 } });
  t.like(((await zero.json()) as { budget: Record<string, unknown> }).budget, { message: 'Budget: $0.00 remaining', limitUsd: '0.00' });
  const refused = await call(platform, key);
  t.is(refused.status, 400);
  t.is(refused.headers.get('x-should-retry'), 'false');
  t.is(double.requests.length, 0, '0 means nothing may be spent');

  const half = await platform.api('/users/alice/budget', { method: 'PUT', json: { usd: 2.5, period: 'daily' } });
  const set = ((await half.json()) as { budget: { limitUsd: string; period: string; resetsAt: string } }).budget;
  t.like(set, { limitUsd: '2.50', period: 'daily' });
  t.true(Date.parse(set.resetsAt) > Date.now());
  const ok = await call(platform, key);
  t.is(ok.status, 200);
  t.is(ok.headers.get('x-mxos-budget'), 'Budget: $2.49 remaining', 'the reservation is held while the call runs');
  await ok.arrayBuffer();

  const audit = await platform.db.models.AuditEntry.findAll({ where: { action: 'set_budget' } });
  t.is(audit.length, 2);
});

test('a new meter key is returned once, the old one dies at once, and the instance restarts with the new one', async (t) => {
  const { platform } = await withUpstream(t);
  await provision(platform, 'alice');
  const oldKey = deriveCredential(TEST_KEY, 'meter-key', 'alice', 1);
  t.is((await call(platform, oldKey)).status, 200);

  const rotated = await platform.api('/users/alice/meter-key', { method: 'POST' });
  t.is(rotated.status, 200);
  t.is(rotated.headers.get('cache-control'), 'no-store');
  const { key, redeploying } = (await rotated.json()) as { key: string; redeploying: boolean };
  t.true(redeploying);
  t.regex(key, /^mxm_/);
  t.not(key, oldKey);
  t.is((await call(platform, oldKey)).status, 401, 'the old key, at once');
  t.is((await call(platform, key)).status, 200);

  await platform.waitFor('alice', 'running');
  const environment = await waitUntil(async () => {
    const [leader] = (await scanProcesses(localDriverId(platform.dataDir))).filter((p) => p.leader);
    const environ = leader ? fs.readFileSync(`/proc/${leader.pid}/environ`, 'utf8').split('\0') : [];
    return environ.includes(`ANTHROPIC_API_KEY=${key}`) && environ;
  });
  t.true(environment.includes(`ANTHROPIC_BASE_URL=${platform.meter.url}`), 'the instance is pointed at this meter');
  t.is((await platform.api('/users/nobody/meter-key', { method: 'POST' })).status, 404);
});

test('a metered call is activity: the idle sweep sees it', async (t) => {
  const { platform } = await withUpstream(t);
  await provision(platform, 'alice');
  await platform.activity.flush();
  const longAgo = new Date(Date.now() - 3_600_000);
  await platform.db.models.Instance.update({ last_active_at: longAgo }, { where: { handle: 'alice' } });
  const response = await call(platform, deriveCredential(TEST_KEY, 'meter-key', 'alice', 1));
  await response.arrayBuffer();
  // Recorded in memory, written by the next flush (its own timer may have run already).
  await platform.activity.flush();
  const after = await platform.db.models.Instance.findOne({ where: { handle: 'alice' } });
  t.true(after!.last_active_at!.getTime() > longAgo.getTime() + 60_000, 'the call moved the idle clock');
});

test('usage reports, the ledger as CSV, and prices an admin sets', async (t) => {
  const { platform, double } = await withUpstream(t);
  await provision(platform, 'alice');
  const key = deriveCredential(TEST_KEY, 'meter-key', 'alice', 1);
  double.replyNext({ usage: { input_tokens: 1000, output_tokens: 100 } });
  await (await call(platform, key)).arrayBuffer();

  // claude-opus-4-6 ships unpriced: refused until an admin prices it.
  const opus = message({ model: 'claude-opus-4-6' });
  const unpriced = await call(platform, key, opus);
  t.is(unpriced.status, 400);
  t.regex(await errorMessage(unpriced), /claude-opus-4-6/);
  const rates = { input: '5', cacheWrite5m: '6.25', cacheWrite1h: '10', cacheRead: '0.50', output: '25' };
  for (const [body, pattern] of [
    [{ ...rates, output: undefined }, /output is required/],
    [{ ...rates, input: '-5' }, /input/],
    [{ ...rates, cacheRead: 'cheap' }, /cacheRead/],
  ] as const) {
    const response = await platform.api('/prices/claude-opus-4-6', { method: 'PUT', json: body });
    t.is(response.status, 400, JSON.stringify(body));
    t.regex(await errorMessage(response), pattern);
  }
  const priced = await platform.api('/prices/claude-opus-4-6', { method: 'PUT', json: rates });
  t.is(priced.status, 200);
  const { version } = (await priced.json()) as { version: string };
  double.replyNext({ usage: { input_tokens: 1000, output_tokens: 100 } });
  const allowed = await call(platform, key, opus);
  t.is(allowed.status, 200, 'priced at once on this replica');
  await allowed.arrayBuffer();

  const prices = (await (await platform.api('/prices')).json()) as {
    families: Array<{ family: string; version: string; usdPerMillionTokens: Record<string, string> }>;
  };
  const listed = prices.families.find((f) => f.family === 'claude-opus-4-6');
  t.is(listed?.version, version);
  t.is(listed?.usdPerMillionTokens.cacheWrite1h, '10.000000');

  await waitUntil(async () => (await platform.db.models.AuditEntry.count({ where: { action: 'set_price' } })) === 1);
  const usage = await waitUntil(async () => {
    const body = (await (await platform.api('/usage?days=7')).json()) as {
      byModel: Array<{ model: string; costMicro: number; calls: number }>;
      topSpenders: Array<{ handle: string; costMicro: number }>;
      byDay: Array<{ day: string; costMicro: number }>;
    };
    return body.byModel.length === 2 && body;
  });
  // haiku-4-5: 1000 × $1 + 100 × $5 per M; opus-4-6 as priced: 1000 × $5 + 100 × $25 per M.
  t.deepEqual(usage.byModel.map((m) => [m.model, m.costMicro, m.calls]).sort(), [
    ['claude-haiku-4-5', 1500, 1],
    ['claude-opus-4-6', 7500, 1],
  ]);
  t.deepEqual(
    usage.topSpenders.map((s) => [s.handle, s.costMicro]),
    [['alice', 9000]],
  );
  t.is(
    usage.byDay.reduce((sum, d) => sum + d.costMicro, 0),
    9000,
  );
  t.is((await platform.api('/usage?days=0')).status, 400);

  const csv = await platform.api('/usage/ledger.csv');
  t.regex(csv.headers.get('content-type') ?? '', /^text\/csv/);
  const lines = (await csv.text()).trim().split('\n');
  t.is(lines.length, 3, 'a header and two calls');
  t.regex(lines[0]!, /handle/);
  t.true(lines.slice(1).every((line) => line.includes('alice')));
  t.true(
    lines.some((line) => line.includes(version)),
    'each row carries its price version',
  );
});
