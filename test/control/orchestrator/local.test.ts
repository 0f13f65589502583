/**
 * The local driver: the Orchestrator contract with real reference-instance
 * processes, plus what only this driver promises (its own data dir and log per
 * instance, a clean environment, re-adoption after a control restart, process
 * groups, and never mistaking another process for an instance).
 *
 * Runs serially: every test boots real Node processes, and a 2-core machine
 * running other test files is slow enough already.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { Config } from '../../../control/config.ts';
import { listenerUrl } from '../../../control/config-meter.ts';
import { createOrchestrator, localDriverId, referenceInstanceCommand } from '../../../control/main.ts';
import { LocalOrchestrator } from '../../../control/orchestrator/local.ts';
import { buildInstanceSpec } from '../../../control/orchestrator/spec.ts';
import type { InstanceSpec, Orchestrator, RuntimeStatus } from '../../../control/orchestrator/types.ts';
import { makeDataDir, TEST_KEY, TEST_SECRET, testConfig } from '../../helpers/platform.ts';
import {
  pollStatus,
  runOrchestratorContract,
  type ServingStatus,
  type SpecOverrides,
  uniqueHandle,
  waitForSilence,
  waitUntilServing,
  withOverrides,
} from './contract.ts';

const MARKER = 'MATRIXOS_LOCAL_DRIVER';
const HEALTH_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------------------
// Helpers that look at the OS directly, independently of local-processes.ts.

function processState(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

/** Alive and not a zombie. */
function isAlive(pid: number): boolean {
  const state = processState(pid);
  return state !== null && state !== 'Z' && state !== 'X';
}

function environOf(pid: number): Map<string, string> | null {
  try {
    const env = new Map<string, string>();
    for (const entry of fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
      const eq = entry.indexOf('=');
      if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
    return env;
  } catch {
    return null;
  }
}

/** Live processes whose environment carries this driver's marker and (if given) the handle. */
function markedProcesses(driverId: string, handle?: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const env = environOf(pid);
    if (env?.get(MARKER) !== driverId) continue;
    if (handle !== undefined && env.get('MATRIX_HANDLE') !== handle) continue;
    if (isAlive(pid)) pids.push(pid);
  }
  return pids;
}

function statField(pid: number, index: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name: state is field 3, ppid 4, pgrp 5 (1-based, as in proc(5)).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[index - 3]);
  } catch {
    return null;
  }
}

const parentOf = (pid: number) => statField(pid, 4);
const processGroupOf = (pid: number) => statField(pid, 5);

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
    } catch {
      /* gone */
    }
  }
}

function logTail(dataDir: string, handle: string): string {
  const log = path.join(dataDir, 'users', handle, 'logs', 'instance.log');
  return `instance.log: ${fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-2000) : '(none)'}`;
}

interface Env {
  dataDir: string;
  config: Config;
  driverId: string;
  orchestrator: Orchestrator;
  spec(handle: string, overrides?: SpecOverrides): InstanceSpec;
  recordPath(handle: string): string;
  readRecord(handle: string): { pid: number; gatewayPort: number; shellPort: number; specHash: string };
  cleanup(): Promise<void>;
}

async function localEnvironment(): Promise<Env> {
  const dataDir = await makeDataDir('mxos-local-driver-');
  const config = testConfig(dataDir);
  const driverId = localDriverId(config.dataDir);
  const orchestrator = createOrchestrator(config);
  const recordPath = (handle: string) => path.join(config.dataDir, 'local-driver', `${handle}.json`);
  return {
    dataDir: config.dataDir,
    config,
    driverId,
    orchestrator,
    spec: (handle, overrides) => withOverrides(buildInstanceSpec(config, TEST_KEY, { handle, owner: `owner-${handle}`, tokenGeneration: 1 }), overrides),
    recordPath,
    readRecord: (handle) => JSON.parse(fs.readFileSync(recordPath(handle), 'utf8')),
    async cleanup() {
      // Instances outlive the driver object by design: stop them through a fresh one, then make sure.
      const sweeper = createOrchestrator(config);
      for (const status of await sweeper.list().catch(() => [] as RuntimeStatus[])) await sweeper.stop(status.handle).catch(() => undefined);
      await orchestrator.close();
      await sweeper.close();
      for (const pid of markedProcesses(driverId)) killQuietly(pid);
      await waitUntil(() => markedProcesses(driverId).length === 0, 10_000);
      await fs.promises.rm(config.dataDir, { recursive: true, force: true });
    },
  };
}

