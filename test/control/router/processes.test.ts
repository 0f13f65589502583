/** ROUTER_PROCESSES > 1: the router in worker processes sharing the public port. */
import fs from 'node:fs';
import test from 'ava';
import { deriveCredential } from '../../../control/access/credentials.ts';
import { startPlatform } from '../../../control/compose.ts';
import { createLogger } from '../../../control/logger.ts';
import { MemoryOrchestrator } from '../../doubles/memory-orchestrator.ts';
import { startEchoInstance } from '../../helpers/echo-instance.ts';
import { makeDataDir, TEST_KEY, TEST_SECRET, testConfig } from '../../helpers/platform.ts';
import { sendRaw } from '../../helpers/router.ts';
import { waitUntil } from '../../helpers/wait.ts';

test('router worker processes share the port, follow rotations and wakes at once, and are replaced when they die', async (t) => {
  const echo = await startEchoInstance('alice');
  t.teardown(() => echo.close());
  const orchestrator = new MemoryOrchestrator();
  orchestrator.address = () => ({ gateway: echo.gateway, shell: echo.shell });
  const dataDir = await makeDataDir();
  t.teardown(() => fs.promises.rm(dataDir, { recursive: true, force: true }));
  // No event-table poll and no worker poll during the test: only the primary's relay can bring
  // the workers news, and only a worker's forwarded transitions can wake the provisioning worker.
  const config = testConfig(dataDir, { ROUTER_PROCESSES: '2', ROUTE_SYNC_INTERVAL: '1h', WORKER_POLL_INTERVAL: '1h' });
  const platform = await startPlatform(config, orchestrator, createLogger('silent'));
  let closed = false;
  t.teardown(async () => {
    if (!closed) await platform.close();
  });
  t.is(platform.edge, null);
  const workers = platform.routerWorkers!;
  t.is(workers.pids.length, 2);
  const api = (path: string, init: RequestInit = {}) =>
    fetch(platform.apiUrl + path, { ...init, headers: { authorization: `Bearer ${TEST_SECRET}`, 'content-type': 'application/json' } });
  await (await api('/containers/provision', { method: 'POST', body: JSON.stringify({ handle: 'alice', userId: 'u-alice' }) })).body?.cancel();
  const port = Number(new URL(platform.publicListenUrl).port);
  const host = `alice.localhost:${port}`;
  const get = (token: string) => sendRaw(port, { host, path: '/api/x', headers: { authorization: `Bearer ${token}` } });
  const until = (check: () => Promise<boolean>, message: string) => waitUntil(check, { timeoutMs: 15_000, intervalMs: 50, message });
  await until(async () => (await get(deriveCredential(TEST_KEY, 'instance-token', 'alice', 1))).status === 200, 'alice to answer through the workers');

  // A rotation on the primary reaches every worker without waiting for the event-table poll.
  const { token } = (await (await api('/containers/alice/token', { method: 'POST' })).json()) as { token: string };
  let refusedWhileWaiting = 0;
  await until(async () => {
    const statuses = (await Promise.all(Array.from({ length: 20 }, () => get(token)))).map((r) => r.status);
    refusedWhileWaiting += statuses.filter((s) => s === 401).length;
    return statuses.every((s) => s === 200);
  }, 'every worker to accept the rotated token');
  const fresh = await Promise.all(Array.from({ length: 20 }, () => get(token)));
  t.deepEqual(new Set(fresh.map((r) => r.status)), new Set([200]));
  const stale = await Promise.all(Array.from({ length: 20 }, () => get(deriveCredential(TEST_KEY, 'instance-token', 'alice', 1))));
  t.deepEqual(new Set(stale.map((r) => r.status)), new Set([401]));

  // Wake through a worker: its transition reaches the primary's provisioning worker at once (no poll);
  // requests are held until the instance runs, and it is started once.
  await (await api('/containers/alice/stop', { method: 'POST' })).body?.cancel();
  await until(
    async () => (await Promise.all(Array.from({ length: 10 }, () => sendRaw(port, { host, path: '/health' })))).every((r) => r.status === 503),
    'every worker to see alice stopping',
  );
  const woken = await Promise.all(Array.from({ length: 10 }, () => get(token)));
  t.deepEqual(new Set(woken.map((r) => r.status)), new Set([200]));
  const events = await platform.store.events('alice', 0, 100);
  t.is(events.filter((e) => e.from === 'stopped' && e.to === 'starting').length, 1);

  // The primary's /metrics includes what the workers counted.
  const text = await (await fetch(`${platform.apiUrl}/metrics`, { headers: { authorization: `Bearer ${TEST_SECRET}` } })).text();
  const proxied = Number(/^mxos_router_requests_total\{outcome="proxied"\} (\d+)$/m.exec(text)?.[1]);
  t.true(proxied >= 31, `workers' proxied requests (20 fresh, 10 woken, 1+ while waiting) reach /metrics: ${proxied}`);
  t.is(
    Number(/^mxos_router_requests_total\{outcome="unauthorized"\} (\d+)$/m.exec(text)?.[1]),
    20 + refusedWhileWaiting,
    'the stale tokens, and any fresh one a worker refused before the rotation reached it',
  );
  t.regex(text, /^mxos_instances\{state="running"\} 1$/m, "next to the control process's own");

  const [victim] = workers.pids;
  process.kill(victim!, 'SIGKILL');
  await until(async () => workers.pids.length === 2 && !workers.pids.includes(victim!), 'a replacement router worker');
  t.is((await get(token)).status, 200);

  const pids = workers.pids;
  await platform.close();
  closed = true;
  for (const pid of pids) t.throws(() => process.kill(pid, 0), undefined, `router worker ${pid} is gone`);
});
