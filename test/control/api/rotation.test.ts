/** Every credential can be rotated; the old ones stop working. Local driver, real reference instance. */
import fs from 'node:fs';
import test from 'ava';
import { deriveCredential } from '../../../control/access/credentials.ts';
import { localDriverId } from '../../../control/main.ts';
import { scanProcesses } from '../../../control/orchestrator/local-processes.ts';
import { startTestPlatform, TEST_KEY } from '../../helpers/platform.ts';
import { sendRaw } from '../../helpers/router.ts';
import { waitUntil } from '../../helpers/wait.ts';

test('rotating all credentials redeploys the instance; the old instance token, router token and meter key stop working', async (t) => {
  const platform = await startTestPlatform(t);
  const port = Number(new URL(platform.edge.listenUrl).port);
  const host = `alice.localhost:${port}`;
  await (await platform.api('/containers/provision', { method: 'POST', json: { handle: 'alice', userId: 'u-alice' } })).body?.cancel();
  const before = (await platform.waitFor('alice', 'running')) as { address: { gateway: string } };
  const routerToken = (generation: number) => deriveCredential(TEST_KEY, 'router-token', 'alice', generation);
  const direct = (address: string, token: string) =>
    fetch(`${address}/api/system/info`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
  t.is(await direct(before.address.gateway, routerToken(1)), 200);
  const oldToken = deriveCredential(TEST_KEY, 'instance-token', 'alice', 1);

  const bad = await platform.api('/containers/alice/rotate', { method: 'POST', json: { credentials: ['password'] } });
  t.is(bad.status, 400);
  t.regex(((await bad.json()) as { error: { message: string } }).error.message, /token, router, meter/);
  t.is((await platform.api('/containers/alice/rotate', { method: 'POST', json: {} })).status, 400);

  const rotated = await platform.api('/containers/alice/rotate', { method: 'POST', json: { all: true } });
  t.is(rotated.status, 200);
  t.is(rotated.headers.get('cache-control'), 'no-store');
  const body = (await rotated.json()) as { rotated: string[]; token: string; redeploying: boolean };
  t.deepEqual(body.rotated, ['token', 'router', 'meter']);
  t.true(body.redeploying);
  t.is(body.token, deriveCredential(TEST_KEY, 'instance-token', 'alice', 2));
  t.false(JSON.stringify(body).includes(routerToken(2)), "the instance's own credentials are never shown");

  const after = (await platform.waitFor('alice', 'running')) as { address: { gateway: string } };
  await waitUntil(async () => (await sendRaw(port, { host, path: '/api/system/info', headers: { authorization: `Bearer ${body.token}` } })).status === 200, {
    message: 'the redeployed instance to answer through the router with the new token',
  });
  t.is((await sendRaw(port, { host, path: '/api/system/info', headers: { authorization: `Bearer ${oldToken}` } })).status, 401, 'the old instance token');
  t.is(await direct(after.address.gateway, routerToken(1)), 401, 'the old router token, at the instance itself');
  t.is(await direct(after.address.gateway, routerToken(2)), 200);
  // The meter key lives in the instance's environment: the redeployed process has the new one.
  const [proc] = (await scanProcesses(localDriverId(platform.dataDir))).filter((p) => p.leader);
  const environ = fs.readFileSync(`/proc/${proc!.pid}/environ`, 'utf8').split('\0');
  t.true(environ.includes(`ANTHROPIC_API_KEY=${deriveCredential(TEST_KEY, 'meter-key', 'alice', 2)}`));
  t.false(environ.some((v) => v === `ANTHROPIC_API_KEY=${deriveCredential(TEST_KEY, 'meter-key', 'alice', 1)}`));
  const audit = await platform.db.models.AuditEntry.findAll({ where: { target: 'alice' } });
  t.deepEqual(
    audit.map((a) => a.action).filter((a) => a.startsWith('rotate')),
    ['rotate_token', 'rotate_runtime_credentials'],
  );
});

test('rotating the instance credentials of a stopped instance takes effect at its next start', async (t) => {
  const platform = await startTestPlatform(t);
  await (await platform.api('/containers/provision', { method: 'POST', json: { handle: 'bob', userId: 'u-bob' } })).body?.cancel();
  await platform.waitFor('bob', 'running');
  await (await platform.api('/containers/bob/stop', { method: 'POST' })).body?.cancel();
  await platform.waitFor('bob', 'stopped');
  const r = await platform.api('/containers/bob/rotate', { method: 'POST', json: { credentials: ['meter'] } });
  t.deepEqual(((await r.json()) as { rotated: string[]; redeploying: boolean }).rotated, ['router', 'meter'], 'one generation for both');
  t.is((await platform.service.get('bob')).status, 'stopped', 'a stopped instance is not started by a rotation');
  await (await platform.api('/containers/bob/start', { method: 'POST' })).body?.cancel();
  const running = (await platform.waitFor('bob', 'running')) as { address: { gateway: string } };
  const status = (token: string) =>
    fetch(`${running.address.gateway}/api/system/info`, { headers: { authorization: `Bearer ${token}` } }).then((x) => x.status);
  t.is(await status(deriveCredential(TEST_KEY, 'router-token', 'bob', 1)), 401);
  t.is(await status(deriveCredential(TEST_KEY, 'router-token', 'bob', 2)), 200);
});