async function setUp(t: ExecutionContext): Promise<Env> {
  const env = await localEnvironment();
  t.teardown(env.cleanup);
  return env;
}

function runInstance(t: ExecutionContext, orchestrator: Orchestrator, spec: InstanceSpec): Promise<ServingStatus> {
  return orchestrator
    .ensure(spec)
    .then(() => orchestrator.start(spec.handle))
    .then(() => serving(t, orchestrator, spec));
}

function serving(t: ExecutionContext, orchestrator: Orchestrator, spec: InstanceSpec): Promise<ServingStatus> {
  const dataDir = path.dirname(path.dirname(path.dirname(spec.volumePath)));
  return waitUntilServing(orchestrator, spec.handle, { timeoutMs: HEALTH_TIMEOUT_MS, log: (m) => t.log(m), diagnose: (h) => logTail(dataDir, h) });
}

/** A long-running process unrelated to the driver, killed when the test ends. */
function spawnUnrelated(t: ExecutionContext, seconds: number): ChildProcess & { pid: number } {
  const child = spawn('sleep', [String(seconds)], { stdio: 'ignore' });
  if (child.pid === undefined) throw new Error('could not spawn sleep');
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child as ChildProcess & { pid: number };
}

// ---------------------------------------------------------------------------
// The contract.

runOrchestratorContract(
  'local',
  async () => {
    const env = await localEnvironment();
    return { orchestrator: env.orchestrator, spec: env.spec, cleanup: env.cleanup, diagnose: (handle) => logTail(env.dataDir, handle) };
  },
  { serial: true, healthTimeoutMs: HEALTH_TIMEOUT_MS },
);

// ---------------------------------------------------------------------------
// Local-driver specifics.

test.serial('[local] an instance gets its own data dir, log and environment, and none of the control service secrets', async (t) => {
  process.env.PLATFORM_SECRET_PROBE = 'x';
  t.teardown(() => {
    delete process.env.PLATFORM_SECRET_PROBE;
  });
  const env = await setUp(t);
  const handle = uniqueHandle('envcheck');
  const spec = env.spec(handle);
  const running = await runInstance(t, env.orchestrator, spec);

  const userDir = path.join(env.dataDir, 'users', handle);
  t.is(spec.volumePath, path.join(userDir, 'matrixos'));
  t.true(fs.statSync(spec.volumePath).isDirectory());

  const { pid, gatewayPort, shellPort } = env.readRecord(handle);
  t.true(isAlive(pid));
  t.is(fs.readlinkSync(`/proc/${pid}/cwd`), spec.volumePath);
  t.is(running.address.gateway, `http://127.0.0.1:${gatewayPort}`);
  t.is(running.address.shell, `http://127.0.0.1:${shellPort}`);

  const health = (await (await fetch(`${running.address.gateway}/health`)).json()) as { handle: string };
  t.is(health.handle, handle);

  const environ = environOf(pid);
  t.truthy(environ);
  const get = (name: string) => environ!.get(name);
  t.is(get('MATRIX_HANDLE'), handle);
  t.is(get('MATRIX_AUTH_TOKEN'), spec.secrets.MATRIX_AUTH_TOKEN);
  t.is(get('ANTHROPIC_API_KEY'), spec.secrets.ANTHROPIC_API_KEY);
  t.is(get('ANTHROPIC_BASE_URL'), env.config.meterUrl ?? listenerUrl(env.config.meter));
  t.is(get('PORT'), String(gatewayPort));
  t.is(get('SHELL_PORT'), String(shellPort));
  t.is(get('HOME'), spec.volumePath);
  t.is(get('MATRIX_DATA_DIR'), spec.volumePath);
  t.is(get(MARKER), env.driverId);
  t.is(get('PATH'), process.env.PATH);
  // The control service's own environment stays out.
  t.false(environ!.has('PLATFORM_SECRET_PROBE'));
  t.false(environ!.has('PLATFORM_SECRET'));
  t.false(environ!.has('SECRET_KEY'));
  t.false(environ!.has('DATABASE_URL'));
  for (const [name, value] of environ!) {
    t.false(value.includes(TEST_SECRET), `${name} carries the platform secret`);
    t.false(value.includes(TEST_KEY), `${name} carries the secret key`);
  }

  // Its output goes to DATA_DIR/users/{handle}/logs/instance.log (requests are logged as JSON lines).
  const logPath = path.join(userDir, 'logs', 'instance.log');
  t.true(fs.existsSync(logPath));
  t.true(
    await waitUntil(() => fs.readFileSync(logPath, 'utf8').includes('/health'), 15_000),
    `instance.log has no request line: ${fs.readFileSync(logPath, 'utf8').slice(0, 500)}`,
  );
});

