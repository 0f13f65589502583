/** The nomad driver inside the running platform, against the Nomad double, faults included. */
import fs from 'node:fs';
import test from 'ava';
import { createNomadOrchestrator } from '../../../control/orchestrator/nomad/index.ts';
import { buildInstanceSpec } from '../../../control/orchestrator/spec.ts';
import { instanceJobId } from '../../../jobs/instance.ts';
import { DRIVERS, NOMAD_TEST_TOKEN, startNomadWithInstances } from '../../helpers/drivers.ts';
import { makeDataDir, startTestPlatform, testConfig } from '../../helpers/platform.ts';
import { waitUntil } from '../../helpers/wait.ts';

const nomadDriver = DRIVERS.find((d) => d.name === 'nomad')!;
const registrations = (nomad: { requests: Array<{ method: string; path: string }> }) =>
  nomad.requests.filter((r) => (r.method === 'PUT' || r.method === 'POST') && r.path === '/v1/jobs').length;

async function provision(platform: { api(p: string, i?: RequestInit & { json?: unknown }): Promise<Response> }, handle: string) {
  const response = await platform.api('/containers/provision', { method: 'POST', json: { handle, userId: `u-${handle}` } });
  if (response.status !== 201) throw new Error(`provision ${handle}: ${response.status} ${await response.text()}`);
}

test('a running instance is not registered again while its spec is unchanged, even after a restart', async (t) => {
  const nomad = await startNomadWithInstances(t);
  const env = { ORCHESTRATOR: 'nomad', NOMAD_ADDR: nomad.url, NOMAD_TOKEN: NOMAD_TEST_TOKEN };
  const first = await startTestPlatform(t, { env, keepDataDir: true });
  await provision(first, 'steady');
  await first.waitFor('steady', 'running');
  t.is(registrations(nomad), 1);
  await first.close();

  // A new control service over the same database asks to start it again: nothing to register.
  const second = await startTestPlatform(t, { env, dataDir: first.dataDir });
  await second.api('/containers/steady/stop', { method: 'POST' });
  await second.waitFor('steady', 'stopped');
  t.true((nomad.jobs().find((j) => j.ID === 'matrixos-steady') as { Stop: boolean }).Stop, 'stop keeps the job, stopped');
  await second.api('/containers/steady/start', { method: 'POST' });
  await second.waitFor('steady', 'running');
  t.is(registrations(nomad), 2, 'start registers the stopped job again, once');
  const spec = buildInstanceSpec(second.config, second.secretKey, { handle: 'steady', owner: 'u-steady', tokenGeneration: 1 });
  await second.orchestrator.ensure(spec);
  await second.orchestrator.start('steady');
  t.is(registrations(nomad), 2, 'an unchanged spec is never registered again');
});

test('the happy path costs at most 6 Nomad requests per provision, plus the one that writes its secrets', async (t) => {
  const { platform, nomad } = await nomadDriver.start(t, { nomad: { schedulingLatencyMs: 200 } });
  const before = nomad!.requests.length;
  await provision(platform, 'frugal');
  await platform.waitFor('frugal', 'running');
  const used = nomad!.requests.slice(before).map((r) => `${r.method} ${r.path}`);
  const secrets = used.filter((r) => r === 'PUT /v1/var/nomad/jobs/matrixos-frugal');
  t.is(secrets.length, 1, used.join('\n'));
  t.true(used.length - secrets.length <= 6, used.join('\n'));
});

test("a placement failure fails the instance with Nomad's reason", async (t) => {
  const { platform, nomad } = await nomadDriver.start(t, { env: { PROVISION_MAX_ATTEMPTS: '2' } });
  nomad!.placementFailure(true, 'memory');
  await provision(platform, 'homeless');
  const failed = await platform.waitFor('homeless', 'failed');
  t.regex(String(failed.lastError), /Nomad could not place the instance \(group instance: memory exhausted on 1 node\(s\)\)/);
});

test("an image pull error fails the instance with the driver's message", async (t) => {
  const { platform, nomad } = await nomadDriver.start(t, { env: { PROVISION_MAX_ATTEMPTS: '2', INSTANCE_IMAGE: 'ghcr.io/example/missing:1' } });
  nomad!.imagePullFailure('ghcr.io/example/missing:1', 'manifest unknown');
  await provision(platform, 'imageless');
  const failed = await platform.waitFor('imageless', 'failed');
  t.regex(String(failed.lastError), /Failed to pull/);
  t.regex(String(failed.lastError), /manifest unknown/);
});

