/**
 * A GitHub double: the OAuth web flow of an OAuth app and the few REST API calls the
 * platform makes, over real HTTP on 127.0.0.1, answering as github.com does (docs:
 * "Authorizing OAuth apps", "REST API endpoints for users, emails, orgs, teams"):
 *
 * - `GET /login/oauth/authorize`: an unknown client_id is a 404 page; a redirect_uri
 *   that is not under the app's callback URL comes back as `error=redirect_uri_mismatch`;
 *   otherwise a page where the person picks who they are and authorizes or cancels
 *   (cancel: `error=access_denied&error_description=The+user+has+denied+your+application+access.`).
 *   PKCE (`code_challenge`, S256 or plain) is honoured when sent.
 * - `POST /login/oauth/access_token`: client credentials in the body or Basic auth; the
 *   answer is JSON only with `Accept: application/json` (else form-encoded, as GitHub);
 *   every failure is **HTTP 200** with `{error, error_description, error_uri}`:
 *   `bad_verification_code` (unknown, used, expired or PKCE mismatch),
 *   `incorrect_client_credentials`, `redirect_uri_mismatch`. A code is single-use and
 *   lives 10 minutes.
 * - The API under `/api` (as GitHub Enterprise serves it): `GET /user` (the public email
 *   only, null when private), `/user/emails` (scope user:email), `/user/memberships/orgs/{org}`
 *   and `/orgs/{org}/teams/{team}/memberships/{username}` (scope read:org; 404 when not a
 *   member); 401 `{message: "Bad credentials"}`; 403
 *   without a User-Agent; `X-OAuth-Scopes` on answers.
 * - Faults: `failNext(path, status, body)`, `down()` / `up()`.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GitHubUser {
  login: string;
  id: number;
  name: string | null;
  emails: Array<{ email: string; primary: boolean; verified: boolean }>;
  orgs?: string[];
  /** `org/team-slug`. */
  teams?: string[];
}

