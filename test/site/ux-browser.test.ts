/**
 * The site as participants and organisers live in it, in real Chromium on a desktop
 * and on a phone-sized screen: axe-core finds nothing on any page people see, no page
 * is wider than a 390 px screen, no page a participant sees shows an internal id, a
 * token click creates exactly one token, and a community link opens a profile.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { axeViolations, sidewaysOverflow } from '../helpers/axe.ts';
import { browserTest, launchBrowser } from '../helpers/browser.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { freePort } from '../helpers/postgres.ts';

const SHOTS = path.join(os.tmpdir(), 'mxos-screenshots');
const PHONE = { width: 390, height: 844 };

/** axe finds nothing; on a phone-sized context, nothing is wider than the screen. */
async function checkPage(t: ExecutionContext, page: Page, name: string): Promise<void> {
  const violations = await axeViolations(page);
  t.deepEqual(violations, [], `${name}: ${JSON.stringify(violations, null, 1)}`);
  if (page.viewportSize()?.width === PHONE.width) t.deepEqual(await sidewaysOverflow(page), [], `${name} is wider than a ${PHONE.width} px screen`);
}

/** Nothing on a participant's page names people or instances by internal id. */
async function checkNoIds(t: ExecutionContext, page: Page, name: string, ids: readonly string[]): Promise<void> {
  const text = await page.evaluate(() => document.body.innerText);
  t.notRegex(text, /\b(site|router|admin):|\bu-[a-z]/, `${name} shows an internal actor`);
  for (const id of ids) t.false(text.includes(id), `${name} shows the internal id ${id}`);
}

async function signIn(browser: Browser, site: string, email: string, viewport?: typeof PHONE): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext(viewport ? { viewport } : {});
  const page = await context.newPage();
  await page.goto(`${site}/login?next=%2Fdashboard`);
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/(dashboard|signup)$/);
  return { context, page };
}

/** The platform on a fixed public port (browsers need the real address) with an admin, and Chromium. */
async function startSite(
  t: ExecutionContext,
  env: Record<string, string> = {},
): Promise<{ site: string; port: number; platform: TestPlatform; browser: Browser }> {
  const port = await freePort();
  const site = `http://localhost:${port}`;
  const platform = await startTestPlatform(t, { env: { PUBLIC_PORT: String(port), PUBLIC_URL: site, ADMIN_EMAILS: 'root@example.com', ...env } });
  return { site, port, platform, browser: await launchBrowser(t) };
}

/** Signs `email` up with `handle` and waits until the dashboard shows the instance running. */
async function signUp(browser: Browser, site: string, email: string, handle: string): Promise<Page> {
  const { page } = await signIn(browser, site, email);
  await page.getByLabel('Handle').fill(handle);
  await page.getByRole('button', { name: 'Create my Matrix OS' }).click();
  await page.locator('#instance-status[data-status="running"]').waitFor({ timeout: 60_000 });
  return page;
}

async function generation(platform: TestPlatform, handle: string): Promise<number> {
  return (await platform.store.findByHandle(handle))!.access_generation;
}

