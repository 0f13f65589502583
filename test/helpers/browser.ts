/**
 * Headless Chromium (Debian's package) through playwright-core, for the browser tests.
 * scripts/run-tests.ts installs the package before the suite when it is missing.
 */
import type { ExecutionContext } from 'ava';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export async function launchBrowser(t: ExecutionContext): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      // Every {handle}.localhost is this machine, as browsers resolve it anyway.
      '--host-resolver-rules=MAP *.localhost 127.0.0.1',
    ],
  });
  t.teardown(() => browser.close());
  return browser;
}
