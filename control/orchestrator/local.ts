/**
 * The local driver: each instance is a child process in its own process group,
 * with its own data dir and free ports. Development only: memory limits are best
 * effort (a V8 heap cap for Node instances), CPU is not limited.
 *
 * State that must survive a control restart lives on disk (DATA_DIR/local-driver/
 * {handle}.json) and in the processes themselves (a marker variable in their
 * environment), so a restarted control service re-adopts what it ran.
 *
 * Ports are picked free and bound by the instance a moment later; if another process
 * takes one in between, the instance exits, status() says failed, and the worker's
 * retry starts it again on new ports.
 *
 * watch(): the exit of a process this control process spawned arrives as an event at
 * once; processes re-adopted after a control restart are not our children, so their
 * pids are polled (WATCH_INTERVAL_MS) instead.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InstanceUsers, readableByOthers } from './local-isolation.ts';
import { DRIVER_MARKER, type FoundProcess, freePort, isOurProcess, scanProcesses, terminateGroup } from './local-processes.ts';
import { type DestroyResult, type EnsureResult, type InstanceSpec, type Orchestrator, OrchestratorError, type RuntimeStatus } from './types.ts';

interface LocalDriverOptions {
  dataDir: string;
  /** Identifies this platform's processes; defaults to one derived from dataDir. */
  driverId: string;
  /** argv that runs the reference instance when a spec has no command. */
  referenceCommand: readonly string[];
  host?: string;
  stopGraceMs?: number;
  /** Variables copied from the control service's own environment (never secrets). */
  inheritEnv?: Readonly<Record<string, string | undefined>>;
  /** Run each instance under its own user id (needs root). Default: whether this process is root. */
  isolate?: boolean;
}

interface ProcessRecord {
  pid: number;
  gatewayPort: number;
  shellPort: number;
  specHash: string;
  startedAt: string;
}

const INHERITED = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];
/** How often re-adopted processes (not our children: no exit event) are checked. */
const WATCH_INTERVAL_MS = 500;

export class LocalOrchestrator implements Orchestrator {
  readonly name = 'local';
  private readonly specs = new Map<string, InstanceSpec>();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly exits = new Map<string, string>();
  private readonly listeners = new Set<(status: RuntimeStatus) => void>();
  /** The process this control process spawned for each handle: its exit is an event. */
  private readonly children = new Map<string, number>();
  /** Processes started by an earlier control process, watched by polling. */
  private readonly adopted = new Map<string, number>();
  /** Processes this driver is ending itself (stop, destroy, re-deploy): their exit is not news. */
  private readonly ending = new Set<number>();
  private watchTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private readonly host: string;
  private readonly stopGraceMs: number;
  private readonly stateDir: string;
  private readonly users: InstanceUsers;
  /** Files of the reference instance that a user who owns none of them must be able to read. */
  private readonly referenceUnreadable: string | null;

  constructor(private readonly options: LocalDriverOptions) {
    this.host = options.host ?? '127.0.0.1';
    this.stopGraceMs = options.stopGraceMs ?? 5000;
    this.stateDir = path.join(options.dataDir, 'local-driver');
    fs.mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    const root = process.getuid?.() === 0;
    this.users = new InstanceUsers(options.dataDir, this.stateDir, { enabled: options.isolate ?? root });
    const files = options.referenceCommand.filter((a) => a.startsWith('/') || a.startsWith('file:')).map((a) => (a.startsWith('file:') ? fileURLToPath(a) : a));
    this.referenceUnreadable = files.find((f) => !readableByOthers(f)) ?? null;
  }

  /**
   * How instances are kept apart, in a sentence for the start-up log; null when each
   * instance runs under its own user id.
   */
  isolationWarning(): string | null {
    if (!this.users.perInstanceUser) {
      return `instances run as the control service's own user (${this.users.reason}): they are not isolated from each other or from DATA_DIR. Development only.`;
    }
    if (this.referenceUnreadable) {
      return `the reference instance runs as the control service's user: ${this.referenceUnreadable} is not readable by other users (make its directories world-traversable to isolate it). Development only.`;
    }
    return null;
  }

  async ensure(spec: InstanceSpec): Promise<EnsureResult> {
    await fsp.mkdir(spec.volumePath, { recursive: true });
    this.specs.set(spec.handle, spec);
    return { ref: `local:${spec.handle}` };
  }

  start(handle: string): Promise<void> {
    return this.singleFlight(handle, async () => {
      const spec = this.specs.get(handle);
      if (!spec) throw new OrchestratorError('spec_missing', `No definition for instance "${handle}": it must be provisioned first.`);
      const record = await this.liveRecord(handle);
      if (record && record.specHash === spec.hash) return;
      // Also ends an unrecorded copy left by a control service killed right after spawning it.
      await this.stopProcesses(handle);
      await this.spawnInstance(spec);
    });
  }

  stop(handle: string): Promise<void> {
    return this.singleFlight(handle, () => this.stopProcesses(handle));
  }

