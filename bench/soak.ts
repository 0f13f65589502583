/**
 * soak (`npm run soak`): a chaos benchmark, bounded in time, loopback only. For each
 * setup (local driver and the Nomad double, on SQLite and on PostgreSQL) it runs the
 * control service as its own process, signs up a burst of users, sends traffic through
 * the router all along, and injects faults one after another:
 *
 *   kill-instance   an instance's process gets SIGKILL (Nomad: its allocation crashes)
 *   kill-control    the control service gets SIGKILL and is started again
 *   nomad-down      the Nomad double stops answering for a while, and an allocation
 *                   crashes meanwhile (Nomad setups only)
 *   pg-restart      PostgreSQL restarts, cutting every connection (PostgreSQL setups only)
 *
 * and, between faults, users stop and start their instances. After each fault it waits
 * until every instance is in the state its user asked for and a running one answers
 * through the router: that wait is the fault's recovery time. At the end: converged,
 * no provisioning step ran twice, no orphan process or job, every instance destroyed
 * and nothing left. The report (bench/results/soak.json) lists each fault and its
 * recovery, p50/p99 per kind, and the traffic's answers.
 *
 * Knobs: BENCH_SOAK_SECONDS (40, fault time per setup), BENCH_SOAK_INSTANCES (10),
 * BENCH_SOAK_SETUPS (all four: local-sqlite,local-postgres,nomad-sqlite,nomad-postgres).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { deriveCredential } from '../control/access/credentials.ts';
import { localDriverId } from '../control/main.ts';
import { scanProcesses } from '../control/orchestrator/local-processes.ts';
import { instanceJobId } from '../jobs/instance.ts';
import type { NomadDouble } from '../test/doubles/nomad/index.ts';
import { NOMAD_TEST_TOKEN, nomadWithInstances } from '../test/helpers/drivers.ts';
import { freePort, type PostgresCluster, postgresAvailable, startPostgresCluster } from '../test/helpers/postgres.ts';
import { benchPlatformEnv, benchSecret, intEnv, msStats, printTargets, REPO_ROOT, round, sleep, type TargetResult, target, writeResult } from './lib.ts';
import { cleanupAll, get, onCleanup, waitForStatus } from './procs.ts';

const NAME = 'soak';
const SECONDS = intEnv('BENCH_SOAK_SECONDS', 40);
const INSTANCES = intEnv('BENCH_SOAK_INSTANCES', 10);
const ALL_SETUPS = ['local-sqlite', 'local-postgres', 'nomad-sqlite', 'nomad-postgres'] as const;
type SetupName = (typeof ALL_SETUPS)[number];
const SETUPS = (process.env.BENCH_SOAK_SETUPS?.split(',').map((s) => s.trim()) ?? [...ALL_SETUPS]) as SetupName[];
/** A fault not recovered from within this long counts as not recovered. */
const RECOVERY_CAP_MS = 90_000;
const NOMAD_DOWN_MS = 3000;
/** High enough that random kills never exhaust an instance's restarts: the soak is about recovery. */
const RESTART_LIMIT = '100';
/** Short, so an instance killed twice in a row does not make the soak measure the backoff (tested on its own). */
const RESTART_BACKOFF = '1s';

type FaultKind = 'kill-instance' | 'kill-control' | 'nomad-down' | 'pg-restart';
type Desired = 'running' | 'stopped';

interface FaultRecord {
  kind: FaultKind;
  /** Seconds since the fault phase began. */
  atS: number;
  target: string | null;
  recoveryMs: number | null;
  /** For a recovery over 5 s: what was still not converged shortly before it ended. */
  slowBecause?: string;
}

interface SetupReport {
  setup: SetupName;
  skipped?: string;
  faults: FaultRecord[];
  recovery: Record<string, ReturnType<typeof msStats>>;
  userActions: number;
  traffic: Record<string, number>;
  /** Up to 5 of each unusual answer, seconds since the setup began; and the faults and user actions on the same clock. */
  oddAnswers: Record<string, Array<{ atS: number; handle: string }>>;
  timeline: Array<{ atS: number; what: string }>;
  checks: { converged: boolean; duplicateSteps: string[]; strayInstances: string[]; leftAfterDestroy: string[] };
  provisionBurstMs: number;
  wallS: number;
}

