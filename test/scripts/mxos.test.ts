/** The mxos CLI against a real control service (local driver, reference instance). */
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { sendRaw } from '../helpers/router.ts';
import { closedPort, REPO, runCli, SECRET, spawnCli, startTestPlatform, type TestPlatform } from './_cli.ts';

let tp: TestPlatform;
test.before(async () => {
  tp = await startTestPlatform('cli');
});
test.after.always(async () => {
  await tp?.close();
});

const env = () => ({ PLATFORM_URL: tp.platform.apiUrl, PLATFORM_SECRET: SECRET });
const cli = (...args: string[]) => runCli(args, env());

test('full lifecycle: provision, list, status, stop, start, destroy', async (t) => {
  const handle = 'cli-life';
  const provisioned = await cli('provision', handle);
  t.is(provisioned.code, 0, provisioned.stderr);
  // Progress lines as events arrive, then the summary with the gateway address.
  t.regex(provisioned.stdout, /^ {2}\d\d:\d\d:\d\d {2}requested → provisioning +Provisioning started$/m);
  t.regex(provisioned.stdout, /starting → running/);
  const instance = await tp.platform.service.get(handle);
  t.is(instance.status, 'running');
  t.truthy(instance.gateway_url);
  t.regex(provisioned.stdout, new RegExp(`is running\\.[\\s\\S]*gateway: +${instance.gateway_url!.replace(/[.]/g, '\\.')}`));

  const listed = await cli('list');
  t.is(listed.code, 0, listed.stderr);
  t.regex(listed.stdout, /^HANDLE +STATUS +OWNER +LAST ACTIVE +ADDRESS$/m);
  t.regex(listed.stdout, new RegExp(`^${handle} +running +${handle} +.+ +http://127\\.0\\.0\\.1:\\d+$`, 'm'));

  const status = await cli('status', handle);
  t.is(status.code, 0, status.stderr);
  t.regex(status.stdout, /^status: +running$/m);
  t.regex(status.stdout, new RegExp(`^owner: +${handle}$`, 'm'));

  const stopped = await cli('stop', handle);
  t.is(stopped.code, 0, stopped.stderr);
  t.regex(stopped.stdout, /stopping → stopped/);
  t.is((await tp.platform.service.get(handle)).status, 'stopped');

  const started = await cli('start', handle);
  t.is(started.code, 0, started.stderr);
  t.regex(started.stdout, /stopped → starting/);
  t.is((await tp.platform.service.get(handle)).status, 'running');

  const refused = await cli('destroy', handle);
  t.is(refused.code, 2);
  t.regex(refused.stderr, /without --yes.*archives its data/);
  t.is((await tp.platform.service.get(handle)).status, 'running');

  const destroyed = await cli('destroy', handle, '--yes', '--purge');
  t.is(destroyed.code, 0, destroyed.stderr);
  t.regex(destroyed.stdout, /destroying → destroyed/);
  t.is((await tp.platform.service.get(handle)).status, 'destroyed');
  t.is((await tp.platform.orchestrator.status(handle)).state, 'missing');

  const events = await cli('events', handle);
  t.is(events.code, 0, events.stderr);
  const lines = events.stdout.trim().split('\n');
  t.regex(lines[0]!, /new → requested/);
  t.regex(lines[lines.length - 1]!, /destroying → destroyed/);
});

test('--json prints the API JSON with the instance', async (t) => {
  const handle = 'cli-json';
  // --user names someone who signed in, by email in any case (or handle, or id).
  await tp.platform.db.models.User.create({ id: 'user-json', email: 'json@example.com' });
  const provisioned = await cli('provision', handle, '--user', 'JSON@example.com', '--no-wait', '--json');
  t.is(provisioned.code, 0, provisioned.stderr);
  const body = JSON.parse(provisioned.stdout) as { instance: { handle: string; owner: string }; created: boolean };
  t.is(body.instance.handle, handle);
  t.is(body.instance.owner, 'user-json');
  t.true(body.created);

  const listed = await cli('list', '--json');
  t.is(listed.code, 0, listed.stderr);
  const list = JSON.parse(listed.stdout) as { instances: { handle: string }[]; total: number };
  t.true(list.instances.some((i) => i.handle === handle));

  const status = await cli('status', handle, '--json');
  t.is((JSON.parse(status.stdout) as { instance: { handle: string } }).instance.handle, handle);

  // Waiting in JSON mode prints only the final instance: stdout stays parseable.
  const destroyed = await cli('destroy', handle, '--yes', '--purge', '--json');
  t.is(destroyed.code, 0, destroyed.stderr);
  t.is((JSON.parse(destroyed.stdout) as { instance: { status: string } }).instance.status, 'destroyed');
});

