import { spawn } from 'node:child_process';
import { rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import test from 'ava';

import { startInstance } from '../../instance/server.ts';
import { auth, capturingLogger, rawRequest, startTestInstance, TOKEN, tempDir } from './_instance.ts';

const SERVER = fileURLToPath(new URL('../../instance/server.ts', import.meta.url));

test('the instance creates a missing data dir, with its files store, at start-up', async (t) => {
  const dataDir = path.join(await tempDir(t), 'nested', 'data');
  await startTestInstance(t, { dataDir });
  t.true((await stat(path.join(dataDir, 'files'))).isDirectory());
});

test('an unknown gateway route answers 404 JSON', async (t) => {
  const { gateway } = await startTestInstance(t);
  const res = await fetch(`${gateway}/api/nothing-here`, { headers: auth() });
  t.is(res.status, 404);
  t.is(res.headers.get('content-type'), 'application/json; charset=utf-8');
  t.is(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
});

test('a wrong method on /health answers 405 with an Allow header', async (t) => {
  const { gateway } = await startTestInstance(t);
  const res = await fetch(`${gateway}/health`, { method: 'DELETE' });
  t.is(res.status, 405);
  t.is(res.headers.get('allow'), 'GET, HEAD');
});

test('an internal failure answers 500 with a generic message, logs the detail, and the server keeps serving', async (t) => {
  const { gateway, dataDir, logs } = await startTestInstance(t);
  // Replacing the upload staging directory with a file makes every write fail inside the store.
  await rm(path.join(dataDir, '.tmp'), { recursive: true });
  await writeFile(path.join(dataDir, '.tmp'), 'in the way');
  const res = await fetch(`${gateway}/api/files/a.txt`, { method: 'PUT', headers: auth(), body: 'x' });
  t.is(res.status, 500);
  const body = (await res.json()) as { error: { code: string; message: string } };
  t.is(body.error.code, 'internal_error');
  t.false(body.error.message.includes(dataDir));
  t.is(logs.errors.length, 1);
  t.regex(logs.errors[0]!.message, /PUT \/api\/files\/a\.txt failed/);
  t.is((await fetch(`${gateway}/health`)).status, 200);
});

test('malformed HTTP and absolute-form targets get 400 without bringing the server down', async (t) => {
  const { instance, gateway } = await startTestInstance(t);
  const reply = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(instance.gatewayPort, '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString()));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
  });
  t.regex(reply, /^HTTP\/1\.1 400/);
  const absolute = await rawRequest(instance.gatewayPort, 'GET', 'http://elsewhere/api/files', auth());
  t.is(absolute.status, 400);
  t.regex(absolute.body, /must be a path starting with \//);
  t.is((await fetch(`${gateway}/health`)).status, 200);
});

test('close() can be called twice and releases both ports', async (t) => {
  const dataDir = await tempDir(t);
  const instance = await startInstance({ dataDir, authToken: TOKEN, port: 0, shellPort: 0, logger: capturingLogger() });
  await Promise.all([instance.close(), instance.close()]);
  await t.throwsAsync(fetch(`http://127.0.0.1:${instance.gatewayPort}/health`));
  const again = await startInstance({ dataDir, authToken: TOKEN, port: instance.gatewayPort, shellPort: instance.shellPort, logger: capturingLogger() });
  t.is(again.gatewayPort, instance.gatewayPort);
  await again.close();
});

test('startInstance rejects when a port is taken and leaves nothing listening', async (t) => {
  const { instance } = await startTestInstance(t);
  const dataDir = await tempDir(t);
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const free = (blocker.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => blocker.close(() => resolve()));
  const error = await t.throwsAsync(startInstance({ dataDir, authToken: TOKEN, port: free, shellPort: instance.shellPort, logger: capturingLogger() }));
  t.is((error as NodeJS.ErrnoException | undefined)?.code, 'EADDRINUSE');
  await t.throwsAsync(fetch(`http://127.0.0.1:${free}/health`), undefined, 'the gateway started first was closed again');
});

test('as a process it logs one JSON line per request to stdout and exits 0 on SIGTERM', async (t) => {
  const dataDir = await tempDir(t);
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', SHELL_PORT: '0', MATRIX_DATA_DIR: dataDir, MATRIX_AUTH_TOKEN: TOKEN, MATRIX_HANDLE: 'carol' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const listening = JSON.parse((await lines.next()).value as string) as { msg: string; gateway: string; shell: string };
  t.is(listening.msg, 'listening');

  t.deepEqual(await (await fetch(`${listening.gateway}/health?probe=1`)).json(), { status: 'ok', handle: 'carol' });
  t.is((await fetch(`${listening.shell}/`, { headers: auth() })).status, 200);
  const first = JSON.parse((await lines.next()).value as string) as Record<string, unknown>;
  t.like(first, { server: 'gateway', method: 'GET', path: '/health', status: 200 });
  t.is(typeof first.ms, 'number');
  t.like(JSON.parse((await lines.next()).value as string), { server: 'shell', method: 'GET', path: '/', status: 200 });

  child.kill('SIGTERM');
  t.is(await exited, 0);
});
