import type { Config } from '../config.ts';

/** https://{handle}.DOMAIN[:port] as users reach it, from PUBLIC_URL. */
export function instanceUrl(config: Config, handle: string): string {
  const apex = new URL(config.public.url);
  return `${apex.protocol}//${handle}.${apex.host}`;
}
