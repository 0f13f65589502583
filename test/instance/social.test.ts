/**
 * The instance's social side: the AI's profile, sending through the platform's
 * social API (a local stand-in), and receiving over Matrix (the Matrix double),
 * all over real HTTP.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import test from 'ava';

import { HttpError } from '../../instance/http.ts';
import { Inbox, type InboxMessage } from '../../instance/inbox.ts';
import { Secret } from '../../instance/secret.ts';
import { forwardSend, SEND_TIMEOUT_MS } from '../../instance/social-send.ts';
import { waitUntil } from '../helpers/wait.ts';
import { auth, startTestInstance, type TestInstance, tempDir } from './_instance.ts';
import {
  closedPort,
  createDirectRoom,
  type InboxReply,
  inviteOnly,
  matrixCall,
  matrixOptions,
  readInbox,
  SOCIAL_TOKEN,
  sendText,
  startFakePlatform,
  startMatrixWorld,
} from './_social.ts';

interface ErrorBody {
  error: { code: string; message: string };
}

function putProfile(instance: TestInstance, body: unknown): Promise<Response> {
  return fetch(`${instance.gateway}/api/social/profile`, {
    method: 'PUT',
    headers: { ...auth(), 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

function send(instance: TestInstance, body: unknown): Promise<Response> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  return fetch(`${instance.gateway}/api/social/send`, { method: 'POST', headers: { ...auth(), 'Content-Type': 'application/json' }, body: raw });
}

async function waitForBodies(instance: TestInstance, bodies: string[]): Promise<InboxReply> {
  let last: InboxReply | undefined;
  return waitUntil(
    async () => {
      last = await readInbox(instance);
      return bodies.every((body) => last?.messages.some((m) => m.body === body)) && last;
    },
    { message: () => `${JSON.stringify(bodies)} in the inbox; last answer ${JSON.stringify(last)}` },
  );
}

function whenInbox(inbox: InboxReply, condition: (inbox: InboxReply) => boolean): InboxReply | undefined {
  return condition(inbox) ? inbox : undefined;
}

// Profile

test('the profile has defaults derived from the handle until it is saved', async (t) => {
  const instance = await startTestInstance(t, { handle: 'carol' });
  const res = await fetch(`${instance.gateway}/api/social/profile`, { headers: auth() });
  t.is(res.status, 200);
  t.deepEqual(await res.json(), {
    handle: 'carol',
    name: "carol's AI",
    about: 'The Matrix OS assistant of carol.',
    skills: [],
    matrixUserId: null,
    updatedAt: null,
  });
});

test('PUT /api/social/profile refuses bad fields with a 400 naming the field, and saves nothing', async (t) => {
  const instance = await startTestInstance(t);
  const cases: [unknown, RegExp][] = [
    [{ name: '' }, /^name must be a string of 1 to 80 characters$/],
    [{ name: '   ' }, /^name must be/],
    [{ name: 'x'.repeat(81) }, /^name must be/],
    [{ name: 42 }, /^name must be/],
    [{ about: 'x'.repeat(501) }, /^about must be a string of at most 500 characters$/],
    [{ skills: 'cooking' }, /^skills must be a list of at most 10 strings$/],
    [{ skills: Array.from({ length: 11 }, (_, i) => `s${i}`) }, /^skills must be a list/],
    [{ skills: ['ok', 'x'.repeat(41)] }, /^skills\[1\] must be a string of 1 to 40 characters$/],
    [{ skills: [''] }, /^skills\[0\] must be/],
    [{ skills: [7] }, /^skills\[0\] must be/],
    [{ name: 'Ok', avatar: 'x.png' }, /^unknown field "avatar"/],
    [['name'], /^the body must be a JSON object/],
  ];
  for (const [body, message] of cases) {
    const res = await putProfile(instance, body);
    t.is(res.status, 400, JSON.stringify(body));
    const { error } = (await res.json()) as ErrorBody;
    t.is(error.code, 'invalid_request');
    t.regex(error.message, message, JSON.stringify(body));
  }
  const notJson = await fetch(`${instance.gateway}/api/social/profile`, { method: 'PUT', headers: auth(), body: '{name:' });
  t.is(notJson.status, 400);
  t.is(((await notJson.json()) as ErrorBody).error.code, 'invalid_json');
  t.deepEqual(await readdir(path.join(instance.dataDir, 'social')), [], 'no profile.json, no temp file');
  t.is(((await (await fetch(`${instance.gateway}/api/social/profile`, { headers: auth() })).json()) as { updatedAt: unknown }).updatedAt, null);
});

test('a saved profile is answered back, kept across a restart, and partial updates keep the other fields', async (t) => {
  const first = await startTestInstance(t, { handle: 'dana' });
  const saved = await putProfile(first, { name: '  Dana’s helper ', about: 'Plans trips.', skills: ['travel', 'maps'] });
  t.is(saved.status, 200);
  const profile = (await saved.json()) as Record<string, unknown>;
  t.like(profile, { handle: 'dana', name: 'Dana’s helper', about: 'Plans trips.', skills: ['travel', 'maps'], matrixUserId: null });
  t.true(Date.parse(String(profile.updatedAt)) > 0);
  t.deepEqual(await readdir(path.join(first.dataDir, 'social')), ['profile.json'], 'the temp file was renamed into place');
  await first.instance.close();

  const second = await startTestInstance(t, { handle: 'dana', dataDir: first.dataDir });
  t.deepEqual(await (await fetch(`${second.gateway}/api/social/profile`, { headers: auth() })).json(), profile);
  const partial = (await (await putProfile(second, { about: '' })).json()) as Record<string, unknown>;
  t.like(partial, { name: 'Dana’s helper', about: '', skills: ['travel', 'maps'] });
});

test('an unreadable profile file gives the defaults and a warning instead of failing the GET', async (t) => {
  const dataDir = await tempDir(t);
  const first = await startTestInstance(t, { dataDir, handle: 'erin' });
  await first.instance.close();
  await writeFile(path.join(dataDir, 'social', 'profile.json'), '{"name": "half');
  const second = await startTestInstance(t, { dataDir, handle: 'erin' });
  const res = await fetch(`${second.gateway}/api/social/profile`, { headers: auth() });
  t.is(res.status, 200);
  t.like(await res.json(), { name: "erin's AI", updatedAt: null });
  t.true(second.logs.warnings.some((w) => w.includes('profile.json is not valid JSON')));
});

// Auth

test('every social endpoint answers 401 without the instance token', async (t) => {
  const platform = await startFakePlatform(t);
  const instance = await startTestInstance(t, { social: { url: platform.url, token: SOCIAL_TOKEN } });
  const calls: [string, string, string?][] = [
    ['GET', '/api/social/profile'],
    ['HEAD', '/api/social/profile'],
    ['PUT', '/api/social/profile', '{"name":"x"}'],
    ['GET', '/api/social/inbox'],
    ['POST', '/api/social/send', '{"to":"alice","text":"hi"}'],
    ['GET', '/api/social/elsewhere'],
  ];
  for (const [method, route, body] of calls) {
    const res = await fetch(`${instance.gateway}${route}`, { method, body, headers: { Authorization: 'Bearer wrong' } });
    t.is(res.status, 401, `${method} ${route}`);
    t.is(res.headers.get('www-authenticate'), 'Bearer');
    t.is((await fetch(`${instance.gateway}${route}`, { method, body })).status, 401, `${method} ${route} without a header`);
  }
  t.deepEqual(platform.requests, [], 'nothing was forwarded');
  t.is((await fetch(`${instance.gateway}/api/social/elsewhere`, { headers: auth() })).status, 404);
});

// Sending

test('send forwards {text} to the platform with the social token and passes its 202 through', async (t) => {
  const platform = await startFakePlatform(t);
  const accepted = { message: { id: 'msg_1', to: 'alice', status: 'queued', createdAt: '2026-12-05T13:00:00.000Z' } };
  platform.answer = { status: 202, body: JSON.stringify(accepted) };
  const instance = await startTestInstance(t, { social: { url: `${platform.url}/`, token: SOCIAL_TOKEN } });
  const res = await send(instance, { to: 'alice', text: 'Lunch at noon? 🍜' });
  t.is(res.status, 202);
  t.deepEqual(await res.json(), accepted);
  t.deepEqual(platform.requests, [
    {
      method: 'POST',
      url: '/social/send/alice',
      authorization: `Bearer ${SOCIAL_TOKEN}`,
      contentType: 'application/json',
      body: '{"text":"Lunch at noon? 🍜"}',
    },
  ]);
  t.false(JSON.stringify(instance.logs).includes(SOCIAL_TOKEN), 'the social token is never logged');

  // A caller's Idempotency-Key goes on to the platform, so its retry never sends twice.
  await fetch(`${instance.gateway}/api/social/send`, {
    method: 'POST',
    headers: { ...auth(), 'Content-Type': 'application/json', 'Idempotency-Key': 'k-42' },
    body: JSON.stringify({ to: 'alice', text: 'once' }),
  });
  t.is(platform.requests.at(-1)?.idempotencyKey, 'k-42');
});

test("send passes the platform's error status and body through as is, except a 401 for the instance's own credential", async (t) => {
  const platform = await startFakePlatform(t);
  const instance = await startTestInstance(t, { social: { url: platform.url, token: SOCIAL_TOKEN } });
  for (const [status, code] of [
    [403, 'blocked'],
    [404, 'unknown_handle'],
    [429, 'rate_limited'],
    [503, 'messaging_unavailable'],
  ] as const) {
    const body = { error: { code, message: `the platform says ${code}` } };
    platform.answer = { status, body: JSON.stringify(body) };
    const res = await send(instance, { to: 'alice', text: 'hi' });
    t.is(res.status, status);
    t.deepEqual(await res.json(), body);
  }
  platform.answer = { status: 401, body: '{"error":{"code":"unauthorized","message":"bad social key"}}' };
  const refused = await send(instance, { to: 'alice', text: 'hi' });
  t.is(refused.status, 502);
  t.is(((await refused.json()) as ErrorBody).error.code, 'social_unauthorized');
  platform.answer = { status: 502, body: '<html>Bad Gateway</html>' };
  const garbled = await send(instance, { to: 'alice', text: 'hi' });
  t.is(garbled.status, 502);
  t.deepEqual(((await garbled.json()) as ErrorBody).error.code, 'platform_error');
});

test('send answers 503 social_not_configured when the platform gave no social API', async (t) => {
  const instance = await startTestInstance(t);
  const res = await send(instance, { to: 'alice', text: 'hi' });
  t.is(res.status, 503);
  const { error } = (await res.json()) as ErrorBody;
  t.is(error.code, 'social_not_configured');
  t.regex(error.message, /MATRIXOS_SOCIAL_URL and MATRIXOS_SOCIAL_TOKEN/);
});

test('send answers 502 with a clear message when the platform is unreachable', async (t) => {
  const port = await closedPort();
  const instance = await startTestInstance(t, { social: { url: `http://127.0.0.1:${port}/social`, token: SOCIAL_TOKEN } });
  const res = await send(instance, { to: 'alice', text: 'hi' });
  t.is(res.status, 502);
  const { error } = (await res.json()) as ErrorBody;
  t.is(error.code, 'platform_unreachable');
  t.regex(error.message, /Cannot reach the platform's social API at http:\/\/127\.0\.0\.1:\d+\/social: .*ECONNREFUSED/);
  t.false(error.message.includes(SOCIAL_TOKEN));
});

test('send refuses a bad handle, empty or oversized text and stray fields with a 400, before forwarding', async (t) => {
  const platform = await startFakePlatform(t);
  const instance = await startTestInstance(t, { social: { url: platform.url, token: SOCIAL_TOKEN } });
  const cases: [unknown, RegExp][] = [
    [{ to: 'Alice', text: 'hi' }, /^to must be the handle/],
    [{ to: '@alice', text: 'hi' }, /^to must be the handle/],
    [{ to: '../admin', text: 'hi' }, /^to must be the handle/],
    [{ to: '', text: 'hi' }, /^to must be the handle/],
    [{ text: 'hi' }, /^to must be the handle/],
    [{ to: 'alice', text: '' }, /^text must be a non-empty string$/],
    [{ to: 'alice', text: ' \n ' }, /^text must be a non-empty string$/],
    [{ to: 'alice', text: 5 }, /^text must be a non-empty string$/],
    [{ to: 'alice', text: 'x'.repeat(4001) }, /^text must be at most 4000 characters, got 4001$/],
    [{ to: 'alice', text: 'hi', cc: 'bob' }, /^unknown field "cc"/],
    ['"hi"', /^the body must be a JSON object/],
  ];
  for (const [body, message] of cases) {
    const res = await send(instance, body);
    t.is(res.status, 400, JSON.stringify(body).slice(0, 80));
    t.regex(((await res.json()) as ErrorBody).error.message, message);
  }
  t.is((await send(instance, '{"to":')).status, 400);
  t.deepEqual(platform.requests, []);
  t.is((await send(instance, { to: 'alice', text: '🍜'.repeat(4000) })).status, 202, '4000 characters, counted as characters');
  t.is(platform.requests.length, 1);
});

test('send gives up on a platform that does not answer, with 504', async (t) => {
  const silent = http.createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    silent.closeAllConnections();
    silent.close();
  });
  const api = { url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/social`, token: new Secret(SOCIAL_TOKEN) };
  const error = await t.throwsAsync(forwardSend(api, 'alice', 'hi', { timeoutMs: 100 }), { instanceOf: HttpError });
  t.like(error, { status: 504, code: 'platform_timeout' });
  t.is(SEND_TIMEOUT_MS, 10_000, 'the route waits 10 s');
});

// Receiving

test('a message in a room the platform joined the AI to is listed once; its own messages are not listed', async (t) => {
  const world = await startMatrixWorld(t);
  const { matrix, alice, bob } = world;
  const instance = await startTestInstance(t, { handle: 'bob', ...matrixOptions(world) });
  const roomId = await createDirectRoom(world, alice, bob);
  const hello = await sendText(world, alice, roomId, 'Hello Bob, are you free on Friday?');

  const inbox = await waitForBodies(instance, ['Hello Bob, are you free on Friday?']);
  t.like(inbox.messages[0], { id: hello, roomId, from: alice.userId, body: 'Hello Bob, are you free on Friday?' });
  t.true(Date.parse(inbox.messages[0]?.receivedAt ?? '') > 0);
  t.deepEqual(inbox.matrix, { configured: true, userId: bob.userId, syncing: true, lastError: null });

  await sendText(world, bob, roomId, 'Friday works (sent by bob himself)');
  await sendText(world, alice, roomId, 'Great, see you then');
  const later = await waitForBodies(instance, ['Great, see you then']);
  t.deepEqual(
    later.messages.map((m) => m.body),
    ['Hello Bob, are you free on Friday?', 'Great, see you then'],
  );
  const profile = (await (await fetch(`${instance.gateway}/api/social/profile`, { headers: auth() })).json()) as { matrixUserId: string };
  t.is(profile.matrixUserId, bob.userId);
  t.false(JSON.stringify(instance.logs).includes(bob.accessToken), 'the access token is never logged');
  t.deepEqual(matrix.errors, []);
});

test('an invite the platform did not accept is ignored: a tenant using its AI token directly reaches nothing', async (t) => {
  const world = await startMatrixWorld(t);
  const { matrix, alice, bob } = world;
  const instance = await startTestInstance(t, { handle: 'bob', ...matrixOptions(world) });
  const sneaky = await inviteOnly(world, alice, bob);
  await sendText(world, alice, sneaky, 'around the platform (no blocks, no limits)');
  const proper = await createDirectRoom(world, alice, bob);
  await sendText(world, alice, proper, 'through the platform');
  const inbox = await waitForBodies(instance, ['through the platform']);
  t.deepEqual(
    inbox.messages.map((m) => m.body),
    ['through the platform'],
  );
  t.is(matrix.room(sneaky)?.members[bob.userId], 'invite', 'the instance never accepted the invite');
});

test('after a restart the instance syncs from its saved cursor and delivers nothing twice', async (t) => {
  const world = await startMatrixWorld(t);
  const { matrix, alice, bob } = world;
  const first = await startTestInstance(t, { ...matrixOptions(world) });
  const roomId = await createDirectRoom(world, alice, bob);
  await sendText(world, alice, roomId, 'one');
  await waitForBodies(first, ['one']);
  await first.instance.close();
  const saved = JSON.parse(await readFile(path.join(first.dataDir, 'social', 'sync.json'), 'utf8')) as { next_batch: string };
  const syncsBefore = matrix.requests.length;

  const second = await startTestInstance(t, { dataDir: first.dataDir, ...matrixOptions(world) });
  await sendText(world, alice, roomId, 'two');
  const inbox = await waitForBodies(second, ['two']);
  t.deepEqual(
    inbox.messages.map((m) => m.body),
    ['one', 'two'],
  );
  const firstSync = matrix.requests.slice(syncsBefore).find((r) => r.path.endsWith('/sync'));
  t.is(firstSync?.query.since, saved.next_batch, 'the first sync after the restart starts where the last one ended');
});

test('the receiver survives the homeserver going down and receives what is sent once it is back', async (t) => {
  const world = await startMatrixWorld(t);
  const { matrix, alice, bob } = world;
  const instance = await startTestInstance(t, { ...matrixOptions(world) });
  const roomId = await createDirectRoom(world, alice, bob);
  await sendText(world, alice, roomId, 'before the outage');
  await waitForBodies(instance, ['before the outage']);

  await matrix.down();
  const during = await waitUntil(async () => whenInbox(await readInbox(instance), (inbox) => inbox.matrix.lastError !== null), {
    message: 'the outage to be recorded',
  });
  t.true(during.matrix.syncing, 'the loop keeps going');
  t.regex(during.matrix.lastError ?? '', /sync/);
  t.true(instance.logs.warnings.some((w) => w.startsWith('matrix sync failed, retrying in')));

  await matrix.up();
  await sendText(world, alice, roomId, 'after the outage');
  const after = await waitForBodies(instance, ['after the outage']);
  t.deepEqual(
    after.messages.map((m) => m.body),
    ['before the outage', 'after the outage'],
  );
  t.is(after.matrix.lastError, null, 'a successful sync clears the error');
});

test('a 429 is retried after retry_after_ms', async (t) => {
  const world = await startMatrixWorld(t);
  const { matrix, alice, bob } = world;
  matrix.limitNext(50, { path: '/sync' });
  const instance = await startTestInstance(t, { ...matrixOptions(world) });
  const roomId = await createDirectRoom(world, alice, bob);
  await sendText(world, alice, roomId, 'patience');
  await waitForBodies(instance, ['patience']);
  t.true(instance.logs.warnings.some((w) => w.startsWith('matrix sync failed, retrying in 50 ms') && w.includes('M_LIMIT_EXCEEDED')));
});

test('a revoked access token stops the receiver with lastError set', async (t) => {
  const world = await startMatrixWorld(t);
  const { matrix, alice, bob } = world;
  const instance = await startTestInstance(t, { ...matrixOptions(world) });
  const roomId = await createDirectRoom(world, alice, bob);
  await sendText(world, alice, roomId, 'first');
  await waitForBodies(instance, ['first']);

  await matrixCall(matrix, bob, 'POST', '/logout', {});
  // Wakes the long poll the instance has open, so its next /sync presents the revoked token.
  await sendText(world, alice, roomId, 'are you there?');
  const stopped = await waitUntil(async () => whenInbox(await readInbox(instance), (inbox) => !inbox.matrix.syncing), {
    message: 'the receiver to stop',
  });
  t.regex(stopped.matrix.lastError ?? '', /refused the access token \(401 M_UNKNOWN_TOKEN\)/);
  t.true(matrix.requests.some((r) => r.path.endsWith('/sync') && r.errcode === 'M_UNKNOWN_TOKEN'));
  t.false(JSON.stringify(instance.logs).includes(bob.accessToken));
  const syncs = matrix.requests.filter((r) => r.path.endsWith('/sync')).length;
  await instance.instance.close();
  t.is(matrix.requests.filter((r) => r.path.endsWith('/sync')).length, syncs, 'no sync after the refusal');
});

test('close() stops the receiver promptly, aborting the long poll in flight', async (t) => {
  const world = await startMatrixWorld(t);
  const { matrix } = world;
  const instance = await startTestInstance(t, { ...matrixOptions(world) });
  await waitUntil(() => matrix.inFlight === 1 && matrix.requests.some((r) => r.path.endsWith('/sync') && r.query.timeout === '25000'), {
    message: 'the instance to hold a 25 s long poll',
  });
  const started = Date.now();
  await instance.instance.close();
  t.true(Date.now() - started < 5_000, 'close did not wait for the long poll to time out');
  await waitUntil(() => matrix.inFlight === 0, { message: 'the long poll to be gone' });
});

test('the home page lists received messages newest first, escaped', async (t) => {
  const world = await startMatrixWorld(t);
  const { alice, bob } = world;
  const instance = await startTestInstance(t, { ...matrixOptions(world) });
  const roomId = await createDirectRoom(world, alice, bob);
  await sendText(world, alice, roomId, '<script>x</script>');
  await sendText(world, alice, roomId, 'second & last');
  await waitForBodies(instance, ['<script>x</script>', 'second & last']);

  const res = await fetch(`${instance.shell}/`, { headers: auth() });
  t.is(res.status, 200);
  t.regex(res.headers.get('content-security-policy') ?? '', /form-action 'none'/);
  const html = await res.text();
  t.regex(html, /<h2>AI messages<\/h2>/);
  t.true(html.includes('&#60;script&#62;x&#60;/script&#62;'));
  t.false(html.includes('<script'), 'no script element reaches the page');
  t.notRegex(html, /<form/);
  t.true(html.includes(alice.userId));
  t.true(html.indexOf('second &#38; last') < html.indexOf('&#60;script&#62;'), 'newest first');
  t.regex(html, /POST \/api\/social\/send/);
});

test('the home page says when receiving is off', async (t) => {
  const instance = await startTestInstance(t);
  const html = await (await fetch(`${instance.shell}/`, { headers: auth() })).text();
  t.regex(html, /Receiving is off/);
  t.regex(html, /No messages yet/);
});

// The inbox file

function message(n: number): InboxMessage {
  return { id: `$event${n}`, roomId: '!room', from: '@alice_ai:example.com', body: `message ${n}`, receivedAt: new Date(n * 1000).toISOString() };
}

test('the inbox drops duplicate event ids and keeps its file bounded to the newest 200 messages', async (t) => {
  const dir = await tempDir(t);
  const inbox = await Inbox.open(dir);
  t.deepEqual(await inbox.add([message(1), message(2), message(1)]), [message(1), message(2)]);
  t.deepEqual(await inbox.add([message(2)]), []);
  for (let batch = 0; batch < 9; batch += 1) {
    await inbox.add(Array.from({ length: 50 }, (_, i) => message(3 + batch * 50 + i)));
  }
  const lines = (await readFile(path.join(dir, 'inbox.jsonl'), 'utf8')).trimEnd().split('\n');
  t.true(lines.length <= 400, `${lines.length} lines`);
  const listed = inbox.list();
  t.is(listed.length, 200);
  t.is(listed.at(-1)?.id, '$event452');
  t.deepEqual((await Inbox.open(dir)).list(), listed, 'the same after reopening');
});

test('a partial last line left by a crash is dropped at start-up', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'inbox.jsonl'), `${JSON.stringify(message(1))}\n{"id":"$event2","roomId":"!ro`);
  const inbox = await Inbox.open(dir);
  t.deepEqual(inbox.list(), [message(1)]);
  await inbox.add([message(3)]);
  t.deepEqual((await Inbox.open(dir)).list(), [message(1), message(3)]);
});
