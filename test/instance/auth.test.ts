import test from 'ava';

import { bearerToken, cookieValue, createAuthenticator } from '../../instance/auth.ts';
import { ConfigError } from '../../instance/config.ts';
import { startInstance } from '../../instance/server.ts';
import { waitUntil } from '../helpers/wait.ts';
import { auth, capturingLogger, startTestInstance, TOKEN, tempDir } from './_instance.ts';

test('GET and HEAD /health answer 200 without a token', async (t) => {
  const { gateway } = await startTestInstance(t, { handle: 'alice' });
  const res = await fetch(`${gateway}/health`);
  t.is(res.status, 200);
  t.deepEqual(await res.json(), { status: 'ok', handle: 'alice' });
  const head = await fetch(`${gateway}/health`, { method: 'HEAD' });
  t.is(head.status, 200);
  t.is(await head.text(), '');
});

test('a request without a token gets 401 JSON that says how to authenticate', async (t) => {
  const { gateway } = await startTestInstance(t);
  const res = await fetch(`${gateway}/api/system/info`);
  t.is(res.status, 401);
  t.is(res.headers.get('www-authenticate'), 'Bearer');
  const body = (await res.json()) as { error: { code: string; message: string } };
  t.is(body.error.code, 'unauthorized');
  t.regex(body.error.message, /send Authorization: Bearer <instance token>/);
});

test('a wrong token, a token of another length and a non-Bearer scheme are all rejected', async (t) => {
  const { gateway } = await startTestInstance(t);
  for (const header of [`Bearer ${TOKEN.slice(0, -1)}x`, 'Bearer short', `Basic ${TOKEN}`, TOKEN, 'Bearer']) {
    const res = await fetch(`${gateway}/api/files`, { headers: { Authorization: header } });
    t.is(res.status, 401, header);
  }
});

test('the right token is accepted, with the scheme in any case', async (t) => {
  const { gateway } = await startTestInstance(t);
  t.is((await fetch(`${gateway}/api/files`, { headers: auth() })).status, 200);
  t.is((await fetch(`${gateway}/api/files`, { headers: { Authorization: `bearer ${TOKEN}` } })).status, 200);
});

test('HTTP routes do not accept the token as a query parameter or cookie', async (t) => {
  const { gateway } = await startTestInstance(t);
  t.is((await fetch(`${gateway}/api/files?token=${TOKEN}`)).status, 401);
  t.is((await fetch(`${gateway}/api/files`, { headers: { Cookie: `matrix_token=${TOKEN}` } })).status, 401);
});

test('unknown routes need the token too, so they cannot be probed anonymously', async (t) => {
  const { gateway } = await startTestInstance(t);
  t.is((await fetch(`${gateway}/nope`)).status, 401);
  t.is((await fetch(`${gateway}/nope`, { headers: auth() })).status, 404);
});

test('request logs carry neither the Authorization header nor a query-string token', async (t) => {
  const { gateway, logs } = await startTestInstance(t);
  await fetch(`${gateway}/api/files?token=${TOKEN}`, { headers: auth() });
  await fetch(`${gateway}/api/system/info`, { headers: auth('wrong-token') });
  // A request is logged when its response closes, which may be just after the client has it.
  await waitUntil(() => logs.requests.some((e) => e.path === '/api/files') && logs.requests.some((e) => e.path === '/api/system/info'), {
    message: 'both requests to be logged',
  });
  t.true(logs.requests.some((entry) => entry.path === '/api/files' && entry.status === 200));
  const logged = JSON.stringify(logs);
  t.false(logged.includes(TOKEN));
  t.false(logged.includes('wrong-token'));
  t.false(logged.includes('?'));
});

test('without a token in development every request is allowed and a loud warning is printed', async (t) => {
  const { gateway, logs } = await startTestInstance(t, { authToken: undefined });
  t.is((await fetch(`${gateway}/api/files`)).status, 200);
  t.is(logs.warnings.length, 1);
  t.regex(logs.warnings[0]!, /MATRIX_AUTH_TOKEN is not set.*UNAUTHENTICATED/);
});

test('with a token set no warning is printed', async (t) => {
  const { logs } = await startTestInstance(t);
  t.deepEqual(logs.warnings, []);
});

test('startInstance refuses to run unauthenticated in production', async (t) => {
  const dataDir = await tempDir(t);
  const error = await t.throwsAsync(startInstance({ dataDir, production: true, port: 0, shellPort: 0, logger: capturingLogger() }), {
    instanceOf: ConfigError,
  });
  t.is(error?.message, 'MATRIX_AUTH_TOKEN is required in production: set it to a long random string');
});

test('bearerToken extracts the token and rejects other schemes', (t) => {
  t.is(bearerToken('Bearer abc.def-123'), 'abc.def-123');
  t.is(bearerToken('BEARER   abc '), 'abc');
  t.is(bearerToken('Basic abc'), undefined);
  t.is(bearerToken('Bearer a b'), undefined);
  t.is(bearerToken(undefined), undefined);
});

test('cookieValue finds a cookie among others and decodes it', (t) => {
  t.is(cookieValue('a=1; matrix_token=t%2Fk; b=2', 'matrix_token'), 't/k');
  t.is(cookieValue('xmatrix_token=1', 'matrix_token'), undefined);
  t.is(cookieValue(undefined, 'matrix_token'), undefined);
});

test('the authenticator accepts the cookie or query token only when that source is enabled', (t) => {
  const authenticator = createAuthenticator('secret');
  const cookieHeaders = { cookie: 'matrix_token=secret' };
  t.false(authenticator.isAuthorized(cookieHeaders));
  t.true(authenticator.isAuthorized(cookieHeaders, { cookie: true }));
  t.false(authenticator.isAuthorized({}, { query: new URLSearchParams('token=nope') }));
  t.true(authenticator.isAuthorized({}, { query: new URLSearchParams('token=secret') }));
  t.true(authenticator.isAuthorized({ authorization: 'Bearer wrong' }, { query: new URLSearchParams('token=secret') }));
});
