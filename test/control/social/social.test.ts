/**
 * The social layer end to end on the embedded default (SQLite, the local driver running
 * the reference instance) with the Matrix double as the homeserver: accounts at
 * provisioning, AI-to-AI messages through the platform, the feed, blocks, limits,
 * spoofing, outages and deactivation.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { deriveCredential } from '../../../control/access/credentials.ts';
import { DEFAULT_REGISTRATION_TOKEN, type MatrixDouble, startMatrixDouble } from '../../doubles/matrix/index.ts';
import { startTestPlatform, TEST_KEY, type TestPlatform } from '../../helpers/platform.ts';
import { type SiteClient, siteClient } from '../../helpers/site.ts';
import { waitUntil } from '../../helpers/wait.ts';

const SERVER = 'matrix-os.test';
const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)![1]!;

interface Social {
  platform: TestPlatform;
  matrix: MatrixDouble;
  site: SiteClient;
  /** Signs `handle@example.com` in, signs up as `handle`, waits for the instance; returns the site cookie. */
  join(handle: string): Promise<string>;
  /** Calls the instance-facing social API as `handle`'s instance (its own key). */
  asInstance(handle: string, path: string, init?: { method?: string; json?: unknown; token?: string }): Promise<Response>;
  /** Calls `handle`'s instance gateway as the router does. */
  instance(handle: string, path: string, init?: RequestInit): Promise<Response>;
}

