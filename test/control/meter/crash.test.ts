/**
 * A control process killed with SIGKILL while calls hold their reservations in a lease: on restart the
 * replica releases what its earlier run held, so no user is left with a budget that a
 * dead call still blocks.
 */
import test from 'ava';
import { QueryTypes } from 'sequelize';
import { deriveCredential } from '../../../control/access/credentials.ts';
import { openDatabase } from '../../../control/db/database.ts';
import { startAnthropicDouble } from '../../doubles/anthropic/index.ts';
import { controlApi, controlFixture, kill9, startControl } from '../../helpers/control-process.ts';
import { message } from '../../helpers/meter.ts';
import { TEST_KEY, testConfig } from '../../helpers/platform.ts';
import { freePort } from '../../helpers/postgres.ts';
import { waitUntil } from '../../helpers/wait.ts';

test('reservations held by a control process killed with SIGKILL are released when it restarts', async (t) => {
  const { dataDir, port } = await controlFixture(t);
  const double = await startAnthropicDouble();
  t.teardown(() => double.close());
  const meterPort = await freePort();
  const env = { METER_PORT: String(meterPort), ANTHROPIC_BASE_URL: double.url, ANTHROPIC_API_KEY: double.apiKey };
  let control = await startControl(dataDir, port, env);
  t.teardown(() => kill9(control));

  await (await controlApi(control, '/containers/provision', { method: 'POST', body: JSON.stringify({ handle: 'alice', userId: 'u-alice' }) })).body?.cancel();
  await waitUntil(
    async () => ((await (await controlApi(control, '/containers/alice')).json()) as { instance: { status: string } }).instance.status === 'running',
    { timeoutMs: 30_000, message: 'alice running' },
  );

  // Three calls stall upstream mid-stream, each holding its reservation.
  const stalls = [1, 2, 3].map(() => double.stallNext({ afterDeltas: 1 }));
  const key = deriveCredential(TEST_KEY, 'meter-key', 'alice', 1);
  const controller = new AbortController();
  const calls = stalls.map(() =>
    fetch(`http://127.0.0.1:${meterPort}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify(message({ stream: true, max_tokens: 4000 })),
      signal: controller.signal,
    }).catch(() => undefined),
  );
  await Promise.all(stalls.map((s) => s.reached));

  const db = await openDatabase(testConfig(dataDir).databaseUrl);
  t.teardown(() => db.close());
  const open = async () =>
    Number(
      (
        (await db.sequelize.query('SELECT COUNT(*) AS n FROM meter_reservations WHERE settled_at IS NULL AND released_at IS NULL', {
          type: QueryTypes.SELECT,
        })) as Array<{ n: number }>
      )[0]!.n,
    );
  const reserved = async () =>
    Number(
      (
        (await db.sequelize.query("SELECT reserved_micro FROM meter_windows WHERE scope = 'u-alice'", { type: QueryTypes.SELECT })) as Array<{
          reserved_micro: number;
        }>
      )[0]!.reserved_micro,
    );
  t.is(await open(), 1, 'one lease holds the three calls');
  t.true((await reserved()) > 0);

  await kill9(control);
  controller.abort();
  await Promise.all(calls);
  for (const stall of stalls) stall.release();
  t.is(await open(), 1, 'nothing settled it: the process died');

  control = await startControl(dataDir, port, env);
  t.is(await open(), 0, 'released before the restarted meter took calls');
  t.is(await reserved(), 0);
  const budget = (await (await controlApi(control, '/usage')).json()) as { topSpenders: unknown[] };
  t.deepEqual(budget.topSpenders, [], 'a released reservation is not a charge');

  // The meter works again for the same instance.
  const again = await fetch(`http://127.0.0.1:${meterPort}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify(message()),
  });
  t.is(again.status, 200);
});
