import test from 'ava';
import { buildConduitJob, CONDUIT_JOB_ID } from '../../jobs/conduit.ts';
import { asJson, pathsContaining } from './_helpers.ts';
import { validateAgainstNomadSchema } from './nomad-schema.ts';

const S = 1_000_000_000;
const build = (extra: Partial<Parameters<typeof buildConduitJob>[0]> = {}) => asJson(buildConduitJob({ serverName: 'matrix.example.com', ...extra }));

test('defaults: env-only config, rocksdb on a docker volume, static port 6167, versions check', (t) => {
  const job = build();
  t.like(job, { ID: CONDUIT_JOB_ID, Name: 'platform-conduit', Namespace: 'default', Datacenters: ['*'] });
  const group = job.TaskGroups[0]!;
  const task = group.Tasks[0]!;
  t.deepEqual(task.Env, {
    CONDUIT_CONFIG: '',
    CONDUIT_SERVER_NAME: 'matrix.example.com',
    CONDUIT_DATABASE_BACKEND: 'rocksdb',
    CONDUIT_DATABASE_PATH: '/var/lib/matrix-conduit',
    CONDUIT_PORT: '6167',
    CONDUIT_ADDRESS: '0.0.0.0',
    CONDUIT_ALLOW_FEDERATION: 'false',
    CONDUIT_ALLOW_REGISTRATION: 'false',
  });
  t.deepEqual(task.Config, {
    image: 'matrixconduit/matrix-conduit:latest',
    ports: ['http'],
    mount: [{ type: 'volume', target: '/var/lib/matrix-conduit', source: 'platform-conduit-data', readonly: false }],
  });
  t.deepEqual(group.Networks, [{ Mode: 'host', ReservedPorts: [{ Label: 'http', Value: 6167, To: 6167 }] }]);
  t.deepEqual(group.Services![0]!.Checks, [
    { Name: 'platform-conduit-http-versions', Type: 'http', Path: '/_matrix/client/versions', Interval: 10 * S, Timeout: 2 * S },
  ]);
  t.deepEqual(group.RestartPolicy, { Attempts: 3, Interval: 300 * S, Delay: 15 * S, Mode: 'fail' });
});

test('host volume, port and a registration token (Env only)', (t) => {
  const token = 'reg-token-3f9a1c';
  const job = build({ dataVolume: { mode: 'host', name: 'conduit' }, port: 6200, registrationToken: token, env: { CONDUIT_MAX_REQUEST_SIZE: '20000000' } });
  const group = job.TaskGroups[0]!;
  const task = group.Tasks[0]!;
  t.deepEqual(group.Volumes, { data: { Name: 'data', Type: 'host', Source: 'conduit', ReadOnly: false } });
  t.deepEqual(task.VolumeMounts, [{ Volume: 'data', Destination: '/var/lib/matrix-conduit', ReadOnly: false }]);
  t.false('mount' in task.Config);
  t.like(task.Env, { CONDUIT_PORT: '6200', CONDUIT_ALLOW_REGISTRATION: 'true', CONDUIT_REGISTRATION_TOKEN: token, CONDUIT_MAX_REQUEST_SIZE: '20000000' });
  t.deepEqual(group.Networks![0]!.ReservedPorts, [{ Label: 'http', Value: 6200, To: 6200 }]);
  t.deepEqual(pathsContaining(job, [token]), ['TaskGroups[0].Tasks[0].Env.CONDUIT_REGISTRATION_TOKEN']);
  t.throws(() => buildConduitJob({ serverName: '' }), { instanceOf: RangeError });
});

test('schema: both volume modes', (t) => {
  t.deepEqual(validateAgainstNomadSchema(build(), 'Job'), []);
  t.deepEqual(validateAgainstNomadSchema(build({ dataVolume: { mode: 'host', name: 'c' }, registrationToken: 'x' }), 'Job'), []);
});
