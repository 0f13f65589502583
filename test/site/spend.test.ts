/**
 * Model spend on the site: the user's budget and chart on the dashboard; the admin
 * pages for spend, budgets, the ledger and prices.
 */
import test, { type ExecutionContext } from 'ava';
import { deriveCredential } from '../../control/access/credentials.ts';
import { type AnthropicDouble, DEFAULT_MODELS, startAnthropicDouble } from '../doubles/anthropic/index.ts';
import { message } from '../helpers/meter.ts';
import { startTestPlatform, TEST_KEY, type TestPlatform } from '../helpers/platform.ts';
import { type SiteClient, siteClient } from '../helpers/site.ts';
import { waitUntil } from '../helpers/wait.ts';

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)![1]!;

async function setUp(t: ExecutionContext): Promise<{ platform: TestPlatform; double: AnthropicDouble; site: SiteClient }> {
  const double = await startAnthropicDouble({
    models: [...DEFAULT_MODELS, { id: 'claude-opus-4-6', display_name: 'Claude Opus 4.6', created_at: '2026-02-05T00:00:00Z' }],
  });
  t.teardown(() => double.close());
  const platform = await startTestPlatform(t, {
    env: { ANTHROPIC_BASE_URL: double.url, ANTHROPIC_API_KEY: double.apiKey, ADMIN_EMAILS: 'root@example.com', METER_DEFAULT_BUDGET_USD: '5' },
  });
  return { platform, double, site: siteClient(platform) };
}

/** Signs up `handle` through the site; returns the session cookie and the CSRF token. */
async function signUp(site: SiteClient, email: string, handle: string): Promise<{ cookie: string; csrf: string }> {
  const { cookie } = await site.signIn(email);
  const csrf = csrfOf((await site.send('/signup', { cookie })).text);
  const done = await site.send('/signup', { cookie, form: { csrf, handle } });
  if (done.status !== 303) throw new Error(`sign-up answered ${done.status}`);
  return { cookie, csrf };
}

