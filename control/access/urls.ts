/** Where users reach instances, and the path on an instance's host that trades a login code for a session. */
import type { Config } from '../config.ts';

/** Served by the router on every instance host. */
export const LOGIN_PATH = '/_mxos/login';

/** https://{handle}.DOMAIN[:port] as users reach it, from PUBLIC_URL. */
export function instanceUrl(config: Config, handle: string): string {
  const apex = new URL(config.public.url);
  return `${apex.protocol}//${handle}.${apex.host}`;
}

/** The one-time sign-in link for a login code. */
export function loginLink(config: Config, handle: string, code: string): string {
  return `${instanceUrl(config, handle)}${LOGIN_PATH}?code=${code}`;
}
