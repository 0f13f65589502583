import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import test from 'ava';

import { ConfigError, loadConfig } from '../../instance/config.ts';

const SERVER = fileURLToPath(new URL('../../instance/server.ts', import.meta.url));

test('an empty environment yields the documented defaults', (t) => {
  const config = loadConfig({}, '/srv/app');
  t.deepEqual(
    { ...config },
    {
      port: 4000,
      shellPort: 3000,
      host: '127.0.0.1',
      handle: 'local',
      authToken: undefined,
      production: false,
      dataDir: path.resolve('/srv/app', 'data'),
      version: 'reference-0.1.0',
      platformUrl: undefined,
      channels: [],
      modules: [],
      llm: { configured: false },
      social: undefined,
      matrix: undefined,
    },
  );
});

test('every variable is read into the config, which is frozen', (t) => {
  const config = loadConfig(
    {
      PORT: '4100',
      SHELL_PORT: '3100',
      HOST: '0.0.0.0',
      MATRIX_HANDLE: 'alice-2',
      MATRIX_AUTH_TOKEN: 'tok',
      MATRIX_DATA_DIR: 'state/alice',
      MATRIXOS_VERSION: '2.0.0',
      MATRIX_CHANNELS: ' telegram, discord,,telegram ',
      MATRIX_MODULES: 'notes',
      ANTHROPIC_BASE_URL: 'http://meter.internal:8080/',
    },
    '/srv/app',
  );
  t.is(config.port, 4100);
  t.is(config.shellPort, 3100);
  t.is(config.host, '0.0.0.0');
  t.is(config.handle, 'alice-2');
  t.is(config.authToken, 'tok');
  t.is(config.dataDir, '/srv/app/state/alice');
  t.is(config.version, '2.0.0');
  t.deepEqual(config.channels, ['telegram', 'discord']);
  t.deepEqual(config.modules, ['notes']);
  t.deepEqual(config.llm, { configured: false, baseUrl: 'http://meter.internal:8080' });
  t.true(Object.isFrozen(config) && Object.isFrozen(config.channels) && Object.isFrozen(config.llm));
});

test('a bad value fails with one line naming the variable, the value and what is expected', (t) => {
  const cases: [Record<string, string>, string][] = [
    [{ PORT: 'abc' }, 'PORT must be a TCP port number (0-65535), got "abc"'],
    [{ SHELL_PORT: '70000' }, 'SHELL_PORT must be a TCP port number (0-65535), got "70000"'],
    [{ PORT: '-1' }, 'PORT must be a TCP port number (0-65535), got "-1"'],
    [{ PORT: '5000', SHELL_PORT: '5000' }, 'SHELL_PORT must differ from PORT, both are 5000'],
    [{ HOST: 'local host' }, 'HOST must be a bind address such as 127.0.0.1 or 0.0.0.0, got "local host"'],
    [{ ANTHROPIC_BASE_URL: 'ftp://x' }, 'ANTHROPIC_BASE_URL must be an http:// or https:// URL, got "ftp://x"'],
  ];
  for (const [env, message] of cases) {
    const error = t.throws(() => loadConfig(env), { instanceOf: ConfigError });
    t.is(error?.message, message);
    t.false(error?.message.includes('\n'));
  }
  t.throws(() => loadConfig({ MATRIX_HANDLE: 'Bad_Handle' }), { message: /^MATRIX_HANDLE must be .*, got "Bad_Handle"$/ });
  t.throws(() => loadConfig({ MATRIX_CHANNELS: 'ok,not ok' }), { message: /^MATRIX_CHANNELS must be a comma-separated list .*got "not ok"/ });
});

test('production refuses to start without MATRIX_AUTH_TOKEN, whichever variable says production', (t) => {
  for (const env of [{ PLATFORM_MODE: 'production' }, { NODE_ENV: 'production' }, { NODE_ENV: 'production', MATRIX_AUTH_TOKEN: '  ' }]) {
    t.throws(() => loadConfig(env), {
      instanceOf: ConfigError,
      message: 'MATRIX_AUTH_TOKEN is required in production: set it to a long random string',
    });
  }
  t.is(loadConfig({ PLATFORM_MODE: 'production', MATRIX_AUTH_TOKEN: 'tok' }).production, true);
});

