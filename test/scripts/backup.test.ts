/**
 * Backup and restore on the embedded default (SQLite, local driver, reference instance):
 * mxos backup while the platform runs, changes after it, mxos restore with the platform
 * stopped, and the platform started again finds exactly what the backup held.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import type { Platform } from '../../control/compose.ts';
import { waitUntil } from '../helpers/wait.ts';
import { closedPort, runCli, SECRET, startPlatformIn } from './_cli.ts';

const start = (dir: string) => startPlatformIn(dir);

async function waitRunning(platform: Platform, handle: string): Promise<void> {
  await waitUntil(async () => (await platform.service.get(handle)).status === 'running', { timeoutMs: 60_000, message: `${handle} running` });
}

test('mxos backup, then mxos restore with the platform stopped, gives back the same database and data', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mxos-backup-'));
  let running: Awaited<ReturnType<typeof start>> | null = await start(dir);
  t.teardown(async () => {
    await running?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const api = () => ({ PLATFORM_URL: running!.platform.apiUrl, PLATFORM_SECRET: SECRET });
  await running.platform.service.provision({ handle: 'alice', userId: 'u-alice' }, 'test');
  await waitRunning(running.platform, 'alice');
  const marker = path.join(dir, 'users', 'alice', 'marker.txt');
  fs.writeFileSync(marker, 'before the backup');

  const backup = await runCli(['backup', '--json'], api());
  t.is(backup.code, 0, backup.stderr);
  const { path: backupDir, manifest } = JSON.parse(backup.stdout) as { path: string; manifest: { users: string[]; database: string; dialect: string } };
  t.like(manifest, { users: ['alice'], database: 'platform.sqlite', dialect: 'sqlite' });
  t.true(backupDir.startsWith(path.join(dir, 'backups')));

  // After the backup: another instance, and alice's file gone.
  await running.platform.service.provision({ handle: 'bob', userId: 'u-bob' }, 'test');
  await waitRunning(running.platform, 'bob');
  fs.rmSync(marker);

  const offline = { PLATFORM_URL: `http://127.0.0.1:${await closedPort()}`, DATA_DIR: dir };
  const whileRunning = await runCli(['restore', backupDir, '--yes'], { ...api(), DATA_DIR: dir });
  t.is(whileRunning.code, 1);
  t.regex(whileRunning.stderr, /is running: stop the control service/);
  t.is((await runCli(['restore', backupDir], offline)).code, 2, 'no --yes');

  await running.close();
  running = null;
  // A control service still alive on this DATA_DIR (its API elsewhere, or not answering): refused all the same.
  fs.writeFileSync(path.join(dir, 'control.pid'), `${process.pid}\n`);
  const alive = await runCli(['restore', backupDir, '--yes'], offline);
  t.is(alive.code, 1);
  t.regex(alive.stderr, new RegExp(`The control service \\(pid ${process.pid}\\) is running`));
  fs.rmSync(path.join(dir, 'control.pid'));
  const notABackup = await runCli(['restore', dir, '--yes'], offline);
  t.is(notABackup.code, 1);
  t.regex(notABackup.stderr, /is not a backup: it has no readable manifest\.json/);
  const restored = await runCli(['restore', backupDir, '--yes'], offline);
  t.is(restored.code, 0, restored.stderr);
  t.regex(restored.stdout, /What it replaced is in .*pre-restore-/);

  running = await start(dir);
  t.is(fs.readFileSync(marker, 'utf8'), 'before the backup');
  t.is((await running.platform.service.get('alice')).handle, 'alice');
  await t.throwsAsync(running.platform.service.get('bob'), undefined, 'bob came after the backup');
  const archived = fs.readdirSync(path.join(dir, 'archive')).find((name) => name.startsWith('pre-restore-'))!;
  t.true(fs.existsSync(path.join(dir, 'archive', archived, 'users', 'bob')), 'what the restore replaced is kept');
});
