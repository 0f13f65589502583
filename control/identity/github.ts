/**
 * Sign in with GitHub. GitHub speaks OAuth 2.0, not OpenID Connect: openid-client's
 * plain OAuth flow (a Configuration built from GitHub's authorization and token
 * endpoints, no discovery, no ID token; PKCE and state as for OIDC), then the REST API
 * for the user, their verified primary email, and (for GITHUB_ALLOWED_ORGS) their
 * organisations and teams. GitHub's quirks become clear messages: a denied consent
 * comes back as `error=access_denied`, a bad code as HTTP 200 with an `error` body.
 */
import * as client from 'openid-client';
import { PlatformError } from '../errors.ts';
import { type Identity, LoginError, type PendingLogin } from './oidc.ts';

export interface GitHubSettings {
  clientId: string;
  clientSecret: string;
  /** https://github.com, or a GitHub Enterprise Server. */
  url: string;
  /** https://api.github.com, or {url}/api/v3 on Enterprise. */
  apiUrl: string;
  redirectUri: string;
  /** GITHUB_ALLOWED_ORGS: the only memberships asked about (each by its own membership endpoint). */
  allowedOrgs: string[];
  allowedTeams: Array<{ org: string; team: string }>;
}

/** What a GitHub sign-in tells the sign-up policy besides the identity. */
export interface GitHubIdentity extends Identity {
  login: string;
  orgs: string[];
  /** `org/team-slug`, lowercase. */
  teams: string[];
}

class GitHubUnavailableError extends PlatformError {
  constructor(detail: string, cause?: unknown) {
    super('github_unavailable', 'GitHub is not answering. Try again in a minute.', { status: 503, cause, detail, headers: { 'Retry-After': '30' } });
  }
}

const BASE_SCOPE = 'read:user user:email';
const API_TIMEOUT_MS = 10_000;

const TOKEN_ERRORS: Record<string, string> = {
  bad_verification_code: 'GitHub did not accept the sign-in code (it expired or was already used). Start again.',
  redirect_uri_mismatch: "GitHub refused this site's callback address: the GitHub app's callback URL must be PUBLIC_URL/auth/github/callback.",
  incorrect_client_credentials: "GitHub refused the platform's app credentials (GITHUB_CLIENT_ID / GITHUB_CLIENT_SECRET): tell the operator.",
};

export class GitHubLogin {
  private readonly config: client.Configuration;
  readonly issuer: string;

  constructor(private readonly settings: GitHubSettings) {
    const url = settings.url.replace(/\/+$/, '');
    this.issuer = url;
    this.config = new client.Configuration(
      { issuer: url, authorization_endpoint: `${url}/login/oauth/authorize`, token_endpoint: `${url}/login/oauth/access_token` },
      settings.clientId,
      settings.clientSecret,
    );
    // Only a local GitHub double is plain http; github.com is https.
    if (url.startsWith('http://')) client.allowInsecureRequests(this.config);
  }

  /** `chooseAccount`: GitHub's account picker (prompt=select_account), e.g. after a sign-out. */
  async begin(next: string, options: { chooseAccount?: boolean } = {}): Promise<{ url: string; pending: PendingLogin }> {
    const pending: PendingLogin = { state: client.randomState(), nonce: '', codeVerifier: client.randomPKCECodeVerifier(), next };
    const url = client.buildAuthorizationUrl(this.config, {
      redirect_uri: this.settings.redirectUri,
      // read:org only when memberships are asked about.
      scope: this.settings.allowedOrgs.length + this.settings.allowedTeams.length > 0 ? `${BASE_SCOPE} read:org` : BASE_SCOPE,
      state: pending.state,
      code_challenge: await client.calculatePKCECodeChallenge(pending.codeVerifier),
      code_challenge_method: 'S256',
      allow_signup: 'true',
      ...(options.chooseAccount ? { prompt: 'select_account' } : {}),
    });
    return { url: url.href, pending };
  }