async function startSocial(t: ExecutionContext, env: Record<string, string> = {}): Promise<Social> {
  const matrix = await startMatrixDouble({ serverName: SERVER });
  t.teardown(() => matrix.close());
  const platform = await startTestPlatform(t, {
    env: { MATRIX_HOMESERVER_URL: matrix.url, MATRIX_SERVER_NAME: SERVER, MATRIX_REGISTRATION_TOKEN: DEFAULT_REGISTRATION_TOKEN, MATRIX_TIMEOUT: '2s', ...env },
  });
  const site = siteClient(platform);
  const socialUrl = `${platform.config.meterUrl}/social`;
  return {
    platform,
    matrix,
    site,
    async join(handle) {
      const { cookie } = await site.signIn(`${handle}@example.com`);
      const page = await site.send('/signup', { cookie });
      const done = await site.send('/signup', { cookie, form: { csrf: csrfOf(page.text), handle } });
      if (done.status !== 303) throw new Error(`signup of ${handle} answered ${done.status}: ${done.text.slice(0, 200)}`);
      await platform.waitFor(handle, 'running');
      return cookie;
    },
    asInstance(handle, path, init = {}) {
      const token = init.token ?? deriveCredential(TEST_KEY, 'social-key', handle, 1);
      return fetch(`${socialUrl}${path}`, {
        method: init.method ?? (init.json === undefined ? 'GET' : 'POST'),
        headers: { authorization: `Bearer ${token}`, ...(init.json === undefined ? {} : { 'content-type': 'application/json' }) },
        body: init.json === undefined ? undefined : JSON.stringify(init.json),
      });
    },
    async instance(handle, path, init = {}) {
      const row = await platform.store.findByHandle(handle);
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${deriveCredential(TEST_KEY, 'router-token', handle, row!.token_generation)}`);
      return fetch(`${row!.gateway_url}${path}`, { ...init, headers });
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: the answers' shapes are asserted by the tests themselves
type Json = Record<string, any>;

async function json<T = Json>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

async function delivered(social: Social, from: string, id: string): Promise<Json> {
  return waitUntil(
    async () => {
      const { message } = await json(await social.asInstance(from, `/messages/${id}`));
      return message.status === 'delivered' ? message : null;
    },
    { timeoutMs: 20_000, message: `message ${id} delivered` },
  );
}

test('an AI messages another through the platform: posted once over Matrix, received by the other instance, on the feed', async (t) => {
  const social = await startSocial(t);
  await social.join('alice');
  await social.join('bob');

  // Both instances run with their AI account (handed over as secrets) and follow it.
  for (const handle of ['alice', 'bob']) {
    const inbox = await json(await social.instance(handle, '/api/social/inbox'));
    t.is(inbox.matrix.userId, `@${handle}_ai:${SERVER}`);
  }

  // The body cannot choose the sender: the key does.
  const sent = await social.asInstance('alice', '/send/bob', { json: { text: 'hello bob, from my AI', from: 'bob', sender: 'mallory' } });
  t.is(sent.status, 202);
  const { message } = await json(sent);
  t.is(message.from, 'alice');
  t.is(message.via, 'instance');
  const done = await delivered(social, 'alice', message.id);
  t.truthy(done.deliveredAt);

  const room = social.matrix.rooms().find((r) => r.joined.includes(`@alice_ai:${SERVER}`) && r.joined.includes(`@bob_ai:${SERVER}`));
  t.truthy(room, 'a direct room joined by both AIs');
  const posted = room!.events.filter((e) => e.type === 'm.room.message');
  t.deepEqual(
    posted.map((e) => [e.sender, e.content.body]),
    [[`@alice_ai:${SERVER}`, 'hello bob, from my AI']],
  );

  const received = await waitUntil(async () => {
    const inbox = await json(await social.instance('bob', '/api/social/inbox'));
    return inbox.messages.find((m: { body: string }) => m.body === 'hello bob, from my AI');
  });
  t.is(received.from, `@alice_ai:${SERVER}`);

  // A second message reuses the room.
  const again = await json(await social.asInstance('alice', '/send/bob', { json: { text: 'second' } }));
  await delivered(social, 'alice', again.message.id);
  t.is(social.matrix.rooms().filter((r) => r.joined.includes(`@alice_ai:${SERVER}`) && r.joined.includes(`@bob_ai:${SERVER}`)).length, 1);

  const feed = await json(await social.site.send('/social/feed').then((r) => new Response(r.text)));
  const kinds = feed.items.map((i: { kind: string; actor: string; target: string | null }) => `${i.kind}:${i.actor}:${i.target ?? ''}`);
  t.true(kinds.includes('message:alice:bob'));
  t.true(kinds.includes('joined:alice:') && kinds.includes('joined:bob:'));
  t.false(JSON.stringify(feed).includes('hello bob'), 'the feed says who talked, never what');

  // No plaintext Matrix token anywhere in the database.
  const tables = (await social.platform.db.sequelize.getQueryInterface().showAllTables()) as string[];
  let raw = '';
  for (const table of tables) raw += JSON.stringify((await social.platform.db.sequelize.query(`SELECT * FROM "${table}"`))[0]);
  const tokens = social.matrix.users().flatMap((u) => u.devices.map((d) => d.accessToken));
  t.true(tokens.length >= 5);
  for (const token of tokens) t.false(raw.includes(token));
});

test('spoofed senders are refused: no key, another purpose, another tenant, a forged site post', async (t) => {
  const social = await startSocial(t);
  const aliceCookie = await social.join('alice');
  await social.join('bob');
  const attempts: Array<[string, string | undefined]> = [
    ['no key', ''],
    ["alice's meter key", deriveCredential(TEST_KEY, 'meter-key', 'alice', 1)],
    ["alice's router token", deriveCredential(TEST_KEY, 'router-token', 'alice', 1)],
    ['a rotated-out generation', deriveCredential(TEST_KEY, 'social-key', 'alice', 0)],
    ['a key for nobody', deriveCredential(TEST_KEY, 'social-key', 'mallory', 1)],
    ['a key made with another secret', deriveCredential('another-secret-key-0123456789abcdef', 'social-key', 'alice', 1)],
  ];
  for (const [what, token] of attempts) {
    const response = await social.asInstance('alice', '/send/bob', { json: { text: 'spoof' }, token });
    t.is(response.status, 401, what);
  }
  // The site: a form post without the CSRF token, or from a tenant's origin.
  const profile = await social.site.send('/social/profiles/bob', { cookie: aliceCookie, headers: { accept: 'text/html' } });
  const csrf = csrfOf(profile.text);
  t.is((await social.site.send('/social/send/bob', { cookie: aliceCookie, form: { text: 'no token' } })).status, 403);
  t.is(
    (await social.site.send('/social/send/bob', { cookie: aliceCookie, form: { csrf, text: 'x' }, headers: { origin: 'http://bob.localhost:8000' } })).status,
    403,
  );
  t.is((await social.site.send('/social/send/bob', { form: { csrf, text: 'signed out' } })).status, 302, 'signed out: off to sign in');
  t.is(await social.platform.db.models.SocialMessage.count(), 0, 'nothing was queued');

  // The real form sends as the session's user.
  const ok = await social.site.send('/social/send/bob', { cookie: aliceCookie, form: { csrf, text: 'from the site', from: 'bob' } });
  t.is(ok.status, 303);
  const [row] = await social.platform.db.models.SocialMessage.findAll();
  t.is(row!.sender_handle, 'alice');
  t.is(row!.via, 'site');
});

test('blocks, rate limits and size limits hold, with messages that say what to do', async (t) => {
  const social = await startSocial(t, { SOCIAL_SEND_PER_MINUTE: '3', SOCIAL_MESSAGE_MAX_CHARS: '50' });
  await social.join('alice');
  const bobCookie = await social.join('bob');
  const send = (text: unknown, to = 'bob') => social.asInstance('alice', `/send/${to}`, { json: { text } });

  const page = await social.site.send('/social/profiles/alice', { cookie: bobCookie, headers: { accept: 'text/html' } });
  t.is((await social.site.send('/social/blocks/alice', { cookie: bobCookie, form: { csrf: csrfOf(page.text) } })).status, 303);
  const blocked = await send('hi');
  t.is(blocked.status, 403);
  t.regex((await json(blocked)).error.message, /does not accept messages from you/);
  // Bob cannot message someone he blocked, and says so.
  const back = await social.asInstance('bob', '/send/alice', { json: { text: 'hi' } });
  t.is(back.status, 409);
  t.regex((await json(back)).error.message, /unblock/);
  t.is((await social.site.send('/social/blocks/alice/delete', { cookie: bobCookie, form: { csrf: csrfOf(page.text) } })).status, 303);

  t.is((await send('x'.repeat(51))).status, 400);
  t.is((await send('')).status, 400);
  t.is((await send(42)).status, 400);
  t.is((await send('bell\u0007')).status, 400);
  t.is((await send('hi', 'alice')).status, 400, 'not to yourself');
  t.is((await send('hi', 'nobody-here')).status, 404);
  const huge = await social.asInstance('alice', '/send/bob', { json: { text: 'x'.repeat(70_000) } });
  t.is(huge.status, 413);

  for (let i = 0; i < 3; i++) t.is((await send(`message ${i}`)).status, 202);
  const limited = await send('one too many');
  t.is(limited.status, 429);
  t.true(Number(limited.headers.get('retry-after')) >= 1);
  t.regex((await json(limited)).error.message, /3 messages a minute/);
  t.is(await social.platform.db.models.SocialMessage.count(), 3);
});

test("a block makes the blocker's AI leave the pair's room, and a message queued before the block is not delivered", async (t) => {
  const social = await startSocial(t);
  await social.join('alice');
  const bobCookie = await social.join('bob');
  const first = await json(await social.asInstance('alice', '/send/bob', { json: { text: 'before the block' } }));
  await delivered(social, 'alice', first.message.id);
  const room = social.matrix.rooms().find((r) => r.joined.includes(`@bob_ai:${SERVER}`) && r.joined.includes(`@alice_ai:${SERVER}`))!;

  await social.matrix.down();
  const queued = await json(await social.asInstance('alice', '/send/bob', { json: { text: 'queued, then blocked' } }));
  const page = await social.site.send('/dashboard', { cookie: bobCookie });
  const blockAnswer = await social.site.send('/dashboard/blocks', { cookie: bobCookie, form: { csrf: csrfOf(page.text), handle: '@alice' } });
  t.is(blockAnswer.status, 303);
  await social.matrix.up();
  const failed = await waitUntil(async () => {
    const { message } = await json(await social.asInstance('alice', `/messages/${queued.message.id}`));
    return message.status === 'failed' ? message : null;
  });
  t.regex(failed.lastError, /block/);
  // Alice's AI cannot reach Bob's directly with its own Matrix token either: Bob's AI left.
  await waitUntil(() => social.matrix.room(room.roomId)?.members[`@bob_ai:${SERVER}`] === 'leave', { message: "bob's AI left the room" });
  t.is(await social.platform.db.models.SocialRoom.count(), 0, 'the room is forgotten');
  const dashboard = await social.site.send('/dashboard', { cookie: bobCookie });
  t.regex(dashboard.text, /<ul id="blocked"><li>@alice /);
});

test('an Idempotency-Key makes a retried send return the first message', async (t) => {
  const social = await startSocial(t);
  await social.join('alice');
  await social.join('bob');
  const send = () =>
    fetch(`${social.platform.config.meterUrl}/social/send/bob`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${deriveCredential(TEST_KEY, 'social-key', 'alice', 1)}`,
        'content-type': 'application/json',
        'idempotency-key': 'retry-7f3a',
      },
      body: JSON.stringify({ text: 'once, however often asked' }),
    });
  const [a, b] = await Promise.all([send(), send()]);
  const c = await send();
  t.deepEqual([a.status, b.status, c.status].sort(), [200, 200, 202]);
  const ids = new Set([(await json(a)).message.id, (await json(b)).message.id, (await json(c)).message.id]);
  t.is(ids.size, 1);
  t.is(await social.platform.db.models.SocialMessage.count(), 1);
});

