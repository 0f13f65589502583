import http from 'node:http';
import test from 'ava';
import WebSocket from 'ws';
import { startRouterFixture } from '../../helpers/router.ts';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

test('server-sent events arrive one by one, before the instance has finished the response', async (t) => {
  const f = await startRouterFixture(t, ['alice']);
  const echo = f.echo.get('alice')!;
  const chunks: string[] = [];
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http
      .get({ hostname: '127.0.0.1', port: f.port, path: '/sse', headers: { host: `alice.localhost:${f.port}`, ...bearer(f.token('alice')) } }, resolve)
      .on('error', reject);
  });
  t.is(res.statusCode, 200);
  t.is(res.headers['content-type'], 'text/event-stream');
  res.setEncoding('utf8');
  const ended = new Promise((resolve) => res.on('end', resolve));
  const nextChunk = () => new Promise<string>((resolve) => res.once('data', resolve));
  for (let i = 1; i <= 3; i++) {
    const waiting = nextChunk();
    echo.releaseEvent();
    chunks.push(await waiting);
    t.is(chunks.at(-1), `data: event ${i}\n\n`, 'each event arrives alone, as soon as it is sent');
  }
  await ended;
});

test('WebSocket upgrades go through, to the right instance, with the session cookie or the token', async (t) => {
  const f = await startRouterFixture(t, ['alice', 'bob']);
  const cookie = await f.signIn('alice');
  // A browser's cookie counts for an upgrade only from the instance's own page (Origin = its origin).
  for (const headers of [{ cookie, origin: `http://alice.localhost:${f.port}` }, bearer(f.token('alice'))]) {
    const ws = new WebSocket(`ws://127.0.0.1:${f.port}/ws?room=1`, { headers: { host: `alice.localhost:${f.port}`, ...headers } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const reply = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
    ws.send('hello');
    t.is(await reply, 'alice:hello');
    ws.close();
  }
  const upgrade = f.echo.get('alice')!.seen.find((s) => s.method === 'UPGRADE')!;
  t.is(upgrade.url, '/ws?room=1');
  t.regex(String(upgrade.headers.authorization), /^Bearer mxr_/);
  t.false(String(upgrade.headers.cookie ?? '').includes('mxos_'), 'the session cookie is not passed on');

  const refused = new WebSocket(`ws://127.0.0.1:${f.port}/ws`, { headers: { host: `bob.localhost:${f.port}`, cookie } });
  const status = await new Promise<number>((resolve) => refused.once('unexpected-response', (_req, res) => resolve(res.statusCode!)));
  t.is(status, 401);
  t.false(f.echo.get('bob')!.seen.some((s) => s.method === 'UPGRADE'));
});

test('request bodies stream to the instance; bodies over the limit get 413, declared or chunked', async (t) => {
  const f = await startRouterFixture(t, ['alice'], { ROUTER_BODY_LIMIT_BYTES: '100000' });
  const host = `alice.localhost:${f.port}`;
  const ok = await f.send({ host, path: '/api/upload', method: 'POST', headers: bearer(f.token('alice')), body: Buffer.alloc(90_000, 1) });
  t.is(ok.status, 200);
  t.is(ok.json().bodyBytes, 90_000);
  const declared = await f.send({ host, path: '/api/upload', method: 'POST', headers: bearer(f.token('alice')), body: Buffer.alloc(100_001, 1) });
  t.is(declared.status, 413);
  t.regex(declared.json<{ error: { message: string } }>().error.message, /larger than 100000 bytes/);
  const chunked = await new Promise<number>((resolve, reject) => {
    const req = http.request(
      {
        hostname: '127.0.0.1',
        port: f.port,
        method: 'POST',
        path: '/api/upload',
        headers: { host, ...bearer(f.token('alice')), 'transfer-encoding': 'chunked' },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode!);
      },
    );
    req.on('error', reject);
    for (let i = 0; i < 30; i++) req.write(Buffer.alloc(10_000, 2));
    req.end();
  });
  t.is(chunked, 413);
});

test('an instance that keeps refusing connections gives 503 with Retry-After and a slow one 504, each saying what happened', async (t) => {
  const f = await startRouterFixture(t, ['alice'], { ROUTER_UPSTREAM_TIMEOUT: '300ms' });
  const host = `alice.localhost:${f.port}`;
  const slow = await f.send({ host, path: '/slow', headers: { ...bearer(f.token('alice')), accept: 'text/html' } });
  t.is(slow.status, 504);
  t.regex(slow.text, /did not answer in time/);
  await f.echo.get('alice')!.close();
  const refused = await f.send({ host, path: '/api/x', headers: bearer(f.token('alice')) });
  // The orchestrator still says it runs (nothing to restart): the GET is tried once more, then the client is told to come back.
  t.is(refused.status, 503);
  t.is(refused.headers['retry-after'], '5');
  t.is(refused.json<{ error: { code: string } }>().error.code, 'instance_restarting');
  t.regex(refused.json<{ error: { message: string } }>().error.message, /alice's instance still does not answer/);
});
