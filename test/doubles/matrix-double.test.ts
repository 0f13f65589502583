/**
 * The Matrix double behaves like Conduit's client-server API as
 * test/doubles/matrix/README.md describes it: real HTTP, Conduit's error bodies
 * and statuses, registration with user-interactive auth, rooms, idempotent
 * sends, long-polling /sync, the admin room's deactivate-user, and faults.
 */
import test, { type ExecutionContext } from 'ava';
import { waitUntil } from '../helpers/wait.ts';
import { DEFAULT_REGISTRATION_TOKEN, type MatrixDouble, type MatrixDoubleOptions, startMatrixDouble } from './matrix/index.ts';

// biome-ignore lint/suspicious/noExplicitAny: Matrix JSON read back in assertions, checked field by field
type J = any;

interface Reply {
  status: number;
  json: J;
  text: string;
  headers: Headers;
}

const C = '/_matrix/client/v3';
const SERVER = 'matrix.example.com';

async function call(d: MatrixDouble, method: string, path: string, options: { body?: unknown; token?: string; raw?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const init: RequestInit = { method, headers };
  if (options.raw !== undefined) init.body = options.raw;
  else if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${d.url}${path}`, init);
  const text = await res.text();
  let json: J;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

async function withDouble(t: ExecutionContext, options: MatrixDoubleOptions = {}): Promise<MatrixDouble> {
  const d = await startMatrixDouble({ serverName: SERVER, ...options });
  t.teardown(() => d.close());
  return d;
}

interface Account {
  userId: string;
  token: string;
  deviceId: string;
}

/** The two-step registration a client does: 401 with a session, then the token stage. */
async function register(t: ExecutionContext, d: MatrixDouble, username: string, password = 'correct horse'): Promise<Account> {
  const first = await call(d, 'POST', `${C}/register`, { body: { username, password } });
  t.is(first.status, 401);
  const second = await call(d, 'POST', `${C}/register`, {
    body: { username, password, auth: { type: 'm.login.registration_token', token: DEFAULT_REGISTRATION_TOKEN, session: first.json.session } },
  });
  t.is(second.status, 200, second.text);
  return { userId: second.json.user_id, token: second.json.access_token, deviceId: second.json.device_id };
}

async function createRoom(d: MatrixDouble, who: Account, body: unknown): Promise<string> {
  const reply = await call(d, 'POST', `${C}/createRoom`, { token: who.token, body });
  if (reply.status !== 200) throw new Error(`createRoom: ${reply.status} ${reply.text}`);
  return reply.json.room_id;
}

function send(d: MatrixDouble, who: Account, roomId: string, txnId: string, body: string): Promise<Reply> {
  return call(d, 'PUT', `${C}/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txnId}`, { token: who.token, body: { msgtype: 'm.text', body } });
}

/** Syncs (long-polling 500 ms at a time) until `pick` finds something in a response; returns it and the cursor. */
async function syncUntil<T>(
  d: MatrixDouble,
  who: Account,
  since: string | undefined,
  what: string,
  pick: (body: J) => T | undefined,
): Promise<{ value: T; since: string }> {
  let cursor = since;
  let found: T | undefined;
  await waitUntil(
    async () => {
      const query = cursor === undefined ? 'timeout=500' : `timeout=500&since=${cursor}`;
      const reply = await call(d, 'GET', `${C}/sync?${query}`, { token: who.token });
      if (reply.status !== 200) throw new Error(`sync: ${reply.status} ${reply.text}`);
      cursor = reply.json.next_batch;
      found = pick(reply.json);
      return found !== undefined;
    },
    { message: what },
  );
  return { value: found as T, since: cursor as string };
}

/** Waits until a /sync with this timeout is held by the double and nothing else is in flight. */
async function pollWaiting(d: MatrixDouble, timeout: string): Promise<void> {
  await waitUntil(() => d.inFlight === 1 && d.requests.some((r) => r.path.endsWith('/sync') && r.query.timeout === timeout), {
    message: `the /sync?timeout=${timeout} long poll to be waiting`,
  });
}

const timelineOf = (body: J, roomId: string): J[] => body.rooms?.join?.[roomId]?.timeline?.events ?? [];

test('registration: 401 with the registration-token flow and a session, then the token stage registers', async (t) => {
  const d = await withDouble(t);
  const first = await call(d, 'POST', `${C}/register`, { body: { username: 'alice', password: 'pw' } });
  t.is(first.status, 401);
  t.deepEqual(first.json.flows, [{ stages: ['m.login.registration_token'] }]);
  t.is(typeof first.json.session, 'string');
  t.is(first.json.session.length, 32);
  t.false('params' in first.json, 'Conduit sends no params');
  t.false('errcode' in first.json);

  const second = await call(d, 'POST', `${C}/register`, {
    body: { username: 'alice', password: 'pw', auth: { type: 'm.login.registration_token', token: DEFAULT_REGISTRATION_TOKEN, session: first.json.session } },
  });
  t.is(second.status, 200);
  t.is(second.json.user_id, `@alice:${SERVER}`);
  t.regex(second.json.access_token, /^[A-Za-z0-9]{32}$/);
  t.regex(second.json.device_id, /^[A-Za-z0-9]{10}$/);

  const whoami = await call(d, 'GET', `${C}/account/whoami`, { token: second.json.access_token });
  t.deepEqual(whoami.json, { user_id: `@alice:${SERVER}`, device_id: second.json.device_id });
  t.is(d.user(`@alice:${SERVER}`)?.displayname, 'alice ⚡️');

  const replay = await call(d, 'POST', `${C}/register`, {
    body: { username: 'alice2', auth: { type: 'm.login.registration_token', token: DEFAULT_REGISTRATION_TOKEN, session: first.json.session } },
  });
  t.is(replay.status, 403, 'a completed session is gone');
  t.deepEqual(replay.json, { errcode: 'M_FORBIDDEN', error: 'M_FORBIDDEN: UIAA session does not exist.' });
});

test('registration: a wrong token is 401 M_FORBIDDEN with the flows and the same session, which stays usable', async (t) => {
  const d = await withDouble(t);
  const first = await call(d, 'POST', `${C}/register`, { body: { username: 'bob' } });
  const session = first.json.session;
  const wrong = await call(d, 'POST', `${C}/register`, { body: { username: 'bob', auth: { type: 'm.login.registration_token', token: 'nope', session } } });
  t.is(wrong.status, 401);
  t.deepEqual(wrong.json, { errcode: 'M_FORBIDDEN', error: 'Invalid registration token.', flows: [{ stages: ['m.login.registration_token'] }], session });
  t.is(d.user(`@bob:${SERVER}`), undefined);

  const right = await call(d, 'POST', `${C}/register`, {
    body: { username: 'bob', auth: { type: 'm.login.registration_token', token: DEFAULT_REGISTRATION_TOKEN, session } },
  });
  t.is(right.status, 200);

  const unknown = await call(d, 'POST', `${C}/register`, {
    body: { username: 'carol', auth: { type: 'm.login.registration_token', token: DEFAULT_REGISTRATION_TOKEN, session: 'x'.repeat(32) } },
  });
  t.is(unknown.status, 403);
  t.is(unknown.json.errcode, 'M_FORBIDDEN');
});

test('registration: usernames are checked before UIAA (M_USER_IN_USE, M_INVALID_USERNAME), and can be disabled', async (t) => {
  const d = await withDouble(t);
  await register(t, d, 'alice');
  const taken = await call(d, 'POST', `${C}/register`, { body: { username: 'alice' } });
  t.is(taken.status, 400);
  t.deepEqual(taken.json, { errcode: 'M_USER_IN_USE', error: 'M_USER_IN_USE: Desired user ID is already taken.' });
  t.is((await call(d, 'POST', `${C}/register`, { body: { username: 'conduit' } })).json.errcode, 'M_USER_IN_USE');

  for (const bad of ['al ice', 'alice!', 'é', '', '@alice:elsewhere.org', 'a:b']) {
    const reply = await call(d, 'POST', `${C}/register`, { body: { username: bad } });
    t.is(reply.status, 400, bad);
    t.deepEqual(reply.json, { errcode: 'M_INVALID_USERNAME', error: 'M_INVALID_USERNAME: Username is invalid.' }, bad);
  }
  const upper = await call(d, 'POST', `${C}/register`, { body: { username: 'Dave.Smith' } });
  t.is(upper.status, 401, 'Conduit lowercases the username before checking it');
  t.is((await call(d, 'POST', `${C}/register`, { body: { username: 'DAVE.smith_=-/+9' } })).status, 401);

  t.deepEqual((await call(d, 'GET', `${C}/register/available?username=zoe`)).json, { available: true });
  t.is((await call(d, 'GET', `${C}/register/available?username=Alice`)).json.errcode, 'M_USER_IN_USE');
  t.is((await call(d, 'GET', `${C}/register/available?username=a%20b`)).json.errcode, 'M_INVALID_USERNAME');
  t.is((await call(d, 'GET', `${C}/register/available`)).json.errcode, 'M_BAD_JSON');

  t.is((await call(d, 'POST', `${C}/register`, { raw: '' })).json.errcode, 'M_NOT_JSON');
  t.is((await call(d, 'POST', `${C}/register`, { raw: '{nope' })).json.errcode, 'M_BAD_JSON');

  d.allowRegistration = false;
  const disabled = await call(d, 'POST', `${C}/register`, { body: { username: 'erin' } });
  t.is(disabled.status, 403);
  t.deepEqual(disabled.json, { errcode: 'M_FORBIDDEN', error: 'M_FORBIDDEN: Registration has been disabled.' });
});

test('registration: inhibit_login gives no token or device; without a configured token the stage is m.login.dummy', async (t) => {
  const d = await withDouble(t, { registrationToken: null });
  const first = await call(d, 'POST', `${C}/register`, { body: { username: 'frank', password: 'pw', inhibit_login: true } });
  t.deepEqual(first.json.flows, [{ stages: ['m.login.dummy'] }]);
  const done = await call(d, 'POST', `${C}/register`, {
    body: { username: 'frank', password: 'pw', inhibit_login: true, auth: { type: 'm.login.dummy', session: first.json.session } },
  });
  t.deepEqual(done.json, { user_id: `@frank:${SERVER}` });
  t.deepEqual(d.user(`@frank:${SERVER}`)?.devices, []);
  t.false(d.user(`@frank:${SERVER}`)?.admin, 'inhibit_login returns before the first-user admin grant');
  const login = await call(d, 'POST', `${C}/login`, { body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'frank' }, password: 'pw' } });
  t.is(login.status, 200);
});

test('login and whoami: password login, tokens required and checked, logout', async (t) => {
  const d = await withDouble(t);
  const alice = await register(t, d, 'alice', 'secret');
  const viaLocalpart = await call(d, 'POST', `${C}/login`, {
    body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'ALICE' }, password: 'secret', initial_device_display_name: 'laptop' },
  });
  t.is(viaLocalpart.status, 200);
  t.is(viaLocalpart.json.user_id, alice.userId);
  t.is(viaLocalpart.json.home_server, SERVER);
  t.not(viaLocalpart.json.device_id, alice.deviceId);
  const viaLegacyUser = await call(d, 'POST', `${C}/login`, { body: { type: 'm.login.password', user: alice.userId, password: 'secret' } });
  t.is(viaLegacyUser.status, 200);

  const wrong = await call(d, 'POST', `${C}/login`, { body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'nope' } });
  t.is(wrong.status, 403);
  t.deepEqual(wrong.json, { errcode: 'M_FORBIDDEN', error: 'M_FORBIDDEN: Wrong username or password.' });
  t.is(
    (await call(d, 'POST', `${C}/login`, { body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'nobody' }, password: 'x' } })).status,
    403,
  );
  t.is((await call(d, 'POST', `${C}/login`, { body: { type: 'm.login.sso' } })).json.errcode, 'M_UNKNOWN');

  const missing = await call(d, 'GET', `${C}/account/whoami`);
  t.is(missing.status, 401);
  t.deepEqual(missing.json, { errcode: 'M_MISSING_TOKEN', error: 'M_MISSING_TOKEN: Missing access token.' });
  const unknown = await call(d, 'GET', `${C}/account/whoami`, { token: 'not-a-token' });
  t.is(unknown.status, 401);
  t.deepEqual(unknown.json, { errcode: 'M_UNKNOWN_TOKEN', error: 'M_UNKNOWN_TOKEN: Unknown access token.' });
  const queryToken = await call(d, 'GET', `${C}/account/whoami?access_token=${viaLocalpart.json.access_token}`);
  t.is(queryToken.json.device_id, viaLocalpart.json.device_id);

  t.is((await call(d, 'POST', `${C}/logout`, { token: viaLocalpart.json.access_token, body: {} })).status, 200);
  t.is((await call(d, 'GET', `${C}/account/whoami`, { token: viaLocalpart.json.access_token })).json.errcode, 'M_UNKNOWN_TOKEN');
  t.is((await call(d, 'GET', `${C}/account/whoami`, { token: alice.token })).status, 200, 'other devices keep working');
});

test('rooms: a direct trusted_private_chat invites, only invitees may join, membership follows', async (t) => {
  const d = await withDouble(t);
  const alice = await register(t, d, 'alice');
  const bob = await register(t, d, 'bob');
  const carol = await register(t, d, 'carol');
  const roomId = await createRoom(d, alice, { is_direct: true, preset: 'trusted_private_chat', invite: [bob.userId] });
  t.regex(roomId, /^![A-Za-z0-9_-]{43}$/, 'a room version 12 id');

  const room = d.room(roomId);
  t.truthy(room);
  t.true(room?.isDirect);
  t.is(room?.joinRule, 'invite');
  t.deepEqual(room?.members, { [alice.userId]: 'join', [bob.userId]: 'invite' });
  const create = room?.events.find((e) => e.type === 'm.room.create');
  t.deepEqual(create?.content, { additional_creators: [bob.userId], room_version: '12' });
  const inviteEvent = room?.events.find((e) => e.type === 'm.room.member' && e.state_key === bob.userId);
  t.deepEqual(inviteEvent?.content, { membership: 'invite', is_direct: true, displayname: 'bob ⚡️' });

  const intruder = await call(d, 'POST', `${C}/join/${encodeURIComponent(roomId)}`, { token: carol.token, body: {} });
  t.is(intruder.status, 403);
  t.deepEqual(intruder.json, { errcode: 'M_FORBIDDEN', error: 'M_FORBIDDEN: Event is not authorized.' });
  const byStranger = await call(d, 'POST', `${C}/rooms/${encodeURIComponent(roomId)}/invite`, { token: carol.token, body: { user_id: carol.userId } });
  t.is(byStranger.status, 403);
  t.is(byStranger.json.error, "M_FORBIDDEN: You don't have permission to view this room.");

  const { value: invite } = await syncUntil(d, bob, undefined, "bob's invite", (b) => b.rooms?.invite?.[roomId]);
  const stripped = invite.invite_state.events as J[];
  t.deepEqual(
    stripped.map((e) => e.type),
    ['m.room.create', 'm.room.join_rules', 'm.room.member'],
  );
  t.deepEqual(stripped.at(-1), {
    content: { membership: 'invite', is_direct: true, displayname: 'bob ⚡️' },
    sender: alice.userId,
    state_key: bob.userId,
    type: 'm.room.member',
  });

  const joined = await call(d, 'POST', `${C}/join/${encodeURIComponent(roomId)}`, { token: bob.token, body: {} });
  t.deepEqual(joined.json, { room_id: roomId });
  t.is((await call(d, 'POST', `${C}/rooms/${encodeURIComponent(roomId)}/invite`, { token: alice.token, body: { user_id: carol.userId } })).status, 200);
  const again = await call(d, 'POST', `${C}/rooms/${encodeURIComponent(roomId)}/invite`, { token: alice.token, body: { user_id: bob.userId } });
  t.is(again.status, 403, 'a joined user cannot be invited');
  t.is((await call(d, 'POST', `${C}/rooms/${encodeURIComponent(roomId)}/join`, { token: carol.token, body: {} })).status, 200);
  t.deepEqual(d.room(roomId)?.joined.sort(), [alice.userId, bob.userId, carol.userId].sort());
  const members = await call(d, 'GET', `${C}/rooms/${encodeURIComponent(roomId)}/joined_members`, { token: carol.token });
  t.deepEqual(Object.keys(members.json.joined).sort(), [alice.userId, bob.userId, carol.userId].sort());
  const memberState = await call(d, 'GET', `${C}/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(bob.userId)}`, {
    token: alice.token,
  });
  t.is(memberState.json.membership, 'join');
  t.deepEqual((await call(d, 'GET', `${C}/joined_rooms`, { token: bob.token })).json, { joined_rooms: [roomId] });

  t.is((await call(d, 'POST', `${C}/rooms/${encodeURIComponent(roomId)}/leave`, { token: carol.token, body: {} })).status, 200);
  t.is(d.room(roomId)?.members[carol.userId], 'leave');
  t.is((await call(d, 'POST', `${C}/rooms/${encodeURIComponent(roomId)}/join`, { token: carol.token, body: {} })).status, 403, 'no invite any more');
});

test('rooms: public rooms and aliases; unknown rooms and aliases answer as Conduit does', async (t) => {
  const d = await withDouble(t);
  const alice = await register(t, d, 'alice');
  const bob = await register(t, d, 'bob');
  const roomId = await createRoom(d, alice, { preset: 'public_chat', room_alias_name: 'lobby', name: 'Lobby' });
  const alias = `#lobby:${SERVER}`;
  t.deepEqual(d.room(alias)?.aliases, [alias]);
  t.is(d.room(alias)?.name, 'Lobby');
  t.is((await call(d, 'POST', `${C}/createRoom`, { token: bob.token, body: { room_alias_name: 'lobby' } })).json.errcode, 'M_ROOM_IN_USE');
  t.deepEqual((await call(d, 'POST', `${C}/join/${encodeURIComponent(alias)}`, { token: bob.token, body: {} })).json, { room_id: roomId });
  t.deepEqual((await call(d, 'GET', `${C}/directory/room/${encodeURIComponent(alias)}`)).json, { room_id: roomId, servers: [SERVER] });

  const noAlias = await call(d, 'POST', `${C}/join/${encodeURIComponent(`#nowhere:${SERVER}`)}`, { token: bob.token, body: {} });
  t.is(noAlias.status, 404);
  t.deepEqual(noAlias.json, { errcode: 'M_NOT_FOUND', error: 'M_NOT_FOUND: Room with alias not found.' });
  const noRoom = await call(d, 'POST', `${C}/join/${encodeURIComponent('!doesnotexist')}`, { token: bob.token, body: {} });
  t.is(noRoom.status, 500);
  t.deepEqual(noRoom.json, { errcode: 'M_UNKNOWN', error: 'No server available to assist in joining.' });
  const badVersion = await call(d, 'POST', `${C}/createRoom`, { token: bob.token, body: { room_version: '2' } });
  t.is(badVersion.json.errcode, 'M_UNSUPPORTED_ROOM_VERSION');
  const v10 = await createRoom(d, bob, { room_version: '10', invite: [alice.userId], preset: 'trusted_private_chat' });
  t.regex(v10, new RegExp(`^![A-Za-z0-9]{18}:${SERVER.replaceAll('.', '\\.')}$`));
  const power = d.room(v10)?.events.find((e) => e.type === 'm.room.power_levels');
  t.deepEqual(power?.content, { users: { [bob.userId]: 100, [alice.userId]: 100 } });
});

