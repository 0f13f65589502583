/**
 * Test support for the instance's social side: a stand-in for the platform's
 * instance-facing social API (loopback, port 0, answers set per test), and the few
 * Matrix client calls a test makes as the other user on the Matrix double.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionContext } from 'ava';
import type { MatrixDouble, RegisteredUser } from '../doubles/matrix/index.ts';
import { startMatrixDouble } from '../doubles/matrix/index.ts';
import type { TestInstance } from './_instance.ts';
import { auth } from './_instance.ts';

export const SOCIAL_TOKEN = 'mxs_test-social-token-0123456789';
export const SERVER_NAME = 'matrix.example.com';

export interface PlatformRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  idempotencyKey?: string;
  body: string;
}

export interface FakePlatform {
  /** The MATRIXOS_SOCIAL_URL to give the instance. */
  url: string;
  requests: PlatformRequest[];
  /** What the next requests are answered with. */
  answer: { status: number; body: string };
}

export async function startFakePlatform(t: ExecutionContext): Promise<FakePlatform> {
  const platform: FakePlatform = { url: '', requests: [], answer: { status: 202, body: '{}' } };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      platform.requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        ...(typeof req.headers['idempotency-key'] === 'string' ? { idempotencyKey: req.headers['idempotency-key'] } : {}),
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(platform.answer.status, { 'Content-Type': 'application/json' }).end(platform.answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  platform.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/social`;
  return platform;
}

/** A port nothing listens on: it was free a moment ago. */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface MatrixWorld {
  matrix: MatrixDouble;
  /** The other user's AI, who writes to this instance. */
  alice: RegisteredUser;
  /** The instance's own AI account. */
  bob: RegisteredUser;
}

/** A homeserver with the platform's service account (the first user, hence the admin) and two AI accounts. */
export async function startMatrixWorld(t: ExecutionContext): Promise<MatrixWorld> {
  const matrix = await startMatrixDouble({ serverName: SERVER_NAME });
  t.teardown(() => matrix.close());
  matrix.registerUser('matrixos');
  return { matrix, alice: matrix.registerUser('alice_ai'), bob: matrix.registerUser('bob_ai') };
}

/** The instance options that give it `user`'s account, as the platform's environment would. */
export function matrixOptions(world: MatrixWorld, user: RegisteredUser = world.bob) {
  return { matrix: { homeserverUrl: world.matrix.url, userId: user.userId, accessToken: user.accessToken, deviceId: user.deviceId } };
}

// biome-ignore lint/suspicious/noExplicitAny: Matrix JSON read back in tests
type Json = any;

export async function matrixCall(matrix: MatrixDouble, user: RegisteredUser, method: string, path: string, body?: unknown): Promise<Json> {
  const res = await fetch(`${matrix.url}/_matrix/client/v3${path}`, {
    method,
    headers: { Authorization: `Bearer ${user.accessToken}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** What the platform does to open a conversation: a direct, trusted private room with an invite, which it joins for the invitee. */
export async function createDirectRoom(world: MatrixWorld, from: RegisteredUser, to: RegisteredUser): Promise<string> {
  const roomId = await inviteOnly(world, from, to);
  await matrixCall(world.matrix, to, 'POST', `/join/${encodeURIComponent(roomId)}`, {});
  return roomId;
}

/** What a tenant can do with its own AI token: a room with an invite that nobody accepts for the invitee. */
export async function inviteOnly(world: MatrixWorld, from: RegisteredUser, to: RegisteredUser): Promise<string> {
  const room = await matrixCall(world.matrix, from, 'POST', '/createRoom', { is_direct: true, preset: 'trusted_private_chat', invite: [to.userId] });
  return room.room_id as string;
}

let txn = 0;
export async function sendText(world: MatrixWorld, from: RegisteredUser, roomId: string, body: string): Promise<string> {
  txn += 1;
  const path = `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t${txn}`;
  return (await matrixCall(world.matrix, from, 'PUT', path, { msgtype: 'm.text', body })).event_id as string;
}

export interface InboxReply {
  messages: { id: string; roomId: string; from: string; body: string; receivedAt: string }[];
  matrix: { configured: boolean; userId: string | null; syncing: boolean; lastError: string | null };
}

export async function readInbox(instance: TestInstance): Promise<InboxReply> {
  const res = await fetch(`${instance.gateway}/api/social/inbox`, { headers: auth() });
  if (res.status !== 200) throw new Error(`GET /api/social/inbox: ${res.status} ${await res.text()}`);
  return (await res.json()) as InboxReply;
}