test('--user resolves an email, a handle or an id, and refuses when nobody matches (no second user with that literal id)', async (t) => {
  const users = tp.platform.db.models.User;
  const nobody = await cli('provision', 'cli-nobody', '--user', 'nobody@example.com');
  t.is(nobody.code, 1);
  t.regex(nobody.stderr, /No user matches "nobody@example\.com": give their email, handle or id/);
  t.is(await users.findByPk('nobody@example.com'), null, 'no user was created with that literal id');
  t.is((await cli('open', 'cli-nobody', '--user', 'ghost')).code, 1);
  await users.create({ id: 'u-dana', email: 'dana@example.com' });
  const byId = await cli('provision', 'cli-dana', '--user', 'u-dana', '--no-wait', '--json');
  t.is(byId.code, 0, byId.stderr);
  t.is((JSON.parse(byId.stdout) as { instance: { owner: string } }).instance.owner, 'u-dana');
  const again = await cli('provision', 'cli-dana', '--user', 'cli-dana', '--no-wait', '--json');
  t.false((JSON.parse(again.stdout) as { created: boolean }).created, 'by handle: the same person, nothing new');
  t.is((await cli('destroy', 'cli-dana', '--yes', '--purge')).code, 0);
  // Two accounts whose emails differ only in case: the exact one, or a refusal, never a guess.
  await users.bulkCreate([
    { id: 'u-dup-1', email: 'Dup@example.com' },
    { id: 'u-dup-2', email: 'dup@example.com' },
  ]);
  const ambiguous = await cli('open', 'cli-life', '--user', 'DUP@example.com');
  t.is(ambiguous.code, 1);
  t.regex(ambiguous.stderr, /More than one account has the email "DUP@example\.com"/);
  const exact = await cli('provision', 'cli-dup', '--user', 'dup@example.com', '--no-wait', '--json');
  t.is((JSON.parse(exact.stdout) as { instance: { owner: string } }).instance.owner, 'u-dup-2');
  t.is((await cli('destroy', 'cli-dup', '--yes', '--purge')).code, 0);
});

test('an unknown handle exits 1 with the API message', async (t) => {
  const result = await cli('status', 'no-such-handle');
  t.is(result.code, 1);
  t.regex(result.stderr, /No instance with handle "no-such-handle"/);
  t.is(result.stdout, '');
  const follow = await cli('events', 'no-such-handle', '--follow');
  t.is(follow.code, 1);
  t.regex(follow.stderr, /No instance with handle "no-such-handle"/);
  const json = await cli('stop', 'no-such-handle', '--json');
  t.is(json.code, 1);
  t.is((JSON.parse(json.stdout) as { error: { code: string } }).error.code, 'not_found');
});

test('a wrong secret exits 1 with a clear message and prints no secret', async (t) => {
  const wrong = 'w'.repeat(40);
  const result = await runCli(['list'], { PLATFORM_URL: tp.platform.apiUrl, PLATFORM_SECRET: wrong });
  t.is(result.code, 1);
  t.regex(result.stderr, /Invalid platform secret/);
  t.regex(result.stderr, /PLATFORM_SECRET/);
  t.false(`${result.stdout}${result.stderr}`.includes(wrong));
  t.false(`${result.stdout}${result.stderr}`.includes(SECRET));
});