test('sending: 200 with an event id, the same device and txnId are idempotent, non-members are refused', async (t) => {
  const d = await withDouble(t);
  const alice = await register(t, d, 'alice', 'pw');
  const bob = await register(t, d, 'bob');
  const roomId = await createRoom(d, alice, {});
  const first = await send(d, alice, roomId, 'txn-1', 'hello');
  t.is(first.status, 200);
  t.regex(first.json.event_id, /^\$[A-Za-z0-9_-]{43}$/);
  const retry = await send(d, alice, roomId, 'txn-1', 'hello (retried)');
  t.deepEqual(retry.json, first.json);
  const messages = () => d.room(roomId)?.events.filter((e) => e.type === 'm.room.message') ?? [];
  t.is(messages().length, 1);
  t.deepEqual(messages()[0]?.content, { msgtype: 'm.text', body: 'hello' });
  t.is(messages()[0]?.unsigned?.transaction_id, 'txn-1');

  const otherDevice = await call(d, 'POST', `${C}/login`, {
    body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'pw' },
  });
  const fromLaptop = await send(d, { ...alice, token: otherDevice.json.access_token }, roomId, 'txn-1', 'from another device');
  t.not(fromLaptop.json.event_id, first.json.event_id, 'transaction ids are per device');
  t.is(messages().length, 2);

  const outsider = await send(d, bob, roomId, 'txn-1', 'let me in');
  t.is(outsider.status, 403);
  t.deepEqual(outsider.json, { errcode: 'M_FORBIDDEN', error: 'M_FORBIDDEN: Event is not authorized.' });
  t.is(messages().length, 2);
  const nowhere = await send(d, alice, '!unknownroom', 'txn-9', 'x');
  t.is(nowhere.status, 500);
  t.is(nowhere.json.errcode, 'M_UNKNOWN');
  t.is((await call(d, 'PUT', `${C}/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t2`, { token: alice.token, raw: '[1' })).json.errcode, 'M_BAD_JSON');
});