class Control {
  child: ChildProcess | null = null;
  readonly log: string;

  constructor(
    private readonly env: Record<string, string | undefined>,
    readonly apiUrl: string,
  ) {
    this.log = path.join(env.DATA_DIR!, 'control.log');
  }

  async start(): Promise<void> {
    const out = fs.openSync(this.log, 'a');
    this.child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'control/main.ts')], {
      cwd: REPO_ROOT,
      env: this.env,
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    const child = this.child;
    onCleanup(() => this.stop(child));
    try {
      await waitForStatus(`${this.apiUrl}/health`, 200, 120_000, 100);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- control log ---\n${fs.readFileSync(this.log, 'utf8').slice(-3000)}`);
    }
  }

  kill9(): Promise<void> {
    const child = this.child!;
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** SIGTERM (instances keep running, as in production), SIGKILL after 20 s. */
  stop(child = this.child): Promise<void> {
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  async api(pathname: string, init: { method?: string; json?: unknown } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(this.apiUrl + pathname, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${this.env.PLATFORM_SECRET}`, 'content-type': 'application/json' },
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }
}

const handleOf = (i: number) => `soak-${String(i + 1).padStart(2, '0')}`;
const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(Math.random() * items.length)];

async function runSetup(setup: SetupName, cluster: PostgresCluster | null): Promise<SetupReport> {
  const started = performance.now();
  const [driver, database] = setup.split('-') as ['local' | 'nomad', 'sqlite' | 'postgres'];
  const dataDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), `mxos-soak-${setup}-`));
  onCleanup(() => fs.promises.rm(dataDir, { recursive: true, force: true }));
  const [apiPort, publicPort, meterPort] = [await freePort(), await freePort(), await freePort()];
  let nomad: NomadDouble | null = null;
  if (driver === 'nomad') nomad = await nomadWithInstances((fn) => onCleanup(fn));
  let databaseUrl: string | undefined;
  if (database === 'postgres') {
    const name = `soak_${setup.replace('-', '_')}_${Date.now()}`;
    const admin = new pg.Client({ connectionString: cluster!.adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    databaseUrl = cluster!.adminUrl.replace(/\/postgres$/, `/${name}`);
  }
  const secretKey = benchSecret('key');
  const env: Record<string, string | undefined> = {
    ...benchPlatformEnv(dataDir, 'soak'),
    SECRET_KEY: secretKey,
    API_PORT: String(apiPort),
    PUBLIC_PORT: String(publicPort),
    METER_PORT: String(meterPort),
    WORKER_POLL_INTERVAL: '100ms',
    SWEEP_INTERVAL: '10s',
    RESTART_LIMIT,
    RESTART_BACKOFF: RESTART_BACKOFF,
    LOG_LEVEL: 'warn',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...(nomad ? { ORCHESTRATOR: 'nomad', NOMAD_ADDR: nomad.url, NOMAD_TOKEN: NOMAD_TEST_TOKEN } : {}),
  };
  const control = new Control(env, `http://127.0.0.1:${apiPort}`);
  await control.start();

  const desired = new Map<string, Desired>();
  const handles = Array.from({ length: INSTANCES }, (_, i) => handleOf(i));
  const burstStarted = performance.now();
  await Promise.all(
    handles.map(async (handle) => {
      const r = await control.api('/containers/provision', { method: 'POST', json: { handle, userId: `u-${handle}` } });
      if (r.status !== 201) throw new Error(`provision ${handle}: ${r.status} ${JSON.stringify(r.body)}`);
      desired.set(handle, 'running');
    }),
  );

  // Traffic through the router all along: what clients saw.
  const traffic: Record<string, number> = {};
  const oddAnswers: Record<string, Array<{ atS: number; handle: string }>> = {};
  const timeline: Array<{ atS: number; what: string }> = [];
  /** Requests under way per handle: a user's stop waits for them (a visit would wake it again, as it should). */
  const inFlight = new Map<string, number>();
  let trafficOn = true;
  const sendTraffic = async () => {
    while (trafficOn) {
      const handle = pick([...desired].filter(([, d]) => d === 'running').map(([h]) => h));
      if (!handle) {
        await sleep(50);
        continue;
      }
      const token = deriveCredential(secretKey, 'instance-token', handle, 1);
      let outcome: string;
      inFlight.set(handle, (inFlight.get(handle) ?? 0) + 1);
      try {
        const r = await get(`http://127.0.0.1:${publicPort}/`, { Host: `${handle}.localhost:${publicPort}`, authorization: `Bearer ${token}` }, 15_000);
        outcome = r.status < 400 ? String(r.status) : `${r.status} ${errorCode(r.body)}`;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        outcome = code === 'ECONNREFUSED' ? 'router down (control restarting)' : `no answer (${code})`;
      } finally {
        inFlight.set(handle, inFlight.get(handle)! - 1);
      }
      traffic[outcome] = (traffic[outcome] ?? 0) + 1;
      // When and where the unusual answers came, to line them up with the faults.
      if (!outcome.startsWith('2') && !outcome.startsWith('router down')) {
        const seen = oddAnswers[outcome] ?? [];
        oddAnswers[outcome] = seen;
        if (seen.length < 5) seen.push({ atS: round((performance.now() - started) / 1000), handle });
      }
      await sleep(20);
    }
  };
  const trafficLoops = [sendTraffic(), sendTraffic()];

  /** Why the platform has not converged yet, for slow recoveries ('' once it has). */
  let notConverged = '';
  const converged = async (): Promise<boolean> => {
    let list: { status: number; body: Record<string, unknown> };
    try {
      list = await control.api('/containers?limit=1000');
    } catch (err) {
      notConverged = `API: ${(err as Error).message}`;
      return false;
    }
    if (list.status !== 200) {
      notConverged = `API: ${list.status}`;
      return false;
    }
    const states = new Map((list.body.instances as Array<{ handle: string; status: string }>).map((i) => [i.handle, i.status]));
    for (const [handle, want] of desired) {
      if (states.get(handle) === want) continue;
      notConverged = `${handle} is ${states.get(handle)}, wanted ${want}`;
      return false;
    }
    for (const [handle, want] of desired) {
      if (want !== 'running') continue;
      const token = deriveCredential(secretKey, 'instance-token', handle, 1);
      const r = await get(`http://127.0.0.1:${publicPort}/`, { Host: `${handle}.localhost:${publicPort}`, authorization: `Bearer ${token}` }, 5000).catch(
        () => null,
      );
      if (!r || r.status >= 500) {
        notConverged = `${handle} answers ${r ? `${r.status} ${errorCode(r.body)}` : 'nothing'} through the router`;
        return false;
      }
    }
    notConverged = '';
    return true;
  };
  /** `replaced`: the killed instance must also have been replaced (a new process or allocation), not merely still answering. */
  let lastReason = '';
  const awaitConvergence = async (since: number, replaced?: { handle: string; was: string | null }): Promise<number | null> => {
    lastReason = '';
    while (performance.now() - since < RECOVERY_CAP_MS) {
      if (notConverged) lastReason = notConverged;
      const now = replaced ? await identity(driver, dataDir, nomad, replaced.handle) : null;
      if ((!replaced || (now !== null && now !== replaced.was)) && (await converged())) return performance.now() - since;
      await sleep(100);
    }
    return null;
  };

  const provisionBurstMs = await awaitConvergence(burstStarted);
  if (provisionBurstMs === null) throw new Error(`${setup}: the sign-up burst did not converge within ${RECOVERY_CAP_MS / 1000} s`);

  const kinds: FaultKind[] = ['kill-instance', 'kill-instance', 'kill-control'];
  if (nomad) kinds.push('nomad-down');
  if (database === 'postgres') kinds.push('pg-restart');
  const faults: FaultRecord[] = [];
  const kills = new Map<string, number>();
  let userActions = 0;
  const phaseStarted = performance.now();
  for (let n = 0; performance.now() - phaseStarted < SECONDS * 1000; n++) {
    // Users change their minds between faults: the soak checks their wishes are kept.
    if (n % 2 === 1) {
      const handle = pick(handles)!;
      const want: Desired = desired.get(handle) === 'running' ? 'stopped' : 'running';
      if (want === 'stopped') {
        desired.set(handle, 'stopped'); // no new traffic; what is under way finishes first
        while ((inFlight.get(handle) ?? 0) > 0) await sleep(10);
      }
      const r = await control.api(`/containers/${handle}/${want === 'running' ? 'start' : 'stop'}`, { method: 'POST' });
      if (r.status < 300) {
        desired.set(handle, want);
        userActions++;
        timeline.push({ atS: round((performance.now() - started) / 1000), what: `user ${want === 'running' ? 'start' : 'stop'} ${handle}` });
      } else if (want === 'stopped') desired.set(handle, 'running');
    }
    const kind = kinds[n % kinds.length]!;
    // The least-killed instance: the soak measures recovery, not the restart backoff.
    const runningHandles = [...desired].filter(([, d]) => d === 'running').map(([h]) => h);
    const fewest = Math.min(...runningHandles.map((h) => kills.get(h) ?? 0));
    const victim = pick(runningHandles.filter((h) => (kills.get(h) ?? 0) === fewest)) ?? null;
    if (victim && (kind === 'kill-instance' || kind === 'nomad-down')) kills.set(victim, (kills.get(victim) ?? 0) + 1);
    const killed =
      victim && (kind === 'kill-instance' || kind === 'nomad-down') ? { handle: victim, was: await identity(driver, dataDir, nomad, victim) } : undefined;
    const at = performance.now();
    timeline.push({ atS: round((at - started) / 1000), what: `${kind}${killed ? ` ${killed.handle}` : ''}` });
    let recoverFrom = at;
    if (kind === 'kill-instance' && victim) {
      if (nomad) crashAllocation(nomad, victim);
      else await killInstanceProcess(dataDir, victim);
    } else if (kind === 'kill-control') {
      await control.kill9();
      await control.start();
    } else if (kind === 'nomad-down') {
      await nomad!.down();
      if (victim) crashAllocation(nomad!, victim);
      await sleep(NOMAD_DOWN_MS);
      await nomad!.up();
      recoverFrom = performance.now();
    } else if (kind === 'pg-restart') {
      await cluster!.restart();
      recoverFrom = performance.now();
    }
    const recoveryMs = await awaitConvergence(recoverFrom, killed);
    faults.push({
      kind,
      atS: round((at - phaseStarted) / 1000),
      target: kind === 'kill-instance' || kind === 'nomad-down' ? victim : null,
      recoveryMs: recoveryMs === null ? null : round(recoveryMs, 0),
      ...(recoveryMs === null || recoveryMs > 5000 ? { slowBecause: lastReason } : {}),
    });
    console.log(
      `  ${setup}: ${kind}${victim && kind !== 'kill-control' && kind !== 'pg-restart' ? ` (${victim})` : ''}: ${recoveryMs === null ? 'NOT recovered' : `recovered in ${round(recoveryMs, 0)} ms`}`,
    );
  }

  trafficOn = false;
  await Promise.all(trafficLoops);
  const finallyConverged = (await awaitConvergence(performance.now())) !== null;

  // No provisioning step ran twice: each instance was defined once, whatever was killed meanwhile.
  const duplicateSteps: string[] = [];
  for (const handle of handles) {
    const { body } = await control.api(`/containers/${handle}/events?limit=5000`);
    const events = body.events as Array<{ from: string | null; to: string | null }>;
    for (const [from, to] of [
      ['requested', 'provisioning'],
      ['provisioning', 'starting'],
    ] as const) {
      const times = events.filter((e) => e.from === from && e.to === to).length;
      if (times !== 1) duplicateSteps.push(`${handle}: ${from} → ${to} ${times} times`);
    }
  }
  const strayInstances = await strays(driver, dataDir, nomad, desired);

  // Everything goes, and nothing may be left behind.
  for (const handle of handles) await control.api(`/containers/${handle}?confirm=${handle}&purge=1`, { method: 'DELETE' });
  const destroyedBy = performance.now();
  while (performance.now() - destroyedBy < RECOVERY_CAP_MS) {
    const { body } = await control.api('/containers?status=destroyed&limit=1000');
    if ((body.instances as unknown[]).length === handles.length) break;
    await sleep(200);
  }
  await control.stop();
  const leftAfterDestroy = await strays(driver, dataDir, nomad, new Map(handles.map((h) => [h, 'stopped'])));
  if (nomad) await nomad.close();

  const recovery: SetupReport['recovery'] = {};
  for (const kind of new Set(faults.map((f) => f.kind))) {
    const recovered = faults.filter((f) => f.kind === kind && f.recoveryMs !== null).map((f) => f.recoveryMs!);
    recovery[kind] = msStats(recovered);
  }
  return {
    setup,
    faults,
    recovery,
    userActions,
    traffic,
    oddAnswers,
    timeline,
    checks: {
      converged: finallyConverged && faults.every((f) => f.recoveryMs !== null),
      duplicateSteps,
      strayInstances,
      leftAfterDestroy,
    },
    provisionBurstMs: round(provisionBurstMs, 0),
    wallS: round((performance.now() - started) / 1000),
  };
}

function errorCode(body: string): string {
  try {
    return (JSON.parse(body) as { error?: { code?: string } }).error?.code ?? '';
  } catch {
    return '';
  }
}

function crashAllocation(nomad: NomadDouble, handle: string): void {
  const running = (nomad.allocations(instanceJobId(handle)) as Array<{ ID: string; ClientStatus: string }>).filter((a) => a.ClientStatus === 'running');
  for (const alloc of running) nomad.crashAllocation(alloc.ID, 'killed by the soak');
}

async function killInstanceProcess(dataDir: string, handle: string): Promise<void> {
  for (const p of await scanProcesses(localDriverId(dataDir))) if (p.handle === handle && p.leader) process.kill(p.pid, 'SIGKILL');
}

/** What runs an instance now: its process (local) or its running allocation (Nomad); null when nothing does. */
async function identity(driver: 'local' | 'nomad', dataDir: string, nomad: NomadDouble | null, handle: string): Promise<string | null> {
  if (driver === 'local') {
    const leader = (await scanProcesses(localDriverId(dataDir))).find((p) => p.handle === handle && p.leader);
    return leader ? `pid ${leader.pid}` : null;
  }
  const running = (nomad!.allocations(instanceJobId(handle)) as Array<{ ID: string; ClientStatus: string }>).find((a) => a.ClientStatus === 'running');
  return running ? `alloc ${running.ID}` : null;
}

/** Instances running where their user did not ask for one, or more than one per user. */
async function strays(driver: 'local' | 'nomad', dataDir: string, nomad: NomadDouble | null, desired: Map<string, Desired>): Promise<string[]> {
  const count = new Map<string, number>();
  if (driver === 'local') {
    for (const p of await scanProcesses(localDriverId(dataDir))) if (p.leader) count.set(p.handle, (count.get(p.handle) ?? 0) + 1);
  } else {
    for (const alloc of nomad!.allocations() as Array<{ JobID: string; ClientStatus: string }>) {
      if (alloc.ClientStatus !== 'running' && alloc.ClientStatus !== 'pending') continue;
      const handle = alloc.JobID.replace(/^matrixos-/, '');
      count.set(handle, (count.get(handle) ?? 0) + 1);
    }
  }
  const found: string[] = [];
  for (const [handle, n] of count) {
    const want = desired.get(handle) === 'running' ? 1 : 0;
    if (n !== want) found.push(`${handle}: ${n} running, wanted ${want}`);
  }
  for (const [handle, want] of desired) if (want === 'running' && !count.has(handle)) found.push(`${handle}: none running, wanted 1`);
  return found;
}

async function main(): Promise<void> {
  const pgState = postgresAvailable();
  const cluster = SETUPS.some((s) => s.endsWith('postgres')) && pgState.ok ? await startPostgresCluster() : null;
  if (cluster) onCleanup(() => cluster.stop());
  const reports: SetupReport[] = [];
  for (const setup of SETUPS) {
    if (setup.endsWith('postgres') && !cluster) {
      const reason = pgState.ok ? 'not asked for' : pgState.reason;
      reports.push({ setup, skipped: `PostgreSQL unavailable: ${reason}` } as SetupReport);
      console.log(`${setup}: skipped (${reason})`);
      continue;
    }
    console.log(`\n${setup}: ${INSTANCES} instances, ${SECONDS} s of faults`);
    reports.push(await runSetup(setup, cluster));
  }
  const ran = reports.filter((r) => !r.skipped);
  const all = (kind: FaultKind) => ran.flatMap((r) => r.faults.filter((f) => f.kind === kind && f.recoveryMs !== null).map((f) => f.recoveryMs!));
  const targets: TargetResult[] = [
    target('setups not converged', ran.filter((r) => !r.checks.converged).length, '==', 0, 'setups'),
    target(
      'provisioning steps run twice',
      ran.reduce((n, r) => n + r.checks.duplicateSteps.length, 0),
      '==',
      0,
      'steps',
    ),
    target(
      'stray or missing instances at the end',
      ran.reduce((n, r) => n + r.checks.strayInstances.length, 0),
      '==',
      0,
      'instances',
    ),
    target(
      'instances left after destroy',
      ran.reduce((n, r) => n + r.checks.leftAfterDestroy.length, 0),
      '==',
      0,
      'instances',
    ),
    target('kill-instance recovery p99', msStats(all('kill-instance')).p99, '<', 15_000, 'ms'),
    target('kill-control recovery p99', msStats(all('kill-control')).p99, '<', 30_000, 'ms'),
    target(
      '502 answers seen by clients',
      ran.reduce((n, r) => n + Object.entries(r.traffic).reduce((m, [outcome, count]) => m + (outcome.startsWith('502') ? count : 0), 0), 0),
      '==',
      0,
      'answers',
    ),
  ];
  const result = writeResult({
    name: NAME,
    parameters: {
      secondsOfFaultsPerSetup: SECONDS,
      instances: INSTANCES,
      setups: SETUPS,
      restartLimit: Number(RESTART_LIMIT),
      restartBackoff: RESTART_BACKOFF,
      nomadDownMs: NOMAD_DOWN_MS,
    },
    figures: {
      recoveryMsByKind: Object.fromEntries((['kill-instance', 'kill-control', 'nomad-down', 'pg-restart'] as const).map((k) => [k, msStats(all(k))])),
      setups: reports,
    },
    targets,
    notes: [
      'Recovery: from the fault (for nomad-down and pg-restart, from the moment the dependency is back) until every instance is in the state its user asked for and each running one answers through the router.',
      'Traffic: two loops of GET / through the router to random instances their users want running; "router down" counts requests made while the control process (which serves the router) was being restarted.',
      `RESTART_LIMIT=${RESTART_LIMIT} and RESTART_BACKOFF=${RESTART_BACKOFF} so random kills neither exhaust an instance's restarts nor make recovery the backoff; both are tested in test/control/provisioning/supervisor.test.ts.`,
    ],
  });
  printTargets(result.targets);
}

main().then(
  async () => {
    await cleanupAll();
    process.exit(0);
  },
  async (err) => {
    console.error(`${NAME} failed: ${err instanceof Error ? err.stack : String(err)}`);
    await cleanupAll();
    process.exit(1);
  },
);