test('without PLATFORM_SECRET the CLI uses DATA_DIR/dev-secrets.json', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mxos-devsecrets-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const noSecret = await runCli(['info'], { PLATFORM_URL: tp.platform.apiUrl, DATA_DIR: dir });
  t.is(noSecret.code, 1);
  t.regex(noSecret.stderr, /Missing credentials.*Set PLATFORM_SECRET/);
  await writeFile(path.join(dir, 'dev-secrets.json'), JSON.stringify({ platformSecret: SECRET, secretKey: 'k'.repeat(32) }));
  const result = await runCli(['info'], { PLATFORM_URL: tp.platform.apiUrl, DATA_DIR: dir });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^driver: +local$/m);
  t.false(result.stdout.includes(SECRET));
});

test('an unreachable platform exits 1 naming PLATFORM_URL and npm start', async (t) => {
  const url = `http://127.0.0.1:${await closedPort()}`;
  const result = await runCli(['list'], { PLATFORM_URL: url, PLATFORM_SECRET: SECRET });
  t.is(result.code, 1);
  t.true(result.stderr.includes(`Cannot reach the platform API at ${url} (PLATFORM_URL)`), result.stderr);
  t.regex(result.stderr, /connection refused/);
  t.regex(result.stderr, /npm start/);
});

test('usage errors exit 2', async (t) => {
  for (const args of [
    ['list', '--bogus'],
    ['status'],
    ['frobnicate'],
    ['status', 'a', 'b'],
    ['provision', 'abc', '--timeout', 'soon'],
    ['list', '--limit', '0'],
    ['rotate', 'abc'],
    ['rotate', 'abc', '--password'],
    ['budget'],
    ['usage', '--days', '0'],
    ['price', 'claude-x', '--input', '1'],
    ['meter-key', 'abc'],
  ]) {
    const result = await cli(...args);
    t.is(result.code, 2, args.join(' '));
    t.regex(result.stderr, /mxos help/, args.join(' '));
  }
});

test('help lists the commands and the environment', async (t) => {
  const result = await runCli(['--help'], {});
  t.is(result.code, 0);
  for (const word of [
    'provision',
    'list',
    'status',
    'start',
    'stop',
    'destroy',
    'events',
    'budget',
    'usage',
    'prices',
    'price',
    'meter-key',
    'health',
    'info',
    'PLATFORM_URL',
    'PLATFORM_SECRET',
    'DATA_DIR',
  ]) {
    t.true(result.stdout.includes(word), word);
  }
});