test('a task that crashes at start is retried on a fresh allocation', async (t) => {
  const { platform, nomad } = await nomadDriver.start(t);
  nomad!.crashNext('matrixos-flaky', 'segfault in init');
  await provision(platform, 'flaky');
  await platform.waitFor('flaky', 'running');
  const events = (await (await platform.api('/containers/flaky/events')).json()) as { events: Array<{ message: string }> };
  t.true(
    events.events.some((e) => /Attempt 1 failed while starting: .*segfault in init/.test(e.message)),
    JSON.stringify(events.events.map((e) => e.message)),
  );
  t.true(nomad!.allocations('matrixos-flaky').length >= 2);
});

test('Nomad down: health says so, provisioning waits and completes when it is back', async (t) => {
  const { platform, nomad } = await nomadDriver.start(t, { env: { PROVISION_MAX_ATTEMPTS: '2' } });
  await nomad!.down();
  const health = await fetch(`${platform.apiUrl}/health`);
  t.is(health.status, 503);
  const body = (await health.json()) as { orchestrator: { ok: boolean; driver: string; detail: string } };
  t.false(body.orchestrator.ok);
  t.is(body.orchestrator.driver, 'nomad');
  t.regex(body.orchestrator.detail, /nomad orchestrator is unreachable/i);
  await provision(platform, 'patient');
  // Attempt 2 is where PROVISION_MAX_ATTEMPTS=2 fails any other error: wait until the worker has recorded it.
  const during = await waitUntil(
    async () => {
      const row = await platform.service.get('patient');
      return row.attempts >= 2 && row;
    },
    { timeoutMs: 30_000, message: async () => `2 recorded attempts (attempts ${(await platform.service.get('patient')).attempts})` },
  );
  t.not(during.status, 'failed');
  t.regex(during.last_error ?? '', /nomad orchestrator is unreachable/i);
  await nomad!.up();
  await platform.waitFor('patient', 'running');
  t.is((await fetch(`${platform.apiUrl}/health`)).status, 200);
});

test('transient 5xx answers are retried by the client without the user noticing', async (t) => {
  const { platform, nomad } = await nomadDriver.start(t);
  nomad!.failNext(2, 500, 'rpc error: No cluster leader');
  await provision(platform, 'resilient');
  const running = await platform.waitFor('resilient', 'running');
  t.is(running.attempts, 0);
  t.is(running.lastError, null);
});

test("a token Nomad does not know fails with Nomad's own message", async (t) => {
  const nomad = await startNomadWithInstances(t);
  const platform = await startTestPlatform(t, {
    env: { ORCHESTRATOR: 'nomad', NOMAD_ADDR: nomad.url, NOMAD_TOKEN: 'wrong-token', PROVISION_MAX_ATTEMPTS: '1' },
  });
  const health = (await (await fetch(`${platform.apiUrl}/health`)).json()) as { orchestrator: { ok: boolean; detail: string } };
  t.false(health.orchestrator.ok);
  t.regex(health.orchestrator.detail, /ACL token not found/);
  await provision(platform, 'locked');
  const failed = await platform.waitFor('locked', 'failed');
  t.regex(String(failed.lastError), /^Nomad rejected (GET|PUT) \/v1\/jobs?[^:]*: ACL token not found$/);
});

test("reconcile stops an orphan job (never purges it) and re-creates a ghost row's job", async (t) => {
  const { platform, nomad } = await nomadDriver.start(t);
  // Orphan: a matrixos job the database has no row for.
  const orphanSpec = buildInstanceSpec(platform.config, platform.secretKey, { handle: 'orphan', owner: 'nobody', tokenGeneration: 1 });
  const orchestrator = createNomadOrchestrator(platform.config);
  await orchestrator.ensure(orphanSpec);
  await nomad!.settled();
  // Ghost: a running row whose job was purged behind the platform's back.
  await provision(platform, 'ghost');
  await platform.waitFor('ghost', 'running');
  await fetch(`${nomad!.url}/v1/job/${instanceJobId('ghost')}?purge=true`, { method: 'DELETE', headers: { 'x-nomad-token': NOMAD_TEST_TOKEN } });
  await nomad!.settled();

  const report = await platform.lifecycle.sweep();
  t.deepEqual([...report.fixes].sort(), [
    'ghost: running in the database but not in the orchestrator: restarting',
    'orphan: orphan instance with no database row: stopped',
  ]);
  const orphan = nomad!.jobs().find((j) => j.ID === 'matrixos-orphan') as { Stop: boolean } | undefined;
  t.truthy(orphan, 'the orphan job still exists');
  t.true(orphan!.Stop);
  await platform.waitFor('ghost', 'running');
  t.truthy(nomad!.jobs().find((j) => j.ID === 'matrixos-ghost'));
});