test('with the homeserver down, messages queue with their state visible and are delivered once each after it returns', async (t) => {
  const social = await startSocial(t);
  await social.join('alice');
  await social.join('bob');
  await social.matrix.down();
  const ids: string[] = [];
  for (const text of ['one', 'two', 'three']) {
    const response = await social.asInstance('alice', '/send/bob', { json: { text } });
    t.is(response.status, 202);
    ids.push((await json(response)).message.id);
  }
  const queued = await waitUntil(async () => {
    const { messages } = await json(await social.asInstance('alice', '/messages'));
    return messages.every((m: { status: string; lastError: string | null }) => m.status === 'queued' && m.lastError) ? messages : null;
  });
  // Newest first: the oldest waits for the homeserver, the others behind it, in order.
  t.regex(queued.at(-1).lastError, /did not answer|not available/);
  for (const later of queued.slice(0, -1)) t.regex(later.lastError, /Queued behind an earlier message to @bob/);
  await social.matrix.up();
  for (const id of ids) await delivered(social, 'alice', id);
  const bodies = social.matrix
    .rooms()
    .flatMap((r) => r.events)
    .filter((e) => e.type === 'm.room.message' && e.sender === `@alice_ai:${SERVER}`)
    .map((e) => e.content.body);
  t.deepEqual(bodies, ['one', 'two', 'three']);
});

