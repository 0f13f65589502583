/** The platform's Matrix accounts against the Matrix double: durable, never duplicated, sealed at rest, deactivated. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { type Database, openDatabase } from '../../../control/db/database.ts';
import { MatrixAccountError, MatrixAccounts } from '../../../control/social/accounts.ts';
import { MatrixClient, MatrixUnavailableError } from '../../../control/social/matrix-client.ts';
import { SecretBox } from '../../../control/social/secret-box.ts';
import { DEFAULT_REGISTRATION_TOKEN, type MatrixDouble, startMatrixDouble } from '../../doubles/matrix/index.ts';
import { waitUntil } from '../../helpers/wait.ts';

const SERVER = 'matrix-os.test';
const KEY = 'secret-key-for-matrix-accounts-0123456789';

async function setup(t: ExecutionContext): Promise<{ matrix: MatrixDouble; db: Database; accounts: MatrixAccounts; box: SecretBox }> {
  const matrix = await startMatrixDouble({ serverName: SERVER });
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'mxos-accounts-'));
  const db = await openDatabase(`sqlite:${path.join(dir, 'platform.sqlite')}`);
  t.teardown(async () => {
    await matrix.close();
    await db.close();
    await fs.promises.rm(dir, { recursive: true, force: true });
  });
  const box = new SecretBox(KEY, 'matrix-tokens');
  const accounts = new MatrixAccounts(db, new MatrixClient(matrix.url, { timeoutMs: 2000 }), box, {
    homeserverUrl: matrix.url,
    instanceHomeserverUrl: matrix.url,
    serverName: SERVER,
    registrationToken: DEFAULT_REGISTRATION_TOKEN,
    serviceUser: 'matrixos',
    timeoutMs: 2000,
  });
  return { matrix, db, accounts, box };
}

/** Every text value in every table, to search for plaintext secrets. */
async function dumpDatabase(db: Database): Promise<string> {
  const tables = (await db.sequelize.getQueryInterface().showAllTables()) as string[];
  let all = '';
  for (const table of tables) {
    const [rows] = await db.sequelize.query(`SELECT * FROM "${table}"`);
    all += JSON.stringify(rows);
  }
  return all;
}

test('provisioning registers @handle and @handle_ai once, after the service account; tokens are sealed at rest', async (t) => {
  const { matrix, db, accounts } = await setup(t);
  await accounts.request('alice');
  await accounts.ensure('alice');
  const service = matrix.user(`@matrixos:${SERVER}`);
  t.true(service?.admin, 'the service account is the first user: Conduit makes it an admin');
  t.truthy(matrix.user(`@alice:${SERVER}`));
  const ai = await accounts.credentials('alice', 'ai');
  t.is(ai?.userId, `@alice_ai:${SERVER}`);
  const device = matrix.user(`@alice_ai:${SERVER}`)!.devices.find((d) => d.accessToken === ai!.accessToken);
  t.truthy(device, 'the opened token is a live token of that account');

  // Asked again (a retried step): nothing new on the homeserver.
  const registrations = matrix.requests.filter((r) => r.path.endsWith('/register')).length;
  await accounts.request('alice');
  await accounts.ensure('alice');
  t.is(matrix.requests.filter((r) => r.path.endsWith('/register')).length, registrations);

  const raw = await dumpDatabase(db);
  for (const user of matrix.users()) for (const d of user.devices) t.false(raw.includes(d.accessToken), `no plaintext token of ${user.userId}`);
  t.true(raw.includes('mxs1.'), 'the tokens are there, sealed');
});

test('a homeserver outage delays registration; after it, the accounts exist exactly once', async (t) => {
  const { matrix, accounts } = await setup(t);
  await accounts.request('bob');
  await matrix.down();
  await t.throwsAsync(accounts.ensure('bob'), { instanceOf: MatrixUnavailableError });
  const [human] = await accounts.status('bob');
  t.is(human!.state, 'pending');
  await matrix.up();
  // Its first attempt is provisioning's: the worker takes over later. Here the worker runs every due row.
  await waitUntil(async () => {
    for (const row of await accounts.due(10, new Date(Date.now() + 60_000))) await accounts.work(row);
    return (await accounts.status('bob')).every((r) => r.state === 'active');
  });
  t.is(matrix.users().filter((u) => u.localpart.startsWith('bob')).length, 2);
});

test('a registration whose answer was lost: the retry finds the account taken and logs in with the sealed password', async (t) => {
  const { matrix, db, accounts, box } = await setup(t);
  await accounts.request('carol');
  const row = await db.models.MatrixAccount.findOne({ where: { handle: 'carol', kind: 'ai' } });
  // The homeserver registered it, and the platform died before recording the token.
  await accounts.ensure('nobody-yet');
  matrix.registerUser('carol_ai', box.open(row!.password_sealed));
  await accounts.ensure('carol');
  const ai = await accounts.credentials('carol', 'ai');
  t.is(ai?.userId, `@carol_ai:${SERVER}`);
  t.is(matrix.users().filter((u) => u.localpart === 'carol_ai').length, 1);
});

