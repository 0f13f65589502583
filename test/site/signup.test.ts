/**
 * The whole participant journey in real Chromium against the platform on its embedded
 * default (SQLite, local driver, reference instance, development identity provider).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { browserTest, launchBrowser } from '../helpers/browser.ts';
import { startTestPlatform } from '../helpers/platform.ts';
import { freePort } from '../helpers/postgres.ts';

const SHOTS = path.join(os.tmpdir(), 'mxos-screenshots');

browserTest('sign up through the development provider, choose a handle, watch it run, open it, sign out and in again', async (t) => {
  const port = await freePort();
  const platform = await startTestPlatform(t, { env: { PUBLIC_PORT: String(port), PUBLIC_URL: `http://localhost:${port}`, ADMIN_EMAILS: 'root@example.com' } });
  await (await platform.api('/containers/provision', { method: 'POST', json: { handle: 'taken', userId: 'someone-else' } })).body?.cancel();
  fs.mkdirSync(SHOTS, { recursive: true });
  const browser = await launchBrowser(t);
  const page = await browser.newPage();
  const external: string[] = [];
  page.on('request', (r) => {
    const host = new URL(r.url()).hostname;
    if (host !== 'localhost' && host !== '127.0.0.1' && !host.endsWith('.localhost')) external.push(r.url());
  });

  await page.goto(`http://localhost:${port}/`);
  await page.screenshot({ path: path.join(SHOTS, 'landing.png') });
  await page.getByRole('link', { name: 'Sign up' }).click();
  await page.getByText('Development only').waitFor();
  await page.getByLabel('Email').fill('alice@example.com');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`http://localhost:${port}/signup`);

  // Live check, then the server's own answers for an invalid, a reserved and a taken handle.
  await page.getByLabel('Handle').fill('ab');
  await page.locator('#handle-problem', { hasText: 'handle must be 3 to 32 characters' }).waitFor();
  for (const [handle, message] of [
    ['Bad_Handle', /handle must start with a lowercase letter/],
    ['admin', /reserved/],
    ['taken', /"taken" is taken/],
  ] as const) {
    await page.getByLabel('Handle').fill(handle);
    await page.getByRole('button', { name: 'Create my Matrix OS' }).click();
    await page.locator('#handle-problem', { hasText: message }).waitFor();
    t.regex((await page.locator('#handle-problem').textContent()) ?? '', message);
  }
  await page.getByLabel('Handle').fill('alice');
  await page.getByRole('button', { name: 'Create my Matrix OS' }).click();
  await page.waitForURL(`http://localhost:${port}/dashboard`);
  // Live progress from the provisioning events until the instance runs.
  await page.locator('#instance-status[data-status="running"]').waitFor({ timeout: 60_000 });
  t.true((await page.locator('#events li').count()) >= 3);
  await page.screenshot({ path: path.join(SHOTS, 'dashboard.png') });

  await page.getByRole('button', { name: 'Open my Matrix OS' }).click();
  await page.waitForSelector('h1:has-text("Matrix OS — alice")', { timeout: 30_000 });
  t.is(new URL(page.url()).host, `alice.localhost:${port}`);
  t.is(await page.getByRole('link', { name: '← Your dashboard' }).getAttribute('href'), `http://localhost:${port}/dashboard`, 'the instance links back');

  await page.goto(`http://localhost:${port}/dashboard`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`http://localhost:${port}/`);
  // Signed out means signed out: the instance's own session ended too.
  const instance = await page.goto(`http://alice.localhost:${port}/`);
  t.is(instance?.status(), 401);
  // And the provider asks again (someone else could sign in here); alice signs in again.
  const visited: string[] = [];
  page.on('request', (r) => r.isNavigationRequest() && visited.push(new URL(r.url()).pathname));
  await page.goto(`http://localhost:${port}/dashboard`);
  await page.getByLabel('Email').fill('alice@example.com');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`http://localhost:${port}/dashboard`);
  t.true(visited.includes('/login') && visited.includes('/auth/callback'), visited.join(' '));
  t.is(await page.locator('#instance-status').getAttribute('data-status'), 'running');
  await page.goto(`http://localhost:${port}/community`);
  await page.locator('#community', { hasText: '@alice' }).waitFor();
  await page.screenshot({ path: path.join(SHOTS, 'community.png') });

  // An admin, in a browser of their own, stops alice's instance.
  const admin = await browser.newContext();
  const adminPage = await admin.newPage();
  adminPage.on('request', (r) => {
    const host = new URL(r.url()).hostname;
    if (host !== 'localhost' && host !== '127.0.0.1') external.push(r.url());
  });
  await adminPage.goto(`http://localhost:${port}/admin`);
  await adminPage.getByLabel('Email').fill('root@example.com');
  await adminPage.getByRole('button', { name: 'Sign in' }).click();
  await adminPage.waitForURL(/\/signup$/);
  await adminPage.goto(`http://localhost:${port}/admin/users?q=alice`);
  await adminPage.screenshot({ path: path.join(SHOTS, 'admin.png') });
  await adminPage
    .getByRole('row', { name: /alice@example.com/ })
    .getByRole('button', { name: 'Stop' })
    .click();
  await adminPage.getByText('Stopping alice.').waitFor();
  await platform.waitFor('alice', 'stopped');
  t.deepEqual(external, [], 'nothing was loaded from outside the platform');
  const user = await platform.db.models.User.findOne({ where: { email: 'alice@example.com' } });
  t.is(user?.handle, 'alice');
});
