/** The platform's Matrix client against the Matrix double (Conduit's answers). */
import test from 'ava';
import { MatrixClient, MatrixError, MatrixUnavailableError, MatrixUserInUseError } from '../../../control/social/matrix-client.ts';
import { DEFAULT_REGISTRATION_TOKEN, type MatrixDouble, startMatrixDouble } from '../../doubles/matrix/index.ts';
import { waitUntil } from '../../helpers/wait.ts';

const SERVER = 'matrix.example.com';

async function double(t: import('ava').ExecutionContext): Promise<MatrixDouble> {
  const d = await startMatrixDouble({ serverName: SERVER });
  t.teardown(() => d.close());
  return d;
}

test('registration with the registration token: two requests, a session; an existing account is MatrixUserInUseError', async (t) => {
  const d = await double(t);
  const client = new MatrixClient(d.url);
  const alice = await client.register('alice_ai', 'pw-alice-0123456789', DEFAULT_REGISTRATION_TOKEN);
  t.is(alice.userId, `@alice_ai:${SERVER}`);
  t.truthy(alice.accessToken);
  t.is(d.requests.filter((r) => r.path === '/_matrix/client/v3/register').length, 2);
  await t.throwsAsync(client.register('alice_ai', 'pw', DEFAULT_REGISTRATION_TOKEN), { instanceOf: MatrixUserInUseError });
  const wrong = await t.throwsAsync(client.register('bob_ai', 'pw', 'not-the-token'), { instanceOf: MatrixError });
  t.is(wrong.errcode, 'M_FORBIDDEN');
  t.is(d.user(`@bob_ai:${SERVER}`), undefined, 'nothing registered with a wrong token');
  const again = await client.login('alice_ai', 'pw-alice-0123456789');
  t.is(again.userId, alice.userId);
});

test('AI to AI: a direct room, the invitee joins, a send retried with its transaction id posts once', async (t) => {
  const d = await double(t);
  const client = new MatrixClient(d.url);
  const alice = await client.register('alice_ai', 'pw-a-0123456789', DEFAULT_REGISTRATION_TOKEN);
  const bob = await client.register('bob_ai', 'pw-b-0123456789', DEFAULT_REGISTRATION_TOKEN);
  const roomId = await client.createDirectRoom(alice.accessToken, bob.userId);
  await client.join(bob.accessToken, roomId);
  const first = await client.sendText(alice.accessToken, roomId, 'msg-1', 'hello bob');
  const retried = await client.sendText(alice.accessToken, roomId, 'msg-1', 'hello bob');
  t.is(retried, first);
  const messages = d.room(roomId)!.events.filter((e) => e.type === 'm.room.message');
  t.deepEqual(
    messages.map((e) => [e.sender, e.content.body]),
    [[alice.userId, 'hello bob']],
  );
  const reply = await client.sendText(bob.accessToken, roomId, 'msg-1', 'hi alice');
  t.not(reply, first, 'another sender, another message');
});

test('deactivation through the admin room: the account is gone and its token dies', async (t) => {
  const d = await double(t);
  const client = new MatrixClient(d.url);
  // The first account on a homeserver is its admin: the platform's service account.
  const service = await client.register('platform', 'pw-service-0123456789', DEFAULT_REGISTRATION_TOKEN);
  const alice = await client.register('alice', 'pw-alice-0123456789', DEFAULT_REGISTRATION_TOKEN);
  const adminRoom = await client.joinAlias(service.accessToken, d.adminAlias);
  t.is(adminRoom, d.adminRoomId);
  await client.deactivate(service.accessToken, adminRoom, SERVER, alice.userId, 'deactivate-alice');
  // Conduit runs admin commands after answering the send.
  await waitUntil(() => d.user(alice.userId)?.deactivated === true, { message: 'alice deactivated' });
  const dead = await t.throwsAsync(client.sendText(alice.accessToken, adminRoom, 'x', 'still here?'), { instanceOf: MatrixError });
  t.is(dead.errcode, 'M_UNKNOWN_TOKEN');
});

test('an outage, a 5xx or a rate limit is MatrixUnavailableError: retry later', async (t) => {
  const d = await double(t);
  const client = new MatrixClient(d.url, { timeoutMs: 2000 });
  d.limitNext(1500);
  const limited = await t.throwsAsync(client.login('nobody', 'pw'), { instanceOf: MatrixUnavailableError });
  t.is(limited.retryAfterMs, 1500);
  d.failNext(502);
  await t.throwsAsync(client.login('nobody', 'pw'), { instanceOf: MatrixUnavailableError });
  await d.down();
  await t.throwsAsync(client.register('carol_ai', 'pw', DEFAULT_REGISTRATION_TOKEN), { instanceOf: MatrixUnavailableError, message: /did not answer/ });
  await d.up();
  t.is((await client.register('carol_ai', 'pw-c-0123456789', DEFAULT_REGISTRATION_TOKEN)).userId, `@carol_ai:${SERVER}`);
});