test("the registered job passes the double's validation: no dropped keys, no driver config errors", async (t) => {
  const { platform, nomad } = await nomadDriver.start(t);
  await provision(platform, 'tidy');
  await platform.waitFor('tidy', 'running');
  const report = nomad!.registrations.find((r) => r.jobId === 'matrixos-tidy')!;
  t.is(report.status, 200);
  t.deepEqual(report.unknownKeys, []);
  t.deepEqual(report.driverConfigErrors, []);
  t.is(report.warnings, '');
});

test("destroy with purge empties the user's volume with a one-shot batch job", async (t) => {
  const { platform, nomad } = await nomadDriver.start(t);
  await provision(platform, 'leaving');
  await platform.waitFor('leaving', 'running');
  await platform.api('/containers/leaving?confirm=leaving&purge=1', { method: 'DELETE' });
  const destroyed = await platform.waitFor('leaving', 'destroyed');
  t.is(destroyed.archivePath, null);
  await nomad!.settled();
  t.falsy(
    nomad!.jobs().find((j) => j.ID === 'matrixos-leaving'),
    'the instance job is purged',
  );
  const purge = nomad!.jobs().find((j) => j.ID === 'platform-purge-leaving') as {
    Type: string;
    TaskGroups: Array<{ Tasks: Array<{ Config: { mount: Array<{ source: string; target: string }> } }> }>;
  };
  t.is(purge.Type, 'batch');
  t.deepEqual(
    purge.TaskGroups[0]!.Tasks[0]!.Config.mount.map((m) => [m.source, m.target]),
    [['matrixos-leaving', '/data']],
  );
  const report = nomad!.registrations.find((r) => r.jobId === 'platform-purge-leaving')!;
  t.deepEqual([report.status, report.unknownKeys, report.driverConfigErrors], [200, [], []]);
  t.deepEqual(await platform.orchestrator.list(), [], 'the purge job is not mistaken for an instance');
});

test("after a restart a placement failure still shows Nomad's reason", async (t) => {
  const nomad = await startNomadWithInstances(t);
  const env = { ORCHESTRATOR: 'nomad', NOMAD_ADDR: nomad.url, NOMAD_TOKEN: NOMAD_TEST_TOKEN, PROVISION_MAX_ATTEMPTS: '2' };
  nomad.placementFailure(true, 'cpu');
  const dataDir = await makeDataDir();
  t.teardown(() => fs.promises.rm(dataDir, { recursive: true, force: true }));
  const config = testConfig(dataDir, env);
  const spec = buildInstanceSpec(config, 'k'.repeat(32), { handle: 'unplaced', owner: 'u', tokenGeneration: 1 });
  // A driver that registered the job, then "restarts": a fresh driver has no evaluation id.
  await createNomadOrchestrator(config).ensure(spec);
  await nomad.settled();
  const fresh = createNomadOrchestrator(config);
  const status = await fresh.awaitRunning!('unplaced', 3000, new AbortController().signal);
  t.is(status.state, 'failed');
  t.regex(status.detail, /Nomad could not place the instance \(group instance: cpu exhausted on 1 node\(s\)\)/);
});