browserTest('every page passes axe, fits a phone, names nobody by id; a token click creates one token; community links open profiles', async (t) => {
  const { site, port, platform, browser } = await startSite(t, {
    SUPPORT_CONTACT: 'help@hack.example',
    EVENT_NAME: 'Matrix Hack',
    EVENT_DATES: '5–6 December',
    MAX_RUNNING_INSTANCES: '10',
  });
  fs.mkdirSync(SHOTS, { recursive: true });
  const ids = async () => (await platform.db.models.User.findAll({ attributes: ['id'], raw: true })).map((u) => (u as { id: string }).id);

  // A neighbour to find in the community.
  await (await platform.api('/containers/provision', { method: 'POST', json: { handle: 'lena', userId: 'u-lena' } })).body?.cancel();
  await platform.db.models.User.update({ display_name: 'Lena' }, { where: { id: 'u-lena' } });

  // Signed out: the landing page and the provider's sign-in.
  const visitor = await (await browser.newContext()).newPage();
  await visitor.goto(site);
  await checkPage(t, visitor, 'landing');
  await checkNoIds(t, visitor, 'landing', await ids());
  await visitor.goto(`${site}/login?next=%2Fsignup`);
  await visitor.getByLabel('Email').waitFor();
  await checkPage(t, visitor, 'provider sign-in');

  // A participant signs up.
  const { page } = await signIn(browser, site, 'kim@example.com');
  await checkPage(t, page, 'sign-up');
  t.true(await page.getByLabel('Handle').evaluate((el) => el === document.activeElement), 'the handle field is focused');
  await page.getByLabel('Handle').fill('kim');
  await page.getByRole('button', { name: 'Create my Matrix OS' }).click();
  await page.locator('#instance-status[data-status="running"]').waitFor({ timeout: 60_000 });
  await page.reload();
  await checkPage(t, page, 'dashboard');
  await checkNoIds(t, page, 'dashboard', await ids());

  // One click, one token: the post redirects to a page that shows it; nothing posts again.
  const before = await generation(platform, 'kim');
  const posts: string[] = [];
  page.on('request', (r) => r.method() === 'POST' && posts.push(new URL(r.url()).pathname));
  await page.getByRole('button', { name: 'Create a new token' }).click();
  await page.locator('#token').waitFor();
  await page.waitForLoadState('networkidle');
  t.deepEqual(posts, ['/dashboard/token']);
  t.is(await generation(platform, 'kim'), before + 1);
  await checkPage(t, page, 'token');
  await page.reload();
  await page.waitForLoadState('networkidle');
  t.deepEqual(posts, ['/dashboard/token'], 'a reload posts nothing');
  t.is(await generation(platform, 'kim'), before + 1, 'and creates no token');
  t.is(new URL(page.url()).pathname, '/dashboard', 'the token is not shown again');

  // The community: a participant's link opens their public profile on the site.
  await page.goto(`${site}/community`);
  await checkPage(t, page, 'community');
  await checkNoIds(t, page, 'community', await ids());
  await page.getByRole('link', { name: '@lena' }).click();
  await page.waitForURL(`${site}/social/profiles/lena`);
  t.regex(await page.locator('main').innerText(), /lena/);
  t.regex(await page.locator('main').innerText(), /Lena/);
  await checkPage(t, page, 'profile');
  await checkNoIds(t, page, 'profile', await ids());

  // The waiting page, as its owner sees it (the worker held, so it stays on screen).
  await page.goto(`${site}/dashboard`);
  await page.getByRole('button', { name: 'Open my Matrix OS' }).click();
  await page.waitForURL(`http://kim.localhost:${port}/`);
  await platform.api('/containers/kim/stop', { method: 'POST' });
  await platform.waitFor('kim', 'stopped');
  await platform.worker.stop();
  await page.goto(`http://kim.localhost:${port}/`);
  await page.locator('#status').waitFor();
  t.regex(await page.locator('main').innerText(), /Your Matrix OS was asleep to save resources and is waking up/);
  await checkPage(t, page, 'waiting page');
  await checkNoIds(t, page, 'waiting page', await ids());
  platform.worker.start();

  // Error pages: the site's and the router's.
  await page.goto(`${site}/no-such-page`);
  await checkPage(t, page, 'site 404');
  await page.goto(`http://nobody.localhost:${port}/`);
  t.regex(await page.locator('main').innerText(), /Sign up/);
  await checkPage(t, page, 'no such instance');

  // On a phone: the participant's pages.
  const phone = await signIn(browser, site, 'kim@example.com', PHONE);
  for (const [name, url] of [
    ['landing (phone)', site],
    ['dashboard (phone)', `${site}/dashboard`],
    ['community (phone)', `${site}/community`],
    ['profile (phone)', `${site}/social/profiles/lena`],
  ] as const) {
    await phone.page.goto(url);
    await checkPage(t, phone.page, name);
  }
  await phone.page.goto(`${site}/dashboard`);
  await phone.page.screenshot({ path: path.join(SHOTS, 'dashboard-phone.png'), fullPage: true });

  // The organiser's pages, on a desktop and on a phone.
  const desk = await signIn(browser, site, 'root@example.com');
  const mobile = await signIn(browser, site, 'root@example.com', PHONE);
  for (const pathname of ['/admin/users', '/admin/audit', '/admin/invites', '/admin/spend', '/admin/prices']) {
    for (const [where, admin] of [
      ['desktop', desk.page],
      ['phone', mobile.page],
    ] as const) {
      await admin.goto(`${site}${pathname}`);
      await checkPage(t, admin, `${pathname} (${where})`);
    }
  }
  await mobile.page.goto(`${site}/admin/users`);
  await mobile.page.screenshot({ path: path.join(SHOTS, 'admin-phone.png'), fullPage: true });
});

browserTest("pages follow an instance's state by themselves: the admin list, and the dashboard without losing the focus", async (t) => {
  const { site, platform, browser } = await startSite(t);
  const page = await signUp(browser, site, 'max@example.com', 'max');
  await page.reload();
  const admin = await signIn(browser, site, 'root@example.com');
  await admin.page.goto(`${site}/admin/users?q=max`);
  const listed = admin.page.locator('.instance-status[data-handle="max"]');
  t.is(await listed.textContent(), 'running');

  // The owner is typing in the profile form when the instance stops (an admin stopped it, say).
  const field = page.getByLabel('Display name');
  await field.fill('Max Mustermann');
  await field.focus();
  await platform.api('/containers/max/stop', { method: 'POST' });
  await page.locator('#instance-status[data-status="stopped"]').waitFor({ timeout: 60_000 });
  await page.locator('#actions').getByRole('button', { name: 'Start' }).waitFor({ timeout: 60_000 });
  t.true(await field.evaluate((el) => el === document.activeElement), 'the focus stayed in the form');
  t.is(await field.inputValue(), 'Max Mustermann', 'and what was typed is still there');

  // The admin's list says so too, with no reload.
  await admin.page.waitForFunction(() => document.querySelector('.instance-status[data-handle="max"]')?.textContent === 'stopped', undefined, {
    timeout: 60_000,
  });
  t.is(await listed.textContent(), 'stopped');
});

browserTest('an instance an admin destroyed can be had again from the dashboard; the admin sees the result once', async (t) => {
  const { site, platform, browser } = await startSite(t);
  const page = await signUp(browser, site, 'otto@example.com', 'otto');

  const admin = (await signIn(browser, site, 'root@example.com')).page;
  await admin.goto(`${site}/admin/users?q=otto`);
  await admin.getByLabel('Type otto to confirm').fill('otto');
  await admin.getByRole('button', { name: 'Destroy' }).click();
  await admin.locator('p.flash', { hasText: 'Destroying otto' }).waitFor();
  await admin.reload();
  t.is(await admin.locator('p.flash').count(), 0, 'the message shows once');
  await platform.waitFor('otto', 'destroyed');

  await page.goto(`${site}/dashboard`);
  t.is(await page.locator('h1').textContent(), 'Your Matrix OS was removed');
  await page.getByRole('button', { name: 'Get my Matrix OS again' }).click();
  await page.locator('#instance-status[data-status="running"]').waitFor({ timeout: 60_000 });
  t.is((await platform.store.findByHandle('otto'))?.status, 'running');
});
