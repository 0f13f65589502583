/**
 * The Orchestrator contract: the behaviour control/orchestrator/types.ts documents,
 * expressed only through the interface, as ava tests any driver can run.
 *
 *   runOrchestratorContract('local', async () => ({ orchestrator, spec, cleanup }));
 *
 * Every test gets a fresh environment from the factory, uses its own unique handles
 * and tears everything down (destroy with purge, then cleanup) even when it fails.
 */
import crypto from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { hashSpec } from '../../../control/orchestrator/spec.ts';
import { type InstanceAddress, type InstanceSpec, type Orchestrator, OrchestratorError, type RuntimeStatus } from '../../../control/orchestrator/types.ts';

/**
 * Changes to a driver's default spec. `env` and `secrets` are merged over the
 * defaults; every other field replaces the default. The hash is always recomputed.
 */
export type SpecOverrides = Partial<Omit<InstanceSpec, 'handle' | 'hash'>>;

export interface ContractEnvironment {
  orchestrator: Orchestrator;
  /** A valid spec for `handle`, with overrides applied and its hash recomputed (see withOverrides). */
  spec(handle: string, overrides?: SpecOverrides): InstanceSpec;
  /** Stops whatever the environment still runs and removes its files. */
  cleanup(): Promise<void>;
  /** Optional: driver-specific facts (e.g. a log tail) added to the error when an instance never gets healthy. */
  diagnose?(handle: string): string | Promise<string>;
  /**
   * Optional: resolves once the environment has no work of its own in flight (e.g. a
   * scheduler's evaluations after a call returned). Left out when every call has done
   * all its work by the time it returns.
   */
  settled?(): Promise<void>;
}

export interface ContractOptions {
  /** Run this driver's tests one at a time (real processes on a small machine). */
  serial?: boolean;
  /**
   * Set, with the reason, when a driver's addresses keep answering after its
   * instance stopped (e.g. a double whose addresses point at one shared server):
   * the "stopped instance no longer answers" assertions are then left out, and
   * each affected test logs the reason.
   */
  addressOutlivesInstance?: string;
  /** Upper bound for an instance to answer GET /health after start(). */
  healthTimeoutMs?: number;
}

/** Applies overrides to a spec and recomputes its hash the way buildInstanceSpec does. */
export function withOverrides(spec: InstanceSpec, overrides: SpecOverrides = {}): InstanceSpec {
  const { hash: _hash, ...base } = spec;
  const body: Omit<InstanceSpec, 'hash'> = {
    ...base,
    ...overrides,
    handle: spec.handle,
    env: { ...base.env, ...overrides.env },
    secrets: { ...base.secrets, ...overrides.secrets },
  };
  return { ...body, hash: hashSpec(body) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** GET {gateway}/health; the status code, or null when nothing answers. */
export async function healthStatus(gateway: string): Promise<number | null> {
  try {
    const response = await fetch(`${gateway}/health`, { signal: AbortSignal.timeout(5000) });
    await response.body?.cancel();
    return response.status;
  } catch {
    return null;
  }
}

/** Polls GET {gateway}/health until it answers 200; throws with the last result after timeoutMs. */
export async function waitForHealth(gateway: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: number | null = null;
  while (Date.now() < deadline) {
    last = await healthStatus(gateway);
    if (last === 200) return;
    await sleep(100);
  }
  throw new Error(`${gateway}/health did not answer 200 within ${timeoutMs} ms (last: ${last ?? 'no answer'})`);
}

/** Polls until nothing answers at {gateway}/health (a stopped instance's ports close). */
export async function waitForSilence(gateway: string, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await healthStatus(gateway)) === null) return true;
    await sleep(100);
  }
  return false;
}

/** Polls status(handle) until `accept` holds; returns the last status either way. */
export async function pollStatus(
  orchestrator: Orchestrator,
  handle: string,
  accept: (s: RuntimeStatus) => boolean,
  timeoutMs = 30_000,
): Promise<RuntimeStatus> {
  const deadline = Date.now() + timeoutMs;
  let last = await orchestrator.status(handle);
  while (!accept(last) && Date.now() < deadline) {
    await sleep(100);
    last = await orchestrator.status(handle);
  }
  return last;
}

export type ServingStatus = RuntimeStatus & { address: InstanceAddress };

export interface ServingOptions {
  timeoutMs?: number;
  /** Where retries are reported (t.log). */
  log(message: string): void;
  /** How often a copy that fails while booting is started again. */
  retries?: number;
  /** Optional: the status must also satisfy this (e.g. a new spec hash). */
  accept?(status: RuntimeStatus): boolean;
  diagnose?(handle: string): string | Promise<string>;
}