test('sync: initial and incremental timelines, and a long poll that waits for the next event', async (t) => {
  const d = await withDouble(t);
  const alice = await register(t, d, 'alice');
  const bob = await register(t, d, 'bob');
  const roomId = await createRoom(d, alice, { invite: [bob.userId] });
  await call(d, 'POST', `${C}/join/${encodeURIComponent(roomId)}`, { token: bob.token, body: {} });
  await send(d, alice, roomId, 't0a', 'warm-up a');
  await send(d, alice, roomId, 't0b', 'warm-up b');
  const sent = await send(d, alice, roomId, 't1', 'first');

  const initial = await call(d, 'GET', `${C}/sync`, { token: bob.token });
  t.is(initial.status, 200);
  const timeline = timelineOf(initial.json, roomId);
  t.is(timeline.length, 10);
  t.true(initial.json.rooms.join[roomId].timeline.limited, '11 events since the room was created');
  const message = timeline.find((e) => e.event_id === sent.json.event_id);
  t.deepEqual(message, {
    content: { msgtype: 'm.text', body: 'first' },
    type: 'm.room.message',
    event_id: sent.json.event_id,
    sender: alice.userId,
    origin_server_ts: message.origin_server_ts,
    unsigned: { age: 1 },
  });
  t.true(initial.json.rooms.join[roomId].state.events.some((e: J) => e.type === 'm.room.create'));
  t.is(initial.json.account_data.events[0].type, 'm.push_rules');

  const quiet = await call(d, 'GET', `${C}/sync?since=${initial.json.next_batch}&timeout=50`, { token: bob.token });
  t.deepEqual(Object.keys(quiet.json), ['next_batch'], 'nothing new: an empty response after the timeout');

  const started = Date.now();
  const poll = call(d, 'GET', `${C}/sync?since=${initial.json.next_batch}&timeout=20000`, { token: bob.token });
  await pollWaiting(d, '20000');
  const second = await send(d, alice, roomId, 't2', 'second');
  const woken = await poll;
  t.true(Date.now() - started < 15_000, 'the poll returned when the event arrived, not at the timeout');
  t.is(woken.status, 200);
  const after = await call(d, 'GET', `${C}/sync?since=${woken.json.next_batch}`, { token: bob.token });
  const next = [...timelineOf(woken.json, roomId), ...timelineOf(after.json, roomId)];
  t.deepEqual(
    next.map((e) => e.event_id),
    [second.json.event_id],
  );
  t.false('transaction_id' in next[0].unsigned, "another user's transaction id is not shown");
  const own = await call(d, 'GET', `${C}/sync?since=${initial.json.next_batch}`, { token: alice.token });
  t.is(timelineOf(own.json, roomId).find((e) => e.event_id === second.json.event_id)?.unsigned.transaction_id, 't2');
  t.is((await call(d, 'GET', `${C}/sync?timeout=soon`, { token: bob.token })).json.errcode, 'M_BAD_JSON');
});