test('budget, usage, prices and the ledger from the CLI', async (t) => {
  const { platform } = tp;
  await platform.db.models.User.create({ id: 'u-cli-budget', handle: 'cli-budget' });
  const shown = await cli('budget', 'cli-budget');
  t.is(shown.code, 0, shown.stderr);
  t.regex(shown.stdout, /^cli-budget: Budget: \$5\.00 remaining$/m);

  const set = await cli('budget', 'cli-budget', '--set', '2.5', '--period', 'daily');
  t.is(set.code, 0, set.stderr);
  t.regex(set.stdout, /Budget: \$2\.50 remaining/);
  t.regex(set.stdout, /^resets: +\d{4}-\d\d-\d\dT00:00:00\.000Z$/m);
  const periodOnly = await cli('budget', 'cli-budget', '--period', 'default', '--json');
  t.like(JSON.parse(periodOnly.stdout).budget, { limitUsd: '2.50', period: 'none' }, 'the amount stayed');
  const bad = await cli('budget', 'cli-budget', '--set', 'lots');
  t.is(bad.code, 1);
  t.regex(bad.stderr, /usd must be an amount in US dollars/);
  t.is((await cli('budget', 'nobody')).code, 1);
  const noInstance = await cli('meter-key', 'cli-budget', '--rotate');
  t.is(noInstance.code, 1);
  t.regex(noInstance.stderr, /No instance with handle "cli-budget"/);

  // Two settled calls, so usage has something to show.
  const userId = 'u-cli-budget';
  const charge = (cost: number) => ({
    model: 'claude-haiku-4-5',
    priceVersion: 'test',
    usage: { input: 100, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0, output: 10, webSearches: 0 },
    cost,
    outcome: 'ok' as const,
  });
  for (const cost of [120_000, 30_000]) await platform.spend.books.settle((await platform.spend.books.reserve(userId, 'cli-budget', 200_000)).id, charge(cost));
  const usage = await cli('usage', '--days', '7');
  t.is(usage.code, 0, usage.stderr);
  t.regex(usage.stdout, /^MODEL +SPENT +CALLS$/m);
  t.regex(usage.stdout, /^claude-haiku-4-5 +\$0\.15 +2$/m);
  t.regex(usage.stdout, /^cli-budget +\$0\.15 +2$/m);
  const json = JSON.parse((await cli('usage', '--json')).stdout) as { topSpenders: Array<{ handle: string; costMicro: number }> };
  t.deepEqual(
    json.topSpenders.map((s) => [s.handle, s.costMicro]),
    [['cli-budget', 150_000]],
  );
  const csv = await cli('usage', '--csv');
  t.is(csv.code, 0, csv.stderr);
  t.is(csv.stdout.trim().split('\n').length, 3, 'header and two rows');

  const prices = await cli('prices');
  t.regex(prices.stdout, /^claude-haiku-4-5 +1 +1\.25 +2 +0\.1 +5 +0\.01 +anthropic-/m);
  t.notRegex(prices.stdout, /^claude-opus-4-6 /m);
  const priced = await cli(
    'price',
    'claude-opus-4-6',
    '--input',
    '5',
    '--cache-write-5m',
    '6.25',
    '--cache-write-1h',
    '10',
    '--cache-read',
    '0.5',
    '--output',
    '25',
  );
  t.is(priced.code, 0, priced.stderr);
  t.regex(priced.stdout, /claude-opus-4-6 is priced \(version admin-\d+\)/);
  t.regex((await cli('prices')).stdout, /^claude-opus-4-6 +5 +6\.25 +10 +0\.5 +25 +0\.01 +admin-\d+$/m);
  const badPrice = await cli(
    'price',
    'claude-opus-4-6',
    '--input',
    'x',
    '--cache-write-5m',
    '6.25',
    '--cache-write-1h',
    '10',
    '--cache-read',
    '0.5',
    '--output',
    '25',
  );
  t.is(badPrice.code, 1);
  t.regex(badPrice.stderr, /input/);
});

test('health and info', async (t) => {
  const health = await cli('health');
  t.is(health.code, 0, health.stderr);
  t.regex(health.stdout, /^status: +ok$/m);
  const info = await cli('info', '--json');
  t.is(info.code, 0, info.stderr);
  const body = JSON.parse(info.stdout) as { driver: string; database: string };
  t.is(body.driver, 'local');
  t.is(body.database, 'sqlite');
});

test('mxos.sh runs from any directory, also through a symlink', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mxos-bin-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const link = path.join(dir, 'mxos');
  await symlink(path.join(REPO, 'scripts/mxos.sh'), link);
  const result = await runCli(['health'], env(), { argv: [link], cwd: dir });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^status: +ok$/m);
});

