import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';

import { loadConfig } from '../../instance/config.ts';
import type { SystemInfo } from '../../instance/system-info.ts';
import { collectSystemInfo, measureDataDir } from '../../instance/system-info.ts';
import { auth, startTestInstance, tempDir } from './_instance.ts';

test('system info reports identity, versions, uptime and configured channels and modules', async (t) => {
  const before = Date.now();
  const { gateway } = await startTestInstance(t, {
    handle: 'alice',
    version: '1.2.3',
    channels: ['telegram', 'discord'],
    modules: ['notes'],
  });
  const res = await fetch(`${gateway}/api/system/info`, { headers: auth() });
  t.is(res.status, 200);
  t.is(res.headers.get('cache-control'), 'no-store');
  const info = (await res.json()) as SystemInfo;
  t.is(info.version, '1.2.3');
  t.is(info.handle, 'alice');
  t.is(info.node, process.version);
  t.deepEqual(info.channels, ['telegram', 'discord']);
  t.deepEqual(info.modules, ['notes']);
  t.deepEqual(info.llm, { configured: false });
  t.true(Number.isInteger(info.uptimeSeconds) && info.uptimeSeconds >= 0);
  const startedAt = Date.parse(info.startedAt);
  t.true(startedAt >= before - 1000 && startedAt <= Date.now());
});

test('system info counts the bytes and files in the data dir', async (t) => {
  const { gateway } = await startTestInstance(t);
  const empty = (await (await fetch(`${gateway}/api/system/info`, { headers: auth() })).json()) as SystemInfo;
  t.deepEqual(empty.dataDir, { bytes: 0, files: 0, truncated: false });
  await fetch(`${gateway}/api/files/a.txt`, { method: 'PUT', headers: auth(), body: 'hello' });
  await fetch(`${gateway}/api/files/sub/b.bin`, { method: 'PUT', headers: auth(), body: Buffer.alloc(1000) });
  const info = (await (await fetch(`${gateway}/api/system/info`, { headers: auth() })).json()) as SystemInfo;
  t.deepEqual(info.dataDir, { bytes: 1005, files: 2, truncated: false });
});

test('system info reports the LLM route without ever returning the API key', async (t) => {
  const dataDir = await tempDir(t);
  const config = loadConfig({
    MATRIX_DATA_DIR: dataDir,
    ANTHROPIC_API_KEY: 'sk-ant-very-secret-key',
    ANTHROPIC_BASE_URL: 'https://user:pw@llm.example.test/v1/',
  });
  const { gateway } = await startTestInstance(t, { ...config, port: 0, shellPort: 0, authToken: 'tok' });
  const text = await (await fetch(`${gateway}/api/system/info`, { headers: auth('tok') })).text();
  t.false(text.includes('sk-ant-very-secret-key'));
  t.false(text.includes('pw@'));
  t.deepEqual((JSON.parse(text) as SystemInfo).llm, { configured: true, baseUrl: 'https://llm.example.test/v1' });
});

test('system info answers 405 with an Allow header to anything but GET and HEAD', async (t) => {
  const { gateway } = await startTestInstance(t);
  const res = await fetch(`${gateway}/api/system/info`, { method: 'POST', headers: auth() });
  t.is(res.status, 405);
  t.is(res.headers.get('allow'), 'GET, HEAD');
});

test('measureDataDir stops at the entry limit and reports the result as truncated', async (t) => {
  const dir = await tempDir(t);
  for (let i = 0; i < 5; i += 1) await writeFile(path.join(dir, `f${i}`), 'xx');
  t.deepEqual(await measureDataDir(dir, 3), { bytes: 6, files: 3, truncated: true });
  t.deepEqual(await measureDataDir(dir, 5), { bytes: 10, files: 5, truncated: false });
});

test('measureDataDir counts nested files but not directories', async (t) => {
  const dir = await tempDir(t);
  await mkdir(path.join(dir, 'a', 'b'), { recursive: true });
  await writeFile(path.join(dir, 'a', 'b', 'deep.txt'), '123');
  t.deepEqual(await measureDataDir(dir), { bytes: 3, files: 1, truncated: false });
});

test('uptime is whole seconds since the start time', async (t) => {
  const dir = await tempDir(t);
  const config = loadConfig({ MATRIX_DATA_DIR: dir });
  const info = await collectSystemInfo(config, new Date('2030-01-01T00:00:00Z'), new Date('2030-01-01T00:01:01.900Z'));
  t.is(info.uptimeSeconds, 61);
  t.is(info.startedAt, '2030-01-01T00:00:00.000Z');
});