test.serial('[local] only the allow-listed variables of inheritEnv reach the instance', async (t) => {
  const env = await setUp(t);
  const orchestrator = new LocalOrchestrator({
    dataDir: env.dataDir,
    driverId: env.driverId,
    referenceCommand: referenceInstanceCommand(),
    inheritEnv: { PATH: process.env.PATH, SHOULD_NOT_LEAK: 'leak' },
  });
  const handle = uniqueHandle('inherit');
  await runInstance(t, orchestrator, env.spec(handle));
  const environ = environOf(env.readRecord(handle).pid)!;
  t.is(environ.get('PATH'), process.env.PATH);
  t.false(environ.has('SHOULD_NOT_LEAK'));
  t.false([...environ.values()].includes('leak'));
  await orchestrator.stop(handle);
  t.is((await orchestrator.status(handle)).state, 'stopped');
});

test.serial('[local] a restarted control service re-adopts a running instance instead of starting a second copy', async (t) => {
  const env = await setUp(t);
  const handle = uniqueHandle('adopt');
  const spec = env.spec(handle);
  const before = await runInstance(t, env.orchestrator, spec);
  const { pid } = env.readRecord(handle);
  t.deepEqual(markedProcesses(env.driverId, handle), [pid]);
  await env.orchestrator.close();

  // A new driver object over the same data dir and driver id: the control service restarted.
  const restarted = createOrchestrator(env.config);
  t.is(restarted.name, 'local');
  const adopted = await restarted.status(handle);
  t.is(adopted.state, 'running');
  t.deepEqual(adopted.address, before.address);
  t.true((await restarted.list()).some((s) => s.handle === handle && s.state === 'running'));

  await restarted.ensure(spec);
  await restarted.start(handle);
  await restarted.start(handle);
  t.is(env.readRecord(handle).pid, pid);
  t.true(isAlive(pid));
  t.deepEqual(markedProcesses(env.driverId, handle), [pid], 'exactly one process runs the instance');
  t.deepEqual((await restarted.status(handle)).address, before.address);
  t.is((await fetch(`${before.address.gateway}/health`)).status, 200);

  // The restarted driver can also stop what the old one started.
  await restarted.stop(handle);
  t.true(await waitUntil(() => !isAlive(pid), 10_000));
  t.is((await restarted.status(handle)).state, 'stopped');
});

test.serial("[local] a process killed behind the driver's back is failed, and start() runs a fresh one", async (t) => {
  const env = await setUp(t);
  const handle = uniqueHandle('killed');
  const spec = env.spec(handle);
  await runInstance(t, env.orchestrator, spec);
  const { pid } = env.readRecord(handle);

  process.kill(pid, 'SIGKILL');
  const failed = await pollStatus(env.orchestrator, handle, (s) => s.state === 'failed', 30_000);
  t.is(failed.state, 'failed', JSON.stringify(failed));
  t.true(fs.existsSync(env.recordPath(handle)), 'the record is still there');
  t.is(typeof failed.detail, 'string');
  t.true(failed.detail.length > 0);
  t.true((await env.orchestrator.list()).some((s) => s.handle === handle && s.state === 'failed'));
  // A fresh driver object (no in-memory exit info) agrees.
  t.is((await createOrchestrator(env.config).status(handle)).state, 'failed');

  await env.orchestrator.start(handle);
  await serving(t, env.orchestrator, spec);
  const fresh = env.readRecord(handle).pid;
  t.not(fresh, pid);
  t.deepEqual(markedProcesses(env.driverId, handle), [fresh]);
});

test.serial('[local] an unrecorded process still shows in list() as running, and stop() kills it', async (t) => {
  const env = await setUp(t);
  const handle = uniqueHandle('stray');
  const before = await runInstance(t, env.orchestrator, env.spec(handle));
  const { pid } = env.readRecord(handle);

  // What a control service that died right after spawn leaves behind: a process, no record.
  fs.rmSync(env.recordPath(handle));
  for (const orchestrator of [env.orchestrator, createOrchestrator(env.config)]) {
    const entry = (await orchestrator.list()).find((s) => s.handle === handle);
    t.is(entry?.state, 'running', JSON.stringify(entry));
    t.deepEqual(entry?.address, before.address);
  }

  await env.orchestrator.stop(handle);
  t.true(await waitUntil(() => !isAlive(pid), 10_000), 'the unrecorded process was stopped');
  t.deepEqual(markedProcesses(env.driverId, handle), []);
  t.true(await waitForSilence(before.address.gateway));
  t.false((await env.orchestrator.list()).some((s) => s.handle === handle && s.state === 'running'));
});

