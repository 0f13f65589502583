import test from 'ava';
import { MemoryOrchestrator } from '../../doubles/memory-orchestrator.ts';
import { startTestPlatform, TEST_SECRET } from '../../helpers/platform.ts';

const memory = () => new MemoryOrchestrator();

test('/health needs no credentials and reports database and orchestrator', async (t) => {
  const platform = await startTestPlatform(t, { orchestrator: memory });
  const response = await fetch(`${platform.apiUrl}/health`);
  t.is(response.status, 200);
  const body = (await response.json()) as { status: string; database: { ok: boolean }; orchestrator: { ok: boolean; driver: string } };
  t.is(body.status, 'ok');
  t.true(body.database.ok);
  t.true(body.orchestrator.ok);
  t.is(body.orchestrator.driver, 'memory');
});

test('/health is 503 when the orchestrator is down', async (t) => {
  const orchestrator = new MemoryOrchestrator();
  const platform = await startTestPlatform(t, { orchestrator: () => orchestrator });
  orchestrator.down = true;
  const response = await fetch(`${platform.apiUrl}/health`);
  t.is(response.status, 503);
  const body = (await response.json()) as { status: string; orchestrator: { ok: boolean; detail: string } };
  t.is(body.status, 'degraded');
  t.false(body.orchestrator.ok);
  orchestrator.down = false;
});

const protectedRoutes: Array<[string, string]> = [
  ['GET', '/containers'],
  ['GET', '/containers/alice'],
  ['POST', '/containers/provision'],
  ['POST', '/containers/alice/start'],
  ['POST', '/containers/alice/stop'],
  ['DELETE', '/containers/alice?confirm=alice'],
  ['GET', '/containers/alice/events'],
  ['GET', '/api/system/info'],
  ['GET', '/metrics'],
  ['GET', '/no-such-route'],
];

for (const [method, path] of protectedRoutes) {
  test(`${method} ${path} without credentials is 401 (fail-closed)`, async (t) => {
    const platform = await startTestPlatform(t, { orchestrator: memory });
    const missing = await fetch(platform.apiUrl + path, { method });
    t.is(missing.status, 401);
    t.is(missing.headers.get('www-authenticate'), 'Bearer');
    t.is(((await missing.json()) as { error: { code: string } }).error.code, 'unauthorized');
    const wrong = await fetch(platform.apiUrl + path, { method, headers: { authorization: `Bearer ${TEST_SECRET}x` } });
    t.is(wrong.status, 401);
    const prefix = await fetch(platform.apiUrl + path, { method, headers: { authorization: `Bearer ${TEST_SECRET.slice(0, -1)}` } });
    t.is(prefix.status, 401);
    const basic = await fetch(platform.apiUrl + path, { method, headers: { authorization: `Basic ${Buffer.from(`x:${TEST_SECRET}`).toString('base64')}` } });
    t.is(basic.status, 401);
  });
}

test('PLATFORM_DEV=1 opens the API without credentials', async (t) => {
  const platform = await startTestPlatform(t, { orchestrator: memory, env: { PLATFORM_DEV: '1' } });
  t.true(platform.config.devWarnings.some((w) => w.includes('PLATFORM_DEV=1')));
  const response = await fetch(`${platform.apiUrl}/containers`);
  t.is(response.status, 200);
});

