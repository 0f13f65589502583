/** The site at the apex (and www): see app.ts. Builds it from the platform's parts. */
import type { RequestListener } from 'node:http';
import type { AccessCodes } from '../control/access/login-codes.ts';
import type { Config } from '../control/config.ts';
import type { Database } from '../control/db/database.ts';
import { GitHubLogin } from '../control/identity/github.ts';
import { OidcLogin, type OidcSettings } from '../control/identity/oidc.ts';
import type { Logger } from '../control/logger.ts';
import type { MeterServices } from '../control/meter/index.ts';
import type { Capacity } from '../control/provisioning/capacity.ts';
import type { InstanceService } from '../control/provisioning/service.ts';
import type { InstanceStore } from '../control/provisioning/store.ts';
import type { SocialService } from '../control/social/service.ts';
import type { Invites } from '../control/users/invites.ts';
import type { UserStore } from '../control/users/store.ts';
import { TrustedProxies } from '../control/web/client-address.ts';
import { createSiteApp } from './app.ts';
import { RateLimiter } from './rate-limit.ts';

interface SiteParts {
  config: Config;
  db: Database;
  service: InstanceService;
  store: InstanceStore;
  users: UserStore;
  codes: AccessCodes;
  spend: MeterServices;
  social: SocialService;
  invites: Invites;
  capacity: Capacity;
  identity: OidcSettings | null;
  secretKey: string;
  instanceUrl(handle: string): string;
  logger: Logger;
}

export function createSiteHandler(parts: SiteParts): RequestListener {
  const { config } = parts;
  const app = createSiteApp({
    settings: {
      domain: config.public.domain,
      instanceDomain: config.public.instanceDomain,
      publicUrl: config.public.url,
      secure: config.public.secureCookies,
      adminEmails: config.identity.adminEmails,
      instanceLimits: { memoryMB: config.instance.memoryMB, cpu: config.instance.cpu },
      budgetDefaults: { limit: config.meter.defaultBudgetMicro, period: config.meter.period },
      messaging: config.social.matrix !== null,
      signup: { mode: config.signup.mode, supportContact: config.signup.supportContact },
      event: config.signup.event,
      idleMinutes: Math.max(1, Math.round(config.lifecycle.idleTimeoutMs / 60_000)),
      oidcIssuer: parts.identity?.issuer ?? null,
      devIdentity: config.identity.issuer === null,
      messageMaxChars: config.social.messageMaxChars,
    },
    service: parts.service,
    store: parts.store,
    users: parts.users,
    codes: parts.codes,
    spend: parts.spend,
    social: parts.social,
    invites: parts.invites,
    capacity: parts.capacity,
    login: parts.identity ? new OidcLogin(parts.identity) : null,
    github: config.identity.github
      ? new GitHubLogin({
          ...config.identity.github,
          redirectUri: `${config.public.url}/auth/github/callback`,
          allowedOrgs: config.signup.githubOrgs,
          allowedTeams: config.signup.githubTeams,
        })
      : null,
    db: parts.db,
    secretKey: parts.secretKey,
    proxies: new TrustedProxies(config.public.trustedProxies),
    limiter: new RateLimiter({ perMinute: 20, burst: 20 }),
    instanceUrl: parts.instanceUrl,
    logger: parts.logger.child({ component: 'site' }),
  });
  return app.callback();
}