test('events --follow streams progress until Ctrl-C', async (t) => {
  const handle = 'cli-follow';
  const provisioned = await cli('provision', handle, '--no-wait');
  t.is(provisioned.code, 0, provisioned.stderr);
  const follower = spawnCli(['events', handle, '--follow'], env());
  t.teardown(() => follower.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => follower.once('close', (code) => resolve(code)));
  let stdout = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "starting → running" line in: ${stdout}`)), 60_000);
    follower.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.includes('starting → running')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  t.regex(stdout, /^ {2}\d\d:\d\d:\d\d {2}new → requested +Instance requested$/m);
  // Still streaming: a stop shows up without restarting the follower.
  t.is((await cli('stop', handle, '--no-wait')).code, 0);
  await new Promise<void>((resolve) => {
    const check = () => (stdout.includes('stopping → stopped') ? resolve() : setTimeout(check, 50));
    check();
  });
  follower.kill('SIGINT');
  t.is(await exited, 0);
  const destroyed = await cli('destroy', handle, '--yes', '--purge');
  t.is(destroyed.code, 0, destroyed.stderr);
});

test('open prints a one-time sign-in link and token --rotate a new token; both get through the router to the real instance', async (t) => {
  const handle = 'cli-open';
  await tp.platform.db.models.User.create({ id: 'owner-1', email: 'owner@example.com' });
  t.is((await cli('provision', handle, '--user', 'owner@example.com')).code, 0);
  const port = Number(new URL(tp.platform.publicListenUrl).port);
  const host = `${handle}.localhost:${port}`;

  const opened = await cli('open', handle, '--user', handle); // by handle, now that they have one
  t.is(opened.code, 0, opened.stderr);
  const link = new URL(/http:\/\/\S+/.exec(opened.stdout)![0]);
  t.is(link.hostname, `${handle}.localhost`);
  const login = await sendRaw(port, { host, path: link.pathname + link.search });
  t.is(login.status, 303);
  const cookie = String(login.headers['set-cookie']![0]).split(';')[0]!;
  const info = await sendRaw(port, { host, path: '/api/system/info', headers: { cookie } });
  t.is(info.status, 200, info.text);
  t.is(info.json<{ handle: string }>().handle, handle);
  t.is((await sendRaw(port, { host, path: link.pathname + link.search })).status, 400, 'the link works once');

  const refused = await cli('token', handle);
  t.is(refused.code, 2);
  t.regex(refused.stderr, /--rotate/);
  const rotated = await cli('token', handle, '--rotate', '--json');
  t.is(rotated.code, 0, rotated.stderr);
  const { token } = JSON.parse(rotated.stdout) as { token: string };
  t.regex(token, /^mxi_/);
  t.is((await sendRaw(port, { host, path: '/api/system/info', headers: { authorization: `Bearer ${token}` } })).status, 200);
  t.is((await sendRaw(port, { host, path: '/api/system/info', headers: { cookie } })).status, 401, 'rotation ended the browser session');

  const all = await cli('rotate', handle, '--all');
  t.is(all.code, 0, all.stderr);
  t.regex(all.stdout, /Rotated for cli-open: token, router, meter\./);
  t.regex(all.stdout, /restarting with its new router token and meter key/);
  const newest = /^(mxi_\S+)$/m.exec(all.stdout)![1]!;
  t.not(newest, token);

  // The meter key: a new one, shown once, the old one refused by the meter at once.
  const meterKey = (key: string) => fetch(`${tp.platform.meter.url}/v1/budget`, { headers: { 'x-api-key': key } }).then((r) => r.status);
  const before = await cli('meter-key', handle, '--rotate', '--json');
  const first = (JSON.parse(before.stdout) as { key: string }).key;
  t.is(await meterKey(first), 200);
  const again = await cli('meter-key', handle, '--rotate');
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /New meter key for cli-open \(shown only now/);
  const second = /^(mxm_\S+)$/m.exec(again.stdout)![1]!;
  t.is(await meterKey(first), 401);
  t.is(await meterKey(second), 200);
});

test('invite creates a code shown once with its link, invites lists it, --revoke withdraws it; bad options are usage errors', async (t) => {
  const made = await cli('invite', '--uses', '3', '--expires', '7d', '--note', 'table 3');
  t.is(made.code, 0, made.stderr);
  const code = /^([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})$/m.exec(made.stdout)?.[1];
  t.truthy(code, made.stdout);
  t.regex(made.stdout, /Sign-up link: http:\/\/localhost:\d+\/login\?invite=/);
  const id = /Invite (inv_[\w-]+)/.exec(made.stdout)![1]!;
  const listed = await cli('invites');
  t.is(listed.code, 0);
  t.regex(listed.stdout, new RegExp(`${id} +active +0/3 .*table 3`));
  t.false(listed.stdout.includes(code!), 'the list never shows a code');
  const revoked = await cli('invite', '--revoke', id);
  t.is(revoked.code, 0);
  t.regex((await cli('invites')).stdout, new RegExp(`${id} +revoked`));
  t.is((await cli('invite', '--expires', 'soon')).code, 2);
  const bad = await cli('invite', '--uses', '0');
  t.is(bad.code, 1);
  t.regex(bad.stderr, /uses must be a whole number/);
});
