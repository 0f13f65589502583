/**
 * The platform's lifecycle suite: the full instance lifecycle through the platform
 * API on every orchestrator driver (local processes; Nomad through its double) and
 * every database dialect.
 */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { databaseTargets } from '../../helpers/databases.ts';
import { DRIVERS } from '../../helpers/drivers.ts';

const targets = await databaseTargets();

for (const driver of DRIVERS)
  for (const target of targets) {
    target.test(`[${driver.name}, ${target.name}] provision, run, stop, start and destroy an instance`, async (t) => {
      const db = await target.create();
      t.teardown(db.cleanup);
      const { platform, nomad } = await driver.start(t, { env: { DATABASE_URL: db.url } });

      const created = await platform.api('/containers/provision', { method: 'POST', json: { handle: 'alice', userId: 'user-1' } });
      t.is(created.status, 201);
      const body = (await created.json()) as { instance: { status: string; owner: string }; created: boolean };
      t.true(body.created);
      t.is(body.instance.owner, 'user-1');

      const running = await platform.waitFor('alice', 'running');
      t.is(running.runtimeRef, nomad ? 'matrixos-alice' : 'local:alice', "the driver's own name for the instance");
      const address = running.address as { gateway: string; shell: string };
      const health = await fetch(`${address.gateway}/health`);
      t.is(health.status, 200);
      t.is(((await health.json()) as { handle: string }).handle, 'alice');

      // The instance got its own storage and needs its own bearer token.
      if (nomad) {
        const job = nomad.jobs().find((j) => j.ID === 'matrixos-alice') as {
          TaskGroups: Array<{ Tasks: Array<{ Resources: { CPU: number; MemoryMB: number } }> }>;
        };
        t.deepEqual([job.TaskGroups[0]!.Tasks[0]!.Resources.CPU, job.TaskGroups[0]!.Tasks[0]!.Resources.MemoryMB], [1000, 256]);
      } else {
        t.true(fs.existsSync(path.join(platform.dataDir, 'users', 'alice', 'matrixos')));
      }
      t.is((await fetch(`${address.gateway}/api/system/info`)).status, 401);

      const events = (await (await platform.api('/containers/alice/events')).json()) as { events: Array<{ to: string | null }> };
      t.deepEqual(
        events.events.filter((e) => e.to).map((e) => e.to),
        ['requested', 'provisioning', 'starting', 'running'],
      );

      const stop = await platform.api('/containers/alice/stop', { method: 'POST' });
      t.is(stop.status, 202);
      await platform.waitFor('alice', 'stopped');
      await t.throwsAsync(fetch(`${address.gateway}/health`));

      const start = await platform.api('/containers/alice/start', { method: 'POST' });
      t.is(start.status, 202);
      const again = await platform.waitFor('alice', 'running');
      t.is((await fetch(`${(again.address as { gateway: string }).gateway}/health`)).status, 200);

      const destroy = await platform.api('/containers/alice?confirm=alice', { method: 'DELETE' });
      t.is(destroy.status, 202);
      const destroyed = await platform.waitFor('alice', 'destroyed');
      t.truthy(destroyed.archivePath, 'destroy keeps an archive of the data');
      if (nomad) {
        t.is(destroyed.archivePath, 'docker-volume:matrixos-alice', 'the volume is kept');
        t.deepEqual(
          nomad.jobs().map((j) => j.ID),
          [],
          'the job is purged',
        );
      } else {
        t.true(fs.existsSync(destroyed.archivePath as string));
        t.false(fs.existsSync(path.join(platform.dataDir, 'users', 'alice')));
      }
      t.deepEqual(await platform.orchestrator.list(), []);
    });
  }

for (const driver of DRIVERS)
  for (const target of targets) {
    target.test(`[${driver.name}, ${target.name}] provisioning is idempotent for the same user and 409 for another`, async (t) => {
      const db = await target.create();
      t.teardown(db.cleanup);
      const { platform } = await driver.start(t, { env: { DATABASE_URL: db.url } });
      const first = await platform.api('/containers/provision', { method: 'POST', json: { handle: 'bob', userId: 'u-bob' } });
      t.is(first.status, 201);
      const second = await platform.api('/containers/provision', { method: 'POST', json: { handle: 'bob', userId: 'u-bob' } });
      t.is(second.status, 200);
      t.false(((await second.json()) as { created: boolean }).created);

      const other = await platform.api('/containers/provision', { method: 'POST', json: { handle: 'bob', userId: 'u-mallory' } });
      t.is(other.status, 409);
      t.deepEqual(await other.json(), { error: { code: 'handle_taken', message: 'The handle "bob" belongs to another user: choose another handle.' } });

      const secondHandle = await platform.api('/containers/provision', { method: 'POST', json: { handle: 'bobby', userId: 'u-bob' } });
      t.is(secondHandle.status, 409);
      t.is(((await secondHandle.json()) as { error: { code: string } }).error.code, 'user_has_instance');

      await platform.waitFor('bob', 'running');
      const list = (await (await platform.api('/containers?status=running')).json()) as { instances: Array<{ handle: string }>; total: number };
      t.deepEqual(
        list.instances.map((i) => i.handle),
        ['bob'],
      );
      t.is(list.total, 1);
    });

    target.test(`[${driver.name}, ${target.name}] concurrent provisions of one handle create exactly one instance`, async (t) => {
      const db = await target.create();
      t.teardown(db.cleanup);
      const { platform } = await driver.start(t, { env: { DATABASE_URL: db.url } });
      const attempts = await Promise.all(
        Array.from({ length: 12 }, (_, i) => platform.api('/containers/provision', { method: 'POST', json: { handle: 'race', userId: `u-${i % 3}` } })),
      );
      const statuses = attempts.map((r) => r.status);
      t.is(statuses.filter((s) => s === 201).length, 1, `statuses: ${statuses.join(',')}`);
      const winner = (await Promise.all(attempts.map((r) => r.json()))).find((b) => (b as { created?: boolean }).created) as { instance: { owner: string } };
      // Same user as the winner: 200 (idempotent); other users: 409.
      for (const [i, r] of attempts.entries()) t.is(r.status, `u-${i % 3}` === winner.instance.owner ? (r.status === 201 ? 201 : 200) : 409);
      const rows = await platform.db.models.Instance.count({ where: { handle: 'race' } });
      t.is(rows, 1);
      await platform.waitFor('race', 'running');
    });
  }

for (const driver of DRIVERS) {
  test(`[${driver.name}] provisioning again after destroy brings the same user back`, async (t) => {
    const { platform, nomad } = await driver.start(t);
    await platform.api('/containers/provision', { method: 'POST', json: { handle: 'carol', userId: 'u-carol' } });
    await platform.waitFor('carol', 'running');
    await platform.api('/containers/carol?confirm=carol&purge=1', { method: 'DELETE' });
    const destroyed = await platform.waitFor('carol', 'destroyed');
    t.is(destroyed.archivePath, null, 'purge leaves no archive');
    if (!nomad) t.false(fs.existsSync(path.join(platform.dataDir, 'archive')));
    const again = await platform.api('/containers/provision', { method: 'POST', json: { handle: 'carol', userId: 'u-carol' } });
    t.is(again.status, 201);
    await platform.waitFor('carol', 'running');
    const stranger = await platform.api('/containers/provision', { method: 'POST', json: { handle: 'carol', userId: 'u-eve' } });
    t.is(stranger.status, 409);
  });
}
