/** In real Chromium: sign in through a one-time link, and watch the waiting page turn into the instance. */
import fs from 'node:fs';
import path from 'node:path';
import { browserTest, launchBrowser } from '../../helpers/browser.ts';
import { startTestPlatform } from '../../helpers/platform.ts';
import { waitForRoute } from '../../helpers/router.ts';

browserTest('a sleeping instance shows the waiting page with progress, which turns into the instance page by itself', async (t) => {
  // The real local driver and reference instance: the browser sees the real boot.
  const platform = await startTestPlatform(t);
  await (await platform.api('/containers/provision', { method: 'POST', json: { handle: 'alice', userId: 'user-alice' } })).body?.cancel();
  await platform.waitFor('alice', 'running');
  await (await platform.api('/containers/alice/stop', { method: 'POST' })).body?.cancel();
  await platform.waitFor('alice', 'stopped');
  await waitForRoute(platform, 'alice', 'stopped');

  const port = new URL(platform.edge.listenUrl).port;
  const link = (await (await platform.api('/containers/alice/login-link', { method: 'POST', json: { userId: 'user-alice' } })).json()) as { url: string };
  const code = new URL(link.url).search;
  const browser = await launchBrowser(t);
  const page = await browser.newPage();
  const seen: string[] = [];
  page.on('response', (r) => seen.push(`${r.status()} ${new URL(r.url()).pathname}`));

  await page.goto(`http://alice.localhost:${port}/_mxos/login${code}`);
  // The login redirect lands on / while alice sleeps: the waiting page, with a live status.
  await page.waitForSelector('#status');
  t.regex(await page.title(), /Waking up alice's Matrix OS/);
  const shots = path.join(platform.dataDir, '..', 'mxos-screenshots');
  fs.mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: path.join(shots, 'router-waiting-page.png') });

  // No click, no reload by the test: the page itself polls and reloads into the instance.
  await page.waitForSelector('h1:has-text("Matrix OS — alice")', { timeout: 60_000 });
  t.is(new URL(page.url()).pathname, '/');
  t.true(seen.includes('503 /'), 'the waiting page was served');
  t.true(
    seen.some((s) => s === '200 /_mxos/status'),
    'it polled the status feed',
  );
  t.true(seen.includes('200 /'), 'and then the instance page');
  const cookies = await page.context().cookies();
  t.deepEqual(
    cookies.map((c) => [c.name, c.domain, c.httpOnly, c.sameSite, c.secure]),
    [['__Host-mxos_session', 'alice.localhost', true, 'Lax', true]],
  );
  t.is((await platform.service.get('alice')).status, 'running');
});
