/** The site at the apex (and www): see app.ts. Builds it from the platform's parts. */
import type { RequestListener } from 'node:http';
import type { Config } from '../control/config.ts';
import type { Database } from '../control/db/database.ts';
import { OidcLogin, type OidcSettings } from '../control/identity/oidc.ts';
import type { Logger } from '../control/logger.ts';
import type { InstanceService } from '../control/provisioning/service.ts';
import type { InstanceStore } from '../control/provisioning/store.ts';
import type { AccessCodes } from '../control/access/login-codes.ts';
import { createSiteApp } from './app.ts';
import { SiteSessions } from './sessions.ts';

export interface SiteParts {
  config: Config;
  db: Database;
  service: InstanceService;
  store: InstanceStore;
  codes: AccessCodes;
  identity: OidcSettings;
  secretKey: string;
  instanceUrl(handle: string): string;
  kick(): void;
  logger: Logger;
}

export function createSiteHandler(parts: SiteParts): RequestListener {
  const { config } = parts;
  const app = createSiteApp({
    db: parts.db,
    service: parts.service,
    store: parts.store,
    codes: parts.codes,
    sessions: new SiteSessions(parts.db, config.identity.sessionTtlMs),
    login: new OidcLogin(parts.identity),
    secretKey: parts.secretKey,
    domain: config.public.domain,
    publicUrl: config.public.url,
    secure: config.public.secure,
    adminEmails: config.identity.adminEmails,
    trustedProxies: config.public.trustedProxies,
    instanceUrl: parts.instanceUrl,
    kick: parts.kick,
    logger: parts.logger.child({ component: 'site' }),
  });
  return app.callback();
}