test('bad request bodies get clear 4xx errors and create nothing', async (t) => {
  const platform = await startTestPlatform(t, { orchestrator: memory, env: { API_BODY_LIMIT_BYTES: '1024' } });
  const cases: Array<[RequestInit, number, RegExp]> = [
    [{ body: '{"handle":', headers: { 'content-type': 'application/json' } }, 400, /not valid JSON/],
    [{ body: '[1,2]', headers: { 'content-type': 'application/json' } }, 400, /must be a JSON object/],
    [{ body: 'handle=alice', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, /Content-Type: application\/json/],
    [{ body: JSON.stringify({ handle: 'a'.repeat(2000), userId: 'u' }), headers: { 'content-type': 'application/json' } }, 413, /larger than 1024 bytes/],
    [{ body: JSON.stringify({ handle: 'alice' }), headers: { 'content-type': 'application/json' } }, 400, /userId is required/],
    [{ body: JSON.stringify({ handle: 'Alice', userId: 'u' }), headers: { 'content-type': 'application/json' } }, 400, /lowercase/],
    [{ body: JSON.stringify({ handle: 'admin', userId: 'u' }), headers: { 'content-type': 'application/json' } }, 400, /reserved/],
    [{ body: JSON.stringify({ handle: 'alice', userId: 'has space' }), headers: { 'content-type': 'application/json' } }, 400, /userId/],
  ];
  for (const [init, status, message] of cases) {
    const headers = { authorization: `Bearer ${TEST_SECRET}`, ...(init.headers as Record<string, string>) };
    const response = await fetch(`${platform.apiUrl}/containers/provision`, { method: 'POST', ...init, headers });
    t.is(response.status, status, String(init.body).slice(0, 40));
    const body = (await response.json()) as { error: { code: string; message: string } };
    t.regex(body.error.message, message);
  }
  t.is(await platform.db.models.Instance.count(), 0);
  t.is(await platform.db.models.User.count(), 0);
});

test('unknown routes are 404 and wrong methods 405, as JSON', async (t) => {
  const platform = await startTestPlatform(t, { orchestrator: memory });
  const missing = await platform.api('/nope');
  t.is(missing.status, 404);
  t.is(((await missing.json()) as { error: { code: string } }).error.code, 'not_found');
  const unknown = await platform.api('/containers/ghost');
  t.is(unknown.status, 404);
  t.regex(((await unknown.json()) as { error: { message: string } }).error.message, /No instance with handle "ghost"/);
  const method = await platform.api('/containers/ghost', { method: 'PUT' });
  t.is(method.status, 405);
  t.regex(method.headers.get('allow') ?? '', /GET/);
});

test('destroy needs the handle repeated as confirmation', async (t) => {
  const platform = await startTestPlatform(t, { orchestrator: memory });
  await platform.api('/containers/provision', { method: 'POST', json: { handle: 'dave', userId: 'u-dave' } });
  for (const query of ['', '?confirm=', '?confirm=other']) {
    const response = await platform.api(`/containers/dave${query}`, { method: 'DELETE' });
    t.is(response.status, 400);
    t.regex(((await response.json()) as { error: { message: string } }).error.message, /confirm=dave/);
  }
  t.not((await platform.service.get('dave')).status, 'destroying');
});

test('list filters by status and validates the filter and paging', async (t) => {
  const platform = await startTestPlatform(t, { orchestrator: memory });
  const bad = await platform.api('/containers?status=sleeping');
  t.is(bad.status, 400);
  t.regex(((await bad.json()) as { error: { message: string } }).error.message, /status must be one of/);
  t.is((await platform.api('/containers?limit=0')).status, 400);
  t.is((await platform.api('/containers?offset=-1')).status, 400);
});

test('system info and metrics report instances by state', async (t) => {
  const platform = await startTestPlatform(t, { orchestrator: memory });
  await platform.api('/containers/provision', { method: 'POST', json: { handle: 'erin', userId: 'u-erin' } });
  const info = (await (await platform.api('/api/system/info')).json()) as {
    driver: string;
    instances: Record<string, number>;
    version: string;
    uptimeSeconds: number;
  };
  t.is(info.driver, 'memory');
  t.is(typeof info.version, 'string');
  t.is(
    Object.values(info.instances).reduce((a, b) => a + b, 0),
    1,
  );
  const metrics = await (await platform.api('/metrics')).text();
  t.regex(metrics, /mxos_instances\{state="requested"\} \d/);
  t.regex(metrics, /mxos_api_requests_total\{method="POST",route="\/containers\/provision",status="201"\} 1/);
  t.regex(metrics, /mxos_api_request_duration_seconds_bucket/);
  t.regex(metrics, /mxos_idle_sweep_duration_seconds/);
  t.regex(metrics, /mxos_provisioning_duration_seconds/);
});