  async complete(currentUrl: URL, pending: PendingLogin): Promise<GitHubIdentity> {
    const error = currentUrl.searchParams.get('error');
    if (error === 'access_denied') throw new LoginError('You did not authorize the platform on GitHub, so you are not signed in. Start again to authorize it.');
    if (error) throw new LoginError(TOKEN_ERRORS[error] ?? `GitHub refused the sign-in (${error}). Start again.`);
    let token: string;
    try {
      const tokens = await client.authorizationCodeGrant(this.config, currentUrl, { pkceCodeVerifier: pending.codeVerifier, expectedState: pending.state });
      token = tokens.access_token;
    } catch (err) {
      // GitHub answers a refused code with HTTP 200 and {error, error_description}: no access_token,
      // which openid-client reports as an invalid response carrying that body.
      const body = tokenErrorBody(err);
      const code = typeof body?.error === 'string' ? body.error : null;
      if (code) throw new LoginError(TOKEN_ERRORS[code] ?? `GitHub refused the sign-in (${code}). Start again.`, err);
      if (err instanceof client.AuthorizationResponseError || err instanceof client.ResponseBodyError || err instanceof client.ClientError)
        throw new LoginError('Sign-in could not be completed (the answer from GitHub did not check out). Start again.', err);
      throw new GitHubUnavailableError(`token endpoint: ${(err as Error).message}`, err);
    }
    const user = await this.api(token, '/user');
    const emails = await this.api(token, '/user/emails');
    if (typeof user?.id !== 'number' || typeof user.login !== 'string' || !Array.isArray(emails))
      throw new GitHubUnavailableError('GitHub answered /user or /user/emails with an unexpected shape');
    // Only the primary address, and only verified: an old secondary address may belong to someone else by now.
    const primary = (emails as Array<{ email?: unknown; primary?: unknown; verified?: unknown }>).find((e) => e.primary === true);
    if (primary?.verified !== true || typeof primary.email !== 'string')
      throw new LoginError('GitHub did not share a verified primary email address: verify your primary email on GitHub, then sign in again.');
    const login = user.login as string;
    const [orgs, teams] = await Promise.all([
      this.memberOf(this.settings.allowedOrgs, (org) => `/user/memberships/orgs/${encodeURIComponent(org)}`, token),
      this.memberOf(
        this.settings.allowedTeams.map((t) => `${t.org}/${t.team}`),
        (slug) => {
          const [org, team] = slug.split('/');
          return `/orgs/${encodeURIComponent(org!)}/teams/${encodeURIComponent(team!)}/memberships/${encodeURIComponent(login)}`;
        },
        token,
      ),
    ]);
    return {
      issuer: this.issuer,
      subject: String(user.id),
      email: primary.email.toLowerCase(),
      emailVerified: true,
      name: (typeof user.name === 'string' ? user.name : login).slice(0, 128),
      login,
      orgs,
      teams,
    };
  }

  /** Which of `names` the user is an active member of, each asked by its own membership endpoint (no paging, no 30-item limit). */
  private async memberOf(names: string[], path: (name: string) => string, token: string): Promise<string[]> {
    const answers = await Promise.all(
      names.map(async (name) => {
        const membership = await this.api(token, path(name), { notFound: true });
        return membership?.state === 'active' ? name : null;
      }),
    );
    return answers.filter((n): n is string => n !== null);
  }

  /** A JSON value from the API; with `notFound`, a 404 or 403 (not a member, not visible) is null. */
  private async api(token: string, path: string, options: { notFound?: boolean } = {}): Promise<Record<string, unknown> | null> {
    let response: Response;
    try {
      response = await fetch(`${this.settings.apiUrl.replace(/\/+$/, '')}${path}`, {
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/vnd.github+json',
          'x-github-api-version': '2022-11-28',
          'user-agent': 'matrixos-platform',
        },
        signal: AbortSignal.timeout(API_TIMEOUT_MS),
        redirect: 'error',
      });
    } catch (err) {
      throw new GitHubUnavailableError(`GET ${path}: ${(err as Error).message}`, err);
    }
    if (response.status >= 500 || response.status === 429 || (response.status === 403 && response.headers.get('x-ratelimit-remaining') === '0'))
      throw new GitHubUnavailableError(`GET ${path}: HTTP ${response.status}`);
    if (options.notFound && (response.status === 404 || response.status === 403)) return null;
    if (!response.ok)
      throw new LoginError(
        `GitHub refused to share your account details (${path}: HTTP ${response.status}). Start again and authorize every permission asked.`,
      );
    try {
      return (await response.json()) as Record<string, unknown>;
    } catch (err) {
      throw new GitHubUnavailableError(`GET ${path}: not JSON`, err);
    }
  }
}

/** The body of a token response without an access token, wherever openid-client keeps it (its cause, or the cause's cause). */
function tokenErrorBody(err: unknown): { error?: unknown } | undefined {
  for (let cause: unknown = err, depth = 0; cause && depth < 4; cause = (cause as { cause?: unknown }).cause, depth++) {
    const body = (cause as { body?: unknown }).body;
    if (body && typeof body === 'object' && 'error' in body) return body as { error?: unknown };
  }
  return undefined;
}
