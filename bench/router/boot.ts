/**
 * Two timers for the wake measurement:
 * - bootOnce: the reference instance's own boot, spawned the way the local driver
 *   spawns it (same argv, the same environment from buildInstanceSpec, its own process
 *   group), from spawn() to the first 200 on /health, polling every `pollMs`;
 * - timeFirstByte: one raw HTTP/1.1 request on a fresh socket, timed from the write to
 *   the first response byte, then read to the end for the status line.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import type { Config } from '../../control/config.ts';
import { referenceInstanceCommand } from '../../control/main.ts';
import { freePort, terminateGroup } from '../../control/orchestrator/local-processes.ts';
import { buildInstanceSpec } from '../../control/orchestrator/spec.ts';
import { sleep } from '../lib.ts';
import { get } from '../procs.ts';

const INHERITED = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

/** Process groups of boots in progress, for a clean-up that runs on a signal. */
export const liveBoots = new Set<number>();

export async function bootOnce(config: Config, secretKey: string, handle: string, pollMs: number): Promise<number> {
  const spec = buildInstanceSpec(config, secretKey, { handle, owner: `uid-${handle}`, tokenGeneration: 1 });
  fs.mkdirSync(spec.volumePath, { recursive: true });
  const [gatewayPort, shellPort] = [await freePort('127.0.0.1'), await freePort('127.0.0.1')];
  const env: Record<string, string> = {};
  for (const name of INHERITED) if (process.env[name]) env[name] = process.env[name]!;
  Object.assign(env, spec.env, spec.secrets, {
    HOME: spec.volumePath,
    HOST: '127.0.0.1',
    PORT: String(gatewayPort),
    SHELL_PORT: String(shellPort),
    MATRIX_DATA_DIR: spec.volumePath,
    NODE_OPTIONS: `--max-old-space-size=${Math.max(32, Math.floor(spec.memoryMB * 0.75))}`,
  });
  const argv = referenceInstanceCommand();
  const started = performance.now();
  const child = spawn(argv[0]!, argv.slice(1), { cwd: spec.volumePath, env, detached: true, stdio: 'ignore' });
  let exited = false;
  child.once('exit', () => (exited = true));
  if (child.pid !== undefined) liveBoots.add(child.pid);
  try {
    const url = `http://127.0.0.1:${gatewayPort}/health`;
    for (;;) {
      if (exited) throw new Error(`the reference instance exited before /health answered (handle ${handle})`);
      if (performance.now() - started > 60_000) throw new Error('the reference instance did not answer /health within 60 s');
      try {
        const r = await get(url, {}, 1000);
        if (r.status === 200) return performance.now() - started;
      } catch {
        /* not listening yet */
      }
      await sleep(pollMs);
    }
  } finally {
    if (child.pid !== undefined) {
      await terminateGroup(child.pid, 3000);
      liveBoots.delete(child.pid);
    }
  }
}

export interface FirstByte {
  firstByteMs: number;
  totalMs: number;
  status: number;
  body: string;
}

export function timeFirstByte(port: number, path: string, headers: Record<string, string>, timeoutMs: number): Promise<FirstByte> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let sent = 0;
    let first = 0;
    const timer = setTimeout(() => socket.destroy(new Error(`no complete answer to GET ${path} within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => {
      let head = `GET ${path} HTTP/1.1\r\n`;
      for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
      sent = performance.now();
      socket.write(`${head}Connection: close\r\n\r\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      if (first === 0) first = performance.now();
      chunks.push(chunk);
    });
    socket.once('end', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ firstByteMs: first - sent, totalMs: performance.now() - sent, status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