/**
 * Polls until `handle` is running and its gateway answers GET /health 200. A copy
 * that fails while booting is started again, up to `retries` times, each logged:
 * the local driver picks free ports before the instance binds them, and on a busy
 * machine another socket can take one in between (EADDRINUSE). The platform's
 * worker retries such a start the same way; these tests are not about that race.
 */
export async function waitUntilServing(orchestrator: Orchestrator, handle: string, options: ServingOptions): Promise<ServingStatus> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let retries = options.retries ?? 3;
  let last = await orchestrator.status(handle);
  let lastHealth: number | null = null;
  while (Date.now() < deadline) {
    if (last.state === 'running' && last.address && (!options.accept || options.accept(last))) {
      lastHealth = await healthStatus(last.address.gateway);
      if (lastHealth === 200) {
        // The copy that answered must still be the one status() reports.
        const now = await orchestrator.status(handle);
        if (now.state === 'running' && now.address?.gateway === last.address.gateway) return now as ServingStatus;
      }
    } else if (last.state === 'failed' && retries > 0) {
      retries--;
      const extra = options.diagnose ? `; ${await options.diagnose(handle)}` : '';
      options.log(`${handle} failed while booting (${last.detail}${extra}); start() again`);
      await orchestrator.start(handle);
    }
    await sleep(100);
    last = await orchestrator.status(handle);
  }
  const extra = options.diagnose ? `; ${await options.diagnose(handle)}` : '';
  throw new Error(`${handle} did not get healthy (last /health: ${lastHealth ?? 'no answer'}); status now: ${JSON.stringify(last)}${extra}`);
}

/** A valid handle (lowercase, starts with a letter, at most 32 chars) unique to this run. */
export function uniqueHandle(label: string): string {
  return `${label.slice(0, 20)}-${crypto.randomBytes(4).toString('hex')}`;
}