test.serial('[local] start() after the record was lost leaves exactly one copy running', async (t) => {
  const env = await setUp(t);
  const handle = uniqueHandle('stray-start');
  const spec = env.spec(handle);
  await runInstance(t, env.orchestrator, spec);
  fs.rmSync(env.recordPath(handle));

  const restarted = createOrchestrator(env.config);
  await restarted.ensure(spec);
  await restarted.start(handle);
  const status = await serving(t, restarted, spec);
  const { pid } = env.readRecord(handle);
  t.true(await waitUntil(() => markedProcesses(env.driverId, handle).length === 1, 10_000));
  t.deepEqual(markedProcesses(env.driverId, handle), [pid], 'exactly one process runs the instance');
  t.deepEqual(
    (await restarted.list()).filter((s) => s.handle === handle).map((s) => s.address),
    [status.address],
  );
});

test.serial('[local] status() agrees with list() about an unrecorded running instance', async (t) => {
  const env = await setUp(t);
  const handle = uniqueHandle('stray-status');
  const before = await runInstance(t, env.orchestrator, env.spec(handle));
  fs.rmSync(env.recordPath(handle));

  for (const orchestrator of [env.orchestrator, createOrchestrator(env.config)]) {
    const listed = (await orchestrator.list()).find((s) => s.handle === handle);
    t.is(listed?.state, 'running');
    const status = await orchestrator.status(handle);
    t.is(status.state, 'running', `status(): ${JSON.stringify(status)} / list(): ${JSON.stringify(listed)}`);
    t.deepEqual(status.address, before.address);
  }
});

/** A spec whose shell command leaves a background `sleep 300` in the group, then execs a minimal /health server. */
function groupSpec(env: Env, handle: string): InstanceSpec {
  const server = `require("http").createServer((q,s)=>s.end("ok")).listen(Number(process.env.PORT),process.env.HOST)`;
  return env.spec(handle, { command: `sh -c 'sleep 300 & exec ${process.execPath} -e ${JSON.stringify(server)}'` });
}

/** The instance's main pid (from the record) and its background `sleep 300` child. */
async function groupPids(t: ExecutionContext, env: Env, handle: string): Promise<{ pid: number; sleeper: number }> {
  const { pid } = env.readRecord(handle);
  let sleeper: number | undefined;
  await waitUntil(() => {
    sleeper = markedProcesses(env.driverId, handle).find((p) => parentOf(p) === pid);
    return sleeper !== undefined;
  }, 10_000);
  if (sleeper === undefined) throw new Error(`no background child of ${pid} found`);
  t.teardown(() => killQuietly(sleeper!));
  t.regex(cmdline(sleeper), /^sleep 300/);
  t.is(processGroupOf(sleeper), pid, "the child is in the instance's process group");
  return { pid, sleeper };
}

test.serial('[local] stop kills the whole process group, background children included', async (t) => {
  const env = await setUp(t);
  const handle = uniqueHandle('group');
  const running = await runInstance(t, env.orchestrator, groupSpec(env, handle));
  const { pid, sleeper } = await groupPids(t, env, handle);

  await env.orchestrator.stop(handle);
  t.true(await waitUntil(() => !isAlive(pid) && !isAlive(sleeper), 15_000), 'both processes are gone');
  t.deepEqual(markedProcesses(env.driverId, handle), []);
  t.true(await waitForSilence(running.address.gateway));
  t.is((await env.orchestrator.status(handle)).state, 'stopped');
});

test.serial('[local] list() agrees with status() that a crashed instance failed, even if a child of it survives', async (t) => {
  const env = await setUp(t);
  const handle = uniqueHandle('crash-list');
  const running = await runInstance(t, env.orchestrator, groupSpec(env, handle));
  const { pid, sleeper } = await groupPids(t, env, handle);

  process.kill(pid, 'SIGKILL');
  t.is((await pollStatus(env.orchestrator, handle, (s) => s.state === 'failed', 30_000)).state, 'failed');
  t.true(isAlive(sleeper));
  t.true(await waitForSilence(running.address.gateway), 'nothing answers at the instance address');
  const entry = (await env.orchestrator.list()).find((s) => s.handle === handle);
  t.is(entry?.state, 'failed', JSON.stringify(entry));
});

