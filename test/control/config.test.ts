import test from 'ava';
import { loadConfig } from '../../control/config.ts';
import { ConfigError } from '../../control/errors.ts';

const SECRET = 'a'.repeat(40);
/** A real identity provider: what production needs instead of the development one. */
const PROD_IDENTITY = { OIDC_ISSUER: 'https://id.example', OIDC_CLIENT_SECRET: 'c'.repeat(32) };

test('embedded defaults need no configuration', (t) => {
  const config = loadConfig({}, '/srv/app');
  t.is(config.mode, 'development');
  t.is(config.dataDir, '/srv/app/.data');
  t.is(config.databaseUrl, 'sqlite:/srv/app/.data/platform.sqlite');
  t.is(config.api.port, 9000);
  t.is(config.orchestrator, 'local');
  t.is(config.instance.memoryMB, 256);
  t.is(config.instance.cpu, 0.5);
  t.is(config.instance.startTimeoutMs, 60_000);
  t.is(config.lifecycle.idleTimeoutMs, 30 * 60_000);
  t.is(config.lifecycle.sweepIntervalMs, 5 * 60_000);
  t.true(config.devWarnings.some((w) => w.includes('PLATFORM_SECRET')));
});

test('the parsed config is deeply frozen', (t) => {
  const config = loadConfig({}, '/srv/app');
  t.true(Object.isFrozen(config));
  t.true(Object.isFrozen(config.lifecycle));
  t.throws(() => {
    (config.lifecycle as { idleTimeoutMs: number }).idleTimeoutMs = 1;
  });
});

test('durations accept ms, s, m and h', (t) => {
  const config = loadConfig({ IDLE_TIMEOUT: '2h', SWEEP_INTERVAL: '30s', ACTIVITY_FLUSH_INTERVAL: '250ms', INSTANCE_START_TIMEOUT: '2m' });
  t.is(config.lifecycle.idleTimeoutMs, 7_200_000);
  t.is(config.lifecycle.sweepIntervalMs, 30_000);
  t.is(config.lifecycle.activityFlushIntervalMs, 250);
  t.is(config.instance.startTimeoutMs, 120_000);
});

