/**
 * Signing in to the site without a browser: the same redirects, cookies and form a
 * browser goes through, against the development provider.
 */

import type { TestPlatform } from './platform.ts';
import { type Sent, sendRaw } from './router.ts';

export interface SiteClient {
  port: number;
  /** Sends to the apex (Host: localhost:8000, as PUBLIC_URL says) with the given cookie. */
  send(path: string, options?: { method?: string; cookie?: string; form?: Record<string, string>; headers?: Record<string, string> }): Promise<Sent>;
  signIn(email: string): Promise<{ cookie: string; landedOn: string }>;
  /** Signs `email` in and chooses `handle` on the sign-up form, as a person does; returns the site cookie. */
  signUp(email: string, handle: string): Promise<string>;
}

export function siteClient(platform: TestPlatform): SiteClient {
  const port = Number(new URL(platform.edge.listenUrl).port);
  const host = new URL(platform.config.public.url).host;
  const send: SiteClient['send'] = (path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.cookie) headers.cookie = options.cookie;
    let body: string | undefined;
    if (options.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin ??= `http://${host}`;
      body = new URLSearchParams(options.form).toString();
    }
    return sendRaw(port, { host, path, method: options.method ?? (options.form ? 'POST' : 'GET'), headers, body });
  };
  return {
    port,
    send,
    async signIn(email) {
      const start = await send('/login/oidc?next=%2Fdashboard');
      const loginCookie = String(start.headers['set-cookie']![0]).split(';')[0]!;
      const callback = await providerDance(start.headers.location!, email);
      const done = await send(callback.pathname + callback.search, { cookie: loginCookie });
      if (done.status !== 302) throw new Error(`callback answered ${done.status}: ${done.text.slice(0, 300)}`);
      const cookie = done.headers['set-cookie']!.map((c) => c.split(';')[0]!).find((c) => /^(__Host-)?mxos_site=/.test(c))!;
      return { cookie, landedOn: done.headers.location! };
    },
    async signUp(email, handle) {
      const { cookie } = await this.signIn(email);
      const csrf = /name="csrf" value="([^"]+)"/.exec((await send('/signup', { cookie })).text)![1]!;
      const chosen = await send('/signup', { cookie, form: { csrf, handle } });
      if (chosen.status !== 303) throw new Error(`sign-up as ${handle} answered ${chosen.status}: ${chosen.text.slice(0, 300)}`);
      return cookie;
    },
  };
}

/** The provider's part: follow its redirects with its cookies, submit the email. */
export async function providerDance(authorizationUrl: string, email: string): Promise<URL> {
  const jar = new Map<string, string>();
  const go = async (url: string, init: RequestInit = {}) => {
    const response = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const c of response.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    return response;
  };
  let url = authorizationUrl;
  let response = await go(url);
  while (response.status >= 300 && response.status < 400) {
    url = new URL(response.headers.get('location')!, url).href;
    if (url.includes('/auth/callback')) return new URL(url);
    response = await go(url);
  }
  const form = await response.text();
  const action = new URL(/action="([^"]+)"/.exec(form)![1]!, url).href;
  response = await go(action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ email }).toString(),
  });
  while (response.status >= 300 && response.status < 400) {
    url = new URL(response.headers.get('location')!, url).href;
    if (url.includes('/auth/callback')) return new URL(url);
    response = await go(url);
  }
  throw new Error(`the provider did not come back (status ${response.status})`);
}