test.serial('[local] start() after a crash ends what is left of the crashed copy', async (t) => {
  const env = await setUp(t);
  const handle = uniqueHandle('crash-start');
  const spec = groupSpec(env, handle);
  await runInstance(t, env.orchestrator, spec);
  const { pid, sleeper } = await groupPids(t, env, handle);

  process.kill(pid, 'SIGKILL');
  t.is((await pollStatus(env.orchestrator, handle, (s) => s.state === 'failed', 30_000)).state, 'failed');
  t.true(isAlive(sleeper), 'the child survived the crash');
  await env.orchestrator.start(handle);
  const fresh = await serving(t, env.orchestrator, spec);
  t.true(await waitUntil(() => !isAlive(sleeper), 10_000), `the crashed copy's child ${sleeper} still runs`);
  const now = env.readRecord(handle).pid;
  t.not(now, pid);
  t.is(fresh.state, 'running');
  // The fresh copy has its own background child; nothing else carries the handle (a process
  // still starting or ending on a busy machine is awaited, not taken for a stray).
  const onlyFresh = () => markedProcesses(env.driverId, handle).every((p) => p === now || parentOf(p) === now);
  t.true(await waitUntil(onlyFresh, 10_000), `processes carrying ${handle}: ${markedProcesses(env.driverId, handle).join(', ')} (fresh copy ${now})`);
});

test.serial('[local] a recycled pid is never mistaken for the instance', async (t) => {
  const env = await setUp(t);
  const handle = uniqueHandle('recycled');
  const spec = env.spec(handle);
  await env.orchestrator.ensure(spec);
  const unrelated = spawnUnrelated(t, 30);
  t.true(isAlive(unrelated.pid));

  // A record left by an instance whose pid now belongs to someone else.
  fs.writeFileSync(
    env.recordPath(handle),
    JSON.stringify({ pid: unrelated.pid, gatewayPort: 1, shellPort: 2, specHash: spec.hash, startedAt: new Date().toISOString() }),
  );
  for (const orchestrator of [env.orchestrator, createOrchestrator(env.config)]) {
    const status = await orchestrator.status(handle);
    t.not(status.state, 'running', JSON.stringify(status));
    t.is(status.address, undefined);
    t.false((await orchestrator.list()).some((s) => s.handle === handle && s.state === 'running'));
  }

  // stop() resolves only once every process it signalled is gone (as destroy() below), so nothing is left to wait for.
  await env.orchestrator.stop(handle);
  t.true(isAlive(unrelated.pid), 'stop() left the unrelated process alone');
  t.is(unrelated.signalCode, null);

  // start() runs a real instance rather than trusting the stale record; the unrelated process survives that too.
  fs.writeFileSync(
    env.recordPath(handle),
    JSON.stringify({ pid: unrelated.pid, gatewayPort: 1, shellPort: 2, specHash: spec.hash, startedAt: new Date().toISOString() }),
  );
  await env.orchestrator.start(handle);
  await serving(t, env.orchestrator, spec);
  t.not(env.readRecord(handle).pid, unrelated.pid);
  await env.orchestrator.destroy(handle, { purge: true });
  t.true(isAlive(unrelated.pid), 'destroy() left the unrelated process alone');
});

test.serial('[local] destroy archives the user directory under DATA_DIR/archive', async (t) => {
  const env = await setUp(t);
  const handle = uniqueHandle('arch');
  const spec = env.spec(handle);
  await runInstance(t, env.orchestrator, spec);
  fs.writeFileSync(path.join(spec.volumePath, 'note.txt'), 'keep me');

  const { archivePath } = await env.orchestrator.destroy(handle, { purge: false });
  t.truthy(archivePath);
  t.is(path.dirname(archivePath!), path.join(env.dataDir, 'archive'));
  t.is(fs.readFileSync(path.join(archivePath!, 'matrixos', 'note.txt'), 'utf8'), 'keep me');
  t.true(fs.existsSync(path.join(archivePath!, 'logs', 'instance.log')));
  t.false(fs.existsSync(path.join(env.dataDir, 'users', handle)));
  t.false(fs.existsSync(env.recordPath(handle)));
});

test.serial("[local] destroy of a missing instance never returns another handle's archive", async (t) => {
  const env = await setUp(t);
  const base = uniqueHandle('bob');
  const longer = `${base}-smith`;
  const spec = env.spec(longer);
  await env.orchestrator.ensure(spec);
  const archived = await env.orchestrator.destroy(longer, { purge: false });
  t.truthy(archived.archivePath);

  t.is((await env.orchestrator.status(base)).state, 'missing');
  t.deepEqual(await env.orchestrator.destroy(base, { purge: false }), { archivePath: null });
});