const badValues: Array<[string, string, RegExp]> = [
  ['API_PORT', '70000', /^API_PORT must be a whole number from 0 to 65535, got "70000"$/m],
  ['IDLE_TIMEOUT', '30', /^IDLE_TIMEOUT must be a duration like 500ms, 30s, 5m or 1h .*got "30"$/m],
  ['PLATFORM_MODE', 'prod', /^PLATFORM_MODE must be one of development, production, got "prod"$/m],
  ['INSTANCE_CPU', 'lots', /^INSTANCE_CPU must be a number from 0.05 to 64, got "lots"$/m],
  ['PLATFORM_DEV', 'maybe', /^PLATFORM_DEV must be 1 or 0/m],
  ['DATABASE_URL', 'mysql://x', /^DATABASE_URL must start with postgres:\/\//m],
  ['METER_URL', 'ftp://meter', /^METER_URL must be a URL starting with http:\/\/ or https:\/\//m],
  ['ORCHESTRATOR', 'kubernetes', /^ORCHESTRATOR must be one of local, nomad, got "kubernetes"$/m],
  ['NOMAD_ADDR', 'nomad:4646', /^NOMAD_ADDR must be a URL starting with http:\/\/ or https:\/\//m],
  ['NOMAD_VOLUME_MODE', 'nfs', /^NOMAD_VOLUME_MODE must be one of docker-volume, host, got "nfs"$/m],
  ['INSTANCE_MEMORY_MAX_MB', '128', /^INSTANCE_MEMORY_MAX_MB \(128\) must not be below INSTANCE_MEMORY_MB \(256\)$/m],
  ['REPLICA_ID', 'has space', /^REPLICA_ID must be 1 to 48/m],
];

for (const [name, value, expected] of badValues) {
  test(`a bad ${name} stops start-up with one line naming it`, (t) => {
    const error = t.throws(() => loadConfig({ [name]: value }), { instanceOf: ConfigError });
    t.regex(error!.message, expected);
    t.is(error!.message.split('\n').length, 1);
  });
}

test('every bad variable is reported, one line each', (t) => {
  const error = t.throws(() => loadConfig({ API_PORT: 'x', IDLE_TIMEOUT: 'y', WORKER_CONCURRENCY: '0' }), { instanceOf: ConfigError });
  const lines = error!.message.split('\n');
  t.is(lines.length, 3);
  t.true(lines.some((l) => l.startsWith('API_PORT')));
  t.true(lines.some((l) => l.startsWith('IDLE_TIMEOUT')));
  t.true(lines.some((l) => l.startsWith('WORKER_CONCURRENCY')));
});

test('a short secret is refused without echoing it', (t) => {
  const error = t.throws(() => loadConfig({ PLATFORM_SECRET: 'hunter2' }), { instanceOf: ConfigError });
  t.regex(error!.message, /PLATFORM_SECRET must be at least 32 characters/);
  t.false(error!.message.includes('hunter2'));
});

test('production refuses the development defaults', (t) => {
  const error = t.throws(() => loadConfig({ PLATFORM_MODE: 'production' }), { instanceOf: ConfigError });
  t.regex(error!.message, /PLATFORM_SECRET is required when PLATFORM_MODE=production/);
  t.regex(error!.message, /SECRET_KEY is required/);
  t.regex(error!.message, /ORCHESTRATOR=local is a development driver/);
  t.regex(error!.message, /OIDC_ISSUER \(or GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET\) is required when PLATFORM_MODE=production/);
});

test('production refuses PLATFORM_DEV=1', (t) => {
  const error = t.throws(
    () => loadConfig({ PLATFORM_MODE: 'production', PLATFORM_SECRET: SECRET, SECRET_KEY: SECRET, ALLOW_LOCAL_DRIVER: '1', PLATFORM_DEV: '1' }),
    { instanceOf: ConfigError },
  );
  t.regex(error!.message, /PLATFORM_DEV=1 is refused when PLATFORM_MODE=production/);
});

test('production accepts the local driver only when explicitly allowed', (t) => {
  const config = loadConfig({ PLATFORM_MODE: 'production', PLATFORM_SECRET: SECRET, SECRET_KEY: SECRET, ALLOW_LOCAL_DRIVER: '1', ...PROD_IDENTITY });
  t.is(config.mode, 'production');
  t.true(config.devWarnings.some((w) => w.includes('ALLOW_LOCAL_DRIVER=1')));
});

test('cross-field rules: backoff max below base is refused', (t) => {
  const error = t.throws(() => loadConfig({ PROVISION_BACKOFF_BASE: '10s', PROVISION_BACKOFF_MAX: '1s' }), { instanceOf: ConfigError });
  t.regex(error!.message, /PROVISION_BACKOFF_MAX \(1000ms\) must not be below PROVISION_BACKOFF_BASE \(10000ms\)/);
});

test('a postgres DATABASE_URL with a password is never echoed in errors', (t) => {
  const config = loadConfig({ DATABASE_URL: 'postgres://u:pw@db/platform' });
  t.is(config.databaseUrl, 'postgres://u:pw@db/platform');
  const error = t.throws(() => loadConfig({ METER_URL: 'nope://u:pw@x' }), { instanceOf: ConfigError });
  t.false(error!.message.includes('pw@'));
});

test('the public listener and router settings default to the architecture and accept overrides', (t) => {
  const config = loadConfig({}, '/srv/app');
  t.deepEqual(
    { ...config.public, trustedProxies: [...config.public.trustedProxies] },
    {
      host: '127.0.0.1',
      port: 8000,
      domain: 'localhost',
      instanceDomain: 'localhost',
      url: 'http://localhost:8000',
      secure: false,
      secureCookies: true,
      trustedProxies: [],
    },
  );
  t.deepEqual([...config.router.gatewayPaths], ['/api/', '/ws', '/files/', '/modules/', '/health']);
  t.is(config.router.wakeHoldMs, 30_000);
  const custom = loadConfig({ DOMAIN: 'Matrix-OS.example', PUBLIC_URL: 'https://matrix-os.example/', TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8,::1' });
  t.is(custom.public.domain, 'matrix-os.example');
  t.is(custom.public.url, 'https://matrix-os.example');
  t.true(custom.public.secure);
  t.deepEqual([...custom.public.trustedProxies], ['127.0.0.1', '10.0.0.0/8', '::1']);
});

test('bad public and router settings are each named with the fix', (t) => {
  const error = t.throws(
    () =>
      loadConfig({
        DOMAIN: 'https://x.example',
        TRUSTED_PROXIES: 'cloudflared,10.0.0.0/40',
        ROUTER_GATEWAY_PATHS: 'api',
        WS_ACTIVITY_INTERVAL: '2h',
      }),
    { instanceOf: ConfigError },
  );
  const lines = error!.message.split('\n');
  t.true(lines.some((l) => l.startsWith('DOMAIN must be a host name')));
  t.true(lines.some((l) => l.includes('"cloudflared"')));
  t.true(lines.some((l) => l.includes('"10.0.0.0/40"')));
  t.true(lines.some((l) => l.startsWith('ROUTER_GATEWAY_PATHS entries must be paths')));
  t.true(lines.some((l) => l.startsWith('WS_ACTIVITY_INTERVAL must be shorter than IDLE_TIMEOUT')));
  t.throws(() => loadConfig({ DOMAIN: 'matrix-os.example', PUBLIC_URL: 'https://other.example' }), {
    message: /PUBLIC_URL must be served at DOMAIN \(matrix-os.example\)/,
  });
  t.throws(() => loadConfig({ PUBLIC_URL: 'http://localhost:8000/app' }), { message: /PUBLIC_URL must be the apex without a path/ });
  t.throws(
    () =>
      loadConfig({
        PLATFORM_MODE: 'production',
        PLATFORM_SECRET: SECRET,
        SECRET_KEY: SECRET,
        ORCHESTRATOR: 'nomad',
        DOMAIN: 'x.example',
        PUBLIC_URL: 'http://x.example',
      }),
    { message: /PUBLIC_URL must start with https:\/\/ when PLATFORM_MODE=production/ },
  );
});

test('sign-in: the development provider by default (warned about); a real issuer needs its secret, and https in production', (t) => {
  const dev = loadConfig({});
  t.is(dev.identity.issuer, null);
  t.is(dev.identity.devIdp.port, 9100);
  t.true(dev.devWarnings.some((w) => /development identity provider on port 9100 signs in ANY email/.test(w)));
  const real = loadConfig({
    OIDC_ISSUER: 'https://id.example/realms/x/',
    OIDC_CLIENT_SECRET: 'c'.repeat(32),
    ADMIN_EMAILS: 'Ops@Example.com, root@example.com',
  });
  t.is(real.identity.issuer, 'https://id.example/realms/x');
  t.deepEqual([...real.identity.adminEmails], ['ops@example.com', 'root@example.com']);
  t.false(real.devWarnings.some((w) => /identity provider/.test(w)));
  t.throws(() => loadConfig({ OIDC_ISSUER: 'https://id.example' }), { message: /OIDC_CLIENT_SECRET is required with OIDC_ISSUER/ });
  t.throws(() => loadConfig({ ADMIN_EMAILS: 'root' }), { message: /ADMIN_EMAILS entries must be email addresses, got "root"/ });
  t.throws(
    () =>
      loadConfig({
        PLATFORM_MODE: 'production',
        PLATFORM_SECRET: SECRET,
        SECRET_KEY: SECRET,
        ORCHESTRATOR: 'nomad',
        OIDC_ISSUER: 'http://id.example',
        OIDC_CLIENT_SECRET: 'c'.repeat(32),
      }),
    { message: /OIDC_ISSUER must be an https:\/\/ URL when PLATFORM_MODE=production/ },
  );
});

test('INSTANCE_DOMAIN defaults to DOMAIN and may not be a domain the site lives under', (t) => {
  t.is(loadConfig({ DOMAIN: 'matrix.example' }, '/tmp').public.instanceDomain, 'matrix.example');
  t.is(loadConfig({ DOMAIN: 'matrix.example', INSTANCE_DOMAIN: 'Matrix-Apps.example' }, '/tmp').public.instanceDomain, 'matrix-apps.example');
  t.throws(() => loadConfig({ DOMAIN: 'app.matrix.example', INSTANCE_DOMAIN: 'matrix.example' }, '/tmp'), {
    message: /INSTANCE_DOMAIN must be DOMAIN itself or a domain the site is not under/,
  });
  t.throws(() => loadConfig({ DOMAIN: 'matrix.example', INSTANCE_DOMAIN: 'https://x' }, '/tmp'), { message: /INSTANCE_DOMAIN must be a host name/ });
  t.true(loadConfig({}, '/tmp').public.secureCookies, 'localhost counts as secure for cookies');
  t.false(loadConfig({ DOMAIN: 'matrix.example' }, '/tmp').public.secureCookies, 'plain http elsewhere does not');
});

test('who gets an instance: sign-up mode and lists, GitHub, capacity; each mistake named', (t) => {
  const config = loadConfig(
    {
      SIGNUP_MODE: 'allowlist',
      SIGNUP_ALLOWLIST: 'Alice@Example.com, @corp.test',
      GITHUB_ALLOWED_ORGS: 'Acme,acme/Hackers',
      GITHUB_CLIENT_ID: 'Iv1.abc',
      GITHUB_CLIENT_SECRET: 's'.repeat(40),
      MAX_RUNNING_INSTANCES: '20',
      EVICT_IDLE_WHEN_FULL: '1',
      EVENT_NAME: 'Matrix Hack 2026',
      EVENT_DATES: '5–6 December',
      EVENT_URL: 'https://hack.example/',
    },
    '/srv/app',
  );
  t.deepEqual(config.signup, {
    mode: 'allowlist',
    allowEmails: ['alice@example.com'],
    allowDomains: ['corp.test'],
    githubOrgs: ['acme'],
    githubTeams: [{ org: 'acme', team: 'hackers' }],
    supportContact: null,
    event: { name: 'Matrix Hack 2026', description: null, dates: '5–6 December', url: 'https://hack.example/' },
  });
  t.like(config.identity.github, { clientId: 'Iv1.abc', url: 'https://github.com', apiUrl: 'https://api.github.com' });
  t.deepEqual(config.capacity, { maxRunning: 20, evictIdleWhenFull: true });
  t.deepEqual(loadConfig({}, '/srv/app').capacity, { maxRunning: null, evictIdleWhenFull: false });

  const error = t.throws(
    () =>
      loadConfig(
        {
          SIGNUP_MODE: 'maybe',
          SIGNUP_ALLOWLIST: 'not-an-email',
          GITHUB_ALLOWED_ORGS: 'a b',
          GITHUB_CLIENT_ID: 'Iv1.abc',
          MAX_RUNNING_INSTANCES: '-1',
          MATRIX_HOMESERVER_URL: 'http://127.0.0.1:6167',
          EVENT_URL: 'javascript:alert(1)',
        },
        '/srv/app',
      ),
    { instanceOf: ConfigError },
  );
  for (const name of [
    'SIGNUP_MODE',
    'SIGNUP_ALLOWLIST',
    'GITHUB_ALLOWED_ORGS',
    'GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET',
    'MAX_RUNNING_INSTANCES',
    'MATRIX_REGISTRATION_TOKEN',
    'EVENT_URL',
  ])
    t.true(error!.message.includes(name), name);
  // Production may sign in with GitHub alone.
  const github = loadConfig(
    {
      PLATFORM_MODE: 'production',
      PLATFORM_SECRET: SECRET,
      SECRET_KEY: SECRET,
      ORCHESTRATOR: 'nomad',
      DOMAIN: 'example.com',
      GITHUB_CLIENT_ID: 'Iv1.abc',
      GITHUB_CLIENT_SECRET: 's'.repeat(40),
    },
    '/srv/app',
  );
  t.is(github.identity.issuer, null);
});
