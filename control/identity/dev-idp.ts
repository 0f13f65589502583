/**
 * The embedded development identity provider: oidc-provider on its own port (9100),
 * used only when OIDC_ISSUER is unset and not in production. Its sign-in page takes
 * any email, says loudly that it is for development, and loads nothing from outside.
 * The platform logs in through it with the same openid-client code as with any issuer.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration } from 'oidc-provider';
import { readForm } from '../web/body.ts';
import { toClientError } from '../web/errors.ts';
import { escapeHtml, page } from '../web/html.ts';
import { PAGE_SECURITY_HEADERS } from '../web/security-headers.ts';

interface DevIdpOptions {
  host: string;
  port: number;
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  /** Signs the provider's own cookies. */
  cookieKey: string;
  /** Where error pages send people back to. */
  platformUrl: string;
}

export interface DevIdp {
  issuer: string;
  close(): Promise<void>;
}

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

export async function startDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${options.host === '0.0.0.0' ? '127.0.0.1' : options.host}:${port}`;

  const configuration: Configuration = {
    clients: [
      {
        client_id: options.clientId,
        client_secret: options.clientSecret,
        redirect_uris: options.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    cookies: { keys: [options.cookieKey] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    ttl: { Interaction: 600, Session: 14 * 86_400, Grant: 14 * 86_400, AuthorizationCode: 60, AccessToken: 3600, IdToken: 3600 },
    // The account id is the email itself: any email signs in.
    findAccount: (_ctx, id) => ({
      accountId: id,
      claims: () => ({ sub: id, email: id, email_verified: true, name: id.split('@')[0] }),
    }),
    // First-party client: the user is never asked to consent to the platform.
    loadExistingGrant: async (ctx) => {
      const { oidc } = ctx;
      const grantId = oidc.result?.consent?.grantId ?? oidc.session!.grantIdFor(oidc.client!.clientId);
      if (grantId) return oidc.provider.Grant.find(grantId);
      const grant = new oidc.provider.Grant({ clientId: oidc.client!.clientId, accountId: oidc.session!.accountId! });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.set(PAGE_SECURITY_HEADERS);
      ctx.body = errorPage(String(out.error_description ?? out.error), options.platformUrl);
    },
  };
  const provider = new Provider(issuer, configuration);
  const callback = provider.callback();

  server.on('request', (req, res) => {
    const match = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec((req.url ?? '').split('?')[0]!);
    if (!match) return callback(req, res);
    void interaction(provider, req, res, Boolean(match[2])).catch((err) => {
      const error = toClientError(err);
      res.writeHead(error.status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...PAGE_SECURITY_HEADERS });
      res.end(errorPage(error.message, options.platformUrl));
    });
  });

  return {
    issuer,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function interaction(provider: Provider, req: http.IncomingMessage, res: http.ServerResponse, submitted: boolean): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (!submitted || req.method !== 'POST') return loginForm(res, details.uid, null);
  const body = await readForm(req, 8192);
  const email = (body.get('email') ?? '').trim().toLowerCase();
  if (!EMAIL.test(email)) return loginForm(res, details.uid, 'Enter an email address, like you@example.com.');
  await provider.interactionFinished(req, res, { login: { accountId: email } }, { mergeWithLastSubmission: false });
}

function loginForm(res: http.ServerResponse, uid: string, problem: string | null): void {
  const body = page(
    'Development sign-in',
    `<p class="error" role="alert"><strong>Development only.</strong> This identity provider signs in <em>any</em> email without a password. A production platform uses a real OpenID Connect provider (OIDC_ISSUER).</p>
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label for="email">Email</label><br>
<input id="email" name="email" type="email" required autocomplete="email" autofocus ${problem ? 'aria-invalid="true" aria-describedby="problem"' : ''}>
${problem ? `<p id="problem" class="error">${escapeHtml(problem)}</p>` : ''}
<p><button type="submit">Sign in</button></p>
</form>`,
  );
  res.writeHead(problem ? 400 : 200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...PAGE_SECURITY_HEADERS });
  res.end(body);
}

function errorPage(message: string, platformUrl: string): string {
  return page('Sign-in error', `<p>${escapeHtml(message)}</p><p><a href="${escapeHtml(platformUrl)}">Back to the platform</a> to start again.</p>`);
}
