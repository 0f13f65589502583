import test from 'ava';

import { escapeHtml } from '../../instance/home-page.ts';
import { auth, rawRequest, startTestInstance, TOKEN } from './_instance.ts';

test('the shell answers /health without a token', async (t) => {
  const { shell } = await startTestInstance(t, { handle: 'bob' });
  const res = await fetch(`${shell}/health`);
  t.is(res.status, 200);
  t.deepEqual(await res.json(), { status: 'ok', handle: 'bob' });
});

test('the shell home page requires the token and answers 401 with an HTML explanation', async (t) => {
  const { shell } = await startTestInstance(t);
  const res = await fetch(`${shell}/`);
  t.is(res.status, 401);
  t.is(res.headers.get('www-authenticate'), 'Bearer');
  t.is(res.headers.get('content-type'), 'text/html; charset=utf-8');
  const html = await res.text();
  t.regex(html, /Authorization: Bearer &lt;instance token&gt;/);
  t.regex(html, /matrix_token/);
  t.is((await fetch(`${shell}/`, { headers: { Cookie: 'matrix_token=wrong' } })).status, 401);
});

test('the home page names the handle and version and says it is the reference instance', async (t) => {
  const { shell } = await startTestInstance(t, { handle: 'alice', version: '9.9.9' });
  const res = await fetch(`${shell}/`, { headers: auth() });
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), 'text/html; charset=utf-8');
  t.regex(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  const html = await res.text();
  t.regex(html, /<html lang="en">/);
  t.regex(html, /<title>Matrix OS — alice<\/title>/);
  t.regex(html, /<h1>Matrix OS — alice<\/h1>/);
  t.regex(html, /9\.9\.9/);
  t.regex(html, /reference Matrix OS instance/);
  t.notRegex(html, /<script|<link|src=|https?:\/\//, 'no external assets or scripts');
});

test('browsers in single-user mode can authenticate with the matrix_token cookie', async (t) => {
  const { shell } = await startTestInstance(t);
  const res = await fetch(`${shell}/`, { headers: { Cookie: `theme=dark; matrix_token=${encodeURIComponent(TOKEN)}` } });
  t.is(res.status, 200);
  t.regex(await res.text(), /Matrix OS — local/);
});

test('any other shell path is a 404 HTML page', async (t) => {
  const { instance } = await startTestInstance(t);
  const res = await rawRequest(instance.shellPort, 'GET', '/apps/<x>', auth());
  t.is(res.status, 404);
  t.is(res.headers['content-type'], 'text/html; charset=utf-8');
  const html = res.body;
  t.regex(html, /Page not found/);
  t.regex(html, /\/apps\/&#60;x&#62;/, 'the path is escaped');
});

test('the shell answers 405 with an Allow header to a POST on the home page', async (t) => {
  const { shell } = await startTestInstance(t);
  const res = await fetch(`${shell}/`, { method: 'POST', headers: auth() });
  t.is(res.status, 405);
  t.is(res.headers.get('allow'), 'GET, HEAD');
  t.regex(await res.text(), /<h1>Method Not Allowed<\/h1>/);
});

test('escapeHtml neutralises markup characters', (t) => {
  t.is(escapeHtml(`<a href="x">'&'</a>`), '&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;');
});
