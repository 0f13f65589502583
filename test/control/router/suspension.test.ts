/** Suspension and demotion take effect at once on every router process. */
import fs from 'node:fs';
import test from 'ava';
import { deriveCredential } from '../../../control/access/credentials.ts';
import { startPlatform } from '../../../control/compose.ts';
import { createLogger } from '../../../control/logger.ts';
import { setUserSuspended } from '../../../control/users/suspension.ts';
import { MemoryOrchestrator } from '../../doubles/memory-orchestrator.ts';
import { startEchoInstance } from '../../helpers/echo-instance.ts';
import { makeDataDir, TEST_KEY, TEST_SECRET, testConfig } from '../../helpers/platform.ts';
import { sendRaw } from '../../helpers/router.ts';
import { waitUntil } from '../../helpers/wait.ts';

test('suspending an owner refuses their token, cookie and wakes on every router process; demoting an admin ends admin access', async (t) => {
  const echo = await startEchoInstance('alice');
  t.teardown(() => echo.close());
  const orchestrator = new MemoryOrchestrator();
  orchestrator.address = () => ({ gateway: echo.gateway, shell: echo.shell });
  const dataDir = await makeDataDir();
  t.teardown(() => fs.promises.rm(dataDir, { recursive: true, force: true }));
  // Two router processes; news reaches them through the relay and the once-a-second reads.
  const platform = await startPlatform(testConfig(dataDir, { ROUTER_PROCESSES: '2' }), orchestrator, createLogger('silent'));
  t.teardown(() => platform.close());
  const api = (path: string, body?: unknown) =>
    fetch(platform.apiUrl + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_SECRET}`, 'content-type': 'application/json' },
      body: JSON.stringify(body ?? {}),
    });
  await platform.db.models.User.create({ id: 'root', handle: null, role: 'admin' });
  await (await api('/containers/provision', { handle: 'alice', userId: 'u-alice' })).body?.cancel();
  const port = Number(new URL(platform.publicListenUrl).port);
  const host = `alice.localhost:${port}`;
  const token = deriveCredential(TEST_KEY, 'instance-token', 'alice', 1);
  const burst = async (headers: Record<string, string>) =>
    (await Promise.all(Array.from({ length: 20 }, () => sendRaw(port, { host, path: '/api/x', headers })))).map((r) => r.status);
  const until = (check: () => Promise<boolean>, message: string) => waitUntil(check, { timeoutMs: 15_000, intervalMs: 50, message });
  await until(async () => (await burst({ authorization: `Bearer ${token}` })).every((s) => s === 200), 'alice to answer on every worker');
  const cookieFor = async (userId: string) => {
    const { url } = (await (await api('/containers/alice/login-link', { userId })).json()) as { url: string };
    const signed = await sendRaw(port, { host, path: new URL(url).pathname + new URL(url).search });
    return String(signed.headers['set-cookie']![0]).split(';')[0]!;
  };
  const owner = await cookieFor('u-alice');
  const admin = await cookieFor('root');
  t.deepEqual(new Set(await burst({ cookie: owner })), new Set([200]));
  // root became an admin behind the routers' backs (a direct insert): their once-a-second read finds it.
  await until(async () => (await burst({ cookie: admin })).every((s) => s === 200), 'every worker to know root is an admin');

  // Suspend: the owner's token and cookie are refused everywhere, and the instance stops.
  const started = Date.now();
  await setUserSuspended({ users: platform.users, service: platform.service, logger: createLogger('silent') }, 'u-alice', true, 'admin:root');
  await until(async () => (await burst({ authorization: `Bearer ${token}` })).every((s) => s === 403), "every worker to refuse alice's token");
  t.log(`refused on every worker ${Date.now() - started} ms after the suspension`);
  t.deepEqual(new Set(await burst({ cookie: owner })), new Set([403]), 'and her cookie');
  await until(async () => (await platform.service.get('alice')).status === 'stopped', 'the instance to stop');
  const starts = () => platform.store.events('alice', 0, 500).then((e) => e.filter((x) => x.to === 'starting').length);
  const startsBefore = await starts();
  const wake = await sendRaw(port, { host, path: '/api/x', headers: { authorization: `Bearer ${token}` } });
  t.is(wake.status, 403);
  t.regex(wake.json<{ error: { message: string } }>().error.message, /suspended/);
  t.deepEqual(new Set(await burst({ cookie: admin })), new Set([403]), 'not even an admin wakes it');
  await t.throwsAsync(platform.service.request('alice', 'start', 'admin:root'), { message: /suspended/ });
  t.is(await starts(), startsBefore, 'nothing started it');

  // Unsuspend: access returns without a restart; the next visit wakes the instance.
  await setUserSuspended({ users: platform.users, service: platform.service, logger: createLogger('silent') }, 'u-alice', false, 'admin:root');
  await until(async () => (await sendRaw(port, { host, path: '/api/x', headers: { authorization: `Bearer ${token}` } })).status === 200, 'alice back');
  await until(async () => (await burst({ authorization: `Bearer ${token}` })).every((s) => s === 200), 'alice back on every worker');

  // Demote the admin: their 12-hour admin cookie stops working on every worker within a second or so.
  t.deepEqual(new Set(await burst({ cookie: admin })), new Set([200]));
  const demoted = Date.now();
  await platform.users.setRole('root', 'user', 'admin:other');
  await until(async () => (await burst({ cookie: admin })).every((s) => s === 401), 'every worker to refuse the demoted admin');
  t.log(`demotion effective everywhere ${Date.now() - demoted} ms later`);
  t.deepEqual(new Set(await burst({ cookie: owner })), new Set([200]), "the owner's own cookie is untouched");
});