test('admin room: the first user is the admin; deactivate-user --leave-rooms deactivates and answers as @conduit', async (t) => {
  const d = await withDouble(t);
  const admin = await register(t, d, 'admin');
  const alice = await register(t, d, 'alice', 'pw');
  t.true(d.user(admin.userId)?.admin);
  t.false(d.user(alice.userId)?.admin);
  t.is(d.room(`#admins:${SERVER}`)?.roomId, d.adminRoomId);
  t.is(d.room(d.adminRoomId)?.name, `${SERVER} Admin Room`);

  const adminRoomMessages = () => d.room(d.adminRoomId)?.events.filter((e) => e.type === 'm.room.message') ?? [];
  await waitUntil(() => adminRoomMessages().some((e) => e.content.body === `New user ${alice.userId} registered on this server.`), {
    message: "Conduit's notice of alice's registration",
  });
  const { value: adminRoom } = await syncUntil(d, admin, undefined, 'the admin room in the admin user’s sync', (b) => b.rooms?.join?.[d.adminRoomId]);
  t.truthy(adminRoom);

  const shared = await createRoom(d, alice, { invite: [admin.userId] });
  await call(d, 'POST', `${C}/join/${encodeURIComponent(shared)}`, { token: admin.token, body: {} });
  t.is((await send(d, alice, d.adminRoomId, 'a1', `@conduit:${SERVER}: deactivate-user @admin:${SERVER}`)).status, 403, 'only members of the admin room');

  const command = `@conduit:${SERVER}: deactivate-user --leave-rooms ${alice.userId}`;
  const sent = await send(d, admin, d.adminRoomId, 'cmd-1', command);
  t.is(sent.status, 200);
  const reply = await waitUntil(
    () => adminRoomMessages().find((e) => e.sender === `@conduit:${SERVER}` && e.content.body === `User ${alice.userId} has been deactivated`),
    {
      message: "@conduit's reply",
    },
  );
  t.deepEqual(reply.content, { msgtype: 'm.text', body: `User ${alice.userId} has been deactivated` });
  const order = adminRoomMessages().map((e) => e.event_id);
  t.true(order.indexOf(reply.event_id) > order.indexOf(sent.json.event_id), 'the reply follows the command');

  const gone = await call(d, 'GET', `${C}/account/whoami`, { token: alice.token });
  t.is(gone.status, 401);
  t.is(gone.json.errcode, 'M_UNKNOWN_TOKEN');
  t.true(d.user(alice.userId)?.deactivated);
  t.deepEqual(d.user(alice.userId)?.devices, []);
  t.is(d.room(shared)?.members[alice.userId], 'leave');
  const login = await call(d, 'POST', `${C}/login`, { body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'pw' } });
  t.is(login.status, 403);
  t.deepEqual(login.json, { errcode: 'M_USER_DEACTIVATED', error: 'M_USER_DEACTIVATED: The user has been deactivated' });
  t.is((await call(d, 'POST', `${C}/register`, { body: { username: 'alice' } })).json.errcode, 'M_USER_IN_USE');

  await send(d, admin, d.adminRoomId, 'cmd-2', `@conduit:${SERVER}: deactivate-user @nobody:${SERVER}`);
  await waitUntil(() => adminRoomMessages().some((e) => e.content.body === `User @nobody:${SERVER} doesn't exist on this server`), {
    message: 'the unknown-user reply',
  });
  await send(d, admin, d.adminRoomId, 'cmd-3', `@conduit:${SERVER}: frobnicate`);
  const clap = await waitUntil(
    () => adminRoomMessages().find((e) => typeof e.content.body === 'string' && e.content.body.startsWith("error: unrecognized subcommand 'frobnicate'")),
    {
      message: 'the clap error',
    },
  );
  t.is(clap.content.format, 'org.matrix.custom.html');
  t.true(String(clap.content.body).includes(`@conduit:${SERVER}:`), 'server.name is replaced');
  await d.idle();
  t.deepEqual(d.errors, []);
});

