/**
 * Which OpenID Connect provider the platform signs in with: OIDC_ISSUER, or (development
 * only) the embedded provider, started here; none in production when only GitHub is
 * configured (config requires one of them there).
 */
import crypto from 'node:crypto';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { OidcSettings } from './oidc.ts';

interface IdentityProvider {
  settings: OidcSettings | null;
  close(): Promise<void>;
}

export async function startIdentity(config: Config, secretKey: string, logger: Logger): Promise<IdentityProvider> {
  const redirectUri = `${config.public.url}/auth/callback`;
  const { identity } = config;
  if (identity.issuer !== null) {
    return {
      settings: { issuer: identity.issuer, clientId: identity.clientId, clientSecret: identity.clientSecret!, redirectUri, allowInsecure: false },
      close: async () => undefined,
    };
  }
  if (config.mode === 'production') return { settings: null, close: async () => undefined };
  const derive = (purpose: string) => crypto.createHmac('sha256', secretKey).update(purpose).digest('base64url');
  const clientSecret = derive('dev-idp-client-secret');
  // Loaded only here: oidc-provider costs ~25 MB and ~0.4 s to load, which production never needs.
  const { startDevIdp } = await import('./dev-idp.ts');
  const dev = await startDevIdp({
    ...identity.devIdp,
    clientId: identity.clientId,
    clientSecret,
    redirectUris: [redirectUri],
    cookieKey: derive('dev-idp-cookie-key'),
    platformUrl: config.public.url,
  });
  logger.warn({ issuer: dev.issuer }, 'DEVELOPMENT ONLY: the embedded identity provider is signing in any email');
  return { settings: { issuer: dev.issuer, clientId: identity.clientId, clientSecret, redirectUri, allowInsecure: true }, close: () => dev.close() };
}
