/** Where users reach instances, and the path on an instance's host that trades a login code for a session. */
import type { Config } from '../config.ts';

/** Served by the router on every instance host. */
const LOGIN_PATH = '/_mxos/login';

/** https://{handle}.INSTANCE_DOMAIN[:port] as users reach it: PUBLIC_URL's scheme and port. */
export function instanceUrl(config: Config, handle: string): string {
  const apex = new URL(config.public.url);
  return `${apex.protocol}//${handle}.${config.public.instanceDomain}${apex.port ? `:${apex.port}` : ''}`;
}

/** Path and query on the instance's host that redeem a login code. */
export function loginPath(code: string): string {
  return `${LOGIN_PATH}?code=${encodeURIComponent(code)}`;
}