test('admin room: without --leave-rooms the account stays in its rooms; the last admin cannot leave', async (t) => {
  const d = await withDouble(t);
  const admin = await register(t, d, 'admin');
  const bob = await register(t, d, 'bob');
  const roomId = await createRoom(d, bob, {});
  await send(d, admin, d.adminRoomId, 'c1', `@conduit:${SERVER} deactivate_user ${bob.userId}`);
  await waitUntil(() => d.user(bob.userId)?.deactivated, { message: 'bob deactivated' });
  t.is(d.room(roomId)?.members[bob.userId], 'join');
  const leave = await call(d, 'POST', `${C}/rooms/${encodeURIComponent(d.adminRoomId)}/leave`, { token: admin.token, body: {} });
  t.is(leave.status, 403);
  t.deepEqual(leave.json, { errcode: 'M_FORBIDDEN', error: 'M_FORBIDDEN: Last admin cannot leave from admins room.' });
});

test('faults: down()/up(), failNext, a one-off M_LIMIT_EXCEEDED and latency', async (t) => {
  const d = await withDouble(t);
  const alice = await register(t, d, 'alice');
  const port = d.port;

  const poll = call(d, 'GET', `${C}/sync?since=999999&timeout=30000`, { token: alice.token });
  await pollWaiting(d, '30000');
  await d.down();
  await t.throwsAsync(poll, { instanceOf: TypeError }, 'an open connection is cut');
  await t.throwsAsync(call(d, 'GET', `${C}/account/whoami`, { token: alice.token }), { instanceOf: TypeError }, 'connections are refused');
  await d.up();
  t.is(d.port, port);
  t.is((await call(d, 'GET', `${C}/account/whoami`, { token: alice.token })).status, 200);

  d.failNext(503);
  const failed = await call(d, 'GET', `${C}/account/whoami`, { token: alice.token });
  t.is(failed.status, 503);
  t.deepEqual(failed.json, { errcode: 'M_UNKNOWN', error: 'M_UNKNOWN: Injected fault' });
  t.is((await call(d, 'GET', `${C}/account/whoami`, { token: alice.token })).status, 200, 'once');

  d.failNext(403, 'M_FORBIDDEN', { path: '/createRoom', message: 'M_FORBIDDEN: Room creation has been disabled.' });
  t.is((await call(d, 'GET', `${C}/account/whoami`, { token: alice.token })).status, 200, 'another path is not affected');
  t.is(d.pendingFaults, 1);
  const refused = await call(d, 'POST', `${C}/createRoom`, { token: alice.token, body: {} });
  t.deepEqual(refused.json, { errcode: 'M_FORBIDDEN', error: 'M_FORBIDDEN: Room creation has been disabled.' });
  d.failNext(502, undefined, { body: '<html>Bad Gateway</html>' });
  const proxy = await call(d, 'GET', `${C}/account/whoami`, { token: alice.token });
  t.is(proxy.status, 502);
  t.is(proxy.text, '<html>Bad Gateway</html>');

  d.limitNext(1500);
  const limited = await call(d, 'GET', `${C}/account/whoami`, { token: alice.token });
  t.is(limited.status, 429);
  t.deepEqual(limited.json, { errcode: 'M_LIMIT_EXCEEDED', error: 'Too many requests', retry_after_ms: 1500 });
  t.is(limited.headers.get('retry-after'), '2');
  t.is((await call(d, 'GET', `${C}/account/whoami`, { token: alice.token })).status, 200, 'only once');

  d.latencyMs = 250;
  const slowStart = Date.now();
  t.is((await call(d, 'GET', `${C}/account/whoami`, { token: alice.token })).status, 200);
  t.true(Date.now() - slowStart >= 240);
  d.clearFaults();
  t.is(d.latencyMs, 0);
});