export interface GitHubDouble {
  url: string;
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  /** What the app is registered with: redirect_uri must start with it. */
  callbackUrl: string;
  addUser(user: GitHubUser): void;
  /** Requests received: method and path (no query). */
  readonly requests: Array<{ method: string; path: string }>;
  failNext(path: string, status: number, body?: string): void;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

const DOCS = 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors';
const CODE_TTL_MS = 10 * 60_000;

interface Grant {
  user: GitHubUser;
  clientId: string;
  redirectUri: string;
  scope: string;
  challenge: { value: string; method: 'S256' | 'plain' } | null;
  expiresAt: number;
}

export async function startGitHubDouble(options: { callbackUrl: string }): Promise<GitHubDouble> {
  const clientId = `Iv1.${crypto.randomBytes(8).toString('hex')}`;
  const clientSecret = crypto.randomBytes(20).toString('hex');
  const users = new Map<string, GitHubUser>();
  const codes = new Map<string, Grant>();
  const tokens = new Map<string, { user: GitHubUser; scope: string }>();
  const requests: Array<{ method: string; path: string }> = [];
  const faults: Array<{ path: string; status: number; body: string }> = [];
  let port = 0;
  const base = () => `http://127.0.0.1:${port}`;

  const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body));
  };
  const html = (res: http.ServerResponse, status: number, body: string) =>
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><html><body>${body}</body></html>`);
  const redirectWith = (res: http.ServerResponse, uri: string, params: Record<string, string>) => {
    const target = new URL(uri);
    for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
    res.writeHead(302, { location: target.href }).end();
  };
  const readBody = (req: http.IncomingMessage) =>
    new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });

  const authorize = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => {
    const q = url.searchParams;
    if (q.get('client_id') !== clientId) return html(res, 404, '<h1>404</h1><p>This is not the web page you are looking for.</p>');
    const redirectUri = q.get('redirect_uri') ?? options.callbackUrl;
    const state = q.get('state') ?? '';
    if (!underCallback(redirectUri, options.callbackUrl))
      return redirectWith(res, options.callbackUrl, {
        error: 'redirect_uri_mismatch',
        error_description: 'The redirect_uri MUST match the registered callback URL for this application.',
        error_uri: DOCS,
        state,
      });
    if (req.method === 'POST') return undefined;
    const hidden = [...q.entries()].map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`).join('');
    return html(
      res,
      200,
      `<h1>Authorize application</h1><form method="post" action="/login/oauth/authorize/decision">${hidden}
<label for="login">Username</label><input id="login" name="login">
<button type="submit" name="decision" value="authorize">Authorize</button>
<button type="submit" name="decision" value="cancel">Cancel</button></form>`,
    );
  };

  const decide = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const form = new URLSearchParams(await readBody(req));
    const redirectUri = form.get('redirect_uri') ?? options.callbackUrl;
    const state = form.get('state') ?? '';
    if (form.get('client_id') !== clientId || !underCallback(redirectUri, options.callbackUrl)) return html(res, 400, '<p>Bad request</p>');
    if (form.get('decision') !== 'authorize')
      return redirectWith(res, redirectUri, {
        error: 'access_denied',
        error_description: 'The user has denied your application access.',
        error_uri: DOCS,
        state,
      });
    const user = users.get((form.get('login') ?? '').toLowerCase());
    if (!user) return html(res, 401, '<p>Incorrect username or password.</p>');
    const method = form.get('code_challenge_method');
    const code = crypto.randomBytes(10).toString('hex');
    codes.set(code, {
      user,
      clientId,
      redirectUri,
      scope: form.get('scope') ?? '',
      challenge: form.get('code_challenge') ? { value: form.get('code_challenge')!, method: method === 'S256' ? 'S256' : 'plain' } : null,
      expiresAt: Date.now() + CODE_TTL_MS,
    });
    return redirectWith(res, redirectUri, { code, state });
  };

  const accessToken = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const raw = await readBody(req);
    const params = (req.headers['content-type'] ?? '').includes('json') ? new URLSearchParams(JSON.parse(raw || '{}')) : new URLSearchParams(raw);
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const [basicId, basicSecret] = basic ? Buffer.from(basic, 'base64').toString('utf8').split(':').map(decodeURIComponent) : [];
    const id = params.get('client_id') ?? basicId;
    const secret = params.get('client_secret') ?? basicSecret;
    const wantsJson = (req.headers.accept ?? '').includes('json');
    // GitHub answers every token error with HTTP 200.
    const answer = (body: Record<string, string>) =>
      wantsJson
        ? json(res, 200, body)
        : res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }).end(new URLSearchParams(body).toString());
    if (id !== clientId || secret !== clientSecret)
      return answer({ error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.', error_uri: DOCS });
    const code = params.get('code') ?? '';
    const grant = codes.get(code);
    codes.delete(code);
    const verifier = params.get('code_verifier');
    const pkceOk =
      !grant?.challenge ||
      (verifier !== null &&
        (grant.challenge.method === 'S256' ? crypto.createHash('sha256').update(verifier).digest('base64url') : verifier) === grant.challenge.value);
    if (!grant || grant.expiresAt < Date.now() || !pkceOk)
      return answer({ error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.', error_uri: DOCS });
    const redirectUri = params.get('redirect_uri');
    if (redirectUri && redirectUri !== grant.redirectUri)
      return answer({
        error: 'redirect_uri_mismatch',
        error_description: 'The redirect_uri MUST match the registered callback URL for this application.',
        error_uri: DOCS,
      });
    const token = `gho_${crypto.randomBytes(18).toString('base64url')}`;
    tokens.set(token, { user: grant.user, scope: grant.scope });
    return answer({ access_token: token, token_type: 'bearer', scope: grant.scope.split(/[ ,]+/).filter(Boolean).join(',') });
  };

  const api = (req: http.IncomingMessage, res: http.ServerResponse, path: string) => {
    if (!req.headers['user-agent'])
      return json(res, 403, { message: 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header.' });
    const token = /^(?:Bearer|token) (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const session = token ? tokens.get(token) : undefined;
    if (!session) return json(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' });
    const scopes = session.scope.split(/[ ,]+/).filter(Boolean);
    const headers = { 'x-oauth-scopes': scopes.join(', ') };
    const { user } = session;
    // Only a public email shows on /user; these users keep theirs private, as most do.
    if (path === '/user') return json(res, 200, { login: user.login, id: user.id, name: user.name, email: null }, headers);
    if (path === '/user/emails') {
      if (!scopes.includes('user:email') && !scopes.includes('user'))
        return json(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/users/emails' }, headers);
      return json(
        res,
        200,
        user.emails.map((e) => ({ ...e, visibility: e.primary ? 'private' : null })),
        headers,
      );
    }
    const canReadOrgs = scopes.includes('read:org');
    const orgMembership = /^\/user\/memberships\/orgs\/([^/]+)$/.exec(path);
    if (orgMembership) {
      const org = decodeURIComponent(orgMembership[1]!).toLowerCase();
      if (!canReadOrgs || !(user.orgs ?? []).some((o) => o.toLowerCase() === org))
        return json(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/orgs/members' }, headers);
      return json(res, 200, { state: 'active', role: 'member', organization: { login: org }, user: { login: user.login } }, headers);
    }
    const teamMembership = /^\/orgs\/([^/]+)\/teams\/([^/]+)\/memberships\/([^/]+)$/.exec(path);
    if (teamMembership) {
      const [org, team, login] = teamMembership.slice(1).map((p) => decodeURIComponent(p).toLowerCase());
      const member = login === user.login.toLowerCase() && (user.teams ?? []).some((t) => t.toLowerCase() === `${org}/${team}`);
      if (!canReadOrgs || !member) return json(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/teams/members' }, headers);
      return json(res, 200, { state: 'active', role: 'member', url: `${base()}/api/orgs/${org}/teams/${team}/memberships/${login}` }, headers);
    }
    return json(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
  };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', base());
    requests.push({ method: req.method ?? 'GET', path: url.pathname });
    const faultAt = faults.findIndex((f) => f.path === url.pathname);
    if (faultAt !== -1) {
      const [fault] = faults.splice(faultAt, 1);
      return res.writeHead(fault!.status, { 'content-type': 'application/json' }).end(fault!.body);
    }
    if (url.pathname === '/login/oauth/authorize') return authorize(req, res, url);
    if (url.pathname === '/login/oauth/authorize/decision' && req.method === 'POST') return decide(req, res);
    if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') return accessToken(req, res);
    if (url.pathname.startsWith('/api/')) return api(req, res, url.pathname.slice(4));
    return json(res, 404, { message: 'Not Found' });
  });
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const listen = (at: number) => new Promise<void>((resolve) => server.listen(at, '127.0.0.1', resolve));
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  await listen(0);
  port = (server.address() as AddressInfo).port;

  return {
    url: base(),
    apiUrl: `${base()}/api`,
    clientId,
    clientSecret,
    callbackUrl: options.callbackUrl,
    requests,
    addUser: (user) => users.set(user.login.toLowerCase(), user),
    failNext: (path, status, body = JSON.stringify({ message: 'Server Error' })) => faults.push({ path, status, body }),
    down: stop,
    up: () => listen(port),
    close: async () => {
      if (server.listening) await stop();
    },
  };
}

/** GitHub's rule: the same scheme, host and port as the app's callback URL, and its path or a subpath of it. */
function underCallback(redirectUri: string, callbackUrl: string): boolean {
  try {
    const given = new URL(redirectUri);
    const registered = new URL(callbackUrl);
    const path = registered.pathname.replace(/\/+$/, '');
    return given.origin === registered.origin && (given.pathname === registered.pathname || given.pathname.startsWith(`${path}/`));
  } catch {
    return false;
  }
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
