/**
 * The multi-tenant checkpoint in real Chromium, on the embedded default (SQLite, the
 * local driver running the reference instance, the development identity provider)
 * with the Matrix double as the homeserver: two people sign up and open their own
 * instances, one's AI messages the other's through the platform, the other side
 * receives it, and a third signed-in browser sees it on the community feed without a
 * reload.
 */
import type { Browser, Page } from 'playwright-core';
import { DEFAULT_REGISTRATION_TOKEN, startMatrixDouble } from '../doubles/matrix/index.ts';
import { browserTest, launchBrowser } from '../helpers/browser.ts';
import { startTestPlatform } from '../helpers/platform.ts';
import { freePort } from '../helpers/postgres.ts';
import { waitUntil } from '../helpers/wait.ts';

async function signIn(browser: Browser, site: string, email: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${site}/login?next=%2Fdashboard`);
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/(dashboard|signup)$/);
  return page;
}

/** Signs up with `handle`, waits for the instance and opens it: the page ends on the instance's home page. */
async function signUpAndOpen(browser: Browser, site: string, port: number, handle: string): Promise<Page> {
  const page = await signIn(browser, site, `${handle}@example.com`);
  await page.getByLabel('Handle').fill(handle);
  await page.getByRole('button', { name: 'Create my Matrix OS' }).click();
  await page.locator('#instance-status[data-status="running"]').waitFor({ timeout: 60_000 });
  await page.getByRole('button', { name: 'Open my Matrix OS' }).click();
  await page.waitForURL(`http://${handle}.localhost:${port}/`);
  return page;
}

browserTest('two people sign up, one AI messages the other through the platform, and a third browser sees it on the feed live', async (t) => {
  const port = await freePort();
  const site = `http://localhost:${port}`;
  const matrix = await startMatrixDouble({ serverName: 'localhost' });
  t.teardown(() => matrix.close());
  const platform = await startTestPlatform(t, {
    env: {
      PUBLIC_PORT: String(port),
      PUBLIC_URL: site,
      MATRIX_HOMESERVER_URL: matrix.url,
      MATRIX_REGISTRATION_TOKEN: DEFAULT_REGISTRATION_TOKEN,
    },
  });
  const browser = await launchBrowser(t);

  const alice = await signUpAndOpen(browser, site, port, 'alice');
  const bob = await signUpAndOpen(browser, site, port, 'bob');
  t.regex(await alice.content(), /AI messages/, "alice's own Matrix OS is open");

  // A third participant watches the community page.
  const carol = await signIn(browser, site, 'carol@example.com');
  await carol.goto(`${site}/community`);
  await carol.locator('#feed li', { hasText: '@bob joined' }).waitFor();
  await carol.evaluate(() => {
    (window as unknown as { stayed: boolean }).stayed = true;
  });

  // Alice's AI sends, from her instance (its own origin, her instance session), through the platform.
  // (The home page's CSP allows no requests; the OS's API is on the same origin.)
  const text = 'Hi Bob, Alice here. Shall our AIs plan the demo together?';
  await alice.goto(`http://alice.localhost:${port}/api/social/inbox`);
  const sent = await alice.evaluate(
    async (body) => {
      const response = await fetch('/api/social/send', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: response.status, json: (await response.json()) as { message: { from: string; to: string } } };
    },
    { to: 'bob', text },
  );
  t.is(sent.status, 202);
  t.like(sent.json.message, { from: 'alice', to: 'bob' });

  // Bob's instance receives it over Matrix and shows it on its page.
  await waitUntil(
    async () => {
      await bob.reload();
      return (await bob.locator('body').textContent())?.includes(text);
    },
    { timeoutMs: 30_000, message: "the message on bob's instance page" },
  );
  t.regex((await bob.locator('body').textContent()) ?? '', /@alice_ai:localhost/);

  // Carol's feed shows it without a reload.
  await carol.locator('#feed li', { hasText: "@alice's AI sent a message to @bob's AI" }).waitFor({ timeout: 30_000 });
  t.true(await carol.evaluate(() => (window as unknown as { stayed?: boolean }).stayed === true), 'the page was not reloaded');
  t.false((await carol.locator('#feed').textContent())?.includes(text), 'the feed never shows what was said');

  // The person's profile, from the community list.
  await carol.getByRole('link', { name: '@alice' }).click();
  await carol.waitForURL(`${site}/social/profiles/alice`);
  t.regex((await carol.locator('h1').textContent()) ?? '', /@alice/);
  t.is((await platform.db.models.SocialMessage.findAll()).map((m) => m.state).join(), 'delivered');
});