test('routing and inspection: M_UNRECOGNIZED, the request log, users and rooms', async (t) => {
  const d = await withDouble(t);
  const alice = await register(t, d, 'alice');
  const unknown = await call(d, 'GET', '/_matrix/client/v3/nonsense', { token: alice.token });
  t.is(unknown.status, 404);
  t.deepEqual(unknown.json, { errcode: 'M_UNRECOGNIZED', error: 'M_UNRECOGNIZED: Unrecognized request' });
  t.is((await call(d, 'DELETE', `${C}/createRoom`, { token: alice.token })).status, 405);
  t.deepEqual((await call(d, 'GET', `/_matrix/client/r0/account/whoami`, { token: alice.token })).json.user_id, alice.userId);
  t.true((await call(d, 'GET', '/_matrix/client/versions')).json.versions.includes('v1.12'));

  const whoamis = d.requests.filter((r) => r.path.endsWith('/account/whoami'));
  t.is(whoamis.length, 1);
  t.like(whoamis[0], { method: 'GET', userId: alice.userId, deviceId: alice.deviceId, status: 200 });
  t.like(
    d.requests.find((r) => r.path.endsWith('/nonsense')),
    { status: 404, errcode: 'M_UNRECOGNIZED' },
  );
  t.deepEqual(
    d
      .users()
      .map((u) => [u.userId, u.admin, u.deactivated])
      .sort(),
    [
      [`@alice:${SERVER}`, true, false],
      [`@conduit:${SERVER}`, true, false],
    ],
  );
  const direct = d.registerUser('zed', 'pw');
  t.is(direct.userId, `@zed:${SERVER}`);
  t.is((await call(d, 'GET', `${C}/account/whoami`, { token: direct.accessToken })).json.user_id, direct.userId);
  t.throws(() => d.registerUser('zed'), { message: /M_USER_IN_USE/ });
  t.deepEqual(
    d.rooms().map((r) => r.roomId),
    [d.adminRoomId],
  );
});
