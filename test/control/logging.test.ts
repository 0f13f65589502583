import { PassThrough } from 'node:stream';
import test from 'ava';
import { deriveCredential } from '../../control/access/credentials.ts';
import { createLogger } from '../../control/logger.ts';
import { startTestPlatform, TEST_KEY, TEST_SECRET } from '../helpers/platform.ts';
import { waitUntil } from '../helpers/wait.ts';

test('a full lifecycle logs structured lines with request ids and never a secret', async (t) => {
  const sink = new PassThrough();
  let output = '';
  sink.on('data', (chunk) => (output += String(chunk)));
  const platform = await startTestPlatform(t, { logger: createLogger('trace', sink) });
  await platform.api('/containers/provision', { method: 'POST', json: { handle: 'quiet', userId: 'u-quiet' }, headers: { 'x-request-id': 'req-123' } });
  await platform.waitFor('quiet', 'running');
  await fetch(`${platform.apiUrl}/containers`, { headers: { authorization: 'Bearer wrong-secret-value-that-is-long' } });
  await platform.api('/containers/quiet/stop', { method: 'POST' });
  await platform.waitFor('quiet', 'stopped');
  // The worker logs a transition just after committing it: wait for the line of the last one.
  const logged = () =>
    output
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  await waitUntil(() => logged().some((l) => l.msg === 'instance transition' && l.to === 'stopped'), { message: 'the log line of the transition to stopped' });

  const lines = logged();
  t.true(lines.some((l) => l.requestId === 'req-123' && l.path === '/containers/provision' && l.status === 201));
  t.true(lines.some((l) => l.msg === 'instance transition' && l.to === 'running'));
  for (const secret of [
    TEST_SECRET,
    TEST_KEY,
    'wrong-secret-value-that-is-long',
    deriveCredential(TEST_KEY, 'instance-token', 'quiet', 1),
    deriveCredential(TEST_KEY, 'router-token', 'quiet', 1),
    deriveCredential(TEST_KEY, 'meter-key', 'quiet', 1),
  ]) {
    t.false(output.includes(secret), `a secret leaked into the logs: ${secret.slice(0, 6)}…`);
  }
});

test('the logger redacts secret-looking fields even when code passes them by mistake', (t) => {
  const sink = new PassThrough();
  let output = '';
  sink.on('data', (chunk) => (output += String(chunk)));
  const logger = createLogger('info', sink);
  logger.info({ headers: { authorization: 'Bearer abc123' }, spec: { secrets: { MATRIX_AUTH_TOKEN: 'tok' } }, user: { token: 'xyz' } }, 'oops');
  t.false(output.includes('abc123'));
  t.false(output.includes('"tok"'));
  t.false(output.includes('xyz'));
  t.true(output.includes('[redacted]'));
});
