/**
 * The shell's HTML: a home page and error pages. Self-contained (inline CSS, no
 * scripts, no external assets) so it renders under a `default-src 'none'` policy.
 */

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
`;

export interface HomePageDetails {
  handle: string;
  version: string;
}

export function renderHomePage({ handle, version }: HomePageDetails): string {
  return layout(
    `Matrix OS — ${handle}`,
    `<h1>Matrix OS — ${escapeHtml(handle)}</h1>
    <dl>
      <dt>Handle</dt><dd>${escapeHtml(handle)}</dd>
      <dt>Version</dt><dd><code>${escapeHtml(version)}</code></dd>
    </dl>
    <p class="note">This is the reference Matrix OS instance: a small stand-in for the full Matrix OS image,
    used for local development and platform tests. It serves this page, a file API and a WebSocket echo endpoint.</p>`,
  );
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