  destroy(handle: string, options: { purge: boolean }): Promise<DestroyResult> {
    let result: DestroyResult = { archivePath: null };
    return this.singleFlight(handle, async () => {
      await this.stopProcesses(handle);
      this.specs.delete(handle);
      const userDir = path.join(this.options.dataDir, 'users', handle);
      if (options.purge) {
        await fsp.rm(userDir, { recursive: true, force: true });
        return;
      }
      const archiveRoot = path.join(this.options.dataDir, 'archive');
      if (fs.existsSync(userDir)) {
        await fsp.mkdir(archiveRoot, { recursive: true });
        const archivePath = path.join(archiveRoot, `${handle}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
        await fsp.rename(userDir, archivePath);
        result = { archivePath };
      } else {
        // A retried destroy finds the archive the first attempt made (exact name: "bob-" must not match "bob-smith-…").
        const ownArchive = new RegExp(`^${handle}-\\d{4}-\\d{2}-\\d{2}T\\d{2}-\\d{2}-\\d{2}-\\d{3}Z$`);
        const earlier = (await fsp.readdir(archiveRoot).catch(() => [] as string[])).filter((n) => ownArchive.test(n)).sort();
        result = { archivePath: earlier.length ? path.join(archiveRoot, earlier[earlier.length - 1]!) : null };
      }
    }).then(() => result);
  }

  watch(listener: (status: RuntimeStatus) => void): () => void {
    this.listeners.add(listener);
    if (!this.watchTimer) {
      void this.adoptRecorded();
      this.watchTimer = setInterval(() => void this.pollAdopted(), WATCH_INTERVAL_MS);
      this.watchTimer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) {
        clearInterval(this.watchTimer);
        this.watchTimer = undefined;
      }
    };
  }

  status(handle: string): Promise<RuntimeStatus> {
    return this.statusWith(handle, () => scanProcesses(this.options.driverId));
  }

  async list(): Promise<RuntimeStatus[]> {
    const scan = await scanProcesses(this.options.driverId);
    const handles = new Set<string>(this.specs.keys());
    for (const file of await fsp.readdir(this.stateDir)) if (file.endsWith('.json')) handles.add(file.slice(0, -5));
    for (const p of scan) if (p.handle && p.leader) handles.add(p.handle);
    return Promise.all([...handles].map((h) => this.statusWith(h, async () => scan)));
  }

  /** `scan` is only called when there is no record: a /proc scan is the expensive part. */
  private async statusWith(handle: string, scan: () => Promise<FoundProcess[]>): Promise<RuntimeStatus> {
    const record = await this.readRecord(handle);
    if (record && (await isOurProcess(record.pid, this.options.driverId, handle))) {
      if (this.watchTimer && this.children.get(handle) !== record.pid) this.adopted.set(handle, record.pid);
      return this.runningStatus(handle, record.pid, record.gatewayPort, record.shellPort, `process ${record.pid}`, record.specHash);
    }
    // A record without its process: it died without being asked to stop.
    if (record) return { handle, state: 'failed', detail: this.exits.get(handle) ?? `process ${record.pid} is no longer running` };
    // No record: a copy started by a control service killed right after spawning it.
    const stray = (await scan()).find((p) => p.handle === handle && p.leader && p.gatewayPort && p.shellPort);
    if (stray) return this.runningStatus(handle, stray.pid, stray.gatewayPort!, stray.shellPort!, `unrecorded process ${stray.pid}`);
    const known = this.specs.has(handle) || fs.existsSync(path.join(this.options.dataDir, 'users', handle));
    return { handle, state: known ? 'stopped' : 'missing', detail: known ? 'not running' : 'unknown to the local driver' };
  }

  private runningStatus(handle: string, _pid: number, gatewayPort: number, shellPort: number, detail: string, specHash?: string): RuntimeStatus {
    return {
      handle,
      state: 'running',
      address: { gateway: `http://${this.host}:${gatewayPort}`, shell: `http://${this.host}:${shellPort}` },
      detail,
      ...(specHash ? { specHash } : {}),
    };
  }

  async health() {
    return { ok: true, detail: `local driver, state in ${this.stateDir}` };
  }

  async close(): Promise<void> {
    clearInterval(this.watchTimer);
    this.watchTimer = undefined;
    this.listeners.clear();
    await Promise.allSettled(this.inflight.values());
  }

  private report(handle: string, detail: string): void {
    const status: RuntimeStatus = { handle, state: 'failed', detail };
    for (const listener of this.listeners) {
      try {
        listener(status);
      } catch {
        /* a listener's failure is its own */
      }
    }
  }

  /** Every recorded process not spawned by this control process is re-adopted: watch it. */
  private async adoptRecorded(): Promise<void> {
    for (const file of await fsp.readdir(this.stateDir).catch(() => [] as string[])) {
      if (!file.endsWith('.json')) continue;
      const handle = file.slice(0, -5);
      const record = await this.readRecord(handle);
      if (record && !this.children.has(handle) && !this.adopted.has(handle)) this.adopted.set(handle, record.pid);
    }
  }

  private async pollAdopted(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (const [handle, pid] of [...this.adopted]) {
        if (await isOurProcess(pid, this.options.driverId, handle)) continue;
        if (this.adopted.get(handle) === pid) this.adopted.delete(handle);
        if (this.ending.delete(pid) || this.inflight.has(handle)) continue;
        // Stopped or replaced meanwhile: the record no longer names this process.
        if ((await this.readRecord(handle))?.pid !== pid) continue;
        this.exits.set(handle, `process ${pid} exited while the platform was not its parent (no exit status known)`);
        this.report(handle, `the instance process (pid ${pid}) is gone`);
      }
    } finally {
      this.polling = false;
    }
  }

  private async singleFlight(handle: string, task: () => Promise<void>): Promise<void> {
    const previous = this.inflight.get(handle) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(task);
    this.inflight.set(handle, next);
    try {
      await next;
    } finally {
      if (this.inflight.get(handle) === next) this.inflight.delete(handle);
    }
  }

  private recordPath(handle: string): string {
    return path.join(this.stateDir, `${handle}.json`);
  }

  private async readRecord(handle: string): Promise<ProcessRecord | null> {
    try {
      return JSON.parse(await fsp.readFile(this.recordPath(handle), 'utf8')) as ProcessRecord;
    } catch {
      return null;
    }
  }

  private async liveRecord(handle: string): Promise<ProcessRecord | null> {
    const record = await this.readRecord(handle);
    return record && (await isOurProcess(record.pid, this.options.driverId, handle)) ? record : null;
  }

  private async stopProcesses(handle: string): Promise<void> {
    const pids = new Set<number>();
    const record = await this.liveRecord(handle);
    if (record) pids.add(record.pid);
    for (const p of await scanProcesses(this.options.driverId)) if (p.handle === handle) pids.add(p.pid);
    const children = new Set(this.children.values());
    await Promise.all(
      [...pids].map(async (pid) => {
        this.ending.add(pid);
        await terminateGroup(pid, this.stopGraceMs);
        // A child's exit event clears its own entry; nothing else will.
        if (!children.has(pid)) this.ending.delete(pid);
      }),
    );
    if (!this.children.has(handle)) this.adopted.delete(handle);
    await fsp.rm(this.recordPath(handle), { force: true });
    this.exits.delete(handle);
  }

  private async spawnInstance(spec: InstanceSpec): Promise<void> {
    const [gatewayPort, shellPort] = [await freePort(this.host), await freePort(this.host)];
    const logDir = path.join(this.options.dataDir, 'users', spec.handle, 'logs');
    await fsp.mkdir(logDir, { recursive: true });
    await fsp.mkdir(spec.volumePath, { recursive: true });
    // Its own user id when possible: the reference instance only if other users can read its code.
    const ids = spec.command || !this.referenceUnreadable ? await this.users.idsFor(spec.handle) : null;
    await this.users.prepare(path.dirname(logDir), spec.volumePath, ids);
    const log = fs.openSync(path.join(logDir, 'instance.log'), 'a');
    const argv = spec.command ? ['/bin/sh', '-c', `exec ${spec.command}`] : [...this.options.referenceCommand];
    const inherit = this.options.inheritEnv ?? process.env;
    const env: Record<string, string> = {};
    for (const name of INHERITED) if (inherit[name]) env[name] = inherit[name]!;
    Object.assign(env, spec.env, spec.secrets, {
      HOME: spec.volumePath,
      HOST: this.host,
      PORT: String(gatewayPort),
      SHELL_PORT: String(shellPort),
      MATRIX_DATA_DIR: spec.volumePath,
      // Best-effort memory limit: caps the V8 heap of Node-based instances.
      NODE_OPTIONS: `--max-old-space-size=${Math.max(32, Math.floor(spec.memoryMB * 0.75))}`,
      [DRIVER_MARKER]: this.options.driverId,
    });
    this.exits.delete(spec.handle);
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(argv[0]!, argv.slice(1), { cwd: spec.volumePath, env, detached: true, stdio: ['ignore', log, log], ...(ids ?? {}) });
    } finally {
      fs.closeSync(log);
    }
    const pid = child.pid;
    if (pid === undefined) {
      const error = await new Promise<Error>((resolve) => child.once('error', resolve));
      throw new OrchestratorError('spawn_failed', `Could not start the instance process for "${spec.handle}": ${error.message}`);
    }
    this.children.set(spec.handle, pid);
    this.adopted.delete(spec.handle);
    child.once('exit', (code, signal) => {
      const expected = this.ending.delete(pid);
      if (this.children.get(spec.handle) !== pid) return; // a later process took over the handle
      this.children.delete(spec.handle);
      this.exits.set(spec.handle, `process exited (${signal ?? `code ${code}`}); see ${path.join(logDir, 'instance.log')}`);
      if (expected) return;
      this.report(spec.handle, `the instance exited with ${signal ? `signal ${signal}` : `exit code ${code}`}`);
    });
    child.unref();
    const record: ProcessRecord = { pid, gatewayPort, shellPort, specHash: spec.hash, startedAt: new Date().toISOString() };
    const tmp = `${this.recordPath(spec.handle)}.${pid}.tmp`;
    await fsp.writeFile(tmp, JSON.stringify(record), { mode: 0o600 });
    await fsp.rename(tmp, this.recordPath(spec.handle));
  }
}
