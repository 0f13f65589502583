/**
 * The control service is killed with SIGKILL at various points of provisioning,
 * stopping and destroying, then restarted: every transition completes, with no
 * duplicate and no orphan instance process.
 */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { localDriverId } from '../../control/main.ts';
import { scanProcesses } from '../../control/orchestrator/local-processes.ts';
import { controlApi as api, type Control, controlFixture, kill9, startControl } from '../helpers/control-process.ts';

async function statusOf(control: Control, handle: string): Promise<string> {
  const body = (await (await api(control, `/containers/${handle}`)).json()) as { instance: { status: string } };
  return body.instance.status;
}

async function waitForStatus(control: Control, handles: string[], status: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const handle of handles) {
    for (let last = await statusOf(control, handle); last !== status; last = await statusOf(control, handle)) {
      if (Date.now() > deadline) throw new Error(`${handle} stuck in ${last}, expected ${status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The instances' own processes (their process-group leaders). */
async function instanceProcesses(dataDir: string) {
  return (await scanProcesses(localDriverId(dataDir))).filter((p) => p.leader);
}

async function processesByHandle(dataDir: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  // Leaders only: an instance may have children of its own (tsx's esbuild service, when its cache is cold).
  for (const p of await instanceProcesses(dataDir)) counts.set(p.handle, (counts.get(p.handle) ?? 0) + 1);
  return counts;
}

test('a control service killed at any point of provisioning finishes every transition after restart', async (t) => {
  const { dataDir, port } = await controlFixture(t);
  let control = await startControl(dataDir, port);
  t.teardown(() => control.child.kill('SIGKILL'));

  // Kill points: right after the request, then progressively later in the provisioning.
  const handles: string[] = [];
  for (const [round, delayMs] of [0, 20, 60, 150, 300, 600].entries()) {
    const batch = [`kill-${round}-a`, `kill-${round}-b`];
    handles.push(...batch);
    for (const handle of batch) {
      const response = await api(control, '/containers/provision', { method: 'POST', body: JSON.stringify({ handle, userId: handle }) });
      t.is(response.status, 201);
    }
    await new Promise((r) => setTimeout(r, delayMs));
    await kill9(control);
    control = await startControl(dataDir, port);
  }
  await waitForStatus(control, handles, 'running');
  const processes = await processesByHandle(dataDir);
  for (const handle of handles) t.is(processes.get(handle), 1, `exactly one process for ${handle}`);
  t.is(processes.size, handles.length, 'no orphan processes');

  // Each instance answers on the address the platform recorded.
  const list = (await (await api(control, '/containers?status=running')).json()) as { instances: Array<{ handle: string; address: { gateway: string } }> };
  t.is(list.instances.length, handles.length);
  for (const instance of list.instances) t.is((await fetch(`${instance.address.gateway}/health`)).status, 200);

  // Stopping and destroying survive a kill as well.
  await api(control, '/containers/kill-0-a/stop', { method: 'POST' });
  await api(control, '/containers/kill-0-b?confirm=kill-0-b', { method: 'DELETE' });
  await kill9(control);
  control = await startControl(dataDir, port);
  await waitForStatus(control, ['kill-0-a'], 'stopped');
  await waitForStatus(control, ['kill-0-b'], 'destroyed');
  const after = await processesByHandle(dataDir);
  t.false(after.has('kill-0-a'));
  t.false(after.has('kill-0-b'));
  t.is(after.size, handles.length - 2);
  t.true(
    fs.readdirSync(path.join(dataDir, 'archive')).some((name) => name.startsWith('kill-0-b-')),
    'destroy kept an archive',
  );

  // Every event sequence is complete and free of duplicates.
  const events = (await (await api(control, '/containers/kill-5-a/events')).json()) as { events: Array<{ to: string | null }> };
  t.deepEqual(
    events.events.filter((e) => e.to).map((e) => e.to),
    ['requested', 'provisioning', 'starting', 'running'],
  );
});

test('after a restart the control service re-adopts running instances instead of starting them again', async (t) => {
  const { dataDir, port } = await controlFixture(t);
  let control = await startControl(dataDir, port);
  t.teardown(() => control.child.kill('SIGKILL'));
  await api(control, '/containers/provision', { method: 'POST', body: JSON.stringify({ handle: 'steady', userId: 'u' }) });
  await waitForStatus(control, ['steady'], 'running');
  const [before] = (await instanceProcesses(dataDir)).map((p) => p.pid);
  // A graceful stop this time: instances keep running while the control service is away.
  await new Promise<void>((resolve) => {
    control.child.once('exit', () => resolve());
    control.child.kill('SIGTERM');
  });
  t.truthy(before);
  t.true((await instanceProcesses(dataDir)).some((p) => p.pid === before));
  control = await startControl(dataDir, port);
  await api(control, '/containers/steady/start', { method: 'POST' });
  t.is(await statusOf(control, 'steady'), 'running');
  const pids = (await instanceProcesses(dataDir)).map((p) => p.pid);
  t.deepEqual(pids, [before]);
});

test('Ctrl-C in development stops every instance and records it; the next start wakes it again', async (t) => {
  const { dataDir, port } = await controlFixture(t);
  let control = await startControl(dataDir, port);
  t.teardown(() => control.child.kill('SIGKILL'));
  for (const handle of ['ctrl-a', 'ctrl-b'])
    await api(control, '/containers/provision', { method: 'POST', body: JSON.stringify({ handle, userId: `u-${handle}` }) });
  await waitForStatus(control, ['ctrl-a', 'ctrl-b'], 'running');
  t.is((await instanceProcesses(dataDir)).length, 2);
  const code = await new Promise<number | null>((resolve) => {
    control.child.once('exit', (exitCode) => resolve(exitCode));
    control.child.kill('SIGINT');
  });
  t.is(code, 0);
  t.deepEqual(await scanProcesses(localDriverId(dataDir)), [], 'no instance process is left running');

  control = await startControl(dataDir, port);
  t.is(await statusOf(control, 'ctrl-a'), 'stopped');
  const events = (await (await api(control, '/containers/ctrl-a/events')).json()) as { events: Array<{ message: string }> };
  t.true(events.events.some((e) => /the control service was shut down; the next visit wakes it/.test(e.message)));
  await api(control, '/containers/ctrl-a/start', { method: 'POST' });
  await waitForStatus(control, ['ctrl-a'], 'running');
});
