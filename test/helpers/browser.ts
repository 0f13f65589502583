/**
 * Headless Chromium (Debian's package) through playwright-core, for the browser tests.
 * .ci/run installs it; by hand: apt-get install chromium. Without it the browser
 * tests are declared as skipped, with the reason.
 */
import fs from 'node:fs';
import test, { type ExecutionContext, type Implementation } from 'ava';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** An ava test that needs Chromium: skipped, saying why and how to install it, when it is missing. */
export function browserTest(title: string, implementation: Implementation<[]>): void {
  if (fs.existsSync(CHROMIUM_PATH)) test(title, implementation);
  else test.skip(`${title} (skipped: ${CHROMIUM_PATH} is missing; install it with: apt-get install chromium)`, implementation);
}

export async function launchBrowser(t: ExecutionContext): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      // Every {handle}.localhost is this machine, as browsers resolve it anyway.
      // (mxos.test: a domain whose subdomains are one site, as a real DOMAIN's are; *.localhost are not.)
      '--host-resolver-rules=MAP *.localhost 127.0.0.1, MAP mxos.test 127.0.0.1, MAP *.mxos.test 127.0.0.1',
    ],
  });
  t.teardown(() => browser.close());
  return browser;
}
