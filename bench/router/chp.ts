/**
 * configurable-http-proxy (JupyterHub's proxy, node-http-proxy underneath) as a
 * second reference. Installed on demand into a cache outside the repository, never
 * into package.json: ~/.cache/mxos-bench/chp (or $BENCH_CHP_PREFIX).
 */
import { type ChildProcess, execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../control/orchestrator/local-processes.ts';
import { track, waitForStatus } from '../procs.ts';

export const CHP_SPEC = 'configurable-http-proxy@4';

export function chpPrefix(): string {
  return process.env.BENCH_CHP_PREFIX || path.join(os.homedir(), '.cache', 'mxos-bench', 'chp');
}

function installed(prefix: string): { bin: string; version: string } | null {
  const pkg = path.join(prefix, 'node_modules', 'configurable-http-proxy', 'package.json');
  if (!fs.existsSync(pkg)) return null;
  const version = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version;
  return { bin: path.join(prefix, 'node_modules', 'configurable-http-proxy', 'bin', 'configurable-http-proxy'), version };
}

/** The CLI script and its version, installing it first when missing. */
export async function ensureChp(): Promise<{ bin: string; version: string; installedNow: boolean; installMs: number }> {
  const prefix = chpPrefix();
  const found = installed(prefix);
  if (found) return { ...found, installedNow: false, installMs: 0 };
  console.log(`  installing ${CHP_SPEC} into ${prefix} (outside the repository)...`);
  fs.mkdirSync(prefix, { recursive: true });
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    execFile(
      'npm',
      ['install', '--prefix', prefix, CHP_SPEC, '--no-audit', '--no-fund', '--no-save', '--loglevel=error'],
      { timeout: 180_000 },
      (err, _out, stderr) => (err ? reject(new Error(`npm install --prefix ${prefix} ${CHP_SPEC} failed: ${err.message}\n${stderr}`)) : resolve()),
    );
  });
  const now = installed(prefix);
  if (!now) throw new Error(`${CHP_SPEC} is still missing under ${prefix} after npm install`);
  return { ...now, installedNow: true, installMs: Math.round(performance.now() - started) };
}

export async function startChp(bin: string, upstreamUrl: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort('127.0.0.1');
  let apiPort = await freePort('127.0.0.1');
  while (apiPort === port) apiPort = await freePort('127.0.0.1');
  const args = [
    bin,
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--api-ip',
    '127.0.0.1',
    '--api-port',
    String(apiPort),
    '--default-target',
    upstreamUrl,
    '--log-level',
    'warn',
  ];
  const child = track(process.execPath, args, { PATH: process.env.PATH, CONFIGPROXY_AUTH_TOKEN: 'bench-router-chp-token' });
  const url = `http://127.0.0.1:${port}`;
  await Promise.race([
    waitForStatus(`${url}/`, 200, 30_000),
    new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`configurable-http-proxy exited (code ${code}) before answering`)))),
  ]);
  return { url, child };
}
