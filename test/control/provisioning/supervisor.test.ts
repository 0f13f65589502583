/**
 * Self-healing on the local driver, with real instance processes: a process killed
 * behind the platform's back is seen at once (exit events, or polling for processes
 * re-adopted after a control restart), restarted with a limit, and a stop is never undone.
 */
import test from 'ava';
import { localDriverId } from '../../../control/main.ts';
import { scanProcesses } from '../../../control/orchestrator/local-processes.ts';
import type { StoredEvent } from '../../../control/provisioning/store.ts';
import { startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { siteClient } from '../../helpers/site.ts';
import { waitUntil } from '../../helpers/wait.ts';

async function pidsOf(dataDir: string, handle: string): Promise<number[]> {
  return (await scanProcesses(localDriverId(dataDir))).filter((p) => p.handle === handle && p.leader).map((p) => p.pid);
}

async function provisionRunning(platform: TestPlatform, handle: string): Promise<number> {
  const response = await platform.api('/containers/provision', { method: 'POST', json: { handle, userId: `u-${handle}` } });
  if (response.status !== 201) throw new Error(`provision ${handle}: ${response.status}`);
  await platform.waitFor(handle, 'running');
  const [pid] = await pidsOf(platform.dataDir, handle);
  if (!pid) throw new Error(`no process for ${handle}`);
  return pid;
}

async function events(platform: TestPlatform, handle: string): Promise<StoredEvent[]> {
  return platform.store.events(handle, 0, 1000);
}

/** Kills the instance's process and waits until it is running again as another process. */
async function killAndAwaitRestart(platform: TestPlatform, handle: string, pid: number): Promise<number> {
  process.kill(pid, 'SIGKILL');
  let next = 0;
  await waitUntil(
    async () => {
      const row = await platform.store.findByHandle(handle);
      const pids = await pidsOf(platform.dataDir, handle);
      next = pids[0] ?? 0;
      return row?.status === 'running' && pids.length === 1 && next !== pid;
    },
    { timeoutMs: 30_000, message: `${handle} was not restarted` },
  );
  return next;
}

test("an instance killed behind the platform's back runs again within seconds, with no sweep, and its route follows", async (t) => {
  const platform = await startTestPlatform(t, { env: { SWEEP_INTERVAL: '1h' } });
  const pid = await provisionRunning(platform, 'victim');
  const before = platform.edge.routes.get('victim')!.gatewayUrl;

  const next = await killAndAwaitRestart(platform, 'victim', pid);
  t.not(next, pid);
  const crash = (await events(platform, 'victim')).find((e) => e.kind === 'crash');
  t.is(crash?.message, 'The instance exited with signal SIGKILL; restarting (restart 1 of 3 allowed in 10 min)');
  t.is(crash?.to, 'starting');
  await waitUntil(() => platform.edge.routes.get('victim')?.status === 'running' && platform.edge.routes.get('victim')!.gatewayUrl !== before, {
    message: 'the route table did not follow the restart',
  });
  const gateway = platform.edge.routes.get('victim')!.gatewayUrl!;
  t.is((await fetch(`${gateway}/health`)).status, 200);
  t.deepEqual(await platform.lifecycle.reconcile(), [], 'nothing left for reconcile to fix');
});

test('a crash loop ends in failed with the reason after the limit, and nothing keeps running', async (t) => {
  const platform = await startTestPlatform(t, { env: { RESTART_LIMIT: '2', RESTART_BACKOFF: '100ms', ADMIN_EMAILS: 'root@example.com' } });
  let pid = await provisionRunning(platform, 'loopy');
  pid = await killAndAwaitRestart(platform, 'loopy', pid);
  pid = await killAndAwaitRestart(platform, 'loopy', pid);
  process.kill(pid, 'SIGKILL');
  const failed = await platform.waitFor('loopy', 'failed');
  t.is(
    failed.lastError,
    'The instance exited with signal SIGKILL. It was restarted 2 times in 10 min and crashed again, so it was not restarted; start it again once the cause is fixed.',
  );
  const crashes = (await events(platform, 'loopy')).filter((e) => e.kind === 'crash');
  t.deepEqual(
    crashes.map((e) => e.to),
    ['starting', 'starting', 'failed'],
  );
  t.regex(crashes[1]!.message, /restarting in 0\.1 s \(restart 2 of 2 allowed in 10 min\)$/);
  t.deepEqual(await pidsOf(platform.dataDir, 'loopy'), []);
  t.is(platform.edge.routes.get('loopy')?.status, 'failed');
  // Admins see why on their page (the owner on the dashboard, operators with `mxos status`: the API's lastError).
  const site = siteClient(platform);
  const { cookie } = await site.signIn('root@example.com');
  const admin = await site.send('/admin/users?q=loopy', { cookie });
  t.regex(admin.text, /failed<\/span><br><span class="error">The instance exited with signal SIGKILL\. It was restarted 2 times in 10 min/);

  // A person starting it again begins a new count: the next crash is restarted.
  await platform.api('/containers/loopy/start', { method: 'POST' });
  await platform.waitFor('loopy', 'running');
  const [again] = await pidsOf(platform.dataDir, 'loopy');
  await killAndAwaitRestart(platform, 'loopy', again!);
  t.is((await events(platform, 'loopy')).filter((e) => e.kind === 'crash').length, 4);
});

test('a stopped instance is not restarted, even when its process is killed as it stops', async (t) => {
  const platform = await startTestPlatform(t);
  const pid = await provisionRunning(platform, 'sleeper');
  t.is((await platform.api('/containers/sleeper/stop', { method: 'POST' })).status, 202);
  try {
    process.kill(pid, 'SIGKILL'); // dies while stopping (if the stop has not ended it already)
  } catch {
    /* already gone */
  }
  await platform.waitFor('sleeper', 'stopped');
  // Whatever the exit or a check reports now, a stopped instance stays stopped.
  await platform.supervisor.check('sleeper');
  await platform.lifecycle.sweep();
  t.is((await platform.store.findByHandle('sleeper'))?.status, 'stopped');
  t.deepEqual(await pidsOf(platform.dataDir, 'sleeper'), []);
  t.false((await events(platform, 'sleeper')).some((e) => e.kind === 'crash'));
});

test('after a control restart, a re-adopted instance killed behind its back is restarted too', async (t) => {
  const first = await startTestPlatform(t, { keepDataDir: true });
  const pid = await provisionRunning(first, 'adoptee');
  await first.close();
  const second = await startTestPlatform(t, { dataDir: first.dataDir, env: { SWEEP_INTERVAL: '1h' } });
  t.deepEqual(await pidsOf(second.dataDir, 'adoptee'), [pid], 'the instance outlived the control service');
  const next = await killAndAwaitRestart(second, 'adoptee', pid);
  t.not(next, pid);
  const crash = (await events(second, 'adoptee')).find((e) => e.kind === 'crash');
  t.is(crash?.message, `The instance process (pid ${pid}) is gone; restarting (restart 1 of 3 allowed in 10 min)`);
});

test('an instance process with no database row is stopped by reconcile', async (t) => {
  const platform = await startTestPlatform(t);
  const { buildInstanceSpec } = await import('../../../control/orchestrator/spec.ts');
  const spec = buildInstanceSpec(platform.config, platform.secretKey, { handle: 'stowaway', owner: 'nobody', tokenGeneration: 1 });
  await platform.orchestrator.ensure(spec);
  await platform.orchestrator.start('stowaway');
  t.is((await pidsOf(platform.dataDir, 'stowaway')).length, 1);
  const report = await platform.lifecycle.sweep();
  t.deepEqual(report.fixes, ['stowaway: orphan instance with no database row: stopped']);
  t.deepEqual(await pidsOf(platform.dataDir, 'stowaway'), []);
});
