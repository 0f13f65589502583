/** mxos while an instance never becomes healthy: the wait times out, or the instance fails. */
import test from 'ava';
import { runCli, SECRET, startTestPlatform, type TestPlatform } from './_cli.ts';

let tp: TestPlatform;
test.before(async () => {
  // A process that never answers its health check: provisioning fails after 2 s, with no retry.
  tp = await startTestPlatform('cli-failure', { INSTANCE_COMMAND: 'sleep 60', INSTANCE_START_TIMEOUT: '2s', PROVISION_MAX_ATTEMPTS: '1' });
});
test.after.always(async () => {
  await tp?.close();
});

const cli = (...args: string[]) => runCli(args, { PLATFORM_URL: tp.platform.apiUrl, PLATFORM_SECRET: SECRET });

test('provision exits 1 with the instance error when it fails', async (t) => {
  const result = await cli('provision', 'cli-fails');
  t.is(result.code, 1, result.stdout);
  t.regex(result.stdout, /→ failed/);
  const instance = await tp.platform.service.get('cli-fails');
  t.is(instance.status, 'failed');
  t.truthy(instance.last_error);
  t.true(result.stderr.includes(`cli-fails failed: ${instance.last_error}`), result.stderr);
});

test('provision exits 1 when the wait times out', async (t) => {
  const result = await cli('provision', 'cli-slow', '--timeout', '300ms');
  t.is(result.code, 1, result.stdout);
  t.regex(result.stderr, /Timed out after 300ms waiting for cli-slow to be running; it is (requested|provisioning|starting)/);
});
