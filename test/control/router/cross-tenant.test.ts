import net from 'node:net';
import test from 'ava';
import { type RouterFixture, startRouterFixture } from '../../helpers/router.ts';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Raw bytes on a socket: for request shapes an HTTP client library would not send. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(text));
    let out = '';
    socket.on('data', (c) => (out += String(c)));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
  });
}

function nothingReached(t: import('ava').ExecutionContext, f: RouterFixture, handle: string): void {
  t.deepEqual(
    f.echo.get(handle)!.seen.map((s) => s.url),
    [],
    `nothing may reach ${handle}`,
  );
}

test("alice's token and alice's session cookie do not open bob's instance, by host or by path", async (t) => {
  const f = await startRouterFixture(t, ['alice', 'bob']);
  const aliceCookie = await f.signIn('alice');
  const bobHost = `bob.localhost:${f.port}`;
  t.is((await f.send({ host: bobHost, path: '/', headers: bearer(f.token('alice')) })).status, 401);
  t.is((await f.send({ host: bobHost, path: '/api/x', headers: { cookie: aliceCookie } })).status, 401);
  t.is((await f.send({ host: `localhost:${f.port}`, path: '/proxy/bob/api/x', headers: bearer(f.token('alice')) })).status, 401);
  // A session cookie never counts on the apex, even alice's own for alice.
  t.is((await f.send({ host: `localhost:${f.port}`, path: '/proxy/alice/api/x', headers: { cookie: aliceCookie } })).status, 401);
  // Tokens of another generation, truncated or padded tokens, and other schemes.
  for (const authorization of [
    `Bearer ${f.token('bob', 2)}`,
    `Bearer ${f.token('bob').slice(0, -1)}`,
    `Bearer ${f.token('bob')}x`,
    `Basic ${f.token('bob')}`,
    `bearer${f.token('bob')}`,
    `Bearer ${'é'.repeat(f.token('bob').length)}`,
  ]) {
    t.is((await f.send({ host: bobHost, path: '/', headers: { authorization } })).status, 401, authorization);
  }
  nothingReached(t, f, 'bob');
  t.is((await f.send({ host: bobHost, path: '/', headers: bearer(f.token('bob')) })).status, 200);
});

test('an unauthenticated browser gets a sign-in page, an API client a 401 with WWW-Authenticate, and nothing wakes', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  const html = await f.send({ host: `alice.localhost:${f.port}`, path: '/notes', headers: { accept: 'text/html' } });
  t.is(html.status, 401);
  t.regex(html.text, /href="http:\/\/localhost:\d+\/open\/alice\?next=%2Fnotes"/);
  const api = await f.send({ host: `alice.localhost:${f.port}`, path: '/api/x' });
  t.is(api.status, 401);
  t.regex(String(api.headers['www-authenticate']), /^Bearer/);
  t.regex(api.json<{ error: { message: string } }>().error.message, /Authorization: Bearer/);
  nothingReached(t, f, 'alice');
});

