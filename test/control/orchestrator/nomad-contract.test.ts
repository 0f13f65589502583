/**
 * The Orchestrator contract against the nomad driver, talking to the Nomad double
 * whose running allocations are real reference instances (in-process, on the ports
 * Nomad gave), plus the documented behaviour the contract suite leaves out:
 * awaitRunning (the optional method only this driver implements) and what a
 * retried destroy reports.
 *
 * Every contract test gets its own double, data dir and driver object; cleanup()
 * closes the double, which stops the instances its allocations run. Serial: each
 * test boots real instances, and this must pass on a loaded 2-core machine.
 */
import fs from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import type { Config } from '../../../control/config.ts';
import { createNomadOrchestrator, type NomadOrchestrator } from '../../../control/orchestrator/nomad/index.ts';
import { buildInstanceSpec } from '../../../control/orchestrator/spec.ts';
import type { InstanceSpec } from '../../../control/orchestrator/types.ts';
import { instanceJobId } from '../../../jobs/instance.ts';
import { type NomadDouble, type NomadDoubleOptions, startNomadDouble } from '../../doubles/nomad/index.ts';
import { NOMAD_TEST_TOKEN, startNomadWithInstances } from '../../helpers/drivers.ts';
import { makeDataDir, TEST_KEY, testConfig } from '../../helpers/platform.ts';
import { runOrchestratorContract, type SpecOverrides, uniqueHandle, waitForHealth, withOverrides } from './contract.ts';

const HEALTH_TIMEOUT_MS = 60_000;

interface NomadEnvironment {
  nomad: NomadDouble;
  config: Config;
  orchestrator: NomadOrchestrator;
  spec(handle: string, overrides?: SpecOverrides): InstanceSpec;
  diagnose(handle: string): string;
  cleanup(): Promise<void>;
}

/**
 * A Nomad double running real instances, a data dir, and a nomad driver pointed at
 * them. The contract's factory gets no ExecutionContext, so the helper's teardowns
 * are collected here and run by cleanup() (newest first, as ava would).
 */