test('an instance provisioned while the homeserver is away runs at once and is restarted with its AI account when it returns', async (t) => {
  const social = await startSocial(t);
  await social.join('alice'); // the service account exists
  await social.matrix.down();
  await social.join('bob');
  t.is((await json(await social.instance('bob', '/api/social/inbox'))).matrix.userId, null);
  const events = await social.platform.store.latestEvents('bob', 20);
  t.true(
    events.some((e) => /Matrix accounts pending/.test(e.message)),
    'the dashboard shows why',
  );
  await social.matrix.up();
  await waitUntil(
    async () => {
      const row = await social.platform.store.findByHandle('bob');
      if (row?.status !== 'running') return false;
      const inbox = await json(await social.instance('bob', '/api/social/inbox'));
      return inbox.matrix.userId === `@bob_ai:${SERVER}`;
    },
    { timeoutMs: 30_000, message: "bob's instance runs with its AI account" },
  );
  t.is(social.matrix.users().filter((u) => u.localpart === 'bob_ai').length, 1);
});

test('an instance posts activity on the feed only when its user opted in, a few a minute', async (t) => {
  const social = await startSocial(t);
  const cookie = await social.join('alice');
  const post = (text: string) => social.asInstance('alice', '/activity', { json: { text } });
  const refused = await post('built a to-do app');
  t.is(refused.status, 403);
  t.regex((await json(refused)).error.message, /has not chosen to share/);
  const dashboard = await social.site.send('/dashboard', { cookie });
  const saved = await social.site.send('/dashboard/profile', {
    cookie,
    form: { csrf: csrfOf(dashboard.text), display_name: 'Alice A.', bio: 'Builds things', share_activity: '1' },
  });
  t.is(saved.status, 303);
  for (let i = 0; i < 5; i++) t.is((await post(`step ${i}`)).status, 201);
  t.is((await post('one too many')).status, 429);
  const feed = JSON.parse((await social.site.send('/social/feed')).text) as { items: Array<{ kind: string; text: string }> };
  t.is(feed.items.filter((i) => i.kind === 'activity').length, 5);
  t.is(feed.items[0]!.text, "@alice's AI: step 4");
  const profile = JSON.parse((await social.site.send('/social/profiles/alice')).text);
  t.like(profile.profile, { displayName: 'Alice A.', bio: 'Builds things' });
});

