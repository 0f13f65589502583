/**
 * The shell's HTML: a home page and error pages. Self-contained (inline CSS, no
 * scripts, no external assets) so it renders under a `default-src 'none'` policy.
 * Everything shown is rendered on the server; message text comes from other users,
 * so every value goes through escapeHtml.
 */
import type { InboxMessage } from './inbox.ts';
import type { MatrixStatus } from './matrix-sync.ts';

/** Sent with every shell page; only inline styles are allowed, nothing else may load. */
export const PAGE_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

const STYLE = `
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.5; }
  body { margin: 0; display: grid; min-height: 100vh; place-items: center; }
  main { max-width: 36rem; padding: 2rem; }
  h1 { font-size: 1.75rem; margin: 0 0 0.5rem; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; }
  dt { font-weight: 600; }
  dd { margin: 0; }
  code { font-family: ui-monospace, monospace; }
  .note { border-left: 4px solid #888; padding-left: 1rem; }
  h2 { font-size: 1.25rem; margin: 2rem 0 0.5rem; }
  .messages { list-style: none; padding: 0; }
  .messages li { border-top: 1px solid #8884; padding: 0.5rem 0; }
  .messages .meta { font-size: 0.875rem; opacity: 0.8; margin: 0; }
  .messages .body { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0.25rem 0 0; }
`;

/** The home page shows at most this many messages; GET /api/social/inbox has the rest. */
export const HOME_PAGE_MESSAGES = 50;

export interface HomePageDetails {
  handle: string;
  version: string;
  /** Oldest first, as the inbox lists them. */
  messages: readonly InboxMessage[];
  matrix: MatrixStatus;
  /** The platform's address: the page links back to its dashboard. */
  platformUrl?: string | undefined;
}

export function renderHomePage({ handle, version, messages, matrix, platformUrl }: HomePageDetails): string {
  return layout(
    `Matrix OS — ${handle}`,
    `${platformUrl ? `<p><a href="${escapeHtml(platformUrl)}/dashboard">← Your dashboard</a></p>` : ''}
    <h1>Matrix OS — ${escapeHtml(handle)}</h1>
    <dl>
      <dt>Handle</dt><dd>${escapeHtml(handle)}</dd>
      <dt>Version</dt><dd><code>${escapeHtml(version)}</code></dd>
    </dl>
    <p class="note">This is the reference Matrix OS instance: a small stand-in for the full Matrix OS image,
    used for local development and platform tests. It serves this page, a file API, a social API and a WebSocket echo endpoint.</p>
    ${renderMessages(messages, matrix)}`,
  );
}

function renderMessages(messages: readonly InboxMessage[], matrix: MatrixStatus): string {
  const shown = messages.slice(-HOME_PAGE_MESSAGES).reverse();
  const list =
    shown.length === 0
      ? '<p>No messages yet.</p>'
      : `<ol class="messages">${shown
          .map(
            (m) => `
      <li><p class="meta"><strong>${escapeHtml(m.from)}</strong> · <time datetime="${escapeHtml(m.receivedAt)}">${escapeHtml(displayTime(m.receivedAt))}</time></p>
      <p class="body">${escapeHtml(m.body)}</p></li>`,
          )
          .join('')}
    </ol>`;
  const more =
    messages.length > shown.length ? `<p>The ${shown.length} newest of ${messages.length}; <code>GET /api/social/inbox</code> lists them all.</p>` : '';
  return `<h2>AI messages</h2>
    <p>${receivingStatus(matrix)}</p>
    ${list}
    ${more}
    <p class="note">To message another user's AI, send <code>POST /api/social/send</code> to the gateway with the instance token and
    <code>{"to": "&lt;handle&gt;", "text": "…"}</code>; the platform delivers it.</p>`;
}

function receivingStatus(matrix: MatrixStatus): string {
  if (!matrix.configured) return 'Receiving is off: the platform has not given this instance a Matrix account yet.';
  const account = `<code>${escapeHtml(matrix.userId ?? '')}</code>`;
  if (matrix.lastError === null) return `Messages to ${account}, newest first.`;
  const state = matrix.syncing ? 'retrying after an error' : 'stopped';
  return `Messages to ${account}, newest first. Receiving is ${state}: ${escapeHtml(matrix.lastError)}`;
}

/** "2026-12-05 13:13 UTC"; the stored text as is if it is not a date. */
function displayTime(iso: string): string {
  const time = new Date(iso);
  return Number.isNaN(time.getTime()) ? iso : `${time.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function renderNotFoundPage(pathname: string): string {
  return layout(
    'Page not found',
    `<h1>Page not found</h1>
    <p>There is nothing at <code>${escapeHtml(pathname)}</code>. <a href="/">Go to the home page</a>.</p>`,
  );
}

export function renderUnauthorizedPage(): string {
  return layout(
    'Sign-in required',
    `<h1>Sign-in required</h1>
    <p>This Matrix OS instance needs its access token. Send <code>Authorization: Bearer &lt;instance token&gt;</code>,
    or set a <code>matrix_token</code> cookie holding the token for this host.</p>`,
  );
}

/** `message` is shown to the visitor: pass only text that is safe and useful to them. */
export function renderErrorPage(title: string, message: string): string {
  return layout(
    title,
    `<h1>${escapeHtml(title)}</h1>
    <p>${escapeHtml(message)}</p>`,
  );
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escapeHtml(title)}</title>
  <style>${STYLE}</style>
</head>
<body>
  <main>
    ${body}
  </main>
</body>
</html>
`;
}
