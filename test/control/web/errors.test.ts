import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import Koa from 'koa';
import { ConnectionRefusedError, DatabaseError, TimeoutError } from 'sequelize';
import { PlatformError, UnavailableError, ValidationError } from '../../../control/errors.ts';
import { createLogger } from '../../../control/logger.ts';
import { renderErrors } from '../../../control/web/error-middleware.ts';
import { INTERNAL_ERROR_MESSAGE, toClientError } from '../../../control/web/errors.ts';

test('the error policy: 4xx and 503 messages are shown, a database outage is a 503, anything else a generic 500', (t) => {
  t.like(toClientError(new ValidationError('handle is too short')), { status: 400, code: 'invalid_request', message: 'handle is too short', log: null });
  t.like(toClientError(new UnavailableError('orchestrator_unavailable', 'Nomad is down; retry.')), {
    status: 503,
    code: 'orchestrator_unavailable',
    message: 'Nomad is down; retry.',
    log: 'warn',
  });
  const db = toClientError(new ConnectionRefusedError(new Error('connect ECONNREFUSED 127.0.0.1:5432')));
  t.like(db, { status: 503, code: 'database_unavailable', log: 'warn' });
  t.like(toClientError(new TimeoutError(Object.assign(new Error('SQLITE_BUSY: database is locked'), { sql: 'UPDATE instances' }))), {
    status: 503,
    code: 'database_unavailable',
  });
  t.like(toClientError(new DatabaseError(Object.assign(new Error('Connection terminated unexpectedly'), { sql: 'SELECT 1' }))), {
    status: 503,
    code: 'database_unavailable',
  });
  t.like(toClientError(new DatabaseError(Object.assign(new Error('syntax error at or near "x"'), { sql: 'x' }))), { status: 500, code: 'internal_error' });
  t.is(db.headers['Retry-After'], '5');
  t.notRegex(db.message, /5432/, 'no connection detail reaches the client');
  t.like(toClientError(new PlatformError('nomad_error', 'secret internals', { status: 500 })), {
    status: 500,
    code: 'internal_error',
    message: INTERNAL_ERROR_MESSAGE,
    log: 'error',
  });
  t.like(toClientError(new Error('boom at /etc/secret')), { status: 500, code: 'internal_error', message: INTERNAL_ERROR_MESSAGE, log: 'error' });
  t.like(toClientError(Object.assign(new Error('Invalid URL'), { status: 400, expose: true })), {
    status: 400,
    code: 'invalid_request',
    message: 'Invalid URL',
  });
  t.like(toClientError(Object.assign(new Error('hidden'), { status: 502, expose: false })), { status: 500, message: INTERNAL_ERROR_MESSAGE });
});

async function serve(t: import('ava').ExecutionContext, app: Koa): Promise<string> {
  const server = http.createServer(app.callback()).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('the middleware answers JSON to API clients and a page to browsers, and logs only what the operator needs', async (t) => {
  const lines: string[] = [];
  const logger = createLogger('error', { write: (line: string) => lines.push(line) } as unknown as NodeJS.WritableStream);
  const app = new Koa();
  app.silent = true;
  app.use(renderErrors({ logger, page: (_ctx, error) => `<p>${error.status}: ${error.message}</p>` }));
  app.use((ctx) => {
    if (ctx.path === '/bad') throw new ValidationError('name is required');
    if (ctx.path === '/boom') throw new Error('database password is hunter2');
    if (ctx.path === '/ok') ctx.body = 'ok';
  });
  const base = await serve(t, app);

  const json = await fetch(`${base}/bad`);
  t.is(json.status, 400);
  t.deepEqual(await json.json(), { error: { code: 'invalid_request', message: 'name is required' } });

  const page = await fetch(`${base}/bad`, { headers: { accept: 'text/html' } });
  t.is(page.status, 400);
  t.is(await page.text(), '<p>400: name is required</p>');
  t.is(page.headers.get('x-frame-options'), 'DENY');

  const boom = await fetch(`${base}/boom`);
  t.is(boom.status, 500);
  const body = await boom.text();
  t.notRegex(body, /hunter2/);
  t.is(lines.length, 1, 'the 500 is logged once; the 400s are not');

  const missing = await fetch(`${base}/nothing`);
  t.is(missing.status, 404);
  t.is(((await missing.json()) as { error: { code: string } }).error.code, 'not_found');
});