async function nomadEnvironment(options: NomadDoubleOptions = {}): Promise<NomadEnvironment> {
  const teardowns: Array<() => void | Promise<void>> = [];
  const collector: Pick<ExecutionContext, 'teardown'> = { teardown: (fn) => void teardowns.push(fn) };
  const dataDir = await makeDataDir('mxos-nomad-contract-');
  let nomad: NomadDouble;
  try {
    nomad = await startNomadWithInstances(collector as ExecutionContext, options);
  } catch (err) {
    await fs.promises.rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const config = testConfig(dataDir, { ORCHESTRATOR: 'nomad', NOMAD_ADDR: nomad.url, NOMAD_TOKEN: NOMAD_TEST_TOKEN });
  const orchestrator = createNomadOrchestrator(config);
  return {
    nomad,
    config,
    orchestrator,
    spec: (handle, overrides) => withOverrides(buildInstanceSpec(config, TEST_KEY, { handle, owner: `owner-${handle}`, tokenGeneration: 1 }), overrides),
    diagnose: (handle) => diagnose(nomad, handle),
    async cleanup() {
      await orchestrator.close();
      for (const teardown of teardowns.reverse()) await teardown();
      await fs.promises.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** What the double knows about a handle's allocations: status and the last task events. */
function diagnose(nomad: NomadDouble, handle: string): string {
  const allocations = nomad.allocations(instanceJobId(handle)).map((a) => {
    const states = (a.TaskStates ?? {}) as Record<string, { State: string; Events?: Array<{ Type: string; DisplayMessage?: string }> }>;
    const events = Object.entries(states).flatMap(([task, s]) => (s.Events ?? []).slice(-3).map((e) => `${task}: ${e.Type} ${e.DisplayMessage ?? ''}`.trim()));
    return `${String(a.ID).slice(0, 8)} ${String(a.ClientStatus)}/${String(a.DesiredStatus)} [${events.join('; ')}]`;
  });
  const errors = nomad.errors.map((e) => e.message);
  return `nomad allocations: ${allocations.join(' | ') || 'none'}${errors.length > 0 ? `; double errors: ${errors.join('; ')}` : ''}`;
}

// ---------------------------------------------------------------------------
// The contract.

runOrchestratorContract(
  'nomad',
  async () => {
    const env = await nomadEnvironment();
    return { orchestrator: env.orchestrator, spec: env.spec, cleanup: env.cleanup, diagnose: env.diagnose, settled: () => env.nomad.settled() };
  },
  { serial: true, healthTimeoutMs: HEALTH_TIMEOUT_MS },
);

// ---------------------------------------------------------------------------
// Documented behaviour the contract suite does not check.

async function setUp(t: ExecutionContext, options: NomadDoubleOptions = {}): Promise<NomadEnvironment> {
  const env = await nomadEnvironment(options);
  t.teardown(env.cleanup);
  return env;
}

test.serial('[nomad] destroy without purge names the docker volume that keeps the data', async (t) => {
  const env = await setUp(t);
  const handle = uniqueHandle('volume');
  await env.orchestrator.ensure(env.spec(handle));
  const result = await env.orchestrator.destroy(handle, { purge: false });
  t.deepEqual(result, { archivePath: `docker-volume:matrixos-${handle}` });
  t.deepEqual(
    env.nomad.jobs().filter((j) => j.ID === instanceJobId(handle)),
    [],
    'the job is purged',
  );
});

test.serial('[nomad] a retried destroy reports the archive its first attempt made', async (t) => {
  const env = await setUp(t);
  const handle = uniqueHandle('reretry');
  await env.orchestrator.ensure(env.spec(handle));
  const first = await env.orchestrator.destroy(handle, { purge: false });
  t.truthy(first.archivePath);
  t.deepEqual(await env.orchestrator.destroy(handle, { purge: false }), first);
});

test.serial('[nomad] awaitRunning resolves with the running status and address once the allocation runs', async (t) => {
  const env = await setUp(t, { startLatencyMs: 300 });
  const spec = env.spec(uniqueHandle('await'));
  t.teardown(() => env.orchestrator.destroy(spec.handle, { purge: true }).then(() => undefined));
  await env.orchestrator.ensure(spec);
  await env.orchestrator.start(spec.handle);
  const status = await env.orchestrator.awaitRunning(spec.handle, 32_000, AbortSignal.timeout(60_000));
  t.is(status.state, 'running', `${JSON.stringify(status)}; ${env.diagnose(spec.handle)}`);
  t.is(status.specHash, spec.hash);
  t.truthy(status.address);
  await t.notThrowsAsync(waitForHealth(status.address!.gateway, HEALTH_TIMEOUT_MS));
});

/** A double without instances whose allocations stay pending (the task never starts while the test runs). */
async function pendingEnvironment(t: ExecutionContext) {
  const nomad = await startNomadDouble({ token: NOMAD_TEST_TOKEN, dockerVolumesEnabled: true, startLatencyMs: 120_000 });
  const dataDir = await makeDataDir('mxos-nomad-pending-');
  t.teardown(async () => {
    await nomad.close();
    await fs.promises.rm(dataDir, { recursive: true, force: true });
  });
  const config = testConfig(dataDir, { ORCHESTRATOR: 'nomad', NOMAD_ADDR: nomad.url, NOMAD_TOKEN: NOMAD_TEST_TOKEN });
  const orchestrator = createNomadOrchestrator(config);
  const spec = buildInstanceSpec(config, TEST_KEY, { handle: uniqueHandle('pending'), owner: 'owner-pending', tokenGeneration: 1 });
  await orchestrator.ensure(spec);
  await orchestrator.start(spec.handle);
  // Not nomad.settled(): that also waits for the (never coming) task start.
  const deadline = Date.now() + 30_000;
  while (nomad.allocations(instanceJobId(spec.handle)).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.is(nomad.allocations(instanceJobId(spec.handle))[0]?.ClientStatus, 'pending');
  return { nomad, orchestrator, spec };
}

test.serial('[nomad] awaitRunning on an allocation that stays pending returns "starting" after the timeout', async (t) => {
  const { orchestrator, spec } = await pendingEnvironment(t);
  const TIMEOUT_MS = 1000;
  const started = Date.now();
  const status = await orchestrator.awaitRunning(spec.handle, TIMEOUT_MS, AbortSignal.timeout(30_000));
  const elapsed = Date.now() - started;
  t.is(status.state, 'starting', JSON.stringify(status));
  t.true(elapsed >= TIMEOUT_MS * 0.9, `returned after ${elapsed} ms`);
});

test.serial('[nomad] awaitRunning stops waiting when its signal aborts', async (t) => {
  const { orchestrator, spec } = await pendingEnvironment(t);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 200);
  const started = Date.now();
  let error: unknown;
  try {
    await orchestrator.awaitRunning(spec.handle, 20_000, controller.signal);
  } catch (err) {
    error = err;
  }
  t.is((error as Error | undefined)?.name, 'AbortError');
  t.true(Date.now() - started < 10_000);
});
