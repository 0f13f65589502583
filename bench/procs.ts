/**
 * Process plumbing for the benchmarks: Node children that report "ready" over
 * IPC, a registry so every child is killed in a finally block (and on SIGINT/SIGTERM),
 * polling until an HTTP endpoint answers, and CPU time of a process tree from /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { REPO_ROOT, sleep } from './lib.ts';

const live = new Set<ChildProcess>();
const cleanups: Array<() => Promise<void> | void> = [];

/** Runs `fn` when everything is torn down (nginx, temp dirs); last registered runs first. */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.unshift(fn);
}

/** SIGTERM to every child still alive (SIGKILL after 3 s), then the registered clean-ups. */
export async function cleanupAll(): Promise<void> {
  await Promise.all([...live].map((child) => stopChild(child)));
  for (const fn of cleanups.splice(0)) {
    try {
      await fn();
    } catch (err) {
      console.error(`clean-up step failed: ${(err as Error).message}`);
    }
  }
}

export function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    live.delete(child);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      live.delete(child);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Spawns any command and tracks it. */
export function track(command: string, args: string[], env: NodeJS.ProcessEnv, stdio: 'ignore' | 'inherit' = 'ignore'): ChildProcess {
  const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', stdio, 'inherit'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

export interface NodeChild<T> {
  child: ChildProcess;
  ready: T;
  /** Sends a request over IPC and waits for the reply of the same type. */
  ask<R>(type: string, timeoutMs?: number): Promise<R>;
}

/** Runs a TypeScript file under tsx with an IPC channel and waits for its {type:'ready'} message. */
export function spawnNode<T>(file: string, env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<NodeChild<T>> {
  const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: REPO_ROOT, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const ask = <R>(type: string, askTimeoutMs = 10_000) =>
    new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${file}: no answer to "${type}"`)), askTimeoutMs);
      const onMessage = (msg: { type: string; body: R }) => {
        if (msg.type !== type) return;
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(msg.body);
      };
      child.on('message', onMessage);
      child.send({ type });
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not report ready within ${timeoutMs / 1000} s`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited before it was ready (${signal ?? `code ${code}`})`));
    });
    child.on('message', (msg: { type: string; body: T }) => {
      if (msg.type !== 'ready') return;
      clearTimeout(timer);
      resolve({ child, ready: msg.body, ask });
    });
  });
}

/** One GET; resolves with the status, body and headers (never throws for HTTP errors). */
export function get(
  url: string,
  headers: Record<string, string> = {},
  timeoutMs = 5000,
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false, timeout: timeoutMs, setHost: headers.Host === undefined }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

/** Polls `url` every `everyMs` until it answers `status`; returns the ms it took. */
export async function waitForStatus(url: string, status: number, timeoutMs: number, everyMs = 50, headers: Record<string, string> = {}): Promise<number> {
  const started = performance.now();
  let last = 'no answer yet';
  while (performance.now() - started < timeoutMs) {
    try {
      const r = await get(url, headers, 2000);
      if (r.status === status) return performance.now() - started;
      last = `status ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(everyMs);
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}

/** The pid and all its descendants, from /proc (Linux). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** user + system CPU milliseconds used so far by these pids (clock ticks at 100 Hz). */
export function cpuMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      /* gone */
    }
  }
  return ticks * 10;
}