test('instance secrets live in the job’s Nomad Variable: the job shows none, the task gets them, destroy removes them', async (t) => {
  const { platform, nomad } = await nomadDriver.start(t);
  await provision(platform, 'vault');
  await platform.waitFor('vault', 'running');
  const spec = buildInstanceSpec(platform.config, platform.secretKey, { handle: 'vault', owner: 'u-vault', tokenGeneration: 1 });
  const secretValues = Object.values(spec.secrets);
  t.true(secretValues.length >= 2);
  const job = JSON.stringify(nomad!.jobs().find((j) => j.ID === instanceJobId('vault')));
  for (const value of secretValues) t.false(job.includes(value), 'no secret in the registered job');
  const variable = nomad!.variables().find((v) => v.Path === 'nomad/jobs/matrixos-vault');
  t.deepEqual(variable?.Items, spec.secrets);
  // The task got its token from the variable: the instance answers only with it.
  const token = spec.secrets.MATRIX_AUTH_TOKEN!;
  const info = await fetch(`${(await platform.service.get('vault')).gateway_url}/api/system/info`, { headers: { authorization: `Bearer ${token}` } });
  t.is(info.status, 200);
  const ordered = nomad!.requests.map((r) => `${r.method} ${r.path}`);
  t.true(ordered.indexOf('PUT /v1/var/nomad/jobs/matrixos-vault') < ordered.findIndex((r) => /^(PUT|POST) \/v1\/jobs$/.test(r)), 'the variable before the job');

  await platform.api('/containers/vault?confirm=vault', { method: 'DELETE' });
  await platform.waitFor('vault', 'destroyed');
  t.false(nomad!.variables().some((v) => v.Path === 'nomad/jobs/matrixos-vault'));
});

type AllocView = { ID: string; ClientStatus: string; CreateIndex: number; AllocatedResources?: { Shared: { Ports: Array<{ Label: string; Value: number }> } } };
const newestAlloc = (nomad: { allocations(jobId?: string): unknown[] }, handle: string) =>
  (nomad.allocations(instanceJobId(handle)) as AllocView[]).reduce<AllocView | null>((a, b) => (!a || b.CreateIndex > a.CreateIndex ? b : a), null);
const gatewayPort = (alloc: AllocView) => alloc.AllocatedResources!.Shared.Ports.find((p) => p.Label === 'gateway')!.Value;

test('a failed allocation reaches the route table from the blocking query: restarted on a fresh one, no reconcile', async (t) => {
  const { platform, nomad } = await nomadDriver.start(t, { env: { SWEEP_INTERVAL: '1h' } });
  await provision(platform, 'crashy');
  await platform.waitFor('crashy', 'running');
  const first = newestAlloc(nomad!, 'crashy')!;
  nomad!.crashAllocation(first.ID, 'segmentation fault');
  const replacement = await waitUntil(
    () => {
      const route = platform.edge.routes.get('crashy');
      const newest = newestAlloc(nomad!, 'crashy');
      return route?.status === 'running' &&
        newest &&
        newest.ID !== first.ID &&
        newest.ClientStatus === 'running' &&
        route.gatewayUrl?.endsWith(`:${gatewayPort(newest)}`)
        ? newest
        : null;
    },
    { timeoutMs: 30_000, message: 'the route did not follow the failed allocation' },
  );
  t.not(gatewayPort(replacement), gatewayPort(first));
  const crash = (await platform.store.events('crashy', 0, 500)).find((e) => e.kind === 'crash');
  t.regex(
    crash!.message,
    /^Nomad allocation failed: task matrixos: Terminated: .*"segmentation fault" \(exit code 1\).*; restarting \(restart 1 of 3 allowed in 10 min\)$/,
  );
  t.is((await fetch(`${platform.edge.routes.get('crashy')!.gatewayUrl}/health`)).status, 200);
});

test('a rescheduled allocation (its node lost) reaches the route table at its new address without reconcile', async (t) => {
  const { platform, nomad } = await nomadDriver.start(t, { env: { SWEEP_INTERVAL: '1h' } });
  await provision(platform, 'nomadic');
  await platform.waitFor('nomadic', 'running');
  const first = newestAlloc(nomad!, 'nomadic')!;
  nomad!.loseAllocation(first.ID);
  await waitUntil(
    () => {
      const route = platform.edge.routes.get('nomadic');
      const newest = newestAlloc(nomad!, 'nomadic');
      return (
        route?.status === 'running' && newest?.ID !== first.ID && newest?.ClientStatus === 'running' && route.gatewayUrl?.endsWith(`:${gatewayPort(newest)}`)
      );
    },
    { timeoutMs: 30_000, message: 'the route did not follow the rescheduled allocation' },
  );
  const moved = (await platform.store.events('nomadic', 0, 500)).filter((e) => e.kind === 'crash' || e.kind === 'reconcile');
  t.true(moved.length >= 1, 'the instance log says what happened');
  t.regex(moved[0]!.message, /Nomad allocation lost|moved to a new address/);
  t.false(
    moved.some((e) => e.kind === 'crash'),
    'a replacement Nomad placed itself is followed, not restarted over',
  );
  const route = platform.edge.routes.get('nomadic')!;
  t.is((await fetch(`${route.gatewayUrl}/health`)).status, 200);
});
