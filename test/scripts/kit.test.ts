/**
 * The single-user kit, offline: the shell scripts pass shellcheck, the systemd unit passes
 * `systemd-analyze verify`, the compose files parse and reference only what they define,
 * setup-server.sh --dry-run changes nothing, and the reference instance started the way
 * the kit starts it requires its token and keeps a file across a restart.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import test, { type ImplementationFn } from 'ava';
import yaml from 'js-yaml';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SCRIPTS = ['scripts/setup-server.sh', 'scripts/mxos.sh', '.ci/run'];

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

/** A test that needs a tool: skipped, saying why and how to install it, when it is missing. */
function withTool(command: string, install: string) {
  return (title: string, implementation: ImplementationFn<[]>) =>
    has(command) ? test(title, implementation) : test.skip(`${title} (skipped: ${command} is missing; install it with: ${install})`, implementation);
}

withTool('shellcheck', 'apt-get install shellcheck')('the shell scripts pass shellcheck', (t) => {
  const result = spawnSync('shellcheck', ['--severity=style', ...SCRIPTS], { cwd: ROOT, encoding: 'utf8' });
  t.is(result.status, 0, result.stdout + result.stderr);
});

withTool('systemd-analyze', 'apt-get install systemd')('the systemd unit passes systemd-analyze verify', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mxos-unit-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const unit = path.join(dir, 'matrixos.service');
  fs.copyFileSync(path.join(ROOT, 'scripts/matrixos.service'), unit);
  const result = spawnSync('systemd-analyze', ['verify', '--man=no', unit], { encoding: 'utf8' });
  // Only lines about this unit count (the host's own units may have their own complaints).
  const problems = `${result.stdout}${result.stderr}`.split('\n').filter((line) => line.includes('matrixos.service'));
  t.deepEqual(problems, []);
  t.is(result.status, 0, result.stderr);
});

test('setup-server.sh --dry-run prints the whole plan and changes nothing', (t) => {
  const result = spawnSync('bash', ['scripts/setup-server.sh', '--dry-run'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, MATRIXOS_PREFIX: '/nonexistent/matrixos' },
  });
  t.is(result.status, 0, result.stderr);
  for (const step of ['Node.js', 'system user', 'the project in /nonexistent/matrixos', 'npm', 'matrixos.env', 'systemd unit', 'Dry run: nothing was changed.'])
    t.true(result.stdout.includes(step), step);
  t.false(fs.existsSync('/nonexistent/matrixos'));
  t.is(spawnSync('bash', ['scripts/setup-server.sh', '--bogus'], { cwd: ROOT }).status, 2);
});

interface Compose {
  services: Record<string, { volumes?: string[]; networks?: string[] | Record<string, unknown>; environment?: Record<string, string>; ports?: string[] }>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, unknown>;
}

for (const file of ['docker-compose.yml', 'docker-compose.platform.yml']) {
  test(`${file} parses and references only the volumes and networks it defines`, (t) => {
    const compose = yaml.load(fs.readFileSync(path.join(ROOT, file), 'utf8')) as Compose;
    t.true(Object.keys(compose.services).length > 0);
    for (const [name, service] of Object.entries(compose.services)) {
      for (const mount of service.volumes ?? []) {
        const source = mount.split(':')[0]!;
        if (!source.startsWith('.') && !source.startsWith('/')) t.true(source in (compose.volumes ?? {}), `${name}: volume ${source} is defined`);
      }
      const networks = Array.isArray(service.networks) ? service.networks : Object.keys(service.networks ?? {});
      for (const network of networks) t.true(network in (compose.networks ?? {}), `${name}: network ${network} is defined`);
      for (const port of service.ports ?? []) t.true(port.startsWith('127.0.0.1:'), `${name}: ${port} is published on loopback only`);
    }
  });
}

test('docker-compose.platform.yml trusts only cloudflared’s fixed address to set X-Forwarded-For, and runs the control as root for per-instance users', (t) => {
  const compose = yaml.load(fs.readFileSync(path.join(ROOT, 'docker-compose.platform.yml'), 'utf8')) as Compose & {
    services: Record<string, { user?: string; networks?: Record<string, { ipv4_address?: string }> }>;
  };
  const cloudflared = compose.services.cloudflared!.networks as Record<string, { ipv4_address?: string }>;
  t.is(compose.services.control!.environment!.TRUSTED_PROXIES, cloudflared.edge!.ipv4_address);
  t.is((compose.services.control as { user?: string }).user, '0');
});

test('docker-compose.yml requires the token and keeps the home on a volume', (t) => {
  const compose = yaml.load(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as Compose;
  const instance = compose.services.instance!;
  t.regex(instance.environment!.MATRIX_AUTH_TOKEN!, /^\$\{MATRIX_AUTH_TOKEN:\?/);
  t.is(instance.environment!.MATRIX_DATA_DIR, '/data');
  t.deepEqual(instance.volumes, ['home:/data']);
});

/** Starts the reference instance as the kit's unit does (node --import tsx instance/server.ts). */
async function startAsKit(env: Record<string, string>): Promise<{ child: ChildProcess; gateway: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'instance/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: '0', SHELL_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  const listening = JSON.parse(first.value as string) as { msg: string; gateway: string };
  if (listening.msg !== 'listening') throw new Error(`unexpected first line: ${first.value}`);
  return { child, gateway: listening.gateway };
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

test('the kit’s instance requires its token, and a file written through its API survives a restart', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mxos-kit-'));
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const token = 'kit-token-0123456789abcdef0123456789abcdef';
  const env = { MATRIX_AUTH_TOKEN: token, MATRIX_DATA_DIR: dataDir };

  const refused = spawnSync(process.execPath, ['--import', 'tsx', 'instance/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, NODE_ENV: 'production', MATRIX_DATA_DIR: dataDir, PORT: '0', SHELL_PORT: '0' },
    encoding: 'utf8',
  });
  t.is(refused.status, 1, 'no token, no start');
  t.regex(refused.stderr, /MATRIX_AUTH_TOKEN is required in production/);

  let instance = await startAsKit(env);
  t.teardown(() => {
    if (instance.child.exitCode === null) instance.child.kill('SIGKILL');
  });
  t.is((await fetch(`${instance.gateway}/api/files/notes/hello.txt`, { method: 'PUT', body: 'hi' })).status, 401);
  const auth = { authorization: `Bearer ${token}` };
  const put = await fetch(`${instance.gateway}/api/files/notes/hello.txt`, { method: 'PUT', headers: auth, body: 'hello from the kit' });
  t.true(put.ok, String(put.status));
  t.is(await stop(instance.child), 0);

  instance = await startAsKit(env);
  const read = await fetch(`${instance.gateway}/api/files/notes/hello.txt`, { headers: auth });
  t.is(await read.text(), 'hello from the kit');
  t.is(await stop(instance.child), 0);
});
