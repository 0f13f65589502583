/**
 * NomadClient against the Nomad double (test/doubles/nomad/): what goes on the
 * wire (token, namespace, region), how Nomad's plain-text errors surface, which
 * failures are retried and how giving up looks, timeouts, and blocking queries.
 *
 * Timing assertions are about behaviour (a blocking query holds, a timeout cuts a
 * slow answer short), with lower bounds the client controls and generous upper
 * bounds, so a loaded 2-core machine does not make them flaky.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { NomadApiError, NomadClient, type NomadClientOptions, NomadUnavailableError } from '../../../control/orchestrator/nomad/client.ts';
import { OrchestratorError, OrchestratorUnavailableError } from '../../../control/orchestrator/types.ts';
import { type NomadDouble, type NomadDoubleOptions, startNomadDouble } from '../../doubles/nomad/index.ts';
import { waitUntil } from '../../helpers/wait.ts';

const TOKEN = 'client-test-acl-token';

async function startDouble(t: ExecutionContext, options: NomadDoubleOptions = {}): Promise<NomadDouble> {
  const nomad = await startNomadDouble({ token: TOKEN, ...options });
  t.teardown(() => nomad.close());
  return nomad;
}

function clientFor(nomad: NomadDouble, options: Partial<NomadClientOptions> = {}): NomadClient {
  return new NomadClient({ address: nomad.url, token: TOKEN, namespace: 'default', region: null, retryBaseMs: 10, ...options });
}

/** The smallest job the double (and Nomad) accepts: one docker task. */
function minimalJob(id: string, env: Record<string, string> = {}) {
  return {
    ID: id,
    Name: id,
    Type: 'service',
    Datacenters: ['*'],
    TaskGroups: [
      {
        Name: 'web',
        Count: 1,
        Tasks: [{ Name: 'server', Driver: 'docker', Config: { image: 'nginx:1.27' }, Env: env, Resources: { CPU: 100, MemoryMB: 64 } }],
      },
    ],
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Requests the double logged from `from` on, as "METHOD path status". */
const logged = (nomad: NomadDouble, from = 0) => nomad.requests.slice(from).map((r) => `${r.method} ${r.path} ${r.status ?? '-'}`);

// ---------------------------------------------------------------------------
// What goes on the wire.

test('every call carries X-Nomad-Token (not only a Bearer header)', async (t) => {
  const seen: Array<{ url: string; headers: http.IncomingHttpHeaders }> = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-nomad-index': '7' });
      const body =
        req.method === 'PUT'
          ? { EvalID: 'e', EvalCreateIndex: 7, JobModifyIndex: 7, Warnings: '' }
          : req.url!.startsWith('/v1/status/leader')
            ? '127.0.0.1:4647'
            : null;
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new NomadClient({ address, token: TOKEN, namespace: 'team', region: 'eu', retryBaseMs: 10 });

  await client.ping();
  await client.register(minimalJob('web'));
  await client.readJob('web');
  await client.jobAllocations('web');
  await client.stopJob('web', true);
  t.is(seen.length, 6, 'ping is two requests (leader, then a job read)');
  for (const { url, headers } of seen) {
    t.is(headers['x-nomad-token'], TOKEN, url);
    const query = new URL(url, address).searchParams;
    t.is(query.get('namespace'), 'team', url);
    t.is(query.get('region'), 'eu', url);
  }
  t.is(new URL(seen[5]!.url, address).searchParams.get('purge'), 'true');

  // Without a token, no token header at all (Nomad's anonymous policy applies).
  const anonymous = new NomadClient({ address, token: null, namespace: 'default', region: null });
  await anonymous.readJob('web');
  t.is(seen.at(-1)!.headers['x-nomad-token'], undefined);
  t.is(new URL(seen.at(-1)!.url, address).searchParams.get('region'), null, 'no region configured: none sent');
});

test('namespace and region go on every call, and the double honours them', async (t) => {
  const nomad = await startDouble(t, { namespaces: ['default', 'team'], region: 'eu' });
  const client = clientFor(nomad, { namespace: 'team', region: 'eu' });

  const registered = await client.register(minimalJob('web'));
  await nomad.settled();
  t.truthy((await client.readJob('web')).value);
  t.is((await client.jobAllocations('web')).value.length, 1);
  t.deepEqual(await client.listJobs('we').then((jobs) => jobs.map((j) => [j.ID, j.Namespace])), [['web', 'team']]);
  t.truthy(await client.evaluation(registered.EvalID));
  await client.stopJob('web', false);
  await client.ping();

  t.true(nomad.requests.length >= 7);
  for (const request of nomad.requests) {
    t.is(request.query.namespace, 'team', `${request.method} ${request.path}`);
    t.is(request.query.region, 'eu', `${request.method} ${request.path}`);
  }
  t.deepEqual(
    nomad.jobs('team').map((j) => j.ID),
    ['web'],
  );
  t.deepEqual(nomad.jobs('default'), [], 'nothing landed in the default namespace');
});

// ---------------------------------------------------------------------------
// Answers.

test('register returns EvalID and JobModifyIndex', async (t) => {
  const nomad = await startDouble(t);
  const client = clientFor(nomad);
  const response = await client.register(minimalJob('web'));
  t.regex(response.EvalID, /^[0-9a-f-]{36}$/);
  t.true(response.JobModifyIndex > 0);
  t.is(typeof response.Warnings, 'string');
  await nomad.settled();
  const { value: job, index } = await client.readJob('web');
  t.is(job?.ID, 'web');
  t.is(job?.JobModifyIndex, response.JobModifyIndex);
  t.false(job?.Stop);
  t.true(index > 0, 'X-Nomad-Index is read');
  t.is((await client.evaluation(response.EvalID))?.ID, response.EvalID);

  // A changed job gets a new JobModifyIndex.
  const changed = await client.register(minimalJob('web', { GENERATION: '2' }));
  t.true(changed.JobModifyIndex > response.JobModifyIndex);
});

test('unknown things: readJob → null, stopJob does not throw, allocations/services → [], allocation/evaluation → null', async (t) => {
  const nomad = await startDouble(t);
  const client = clientFor(nomad);
  const read = await client.readJob('never-registered');
  t.is(read.value, null);
  t.true(read.index > 0);
  t.is((await client.stopJob('never-registered', false)).EvalID, '');
  t.is((await client.stopJob('never-registered', true)).EvalID, '');
  t.deepEqual((await client.jobAllocations('never-registered')).value, []);
  t.deepEqual(await client.service('never-registered'), []);
  t.deepEqual(await client.listJobs('never-'), []);
  t.is(await client.allocation('00000000-0000-0000-0000-000000000000'), null);
  t.is(await client.evaluation('00000000-0000-0000-0000-000000000000'), null);
  t.deepEqual(
    logged(nomad).filter((r) => !/ (200|404)$/.test(r)),
    [],
    'nothing retried or failed',
  );
});

test('stopJob keeps the job (Stop: true) unless purged', async (t) => {
  const nomad = await startDouble(t);
  const client = clientFor(nomad);
  await client.register(minimalJob('web'));
  const stopped = await client.stopJob('web', false);
  t.truthy(stopped.EvalID);
  t.true((await client.readJob('web')).value?.Stop);
  await client.stopJob('web', true);
  t.is((await client.readJob('web')).value, null);
});

// ---------------------------------------------------------------------------
// Errors Nomad answers: plain text, surfaced with Nomad's exact words, not retried.

test('a token Nomad does not know: 403 NomadApiError with "ACL token not found", not retried', async (t) => {
  const nomad = await startDouble(t);
  const client = clientFor(nomad, { token: 'not-the-token' });
  const error = await t.throwsAsync(client.readJob('web'), { instanceOf: NomadApiError });
  t.is(error?.httpStatus, 403);
  t.is(error?.nomadMessage, 'ACL token not found');
  t.is(error?.code, 'nomad_forbidden');
  t.true(error instanceof OrchestratorError);
  t.false(error instanceof OrchestratorUnavailableError);
  t.regex(error?.message ?? '', /ACL token not found/);
  t.is(error?.request, 'GET /v1/job/web');
  t.is(nomad.requests.length, 1);
  t.is(client.requestCount, 1);

  // No token at all: Nomad's anonymous policy, "Permission denied".
  const anonymous = clientFor(nomad, { token: null });
  const denied = await t.throwsAsync(anonymous.register(minimalJob('web')), { instanceOf: NomadApiError });
  t.is(denied?.httpStatus, 403);
  t.is(denied?.nomadMessage, 'Permission denied');
  t.is(nomad.requests.length, 2);
});

test('a job Nomad rejects: 500 validation error surfaces verbatim and is not retried', async (t) => {
  const nomad = await startDouble(t);
  const client = clientFor(nomad);
  const error = await t.throwsAsync(client.register({ ID: 'x' }), { instanceOf: NomadApiError });
  t.is(error?.httpStatus, 500);
  t.is(error?.code, 'nomad_rejected');
  const expected = nomad.registrations.at(-1)!.error.trim();
  t.regex(expected, /error(s)? occurred:\n\t\* /);
  t.regex(expected, /Missing job task groups/);
  t.is(error?.nomadMessage, expected, "Nomad's exact message");
  t.is(error?.message, `Nomad rejected PUT /v1/jobs: ${expected}`);
  t.deepEqual(logged(nomad), ['PUT /v1/jobs 500'], 'sent once');
  t.is(client.requestCount, 1);
  t.deepEqual(nomad.jobs(), []);
});

test("an unknown namespace is Nomad's 500 validation error, not an outage", async (t) => {
  const nomad = await startDouble(t);
  const client = clientFor(nomad, { namespace: 'nowhere' });
  const error = await t.throwsAsync(client.register(minimalJob('web')), { instanceOf: NomadApiError });
  t.is(error?.httpStatus, 500);
  t.regex(error?.nomadMessage ?? '', /nonexistent namespace "nowhere"/);
  t.is(nomad.requests.length, 1);
});

// ---------------------------------------------------------------------------
// Retries and giving up.

test('a 5xx twice is retried: the third request succeeds', async (t) => {
  const nomad = await startDouble(t);
  const client = clientFor(nomad);
  await client.register(minimalJob('web'));
  const before = nomad.requests.length;
  const count = client.requestCount;
  nomad.failNext(2, 500, 'rpc error: No cluster leader');
  const { value } = await client.readJob('web');
  t.is(value?.ID, 'web');
  t.deepEqual(logged(nomad, before), ['GET /v1/job/web 500', 'GET /v1/job/web 500', 'GET /v1/job/web 200']);
  t.is(client.requestCount - count, 3);
});

for (const [status, body] of [
  [502, 'Bad Gateway'],
  [503, 'Service Unavailable'],
  [504, 'Gateway Timeout'],
] as const) {
  test(`a ${status} from a proxy in front of Nomad is retried`, async (t) => {
    const nomad = await startDouble(t);
    const client = clientFor(nomad);
    nomad.failNext(1, status, body);
    const response = await client.register(minimalJob('web'));
    t.truthy(response.EvalID);
    t.deepEqual(logged(nomad), [`PUT /v1/jobs ${status}`, 'PUT /v1/jobs 200']);
    t.is(nomad.jobs().length, 1, 'registered once');
  });
}

test("after the retries: NomadUnavailableError (503 orchestrator_unavailable) naming Nomad's address and its answer", async (t) => {
  const nomad = await startDouble(t);
  const client = clientFor(nomad, { retries: 3 });
  nomad.failNext(10, 500, 'rpc error: No cluster leader');
  const error = await t.throwsAsync(client.readJob('web'), { instanceOf: NomadUnavailableError });
  t.true(error instanceof OrchestratorUnavailableError);
  t.is(error?.status, 503);
  t.is(error?.code, 'orchestrator_unavailable');
  t.regex(error?.message ?? '', /nomad/i);
  // message is what users may see (control/errors.ts); where and why is in detail, for the log.
  t.true((error?.detail ?? '').includes(nomad.url), error?.detail);
  t.regex(error?.detail ?? '', /GET \/v1\/job\/web/);
  t.regex(error?.detail ?? '', /HTTP 500: rpc error: No cluster leader/);
  t.is(nomad.requests.length, 4, '1 try + 3 retries');
  t.is(client.requestCount, 4);

  // retries: 0 means one request.
  const once = clientFor(nomad, { retries: 0 });
  await t.throwsAsync(once.readJob('web'), { instanceOf: NomadUnavailableError });
  t.is(once.requestCount, 1);
});

test('connection refused: NomadUnavailableError quickly, and the client works again once Nomad is back', async (t) => {
  const nomad = await startDouble(t);
  const client = clientFor(nomad, { retries: 2, retryBaseMs: 10 });
  await nomad.down();
  const started = Date.now();
  const error = await t.throwsAsync(client.readJob('web'), { instanceOf: NomadUnavailableError });
  const elapsed = Date.now() - started;
  t.true(elapsed < 5000, `took ${elapsed} ms`);
  t.regex(error?.detail ?? '', /ECONNREFUSED/);
  t.true((error?.detail ?? '').includes(nomad.url));
  t.is(client.requestCount, 3);

  await nomad.up();
  t.is((await client.readJob('web')).value, null);
});

test('a slow Nomad: each request gives up after timeoutMs and the error says so', async (t) => {
  const nomad = await startDouble(t);
  const client = clientFor(nomad, { timeoutMs: 100, retries: 1, retryBaseMs: 10 });
  nomad.slow(3000);
  const started = Date.now();
  const error = await t.throwsAsync(client.readJob('web'), { instanceOf: NomadUnavailableError });
  const elapsed = Date.now() - started;
  t.true(elapsed >= 190, `gave up after ${elapsed} ms, before two 100 ms timeouts`);
  t.true(elapsed < 3000, `took ${elapsed} ms: the 3 s answer was waited for`);
  t.regex(error?.detail ?? '', /no answer within 100 ms/);
  t.is(client.requestCount, 2);
  // On a loaded machine a 100 ms timeout can cut a request off before the double logs it.
  t.true(nomad.requests.length <= 2);
  t.true(
    nomad.requests.every((r) => r.status === undefined),
    'no request got an answer',
  );
});

// ---------------------------------------------------------------------------
// Blocking queries.

test('blocking jobAllocations holds until an allocation changes', async (t) => {
  const nomad = await startDouble(t);
  const client = clientFor(nomad);
  const first = await client.jobAllocations('web');
  t.deepEqual(first.value, []);
  t.true(first.index > 0);

  const WAIT_MS = 4000;
  const DELAY_MS = 300;
  const started = Date.now();
  const register = sleep(DELAY_MS).then(() => client.register(minimalJob('web')));
  const answer = await client.jobAllocations('web', { index: first.index, waitMs: WAIT_MS });
  const elapsed = Date.now() - started;
  await register;
  t.true(elapsed >= DELAY_MS * 0.9, `answered after ${elapsed} ms, before anything changed`);
  t.true(elapsed < WAIT_MS * 0.9, `answered after ${elapsed} ms: only the wait ended it`);
  t.true(answer.index > first.index);
  t.is(answer.value.length, 1);
  t.is(answer.value[0]?.JobID, 'web');

  const blocking = nomad.requests.find((r) => r.path === '/v1/job/web/allocations' && r.query.index !== undefined);
  t.is(blocking?.query.index, String(first.index));
  t.is(blocking?.query.wait, `${WAIT_MS}ms`);
});

test('blocking jobAllocations answers at once when the index is already behind', async (t) => {
  const nomad = await startDouble(t);
  const client = clientFor(nomad);
  await client.register(minimalJob('web'));
  await nomad.settled();
  const now = await client.jobAllocations('web');
  t.true(now.index > 1);

  const WAIT_MS = 4800;
  const started = Date.now();
  const answer = await client.jobAllocations('web', { index: now.index - 1, waitMs: WAIT_MS });
  const elapsed = Date.now() - started;
  t.true(elapsed < WAIT_MS / 2, `took ${elapsed} ms`);
  t.is(answer.index, now.index);
  t.is(answer.value.length, 1);
});

test('blocking jobAllocations returns after about the wait when nothing changes', async (t) => {
  const nomad = await startDouble(t);
  const client = clientFor(nomad, { timeoutMs: 5000 });
  await client.register(minimalJob('web'));
  await nomad.settled();
  const now = await client.jobAllocations('web');

  const WAIT_MS = 480;
  const started = Date.now();
  const answer = await client.jobAllocations('web', { index: now.index, waitMs: WAIT_MS });
  const elapsed = Date.now() - started;
  t.true(elapsed >= WAIT_MS * 0.9, `returned after ${elapsed} ms`);
  // A return does not mean a change: same index, same allocations.
  t.is(answer.index, now.index);
  t.deepEqual(
    answer.value.map((a) => a.ID),
    now.value.map((a) => a.ID),
  );
  t.is(client.requestCount, 3, 'one request for the wait, no retry');
});

test('a blocking query with a wait that is not a multiple of 16 ms works', async (t) => {
  const nomad = await startDouble(t);
  const client = clientFor(nomad, { retries: 1 });
  await client.register(minimalJob('web'));
  await nomad.settled();
  const now = await client.jobAllocations('web');
  const sentBefore = nomad.requests.length;

  const WAIT_MS = 500;
  const started = Date.now();
  const answer = await client.jobAllocations('web', { index: now.index, waitMs: WAIT_MS });
  t.true(Date.now() - started >= WAIT_MS * 0.9);
  t.is(answer.index, now.index);
  t.is(nomad.requests.length, sentBefore + 1);
});

/** What a promise rejected with (an AbortError is a DOMException, which t.throwsAsync refuses). */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

test('the signal aborts a blocking query', async (t) => {
  const nomad = await startDouble(t);
  const client = clientFor(nomad);
  const now = await client.jobAllocations('web');
  const controller = new AbortController();
  const held = () => nomad.requests.find((r) => r.path === '/v1/job/web/allocations' && r.query.index !== undefined);
  const pending = rejectionOf(client.jobAllocations('web', { index: now.index, waitMs: 9600, signal: controller.signal }));
  // Abort once the double holds the query (not after a fixed delay: on a loaded machine it may not have arrived yet).
  // The double blocks a read in the same turn it logs it, so the logged query is already held.
  await waitUntil(held, { intervalMs: 10, message: 'the double to hold the blocking query' });
  const aborted = Date.now();
  controller.abort();
  const error = (await pending) as Error;
  const elapsed = Date.now() - aborted;
  t.is(error.name, 'AbortError');
  t.false(error instanceof NomadUnavailableError, 'an abort is not an outage');
  t.true(elapsed < 3000, `took ${elapsed} ms after the abort`);
  t.is(client.requestCount, 2, 'not retried after the abort');
  t.is(held()?.query.index, String(now.index));
  t.is(held()?.status, undefined, 'the held query got no answer');

  // An already aborted signal sends nothing.
  const count = nomad.requests.length;
  const again = (await rejectionOf(client.jobAllocations('web', { index: now.index, waitMs: 9600, signal: AbortSignal.abort() }))) as Error;
  t.is(again.name, 'AbortError');
  t.is(nomad.requests.length, count);
});

test('the signal also aborts the backoff between retries', async (t) => {
  const nomad = await startDouble(t);
  const client = clientFor(nomad, { retries: 3, retryBaseMs: 5000 });
  nomad.failNext(10, 503, 'Service Unavailable');
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 200);
  const started = Date.now();
  const error = (await rejectionOf(client.jobAllocations('web', { index: 1, waitMs: 960, signal: controller.signal }))) as Error;
  t.is(error.name, 'AbortError');
  t.true(Date.now() - started < 4000, 'did not sit out the 5 s backoff');
  t.is(client.requestCount, 1);
});

// ---------------------------------------------------------------------------
// ping and requestCount.

test('ping: ok with a good token; a bad token throws NomadApiError; never retried', async (t) => {
  const nomad = await startDouble(t);
  const good = clientFor(nomad);
  await t.notThrowsAsync(good.ping());
  t.is(good.requestCount, 2, 'the leader, then a job read with the token');

  const bad = clientFor(nomad, { token: 'wrong' });
  const error = await t.throwsAsync(bad.ping(), { instanceOf: NomadApiError });
  t.is(error?.httpStatus, 403);
  t.is(error?.nomadMessage, 'ACL token not found');
  t.is(bad.requestCount, 1, 'Nomad refuses an unknown token on every endpoint, the leader status included');

  // Something that answers HTTP at the address but is not a Nomad with a leader.
  const impostor = http.createServer((_req, res) => res.end('""'));
  await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => impostor.close(() => resolve())));
  const fooled = new NomadClient({
    address: `http://127.0.0.1:${(impostor.address() as AddressInfo).port}`,
    token: TOKEN,
    namespace: 'default',
    region: null,
    retryBaseMs: 10,
  });
  await t.throwsAsync(fooled.ping(), { instanceOf: NomadUnavailableError, message: /unreachable/ });

  nomad.failNext(5, 500, 'rpc error: No cluster leader');
  await t.throwsAsync(good.ping(), { instanceOf: NomadUnavailableError });
  t.is(good.requestCount, 3, 'ping does not retry');

  await nomad.down();
  await t.throwsAsync(good.ping(), { instanceOf: NomadUnavailableError });
});

test('requestCount counts every request sent, retries included', async (t) => {
  const nomad = await startDouble(t);
  const client = clientFor(nomad);
  t.is(client.requestCount, 0);
  await client.readJob('web');
  t.is(client.requestCount, 1);
  await client.register(minimalJob('web'));
  await client.jobAllocations('web');
  t.is(client.requestCount, 3);
  nomad.failNext(1, 500, 'rpc error: No cluster leader');
  await client.readJob('web');
  t.is(client.requestCount, 5);
  t.is(nomad.requests.length, 5);
});