test('AI profiles come from the running instance and are cached; a sleeping instance is not woken for one', async (t) => {
  const social = await startSocial(t);
  await social.join('alice');
  await social.join('bob');
  const put = await social.instance('alice', '/api/social/profile', {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Ada', about: "Alice's research assistant", skills: ['papers', 'plots'] }),
  });
  t.is(put.status, 200);
  const first = await json(await social.site.send('/social/profiles/alice/ai').then((r) => new Response(r.text)));
  t.like(first.profile, { source: 'live', name: 'Ada', about: "Alice's research assistant", skills: ['papers', 'plots'], matrixUserId: `@alice_ai:${SERVER}` });
  const second = await json(await social.site.send('/social/profiles/alice/ai').then((r) => new Response(r.text)));
  t.is(second.profile.source, 'cached');

  t.is((await social.platform.api('/containers/bob/stop', { method: 'POST' })).status < 300, true);
  await social.platform.waitFor('bob', 'stopped');
  const asleep = await json(await social.site.send('/social/profiles/bob/ai').then((r) => new Response(r.text)));
  t.is(asleep.profile.source, 'asleep');
  t.regex(asleep.profile.note, /asleep/);
  t.is((await social.platform.store.findByHandle('bob'))!.status, 'stopped', 'a profile read never wakes an instance');

  const profile = await json(await social.site.send('/social/profiles/bob').then((r) => new Response(r.text)));
  t.like(profile.profile, { handle: 'bob', online: false, matrix: { user: `@bob:${SERVER}`, ai: `@bob_ai:${SERVER}` } });
});

test('a hostile instance cannot exhaust the platform through its AI profile: capped, asked once for many readers', async (t) => {
  const social = await startSocial(t, { SOCIAL_PROFILE_TIMEOUT: '5s' });
  await social.join('mallory');
  let asked = 0;
  const hostile = http.createServer((_req, res) => {
    asked++;
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    // An endless answer: the platform must stop reading it.
    const pump = () => {
      while (res.write(chunk)) if (res.writableLength > 1024 * 1024) break;
    };
    res.on('drain', pump);
    pump();
  });
  await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => hostile.close(() => resolve())));
  hostile.on('connection', (socket) => t.teardown(() => socket.destroy()));
  await social.platform.db.models.Instance.update(
    { gateway_url: `http://127.0.0.1:${(hostile.address() as AddressInfo).port}` },
    { where: { handle: 'mallory' } },
  );
  const reads = await Promise.all(Array.from({ length: 5 }, () => social.site.send('/social/profiles/mallory/ai').then((r) => JSON.parse(r.text).profile)));
  for (const profile of reads) t.like(profile, { source: 'unavailable', name: "mallory's AI" });
  t.is(asked, 1, 'one request to the instance for five readers');
  t.is((await social.site.send('/social/profiles/mallory/ai').then((r) => JSON.parse(r.text))).profile.source, 'unavailable');
  t.is(asked, 1, 'a failure is remembered for a moment');
});

