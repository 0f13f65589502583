import type { IncomingMessage } from 'node:http';
import test from 'ava';
import type { RawData } from 'ws';
import { WebSocket } from 'ws';
import { waitUntil } from '../helpers/wait.ts';
import { auth, startTestInstance, TOKEN } from './_instance.ts';

function wsUrl(port: number, target: string): string {
  return `ws://127.0.0.1:${port}${target}`;
}

function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: RawData; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data, isBinary })));
}

/** Resolves with the HTTP response the server sent instead of switching protocols. */
function rejection(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('error', () => undefined);
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
  });
}

test('/ws echoes text and binary messages unchanged to a client sending the bearer header', async (t) => {
  const { instance } = await startTestInstance(t);
  const ws = await open(wsUrl(instance.gatewayPort, '/ws'), auth());
  t.teardown(() => ws.terminate());

  const text = nextMessage(ws);
  ws.send('hello, matrix');
  const echoedText = await text;
  t.false(echoedText.isBinary);
  t.is(echoedText.data.toString(), 'hello, matrix');

  const bytes = Buffer.from([0, 1, 2, 254, 255]);
  const binary = nextMessage(ws);
  ws.send(bytes);
  const echoedBinary = await binary;
  t.true(echoedBinary.isBinary);
  t.deepEqual(echoedBinary.data, bytes);
});

test('/ws accepts the token as a ?token= query parameter, for browsers', async (t) => {
  const { instance, logs } = await startTestInstance(t);
  const ws = await open(wsUrl(instance.gatewayPort, `/ws?token=${encodeURIComponent(TOKEN)}`));
  const reply = nextMessage(ws);
  ws.send('ping');
  t.is((await reply).data.toString(), 'ping');
  const closed = new Promise((resolve) => ws.once('close', resolve));
  ws.close();
  await closed;
  // The upgrade is logged when the server's side of the socket closes.
  const entry = await waitUntil(() => logs.requests.find((e) => e.path === '/ws'), { message: 'the /ws upgrade to be logged' });
  t.is(entry?.status, 101);
  t.false(JSON.stringify(logs).includes(TOKEN));
});

test('an upgrade without a valid token is answered with a 401 JSON response', async (t) => {
  const { instance } = await startTestInstance(t);
  for (const [target, headers] of [
    ['/ws', {}],
    ['/ws?token=wrong', {}],
    ['/ws', auth('wrong')],
  ] as const) {
    const res = await rejection(wsUrl(instance.gatewayPort, target), headers);
    t.is(res.status, 401, target);
    t.is(res.headers['www-authenticate'], 'Bearer');
    const body = JSON.parse(res.body) as { error: { code: string; message: string } };
    t.is(body.error.code, 'unauthorized');
    t.regex(body.error.message, /Authorization: Bearer <instance token>.*\?token=/);
  }
});

test('an upgrade on any path but /ws is answered with 404, even with a valid token', async (t) => {
  const { instance } = await startTestInstance(t);
  const res = await rejection(wsUrl(instance.gatewayPort, '/api/files'), auth());
  t.is(res.status, 404);
  t.regex(res.body, /connect to \/ws/);
});

test('a plain GET on /ws answers 426 Upgrade Required', async (t) => {
  const { gateway } = await startTestInstance(t);
  const res = await fetch(`${gateway}/ws`, { headers: auth() });
  t.is(res.status, 426);
  t.is(res.headers.get('upgrade'), 'websocket');
});

test('closing the instance closes open WebSockets with code 1001', async (t) => {
  const { instance } = await startTestInstance(t);
  const ws = await open(wsUrl(instance.gatewayPort, '/ws'), auth());
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await instance.close();
  t.is(await closed, 1001);
});