test('traversal, absolute-form targets, repeated Host headers and bad hosts are refused before routing', async (t) => {
  const f = await startRouterFixture(t, ['alice', 'bob']);
  const token = f.token('alice');
  for (const path of [
    '/proxy/alice/../bob/api/x',
    '/proxy/alice/%2e%2e/bob/',
    '/proxy/alice/%2E%2E%2Fbob/x',
    '/proxy/alice/.%2e/bob',
    '/proxy/alice/a/..',
    '/proxy/al%69ce/x',
    '/proxy/../proxy/bob/',
    '/proxy/bob%2f..%2falice/',
  ]) {
    const r = await f.send({ host: `localhost:${f.port}`, path, headers: bearer(token) });
    t.is(r.status, 400, path);
  }
  for (const path of ['/../x', '/a/%2e%2e/b', '/a\\..\\b']) {
    t.is((await f.send({ host: `alice.localhost:${f.port}`, path, headers: bearer(token) })).status, 400, path);
  }
  const absolute = await rawRequest(
    f.port,
    `GET http://bob.localhost:${f.port}/api/x HTTP/1.1\r\nHost: alice.localhost:${f.port}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
  );
  t.regex(absolute, /^HTTP\/1\.1 400/);
  t.regex(absolute, /origin form/);
  const twoHosts = await rawRequest(
    f.port,
    `GET /api/x HTTP/1.1\r\nHost: alice.localhost:${f.port}\r\nHost: bob.localhost:${f.port}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
  );
  t.regex(twoHosts, /^HTTP\/1\.1 400/);
  const noHost = await rawRequest(f.port, `GET /api/x HTTP/1.0\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  t.regex(noHost, /^HTTP\/1\.1 400/);
  const badHost = await rawRequest(f.port, `GET /api/x HTTP/1.1\r\nHost: alice.localhost@bob.localhost\r\nConnection: close\r\n\r\n`);
  t.regex(badHost, /^HTTP\/1\.1 400/);
  nothingReached(t, f, 'bob');
  nothingReached(t, f, 'alice');
});

test('X-Forwarded-* from a client are replaced; a trusted proxy may extend them, but never name the host', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  const spoof = {
    'x-forwarded-for': '6.6.6.6',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'bob.localhost',
    forwarded: 'for=6.6.6.6',
    'x-real-ip': '6.6.6.6',
  };
  const r = await f.send({ host: `alice.localhost:${f.port}`, path: '/api/x', headers: { ...bearer(f.token('alice')), ...spoof } });
  const seen = r.json<{ headers: Record<string, string>; rawHeaders: string[] }>();
  t.is(seen.headers['x-forwarded-for'], '127.0.0.1');
  t.is(seen.headers['x-forwarded-proto'], 'http');
  t.is(seen.headers['x-forwarded-host'], `alice.localhost:${f.port}`);
  t.is(seen.headers.forwarded, undefined);
  t.is(seen.headers['x-real-ip'], undefined);
  t.is(seen.rawHeaders.filter((h) => h.toLowerCase() === 'x-forwarded-for').length, 1);

  const trusted = await startRouterFixture(t, ['carol'], { TRUSTED_PROXIES: '127.0.0.0/8' });
  const via = await trusted.send({ host: `carol.localhost:${trusted.port}`, path: '/api/x', headers: { ...bearer(trusted.token('carol')), ...spoof } });
  const seenVia = via.json<{ headers: Record<string, string> }>().headers;
  t.is(seenVia['x-forwarded-for'], '6.6.6.6, 127.0.0.1');
  t.is(seenVia['x-forwarded-proto'], 'https');
  t.is(seenVia['x-forwarded-host'], `carol.localhost:${trusted.port}`);
});

test('platform cookies and the client credential never reach the instance; the instance sees the router token only', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  const cookie = await f.signIn('alice');
  const r = await f.send({
    host: `alice.localhost:${f.port}`,
    path: '/api/x',
    headers: { cookie: `${cookie}; own=1; mxos_site=platform-session; __Host-mxos_csrf=x; theirs=2`, 'proxy-authorization': 'Basic eA==' },
  });
  t.is(r.status, 200);
  const seen = r.json<{ headers: Record<string, string> }>().headers;
  t.is(seen.cookie, 'own=1; theirs=2');
  t.is(seen['proxy-authorization'], undefined);
  t.regex(seen.authorization!, /^Bearer mxr_/);
  const viaToken = await f.send({ host: `alice.localhost:${f.port}`, path: '/api/x', headers: { ...bearer(f.token('alice')), cookie: 'mxos_session=x' } });
  const seen2 = viaToken.json<{ headers: Record<string, string> }>().headers;
  t.false(JSON.stringify(seen2).includes(f.token('alice')), 'the user token is not passed on');
  t.is(seen2.cookie, undefined);
});

test('Set-Cookie with a Domain attribute or a platform name is dropped; the path form drops every cookie and is sandboxed', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  const r = await f.send({ host: `alice.localhost:${f.port}`, path: '/cookies', headers: bearer(f.token('alice')) });
  t.deepEqual(r.headers['set-cookie'], ['own=1; Path=/; HttpOnly']);
  t.is(r.headers['content-security-policy'], undefined);
  const viaPath = await f.send({ host: `localhost:${f.port}`, path: '/proxy/alice/cookies', headers: bearer(f.token('alice')) });
  t.is(viaPath.status, 200);
  t.is(viaPath.headers['set-cookie'], undefined);
  t.regex(String(viaPath.headers['content-security-policy']), /^sandbox /);
  t.notRegex(String(viaPath.headers['content-security-policy']), /allow-same-origin/);
});

test('hop-by-hop headers, including those named in Connection, are removed both ways', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  const r = await f.send({
    host: `alice.localhost:${f.port}`,
    path: '/hop',
    headers: {
      ...bearer(f.token('alice')),
      connection: 'x-private, keep-alive',
      'x-private': 'secret',
      'keep-alive': 'timeout=1',
      te: 'trailers',
      'x-normal': 'kept',
    },
  });
  t.is(r.status, 200);
  t.is(r.headers['x-secret-hop'], undefined);
  t.is(r.headers['x-kept'], 'yes');
  const echoed = await f.send({
    host: `alice.localhost:${f.port}`,
    path: '/api/x',
    headers: { ...bearer(f.token('alice')), connection: 'x-private', 'x-private': 'secret', te: 'trailers', 'x-normal': 'kept' },
  });
  const seen = echoed.json<{ headers: Record<string, string> }>().headers;
  t.is(seen['x-private'], undefined);
  t.is(seen.te, undefined);
  t.is(seen['x-normal'], 'kept');
});