test('the LLM API key is reduced to a flag and credentials are stripped from the base URL', (t) => {
  const config = loadConfig({ ANTHROPIC_API_KEY: 'sk-secret-key', ANTHROPIC_BASE_URL: 'https://u:p@api.example.test' });
  t.deepEqual(config.llm, { configured: true, baseUrl: 'https://api.example.test' });
  t.false(JSON.stringify(config).includes('sk-secret-key'));
  t.false(JSON.stringify(config).includes('u:p'));
  const bad = t.throws(() => loadConfig({ ANTHROPIC_BASE_URL: 'not a url://u:p@x' }));
  t.false(bad?.message.includes('u:p'));
});

test('the social API and the Matrix account are read together, and their tokens never print', (t) => {
  const config = loadConfig({
    MATRIXOS_SOCIAL_URL: 'http://127.0.0.1:8080/social/',
    MATRIXOS_SOCIAL_TOKEN: 'mxs_social-secret',
    MATRIX_HOMESERVER_URL: 'http://conduit.internal:6167',
    MATRIX_USER_ID: '@alice_ai:example.com',
    MATRIX_ACCESS_TOKEN: 'syt_matrix-secret',
    MATRIX_DEVICE_ID: 'ABCDEFGHIJ',
  });
  t.is(config.social?.url, 'http://127.0.0.1:8080/social');
  t.is(config.social?.token.reveal(), 'mxs_social-secret');
  t.like(config.matrix, { homeserverUrl: 'http://conduit.internal:6167', userId: '@alice_ai:example.com', deviceId: 'ABCDEFGHIJ' });
  t.is(config.matrix?.accessToken.reveal(), 'syt_matrix-secret');
  t.true(Object.isFrozen(config.social) && Object.isFrozen(config.matrix));
  for (const printed of [JSON.stringify(config), inspect(config, { depth: 5 }), `${config.social?.token}`]) {
    t.false(printed.includes('mxs_social-secret') || printed.includes('syt_matrix-secret'), printed);
  }
  t.true(JSON.stringify(config).includes('[redacted]'));

  t.is(loadConfig({ MATRIXOS_SOCIAL_URL: 'http://127.0.0.1:8080/social' }).social, undefined, 'a URL without its token is no API');
  t.is(loadConfig({ MATRIX_HOMESERVER_URL: 'http://conduit:6167', MATRIX_USER_ID: '@a:b' }).matrix, undefined, 'no account until the token is there');
  t.is(loadConfig({ MATRIX_HOMESERVER_URL: 'http://conduit:6167', MATRIX_USER_ID: '@a:b', MATRIX_ACCESS_TOKEN: 'x' }).matrix?.deviceId, undefined);
  t.throws(() => loadConfig({ MATRIXOS_SOCIAL_URL: 'ftp://u:p@x/social' }), {
    instanceOf: ConfigError,
    message: 'MATRIXOS_SOCIAL_URL must be an http:// or https:// URL, got "ftp://x/social"',
  });
  t.throws(() => loadConfig({ MATRIX_HOMESERVER_URL: 'conduit:6167' }), { message: /^MATRIX_HOMESERVER_URL must be an http:\/\/ or https:\/\/ URL/ });
  t.throws(() => loadConfig({ MATRIX_USER_ID: 'alice_ai' }), {
    message: 'MATRIX_USER_ID must be a Matrix user id such as @alice_ai:example.com, got "alice_ai"',
  });
});

test('running the server with a bad variable exits 1 with one line on stderr', async (t) => {
  const { code, stderr, stdout } = await run({ PORT: 'abc' });
  t.is(code, 1);
  t.is(stderr, 'PORT must be a TCP port number (0-65535), got "abc"\n');
  t.is(stdout, '');
});

test('running the server in production without a token exits 1 with one line on stderr', async (t) => {
  const { code, stderr } = await run({ PLATFORM_MODE: 'production', MATRIX_AUTH_TOKEN: '' });
  t.is(code, 1);
  t.is(stderr, 'MATRIX_AUTH_TOKEN is required in production: set it to a long random string\n');
});

function run(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SERVER], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