export function runOrchestratorContract(name: string, factory: () => Promise<ContractEnvironment>, options: ContractOptions = {}): void {
  const register = options.serial ? test.serial : test;
  const healthTimeoutMs = options.healthTimeoutMs ?? 60_000;
  const checksSilence = options.addressOutlivesInstance === undefined;

  interface Context {
    orchestrator: Orchestrator;
    spec: ContractEnvironment['spec'];
    /** A fresh handle, destroyed (purged) when the test ends. */
    handle(label: string): string;
    /** ensure + start + waitUntilServing. */
    run(spec: InstanceSpec): Promise<ServingStatus>;
    /** waitUntilServing with this test's log and the driver's diagnostics. */
    serving(handle: string, accept?: (s: RuntimeStatus) => boolean): Promise<ServingStatus>;
    /** When the driver's addresses are exclusive: the address stops answering. Otherwise logs why it is not checked. */
    expectSilent(address: InstanceAddress, what: string): Promise<void>;
    /** Until the environment has nothing left in flight (see ContractEnvironment.settled). */
    settled(): Promise<void>;
  }

  const setUp = async (t: ExecutionContext): Promise<Context> => {
    const env = await factory();
    const handles: string[] = [];
    t.teardown(async () => {
      for (const handle of handles) {
        try {
          await env.orchestrator.destroy(handle, { purge: true });
        } catch (err) {
          t.log(`teardown: destroy ${handle} failed: ${String(err)}`);
        }
      }
      await env.cleanup();
    });
    const { orchestrator } = env;
    const serving: Context['serving'] = (handle, accept) =>
      waitUntilServing(orchestrator, handle, {
        timeoutMs: healthTimeoutMs,
        log: (m) => t.log(m),
        accept,
        diagnose: env.diagnose ? (h) => env.diagnose!(h) : undefined,
      });
    return {
      orchestrator,
      spec: (handle, overrides) => env.spec(handle, overrides),
      handle(label) {
        const handle = uniqueHandle(label);
        handles.push(handle);
        return handle;
      },
      async run(spec) {
        await orchestrator.ensure(spec);
        await orchestrator.start(spec.handle);
        return serving(spec.handle);
      },
      serving,
      async expectSilent(address, what) {
        if (!checksSilence) {
          t.log(`[${name}] not checked that ${what} stops answering: ${options.addressOutlivesInstance}`);
          return;
        }
        t.true(await waitForSilence(address.gateway), `${what} (${address.gateway}) still answers /health`);
      },
      settled: async () => {
        await env.settled?.();
      },
    };
  };

  register(`[${name}] ensure is idempotent: the same spec twice is a no-op, also while running`, async (t) => {
    const c = await setUp(t);
    const spec = c.spec(c.handle('ensure'));
    const first = await c.orchestrator.ensure(spec);
    t.true(first.ref.length > 0, 'the driver names its instance');
    t.deepEqual(await c.orchestrator.ensure(spec), first, 'the same reference every time');
    const running = await c.run(spec);
    t.is(running.specHash, spec.hash);

    await c.orchestrator.ensure(spec);
    await c.orchestrator.ensure(spec);
    const after = await c.orchestrator.status(spec.handle);
    t.is(after.state, 'running');
    t.deepEqual(after.address, running.address);
    t.is(after.specHash, spec.hash);
    t.is(await healthStatus(running.address.gateway), 200);
  });

  register(`[${name}] start before ensure throws OrchestratorError spec_missing`, async (t) => {
    const c = await setUp(t);
    const handle = c.handle('nospec');
    const error = await t.throwsAsync(c.orchestrator.start(handle), { instanceOf: OrchestratorError });
    t.is(error?.code, 'spec_missing');
    t.not((await c.orchestrator.status(handle)).state, 'running');
  });

  register(`[${name}] start runs the instance: status running with an address that answers /health`, async (t) => {
    const c = await setUp(t);
    const spec = c.spec(c.handle('start'));
    await c.orchestrator.ensure(spec);
    await c.orchestrator.start(spec.handle);
    const status = await c.serving(spec.handle);
    t.is(status.state, 'running', JSON.stringify(status));
    t.is(status.handle, spec.handle);
    t.is(status.specHash, spec.hash);
    t.truthy(status.address.gateway);
    t.truthy(status.address.shell);
    t.is(typeof status.detail, 'string');
  });

  register(`[${name}] start twice (also concurrently) leaves the running copy alone`, async (t) => {
    const c = await setUp(t);
    const spec = c.spec(c.handle('twice'));
    const first = await c.run(spec);

    await c.orchestrator.start(spec.handle);
    await Promise.all([c.orchestrator.start(spec.handle), c.orchestrator.start(spec.handle)]);
    const again = await c.orchestrator.status(spec.handle);
    t.is(again.state, 'running');
    t.deepEqual(again.address, first.address);
    t.is(again.specHash, spec.hash);
    t.is(await healthStatus(first.address.gateway), 200);
    const listed = (await c.orchestrator.list()).filter((s) => s.handle === spec.handle);
    t.is(listed.length, 1, JSON.stringify(listed));
  });

  register(`[${name}] concurrent first starts run one copy`, async (t) => {
    const c = await setUp(t);
    const spec = c.spec(c.handle('race'));
    await c.orchestrator.ensure(spec);
    await Promise.all([c.orchestrator.start(spec.handle), c.orchestrator.start(spec.handle), c.orchestrator.start(spec.handle)]);
    const status = await c.serving(spec.handle);
    const listed = (await c.orchestrator.list()).filter((s) => s.handle === spec.handle);
    t.is(listed.length, 1, JSON.stringify(listed));
    t.deepEqual(listed[0]?.address, status.address);
  });

  register(`[${name}] stop is idempotent and leaves status stopped, not failed`, async (t) => {
    const c = await setUp(t);
    const spec = c.spec(c.handle('stop'));
    const running = await c.run(spec);

    await c.orchestrator.stop(spec.handle);
    await c.orchestrator.stop(spec.handle);
    const stopped = await c.orchestrator.status(spec.handle);
    t.is(stopped.state, 'stopped', JSON.stringify(stopped));
    await c.expectSilent(running.address, 'the stopped instance');
    // Still stopped once nothing is left in flight: nothing restarts it or reports it failed.
    await c.settled();
    t.is((await c.orchestrator.status(spec.handle)).state, 'stopped');
  });

  register(`[${name}] a stopped instance starts again`, async (t) => {
    const c = await setUp(t);
    const spec = c.spec(c.handle('restart'));
    await c.run(spec);
    await c.orchestrator.stop(spec.handle);
    t.is((await c.orchestrator.status(spec.handle)).state, 'stopped');
    await c.orchestrator.start(spec.handle);
    const again = await c.serving(spec.handle);
    t.is(again.specHash, spec.hash);
  });

  register(`[${name}] stop of a missing instance is a no-op`, async (t) => {
    const c = await setUp(t);
    const handle = c.handle('nostop');
    await t.notThrowsAsync(c.orchestrator.stop(handle));
    await t.notThrowsAsync(c.orchestrator.stop(handle));
    t.is((await c.orchestrator.status(handle)).state, 'missing');
  });

  register(`[${name}] status of a never-seen handle is missing`, async (t) => {
    const c = await setUp(t);
    const handle = c.handle('never');
    const status = await c.orchestrator.status(handle);
    t.is(status.state, 'missing');
    t.is(status.handle, handle);
    t.is(status.address, undefined);
    t.false((await c.orchestrator.list()).some((s) => s.handle === handle));
  });

  register(`[${name}] list includes running instances with their addresses`, async (t) => {
    const c = await setUp(t);
    const a = c.spec(c.handle('list-a'));
    const b = c.spec(c.handle('list-b'));
    const [runningA, runningB] = await Promise.all([c.run(a), c.run(b)]);

    const listed = await c.orchestrator.list();
    for (const [spec, running] of [
      [a, runningA],
      [b, runningB],
    ] as const) {
      const entries = listed.filter((s) => s.handle === spec.handle);
      t.is(entries.length, 1, `${spec.handle}: ${JSON.stringify(entries)}`);
      t.is(entries[0]?.state, 'running');
      t.deepEqual(entries[0]?.address, running.address);
    }

    await c.orchestrator.stop(a.handle);
    const afterStop = await c.orchestrator.list();
    t.not(afterStop.find((s) => s.handle === a.handle)?.state, 'running');
    t.is(afterStop.find((s) => s.handle === b.handle)?.state, 'running');
  });

  register(`[${name}] destroy without purge returns where the data was archived`, async (t) => {
    const c = await setUp(t);
    const spec = c.spec(c.handle('archive'));
    const running = await c.run(spec);

    const result = await c.orchestrator.destroy(spec.handle, { purge: false });
    t.is(typeof result.archivePath, 'string');
    t.true((result.archivePath ?? '').length > 0);
    t.is((await c.orchestrator.status(spec.handle)).state, 'missing');
    t.false((await c.orchestrator.list()).some((s) => s.handle === spec.handle && s.state === 'running'));
    await c.expectSilent(running.address, 'the destroyed instance');
    // Retrying a destroy is safe (what it returns for the archive is the driver's choice).
    await t.notThrowsAsync(c.orchestrator.destroy(spec.handle, { purge: false }));
  });

  register(`[${name}] destroy of a missing instance returns archivePath null without throwing`, async (t) => {
    const c = await setUp(t);
    const handle = c.handle('nodestroy');
    t.deepEqual(await c.orchestrator.destroy(handle, { purge: false }), { archivePath: null });
    t.deepEqual(await c.orchestrator.destroy(handle, { purge: true }), { archivePath: null });
    t.is((await c.orchestrator.status(handle)).state, 'missing');
  });

  register(`[${name}] destroy with purge returns archivePath null`, async (t) => {
    const c = await setUp(t);
    const spec = c.spec(c.handle('purge'));
    const running = await c.run(spec);

    t.deepEqual(await c.orchestrator.destroy(spec.handle, { purge: true }), { archivePath: null });
    t.is((await c.orchestrator.status(spec.handle)).state, 'missing');
    await c.expectSilent(running.address, 'the purged instance');
    t.deepEqual(await c.orchestrator.destroy(spec.handle, { purge: true }), { archivePath: null });
  });

  register(`[${name}] a changed spec makes start replace the running copy`, async (t) => {
    const c = await setUp(t);
    const handle = c.handle('respec');
    const first = c.spec(handle);
    const changed = c.spec(handle, { env: { CONTRACT_GENERATION: '2' } });
    t.not(changed.hash, first.hash);
    const before = await c.run(first);
    t.is(before.specHash, first.hash);

    await c.orchestrator.ensure(changed);
    await c.orchestrator.start(handle);
    const after = await c.serving(handle, (s) => s.specHash === changed.hash);
    t.is(after.specHash, changed.hash);
    t.true(after.specHash !== before.specHash || after.address.gateway !== before.address.gateway);
    const listed = (await c.orchestrator.list()).filter((s) => s.handle === handle);
    t.is(listed.length, 1, JSON.stringify(listed));
    if (after.address.gateway !== before.address.gateway) await c.expectSilent(before.address, 'the replaced copy');

    // Starting again with the new spec is a no-op.
    await c.orchestrator.start(handle);
    const stable = await c.orchestrator.status(handle);
    t.deepEqual(stable.address, after.address);
    t.is(stable.specHash, changed.hash);
  });

  register(`[${name}] health never throws and reports ok`, async (t) => {
    const c = await setUp(t);
    const health = await c.orchestrator.health();
    t.true(health.ok);
    t.is(typeof health.detail, 'string');
    const spec = c.spec(c.handle('health'));
    await c.run(spec);
    t.true((await c.orchestrator.health()).ok);
  });
}
