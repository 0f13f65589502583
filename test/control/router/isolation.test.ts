/**
 * Tenant isolation at the router: what a page on one tenant's host can make a browser
 * do, and what a tenant serves, never reaches another tenant or the platform.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import test from 'ava';
import WebSocket from 'ws';
import { startRouterFixture, waitForRoute } from '../../helpers/router.ts';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

test("an instance cookie counts for a write or a WebSocket only from the instance's own page", async (t) => {
  const f = await startRouterFixture(t, ['alice', 'bob']);
  const cookie = await f.signIn('alice');
  const host = `alice.localhost:${f.port}`;
  const own = `http://${host}`;
  const post = (headers: Record<string, string>) => f.send({ host, path: '/api/notes', method: 'POST', headers, body: 'x' });
  t.is((await post({ cookie, origin: own })).status, 200, 'from its own page');
  t.is((await post({ cookie, origin: `http://bob.localhost:${f.port}` })).status, 403, "from bob's page (same site, other origin)");
  t.is((await post({ cookie, origin: 'null' })).status, 403, 'from a sandboxed page');
  t.is((await post({ cookie })).status, 403, 'with no Origin at all');
  t.is((await post(bearer(f.token('alice')))).status, 200, 'a bearer token needs no Origin: browsers never send it by themselves');
  t.is((await f.send({ host, path: '/api/notes', headers: { cookie } })).status, 200, 'reads stay as they are');

  const seenBefore = f.echo.get('alice')!.seen.filter((s) => s.method === 'UPGRADE').length;
  for (const origin of [`http://bob.localhost:${f.port}`, undefined]) {
    const ws = new WebSocket(`ws://127.0.0.1:${f.port}/ws`, { headers: { host, cookie, ...(origin ? { origin } : {}) } });
    const status = await new Promise<number>((resolve) => ws.once('unexpected-response', (_req, res) => resolve(res.statusCode!)));
    t.is(status, 403, `a WebSocket with alice's cookie from ${origin ?? 'no origin'}`);
  }
  t.is(f.echo.get('alice')!.seen.filter((s) => s.method === 'UPGRADE').length, seenBefore, 'alice never saw those upgrades');
  const notes = f.echo.get('alice')!.seen.filter((s) => s.method === 'POST');
  t.is(notes.length, 2, 'only the two legitimate writes reached alice');
});

test('a login code is spent only by a top-level navigation; a fetch, an image or a frame leaves it unspent', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  const host = `alice.localhost:${f.port}`;
  const link = (await (await f.platform.api('/containers/alice/login-link', { method: 'POST', json: { userId: 'user-alice' } })).json()) as { url: string };
  const path = new URL(link.url).pathname + new URL(link.url).search;
  for (const [mode, dest] of [
    ['cors', 'empty'],
    ['no-cors', 'image'],
    ['navigate', 'iframe'],
    ['no-cors', 'script'],
  ]) {
    const r = await f.send({ host, path, headers: { 'sec-fetch-mode': mode!, 'sec-fetch-dest': dest!, 'sec-fetch-site': 'same-site' } });
    t.is(r.status, 403, `${mode} ${dest}`);
    t.is(r.headers['set-cookie'], undefined);
  }
  const opened = await f.send({ host, path, headers: { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', 'sec-fetch-site': 'same-site' } });
  t.is(opened.status, 303, 'the code was still good for the real navigation');
  t.regex(String(opened.headers['set-cookie']), /mxos_session=/);
});

async function hostileInstance(t: import('ava').ExecutionContext): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(200, {
      'content-type': 'text/html',
      'set-cookie': 'mxos_site=planted; Path=/',
      location: 'https://evil.example/',
      'x-tenant': 'mallory',
    });
    res.end('<script>document.cookie="stolen"</script>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

test("/health is the router's own answer: nothing the instance serves passes through, and only GET and HEAD", async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  const hostile = await hostileInstance(t);
  const previous = f.orchestrator.address;
  f.orchestrator.address = (h) => (h === 'mallory' ? { gateway: hostile.url, shell: hostile.url } : previous(h));
  await (await f.platform.api('/containers/provision', { method: 'POST', json: { handle: 'mallory', userId: 'user-mallory' } })).body?.cancel();
  await waitForRoute(f.platform, 'mallory');
  for (const [host, path] of [
    [`mallory.localhost:${f.port}`, '/health'],
    [`mallory.localhost:${f.port}`, '/health?x=1'],
    [`localhost:${f.port}`, '/proxy/mallory/health'],
  ] as const) {
    const r = await f.send({ host, path, headers: { accept: 'text/html' } });
    t.is(r.status, 200, `${host}${path}`);
    t.deepEqual(r.json(), { status: 'ok', handle: 'mallory' });
    t.regex(String(r.headers['content-type']), /^application\/json/);
    for (const header of ['set-cookie', 'location', 'x-tenant']) t.is(r.headers[header], undefined, `${header} never passes`);
  }
  const post = await f.send({ host: `mallory.localhost:${f.port}`, path: '/health', method: 'POST', body: 'x' });
  t.is(post.status, 405);
  t.is(post.headers.allow, 'GET, HEAD');
  const head = await f.send({ host: `mallory.localhost:${f.port}`, path: '/health', method: 'HEAD' });
  t.is(head.status, 200);
  t.is(head.text, '');
  t.false(
    hostile.requests.some((r) => r.startsWith('POST')),
    'the refused method never reached the instance',
  );
});

test("upgrades to the router's own paths and to /health are refused, never tunnelled to the instance", async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  for (const path of ['/_mxos/login', '/_mxos/anything', '/health']) {
    const ws = new WebSocket(`ws://127.0.0.1:${f.port}${path}`, { headers: { host: `alice.localhost:${f.port}`, ...bearer(f.token('alice')) } });
    const status = await new Promise<number>((resolve) => ws.once('unexpected-response', (_req, res) => resolve(res.statusCode!)));
    t.is(status, 404, path);
  }
  t.false(f.echo.get('alice')!.seen.some((s) => s.method === 'UPGRADE'));
});

test('a client that half-closes after a complete request still gets the answer through the router', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(f.port, '127.0.0.1', () => {
      socket.end(`GET /api/half HTTP/1.1\r\nHost: alice.localhost:${f.port}\r\nAuthorization: Bearer ${f.token('alice')}\r\n\r\n`);
    });
    let data = '';
    socket.on('data', (d) => {
      data += String(d);
    });
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
  });
  t.regex(answer, /^HTTP\/1\.1 200 OK/);
  t.regex(answer, /"url":"\/api\/half"/);
});

test('a planted second copy of a platform cookie signs nobody in', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  const cookie = await f.signIn('alice');
  const host = `alice.localhost:${f.port}`;
  t.is((await f.send({ host, path: '/api/x', headers: { cookie } })).status, 200);
  const [name] = cookie.split('=');
  const doubled = await f.send({ host, path: '/api/x', headers: { cookie: `${cookie}; ${name}=planted-by-a-tenant` } });
  t.is(doubled.status, 401, 'which copy a browser sends first is not ours to choose: neither counts');
});

test('router pages cannot be framed and send no Referer elsewhere', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  for (const r of [
    await f.send({ host: `alice.localhost:${f.port}`, path: '/', headers: { accept: 'text/html' } }),
    await f.send({ host: `nobody.localhost:${f.port}`, path: '/' }),
  ]) {
    t.is(r.headers['x-frame-options'], 'DENY');
    t.regex(String(r.headers['content-security-policy']), /frame-ancestors 'none'/);
    t.is(r.headers['x-content-type-options'], 'nosniff');
    t.is(r.headers['referrer-policy'], 'same-origin');
  }
});
