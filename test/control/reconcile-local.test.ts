/** Reconcile against real instance processes on the local driver. */
import test from 'ava';
import { localDriverId } from '../../control/main.ts';
import { scanProcesses } from '../../control/orchestrator/local-processes.ts';
import { buildInstanceSpec } from '../../control/orchestrator/spec.ts';
import { startTestPlatform } from '../helpers/platform.ts';

async function pidsOf(dataDir: string, handle: string): Promise<number[]> {
  return (await scanProcesses(localDriverId(dataDir))).filter((p) => p.handle === handle && p.leader).map((p) => p.pid);
}

test("an instance process killed behind the platform's back is restarted by reconcile", async (t) => {
  const platform = await startTestPlatform(t);
  await platform.api('/containers/provision', { method: 'POST', json: { handle: 'victim', userId: 'u-victim' } });
  await platform.waitFor('victim', 'running');
  const [pid] = await pidsOf(platform.dataDir, 'victim');
  t.truthy(pid);
  process.kill(pid!, 'SIGKILL');
  while ((await pidsOf(platform.dataDir, 'victim')).length) await new Promise((r) => setTimeout(r, 20));

  const report = await platform.lifecycle.sweep();
  t.deepEqual(report.fixes, ['victim: running in the database but not in the orchestrator: restarting']);
  const running = await platform.waitFor('victim', 'running');
  const pids = await pidsOf(platform.dataDir, 'victim');
  t.is(pids.length, 1);
  t.not(pids[0], pid);
  t.is((await fetch(`${(running.address as { gateway: string }).gateway}/health`)).status, 200);
});

test('an instance process with no database row is stopped by reconcile', async (t) => {
  const platform = await startTestPlatform(t);
  const spec = buildInstanceSpec(platform.config, platform.secretKey, { handle: 'stowaway', owner: 'nobody', tokenGeneration: 1 });
  await platform.orchestrator.ensure(spec);
  await platform.orchestrator.start('stowaway');
  t.is((await pidsOf(platform.dataDir, 'stowaway')).length, 1);
  const report = await platform.lifecycle.sweep();
  t.deepEqual(report.fixes, ['stowaway: orphan instance with no database row: stopped']);
  t.deepEqual(await pidsOf(platform.dataDir, 'stowaway'), []);
});