test('a name taken by someone else is not hijacked: the account stays pending with a reason an operator can act on', async (t) => {
  const { matrix, accounts } = await setup(t);
  await accounts.ensure('nobody-yet'); // the service account first, as on a real start
  matrix.registerUser('dave_ai', 'someone-elses-password');
  await accounts.request('dave');
  await t.throwsAsync(accounts.ensure('dave'), { instanceOf: MatrixAccountError });
  const rows = await accounts.status('dave');
  const ai = rows.find((r) => r.kind === 'ai')!;
  t.is(ai.state, 'pending');
  t.is(await accounts.credentials('dave', 'ai'), null);
});

test('destroying deactivates both accounts through the admin room, retried through an outage; provisioning again gets new ids', async (t) => {
  const { matrix, accounts } = await setup(t);
  await accounts.request('erin');
  await accounts.ensure('erin');
  await accounts.scheduleDeactivation('erin');
  matrix.failNext(502, 'M_UNKNOWN', { path: /\/send\//, method: 'PUT' });
  const runDue = async () => {
    for (const row of await accounts.due(10, new Date(Date.now() + 120_000))) await accounts.work(row);
  };
  await runDue();
  t.true(
    (await accounts.status('erin')).some((r) => r.state === 'deactivating' && r.last_error),
    'the failed attempt is recorded',
  );
  await waitUntil(async () => {
    await runDue();
    return (await accounts.status('erin')).every((r) => r.state === 'deactivated');
  });
  await waitUntil(() => matrix.user(`@erin:${SERVER}`)?.deactivated && matrix.user(`@erin_ai:${SERVER}`)?.deactivated, {
    message: 'Conduit ran both deactivate-user commands',
  });
  const commands = matrix.room(matrix.adminRoomId)!.events.filter((e) => String(e.content.body ?? '').includes('deactivate-user'));
  t.is(commands.length, 2, 'one command per account, however many attempts');
  t.is(await accounts.credentials('erin', 'ai'), null);

  await accounts.request('erin');
  await accounts.ensure('erin');
  t.is((await accounts.credentials('erin', 'ai'))?.userId, `@erin.2_ai:${SERVER}`);
});

test('provisioned again before the deactivation ran: the old accounts are still deactivated, the new epoch is separate', async (t) => {
  const { matrix, accounts } = await setup(t);
  await accounts.request('finn');
  await accounts.ensure('finn');
  await accounts.scheduleDeactivation('finn');
  await accounts.request('finn'); // the handle is provisioned again at once
  await accounts.ensure('finn');
  for (const row of await accounts.due(10, new Date(Date.now() + 120_000))) await accounts.work(row);
  await waitUntil(() => matrix.user(`@finn_ai:${SERVER}`)?.deactivated, { message: 'the first epoch deactivated' });
  const ai = await accounts.credentials('finn', 'ai');
  t.is(ai?.userId, `@finn.2_ai:${SERVER}`);
  t.false(matrix.user(`@finn.2_ai:${SERVER}`)!.deactivated);
});

test('two workers given the same due row: one claims it, the homeserver sees one registration', async (t) => {
  const { matrix, accounts } = await setup(t);
  await accounts.ensure('nobody-yet');
  await accounts.request('gail');
  const due = await accounts.due(10, new Date(Date.now() + 60_000));
  const row = due.find((r) => r.kind === 'ai')!;
  const copy = due.find((r) => r.kind === 'ai')!;
  const results = await Promise.all([accounts.work(row), accounts.work(copy)]);
  t.deepEqual(results.sort(), [false, true]);
  t.is(
    matrix.requests.filter((r) => r.path.endsWith('/register') && (r.body as { username?: string })?.username === 'gail_ai').length,
    2,
    'one registration (its two UIA requests)',
  );
});

test('an instance gets a token of its credential generation: a rotation logs the old device out', async (t) => {
  const { matrix, accounts } = await setup(t);
  await accounts.request('hana');
  await accounts.ensure('hana');
  const first = await accounts.forInstance('hana', 1);
  const again = await accounts.forInstance('hana', 1);
  t.is(again!.accessToken, first!.accessToken, 'the same generation keeps its token');
  t.deepEqual(await accounts.awaitingHandover(10), [], 'handed over');
  const rotated = await accounts.forInstance('hana', 2);
  t.not(rotated!.accessToken, first!.accessToken);
  const devices = matrix.user(`@hana_ai:${SERVER}`)!.devices.map((d) => d.accessToken);
  t.false(devices.includes(first!.accessToken), 'the copied token is dead');
  t.true(devices.includes(rotated!.accessToken));
});

test('after SECRET_KEY rotation a sealed token still opens with the previous key and is sealed again under the new one', async (t) => {
  const { db, accounts, matrix } = await setup(t);
  await accounts.request('ivan');
  await accounts.ensure('ivan');
  const before = await accounts.credentials('ivan', 'ai');
  const rotatedBox = new SecretBox('a-brand-new-secret-key-0123456789abcdef', 'matrix-tokens', [KEY]);
  const rotated = new MatrixAccounts(db, new MatrixClient(matrix.url), rotatedBox, accounts.settings);
  const after = await rotated.credentials('ivan', 'ai');
  t.is(after?.accessToken, before?.accessToken);
  const row = await db.models.MatrixAccount.findOne({ where: { handle: 'ivan', kind: 'ai' } });
  t.false(rotatedBox.needsReseal(row!.access_token_sealed!));
  t.false(rotatedBox.needsReseal(row!.password_sealed));
});
