/**
 * OpenID Connect login (authorization code + PKCE, state and nonce checked, ID token
 * validated) with openid-client, against any standard issuer, the embedded
 * development provider included. Failures from the provider or the library are
 * translated here into LoginError, with a message the user can act on.
 */
import * as client from 'openid-client';
import { PlatformError } from '../errors.ts';

export class LoginError extends PlatformError {
  constructor(message: string, cause?: unknown) {
    super('login_failed', message, { status: 400, cause, detail: cause instanceof Error ? `${cause.name}: ${cause.message}` : undefined });
  }
}

class IdentityUnavailableError extends PlatformError {
  constructor(issuer: string, cause: unknown) {
    super('identity_unavailable', `The sign-in provider (${issuer}) is not answering. Try again in a minute.`, {
      status: 503,
      cause,
      headers: { 'Retry-After': '30' },
      detail: cause instanceof Error ? cause.message : String(cause),
    });
  }
}

/** What the browser must bring back: kept in a short-lived signed cookie between the two legs. */
export interface PendingLogin {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** Where to go after signing in (a local path). */
  next: string;
}

export interface Identity {
  issuer: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
}

export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  /** Only for the development provider on http://: an explicit opt-in. */
  allowInsecure: boolean;
}

export class OidcLogin {
  private config: client.Configuration | null = null;

  constructor(private readonly settings: OidcSettings) {}

  /** Discovery is lazy and retried on the next login if the provider was down. */
  private async configuration(): Promise<client.Configuration> {
    if (this.config) return this.config;
    const { issuer, clientId, clientSecret, allowInsecure } = this.settings;
    try {
      this.config = await client.discovery(
        new URL(issuer),
        clientId,
        clientSecret,
        undefined,
        allowInsecure ? { execute: [client.allowInsecureRequests] } : undefined,
      );
    } catch (err) {
      throw new IdentityUnavailableError(issuer, err);
    }
    return this.config;
  }

  /** `chooseAccount`: ask the provider to show its sign-in again (prompt=login), e.g. after a sign-out, so another account can be used. */
  async begin(next: string, options: { chooseAccount?: boolean } = {}): Promise<{ url: string; pending: PendingLogin }> {
    const config = await this.configuration();
    const pending: PendingLogin = { state: client.randomState(), nonce: client.randomNonce(), codeVerifier: client.randomPKCECodeVerifier(), next };
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: this.settings.redirectUri,
      scope: 'openid email profile',
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(pending.codeVerifier),
      code_challenge_method: 'S256',
      ...(options.chooseAccount ? { prompt: 'login' } : {}),
    });
    return { url: url.href, pending };
  }

  /** The callback leg: `currentUrl` is the full callback URL the provider redirected to. */
  async complete(currentUrl: URL, pending: PendingLogin): Promise<Identity> {
    const config = await this.configuration();
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(config, currentUrl, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      if (err instanceof client.ClientError || err instanceof client.ResponseBodyError || err instanceof client.AuthorizationResponseError) {
        throw new LoginError('Sign-in could not be completed (the answer from the sign-in provider did not check out). Start again.', err);
      }
      throw new IdentityUnavailableError(this.settings.issuer, err);
    }
    const idToken = tokens.claims();
    if (!idToken) throw new LoginError('The sign-in provider sent no ID token. Start again.');
    // Some providers put email and name only in the UserInfo response (allowed by the spec).
    let claims: Record<string, unknown> = idToken;
    if (typeof idToken.email !== 'string') {
      try {
        claims = { ...(await client.fetchUserInfo(config, tokens.access_token, idToken.sub)), ...idToken };
      } catch (err) {
        throw new LoginError('The sign-in provider did not tell us your email address. Start again.', err);
      }
    }
    return {
      issuer: idToken.iss,
      subject: idToken.sub,
      email: typeof claims.email === 'string' ? claims.email.toLowerCase() : null,
      emailVerified: claims.email_verified === true,
      name: typeof claims.name === 'string' ? claims.name.slice(0, 128) : null,
    };
  }
}