async function spend(platform: TestPlatform, handle: string, model = 'claude-haiku-4-5', maxTokens = 50_000): Promise<void> {
  const key = deriveCredential(TEST_KEY, 'meter-key', handle, 1);
  const response = await fetch(`${platform.meter.url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify(message({ model, max_tokens: maxTokens })),
  });
  if (response.status !== 200) throw new Error(`the call answered ${response.status}: ${await response.text()}`);
  await response.arrayBuffer();
}

const ledgerCount = async (platform: TestPlatform) =>
  Number(((await platform.db.sequelize.query('SELECT COUNT(*) AS n FROM meter_ledger'))[0] as Array<{ n: number }>)[0]!.n);

test('the dashboard shows "Budget: $X.XX remaining", what was spent, and a chart of spend per day', async (t) => {
  const { platform, double, site } = await setUp(t);
  const { cookie } = await signUp(site, 'gil@example.com', 'gil');
  const before = await site.send('/dashboard', { cookie });
  t.regex(before.text, /Budget: \$5\.00 remaining/);
  t.regex(before.text, /No calls yet/);

  // $0.20 of output: 40,000 tokens at $5/M.
  double.replyNext({ usage: { input_tokens: 1000, output_tokens: 40_000 } });
  await platform.waitFor('gil', 'running');
  await spend(platform, 'gil');
  await waitUntil(async () => (await ledgerCount(platform)) === 1);
  const after = await site.send('/dashboard', { cookie });
  t.regex(after.text, /Budget: \$4\.79 remaining/, '$5 − $0.201');
  t.regex(after.text, /\$0\.2010 of \$5\.00/);
  const today = new Date().toISOString().slice(0, 10);
  t.regex(after.text, new RegExp(`<title>${today}: \\$0\\.2010 \\(1 call\\)</title>`), 'a bar for today');
  t.is((after.text.match(/<rect /g) ?? []).length, 14, 'fourteen days');
  t.regex(after.text, new RegExp(`<tr><td>${today}</td><td>\\$0\\.2010</td><td>1</td></tr>`), 'the same figures as a table');
  t.notRegex(after.text, /<script[^>]+src="http|<link[^>]+href="http/, 'no external assets');
});

test('admins see spend by day, model and spender, set budgets, and download the ledger; others cannot', async (t) => {
  const { platform, site } = await setUp(t);
  await signUp(site, 'hal@example.com', 'hal');
  const user = await site.signIn('hal@example.com');
  await platform.waitFor('hal', 'running');
  await spend(platform, 'hal');
  await waitUntil(async () => (await ledgerCount(platform)) === 1);

  for (const path of ['/admin/spend', '/admin/prices', '/admin/spend/ledger.csv']) t.is((await site.send(path, { cookie: user.cookie })).status, 403, path);
  t.is(
    (
      await site.send('/admin/spend/budget', {
        cookie: user.cookie,
        form: { csrf: csrfOf((await site.send('/dashboard', { cookie: user.cookie })).text), handle: 'hal', usd: '100' },
      })
    ).status,
    403,
  );

  const { cookie } = await site.signIn('root@example.com');
  const page = await site.send('/admin/spend', { cookie });
  t.is(page.status, 200);
  t.regex(page.text, /<td>claude-haiku-4-5<\/td>/);
  t.regex(page.text, /<tr><td>hal<\/td>/);
  t.regex(page.text, /No event-wide ceiling/);
  t.is((await site.send('/admin/spend?days=3', { cookie })).status, 400);
  const csrf = csrfOf(page.text);

  const set = await site.send('/admin/spend/budget', { cookie, form: { csrf, handle: 'hal', usd: '0.5', period: 'daily' } });
  t.is(set.status, 303);
  t.regex(decodeURIComponent(set.headers.location!), /hal now has \$0\.50 \(daily\)/);
  const holder = (await platform.users.handleHolder('hal'))!;
  t.like(await platform.spend.books.budget(holder), { limit: 500_000, period: 'daily' });
  for (const [form, pattern] of [
    [{ handle: 'hal', usd: 'lots' }, /usd must be an amount/],
    [{ handle: 'nobody', usd: '1' }, /No user with handle/],
    [{ handle: 'hal', usd: '1', period: 'hourly' }, /period must be one of/],
  ] as const) {
    const refused = await site.send('/admin/spend/budget', { cookie, form: { csrf, ...form } });
    t.is(refused.status, 400, JSON.stringify(form));
    t.regex(refused.text, pattern);
  }
  t.is((await site.send('/admin/spend/budget', { cookie, form: { csrf: 'forged', handle: 'hal', usd: '100' } })).status, 403);
  const reset = await site.send('/admin/spend/budget', { cookie, form: { csrf, handle: 'hal', usd: '' } });
  t.is(reset.status, 303);
  t.like(await platform.spend.books.budget(holder), { limit: 5_000_000, period: 'none' }, 'empty: back to the default');

  const csv = await site.send('/admin/spend/ledger.csv', { cookie });
  t.is(csv.status, 200);
  t.regex(String(csv.headers['content-type']), /^text\/csv/);
  const lines = csv.text.trim().split('\r\n');
  t.is(lines.length, 2);
  t.regex(lines[1]!, /,hal,/);
  const audit = await site.send('/admin/audit', { cookie });
  t.is((audit.text.match(/<td>set_budget<\/td>/g) ?? []).length, 2);
});

test('admins price a model on the prices page; until then it is refused', async (t) => {
  const { platform, site } = await setUp(t);
  await signUp(site, 'ivy@example.com', 'ivy');
  await platform.waitFor('ivy', 'running');
  await t.throwsAsync(spend(platform, 'ivy', 'claude-opus-4-6'), { message: /400.*claude-opus-4-6/s });

  const { cookie } = await site.signIn('root@example.com');
  const page = await site.send('/admin/prices', { cookie });
  t.regex(page.text, /<td>claude-haiku-4-5/);
  t.notRegex(page.text, /<td>claude-opus-4-6/);
  const csrf = csrfOf(page.text);
  const rates = { input: '5', cacheWrite5m: '6.25', cacheWrite1h: '10', cacheRead: '0.50', output: '25' };
  const bad = await site.send('/admin/prices', { cookie, form: { csrf, family: 'claude-opus-4-6', ...rates, output: 'free' } });
  t.is(bad.status, 400);
  t.regex(bad.text, /output/);
  const badFamily = await site.send('/admin/prices', { cookie, form: { csrf, family: '<script>', ...rates }, headers: { accept: 'text/html' } });
  t.is(badFamily.status, 400);
  t.regex(badFamily.text, /must be a model id like claude-opus-4-6/);

  const saved = await site.send('/admin/prices', { cookie, form: { csrf, family: 'claude-opus-4-6', ...rates } });
  t.is(saved.status, 303);
  t.regex(decodeURIComponent(saved.headers.location!), /claude-opus-4-6 is priced \(version admin-\d+\)/);
  const listed = await site.send('/admin/prices', { cookie });
  t.regex(listed.text, /<td>claude-opus-4-6<\/td><td>5<\/td><td>6\.25<\/td><td>10<\/td><td>0\.5<\/td><td>25<\/td>/);
  await spend(platform, 'ivy', 'claude-opus-4-6');
});
