/**
 * On the local driver, an instance is a process on the platform's own host: as root,
 * each runs under a user id of its own and can read neither the platform's secrets and
 * database, nor another instance's data, nor the control process's environment.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { LocalOrchestrator } from '../../../control/orchestrator/local.ts';
import { makeDataDir, startTestPlatform } from '../../helpers/platform.ts';

const root = process.getuid?.() === 0;
const rootTest = root ? test : test.skip;
const title = (t: string) => (root ? t : `${t} (skipped: needs root, which per-instance user ids need)`);

/** An instance that answers /health, keeps a secret in its own data, and reports what it could read. */
const SNOOP = `
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const home = process.env.HOME;
const dataDir = path.resolve(home, '..', '..', '..');
fs.writeFileSync(path.join(home, 'secret.txt'), 'only mine');
const attempt = (what, read) => { try { read(); return [what, 'read']; } catch (err) { return [what, err.code]; } };
const report = () => Object.fromEntries([
  attempt('devSecrets', () => fs.readFileSync(path.join(dataDir, 'dev-secrets.json'))),
  attempt('database', () => fs.readFileSync(path.join(dataDir, 'platform.sqlite'))),
  attempt('listDataDir', () => fs.readdirSync(dataDir)),
  attempt('driverState', () => fs.readdirSync(path.join(dataDir, 'local-driver'))),
  attempt('otherData', () => fs.readFileSync(path.join(dataDir, 'users', 'victim', 'matrixos', 'secret.txt'))),
  attempt('parentEnviron', () => fs.readFileSync('/proc/' + process.ppid + '/environ')),
  attempt('ownData', () => fs.readFileSync(path.join(home, 'secret.txt'))),
]);
const serve = (port) => http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(req.url === '/snoop' ? { uid: process.getuid(), report: report() } : { status: 'ok' }));
}).listen(Number(port), process.env.HOST);
serve(process.env.PORT);
serve(process.env.SHELL_PORT);
`;

rootTest(title('an instance runs as its own user and cannot read secrets, the database, other tenants or its parent'), async (t) => {
  const scriptDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mxos-snoop-'));
  fs.chmodSync(scriptDir, 0o755);
  const script = path.join(scriptDir, 'snoop.cjs');
  fs.writeFileSync(script, SNOOP, { mode: 0o644 });
  t.teardown(() => fs.rmSync(scriptDir, { recursive: true, force: true }));
  // No PLATFORM_SECRET/SECRET_KEY: the development secrets file is written into DATA_DIR.
  const platform = await startTestPlatform(t, { env: { INSTANCE_COMMAND: `${process.execPath} ${script}`, PLATFORM_SECRET: '', SECRET_KEY: '' } });
  t.true(fs.existsSync(path.join(platform.dataDir, 'dev-secrets.json')));
  for (const handle of ['victim', 'mallory']) {
    await (await platform.api('/containers/provision', { method: 'POST', json: { handle, userId: `u-${handle}` } })).body?.cancel();
  }
  const victim = (await platform.waitFor('victim', 'running')) as { address: { gateway: string } };
  const mallory = (await platform.waitFor('mallory', 'running')) as { address: { gateway: string } };
  const snoop = async (address: string) => (await (await fetch(`${address}/snoop`)).json()) as { uid: number; report: Record<string, string> };
  const seen = await snoop(mallory.address.gateway);
  const other = await snoop(victim.address.gateway);
  t.true(seen.uid >= 300_000 && other.uid >= 300_000, 'not root, not the platform');
  t.not(seen.uid, other.uid, 'each instance has a user id of its own');
  t.is(seen.report.ownData, 'read');
  for (const what of ['devSecrets', 'database', 'listDataDir', 'driverState', 'otherData', 'parentEnviron']) t.is(seen.report[what], 'EACCES', what);
});

test('without root the driver says that instances are not isolated', async (t) => {
  const dataDir = await makeDataDir();
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const shared = new LocalOrchestrator({ dataDir, driverId: 'x', referenceCommand: ['/bin/true'], isolate: false });
  t.regex(shared.isolationWarning()!, /not isolated from each other or from DATA_DIR\. Development only\./);
  if (root) {
    const isolated = new LocalOrchestrator({ dataDir, driverId: 'x', referenceCommand: ['/bin/true'] });
    t.is(isolated.isolationWarning(), null);
  }
});
