import test from 'ava';
import { buildControlJob, CONTROL_JOB_ID } from '../../jobs/control.ts';
import { asJson, pathsContaining } from './_helpers.ts';
import { validateAgainstNomadSchema } from './nomad-schema.ts';

const S = 1_000_000_000;
const SECRETS = { PLATFORM_SECRET: 'p'.repeat(40), SECRET_KEY: 'k'.repeat(40) };
const build = (extra: Partial<Parameters<typeof buildControlJob>[0]> = {}) =>
  asJson(buildControlJob({ image: 'ghcr.io/x/control:1.0', env: { PLATFORM_MODE: 'production' }, secrets: SECRETS, ...extra }));

test('defaults: platform-control in namespace default on every datacenter, static ports 9000/8000/8080', (t) => {
  const job = build();
  t.like(job, { ID: CONTROL_JOB_ID, Name: 'platform-control', Type: 'service', Namespace: 'default', Datacenters: ['*'] });
  t.false(CONTROL_JOB_ID.startsWith('matrixos-'), 'instance job IDs own the matrixos- prefix');
  const group = job.TaskGroups[0]!;
  t.deepEqual(group.Networks, [
    {
      Mode: 'host',
      ReservedPorts: [
        { Label: 'api', Value: 9000, To: 9000 },
        { Label: 'public', Value: 8000, To: 8000 },
        { Label: 'meter', Value: 8080, To: 8080 },
      ],
    },
  ]);
  const task = group.Tasks[0]!;
  t.deepEqual(task.Config, { image: 'ghcr.io/x/control:1.0', ports: ['api', 'public', 'meter'] });
  t.deepEqual(task.Resources, { CPU: 500, MemoryMB: 512 });
  t.is(task.KillTimeout, 10 * S);
  t.like(job.Update, { MaxParallel: 1, HealthCheck: 'checks', AutoRevert: true, MinHealthyTime: 10 * S, HealthyDeadline: 300 * S });
  t.deepEqual(
    group.Services!.map((s) => [s.Name, s.PortLabel, s.Checks![0]!.Type, s.Checks![0]!.Path]),
    [
      ['platform-control-api', 'api', 'http', '/health'],
      ['platform-control-public', 'public', 'tcp', undefined],
      ['platform-control-meter', 'meter', 'tcp', undefined],
    ],
  );
  t.false('Volumes' in group);
});

test('env: caller env and secrets plus the listener settings; secrets only in Env', (t) => {
  const job = build({ apiPort: 9001, namespace: 'platform', region: 'eu', datacenters: ['dc1'] });
  t.like(job, { Namespace: 'platform', Region: 'eu', Datacenters: ['dc1'] });
  t.deepEqual(job.TaskGroups[0]!.Tasks[0]!.Env, {
    PLATFORM_MODE: 'production',
    ...SECRETS,
    API_HOST: '0.0.0.0',
    API_PORT: '9001',
    PUBLIC_HOST: '0.0.0.0',
    PUBLIC_PORT: '8000',
    METER_HOST: '0.0.0.0',
    METER_PORT: '8080',
  });
  t.is(job.Meta, undefined);
  t.deepEqual(pathsContaining(job, Object.values(SECRETS)).sort(), ['TaskGroups[0].Tasks[0].Env.PLATFORM_SECRET', 'TaskGroups[0].Tasks[0].Env.SECRET_KEY']);
});

test('dataHostVolume: a host volume mounted at DATA_DIR', (t) => {
  const job = build({ dataHostVolume: 'platform-data', cpu: 1000, memoryMB: 1024 });
  const group = job.TaskGroups[0]!;
  t.deepEqual(group.Volumes, { data: { Name: 'data', Type: 'host', Source: 'platform-data', ReadOnly: false } });
  t.deepEqual(group.Tasks[0]!.VolumeMounts, [{ Volume: 'data', Destination: '/data', ReadOnly: false }]);
  t.is(group.Tasks[0]!.Env!.DATA_DIR, '/data');
  t.deepEqual(group.Tasks[0]!.Resources, { CPU: 1000, MemoryMB: 1024 });
});

test('schema: with and without a volume', (t) => {
  t.deepEqual(validateAgainstNomadSchema(build(), 'Job'), []);
  t.deepEqual(validateAgainstNomadSchema(build({ dataHostVolume: 'd', region: 'eu' }), 'Job'), []);
});

test('secrets from the Nomad Variable: names only in the jobspec, a bad name is refused', (t) => {
  const job = buildControlJob({ image: 'ghcr.io/x/control:1.0', variableSecrets: ['PLATFORM_SECRET'] });
  const task = job.TaskGroups[0]!.Tasks[0]!;
  t.deepEqual(
    task.Templates?.map((tmpl) => tmpl.DestPath),
    ['secrets/platform.env'],
  );
  t.false('PLATFORM_SECRET' in (task.Env ?? {}));
  t.throws(() => buildControlJob({ image: 'x', variableSecrets: ['BAD }} name'] }), { instanceOf: RangeError });
});