test('destroying a user deactivates both Matrix accounts through the admin room', async (t) => {
  const social = await startSocial(t);
  await social.join('alice');
  const destroyed = await social.platform.api('/containers/alice?confirm=alice', { method: 'DELETE' });
  t.true(destroyed.status < 300);
  await social.platform.waitFor('alice', 'destroyed');
  await waitUntil(() => social.matrix.user(`@alice:${SERVER}`)?.deactivated && social.matrix.user(`@alice_ai:${SERVER}`)?.deactivated, {
    timeoutMs: 20_000,
    message: 'both accounts deactivated',
  });
  // The platform records it once Conduit took the command (the bot runs it just after answering).
  const rows = await waitUntil(async () => {
    const found = await social.platform.db.models.MatrixAccount.findAll({ where: { handle: 'alice' }, order: [['kind', 'ASC']] });
    return found.every((r) => r.state === 'deactivated') ? found : null;
  });
  t.deepEqual(
    rows.map((r) => [r.kind, r.state, r.access_token_sealed]),
    [
      ['ai', 'deactivated', null],
      ['human', 'deactivated', null],
    ],
  );
});

test('discovery: paginated, searchable, without people who hide or are suspended; messaging without a homeserver says why', async (t) => {
  const platform = await startTestPlatform(t);
  const { User } = platform.db.models;
  const people = ['anna', 'ben', 'cleo', 'dora', 'eve', 'finn'];
  for (const handle of people)
    await User.create({ id: `u_${handle}`, handle, email: `${handle}@example.com`, display_name: handle === 'cleo' ? 'Cleo 100% Real_Name' : null });
  await User.update({ hidden: true }, { where: { handle: 'dora' } });
  await User.update({ suspended_at: new Date() }, { where: { handle: 'eve' } });
  const site = siteClient(platform);
  const get = async (path: string) => {
    const sent = await site.send(path);
    return { status: sent.status, body: JSON.parse(sent.text) };
  };
  const first = await get('/social/users?limit=2');
  t.deepEqual(
    first.body.users.map((u: { handle: string }) => u.handle),
    ['anna', 'ben'],
  );
  const second = await get(`/social/users?limit=2&after=${first.body.next}`);
  t.deepEqual(
    second.body.users.map((u: { handle: string }) => u.handle),
    ['cleo', 'finn'],
  );
  t.is(second.body.next, null);
  t.deepEqual(
    (await get('/social/users?q=100%25')).body.users.map((u: { handle: string }) => u.handle),
    ['cleo'],
    'search is literal: % is not a wildcard',
  );
  t.deepEqual(
    (await get('/social/users?q=EAL_N')).body.users.map((u: { handle: string }) => u.handle),
    ['cleo'],
    'case-insensitive',
  );
  t.is((await get('/social/profiles/dora')).status, 404);
  t.is((await get('/social/profiles/eve')).status, 404);
  t.is((await get('/social/users?limit=500')).status, 400);
  // The feed: a long run of entries of a hidden person neither shows nor stalls a reader paging by id.
  for (let i = 0; i < 250; i++) await platform.db.models.FeedEntry.create({ kind: 'activity', actor_handle: 'dora', text: `hidden ${i}` });
  await platform.db.models.FeedEntry.create({ kind: 'activity', actor_handle: 'anna', text: 'visible' });
  const after = await platform.social.feed.after(0, 200);
  t.deepEqual(
    after.map((i) => i.text),
    ["@anna's AI: visible"],
  );
  t.deepEqual(
    (await get('/social/feed')).body.items.map((i: { actor: string }) => i.actor),
    ['anna'],
  );
  const stream = await site.send('/social/feed', { headers: { accept: 'text/event-stream' } });
  t.is(stream.status, 401, 'the live stream is for people signed in');
  t.is((await get('/social/users?after=..%2F')).status, 400);
  const profile = await get('/social/profiles/anna');
  t.like(profile.body.profile, { handle: 'anna', online: false, matrix: null });

  const { cookie } = await site.signIn('gus@example.com');
  const dash = await site.send('/dashboard', { cookie });
  const refused = await site.send('/dashboard/profile', { cookie, form: { csrf: csrfOf(dash.text), avatar_url: 'https://bob.localhost/_mxos/act' } });
  t.is(refused.status, 400, "no avatar on the platform's own hosts");
  const page = await site.send('/social/profiles/anna', { cookie, headers: { accept: 'text/html' } });
  t.is(page.status, 200);
  t.regex(page.text, /anna&#39;s AI/);
  t.notRegex(page.text, /action="\/social\/send\/anna"/, 'no send form without a homeserver');
});
