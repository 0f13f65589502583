/**
 * The cross-tenant chain in real Chromium: a page that bob's instance serves runs in a
 * browser signed in to the site as alice (or as an admin). The platform runs at
 * mxos.test, where (as at any real DOMAIN) every {handle}.mxos.test and the apex are
 * one site to the browser, so it sends their SameSite=Lax cookies along. Nothing the
 * page tries may issue a login code for alice or reach her instance.
 */
import http from 'node:http';
import type net from 'node:net';
import type { Page } from 'playwright-core';
import { MemoryOrchestrator } from '../doubles/memory-orchestrator.ts';
import { browserTest, launchBrowser } from '../helpers/browser.ts';
import { startEchoInstance } from '../helpers/echo-instance.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { freePort } from '../helpers/postgres.ts';

/** What bob's instance serves: a page that tries every way into alice's instance it can. */
function attackPage(port: number): string {
  const site = `http://mxos.test:${port}`;
  const alice = `http://alice.mxos.test:${port}`;
  return `<!doctype html><html><body><h1>bob's innocent page</h1><script>
(async () => {
  const results = {};
  const attempt = async (name, run) => { try { results[name] = await run(); } catch (err) { results[name] = 'error: ' + err.message; } };
  await attempt('getOpen', () => fetch('${site}/open/alice', { credentials: 'include', mode: 'no-cors' }).then((r) => r.type));
  await attempt('postOpen', () => fetch('${site}/open/alice', { method: 'POST', credentials: 'include', mode: 'no-cors',
    headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'next=%2F' }).then((r) => r.type));
  await attempt('write', () => fetch('${alice}/api/notes', { method: 'POST', credentials: 'include', mode: 'no-cors', body: 'pwned' }).then((r) => r.type));
  await attempt('read', () => fetch('${alice}/api/notes', { credentials: 'include' }).then((r) => r.status));
  await attempt('socket', () => new Promise((resolve) => {
    const ws = new WebSocket('ws://alice.mxos.test:${port}/ws');
    ws.onopen = () => resolve('open');
    ws.onerror = () => resolve('refused');
  }));
  await attempt('frame', () => new Promise((resolve) => {
    const frame = document.createElement('iframe');
    frame.src = '${site}/open/alice';
    frame.onload = () => resolve('loaded');
    document.body.appendChild(frame);
    setTimeout(() => resolve('timeout'), 3000);
  }));
  window.results = results;
  // Last: a top-level form post to the site, as if the user had clicked.
  const form = document.createElement('form');
  form.method = 'post';
  form.action = '${site}/open/alice';
  form.innerHTML = '<input name="next" value="/">';
  document.body.appendChild(form);
  window.formReady = true;
})();
</script></body></html>`;
}

async function signInToSite(page: Page, port: number, email: string): Promise<void> {
  await page.goto(`http://mxos.test:${port}/login?next=%2Fdashboard`);
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/(dashboard|signup)$/);
}

/** Opens bob's instance in this browser (as its owner would have shared it, or as an admin) and lets the page run. */
async function visitBob(page: Page, platform: TestPlatform): Promise<Record<string, string>> {
  const link = (await (await platform.api('/containers/bob/login-link', { method: 'POST', json: {} })).json()) as { url: string };
  await page.goto(link.url);
  await page.waitForFunction(() => (window as unknown as { formReady?: boolean }).formReady === true, undefined, { timeout: 20_000 });
  const results = await page.evaluate(() => (window as unknown as { results: Record<string, string> }).results);
  const posted = page.waitForResponse((r) => r.url().endsWith('/open/alice') && r.request().method() === 'POST');
  await page.evaluate(() => document.querySelector('form')!.submit());
  results.topLevelPost = String((await posted).status());
  return results;
}

browserTest("a page bob's instance serves cannot open alice's instance or reach it, in alice's browser or an admin's", async (t) => {
  const port = await freePort();
  const echo = await startEchoInstance('alice');
  t.teardown(() => echo.close());
  const attacker = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(attackPage(port));
  });
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => attacker.close(() => resolve())));
  const bobUrl = `http://127.0.0.1:${(attacker.address() as net.AddressInfo).port}`;
  const orchestrator = new MemoryOrchestrator();
  orchestrator.address = (h) => (h === 'bob' ? { gateway: bobUrl, shell: bobUrl } : { gateway: echo.gateway, shell: echo.shell });
  const platform = await startTestPlatform(t, {
    orchestrator: () => orchestrator,
    env: { DOMAIN: 'mxos.test', PUBLIC_PORT: String(port), PUBLIC_URL: `http://mxos.test:${port}`, ADMIN_EMAILS: 'root@example.com' },
  });
  await (await platform.api('/containers/provision', { method: 'POST', json: { handle: 'bob', userId: 'u-bob' } })).body?.cancel();
  await platform.waitFor('bob', 'running');
  const browser = await launchBrowser(t);

  // Alice signs up and opens her own instance: her browser holds the site cookie and her instance cookie.
  const alicePage = await (await browser.newContext()).newPage();
  await signInToSite(alicePage, port, 'alice@example.com');
  await alicePage.getByLabel('Handle').fill('alice');
  await alicePage.getByRole('button', { name: 'Create my Matrix OS' }).click();
  await alicePage.locator('#instance-status[data-status="running"]').waitFor({ timeout: 60_000 });
  await alicePage.getByRole('button', { name: 'Open my Matrix OS' }).click();
  await alicePage.waitForURL(`http://alice.mxos.test:${port}/`);
  const codesBefore = await platform.db.models.AccessCode.count({ where: { handle: 'alice' } });
  const seenBefore = echo.seen.length;

  const asAlice = await visitBob(alicePage, platform);
  t.log("in alice's browser:", JSON.stringify(asAlice));
  t.is(asAlice.socket, 'refused', "a WebSocket to alice's instance with her cookie");
  t.is(asAlice.read, 'error: Failed to fetch', 'the browser keeps the answer from bob (CORS)');
  t.is(asAlice.topLevelPost, '403', "a form post to /open/alice from bob's page: her site cookie came along, the origin did not match");

  // An admin's browser: the same page, and an admin may open any instance.
  const adminPage = await (await browser.newContext()).newPage();
  await signInToSite(adminPage, port, 'root@example.com');
  const asAdmin = await visitBob(adminPage, platform);
  t.log("in the admin's browser:", JSON.stringify(asAdmin));
  t.is(asAdmin.topLevelPost, '403');

  t.is(await platform.db.models.AccessCode.count({ where: { handle: 'alice' } }), codesBefore, 'no login code was issued for alice');
  const reached = echo.seen.slice(seenBefore).map((s) => `${s.method} ${s.url}`);
  // Reads may arrive (their answers stay with alice's browser: CORS); nothing that could change anything does.
  t.deepEqual(
    reached.filter((r) => !r.startsWith('GET ')),
    [],
    "no write and no WebSocket reached alice's instance",
  );
  t.false(
    await platform.db.models.AuditEntry.findOne({ where: { action: 'instance_access', target: 'alice' } }).then(Boolean),
    'no admin visit to alice was made',
  );
});
