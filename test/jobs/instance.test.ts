import test from 'ava';
import {
  buildInstanceJob,
  DEFAULT_HOME_PATH,
  INSTANCE_META_KEYS,
  INSTANCE_PIDS_LIMIT,
  instanceJobId,
  instanceSecretsVariable,
  specHashOf,
} from '../../jobs/instance.ts';
import type { NomadJobRegisterRequest } from '../../jobs/types.ts';
import { asJson, pathsContaining, SECRET_KEY, SECRET_TOKEN, sampleOptions, sampleSpec } from './_helpers.ts';
import { validateAgainstNomadSchema } from './nomad-schema.ts';

const S = 1_000_000_000;
const build = (spec = sampleSpec(), options = sampleOptions()) => asJson(buildInstanceJob(spec, options));
const group = (job = build()) => job.TaskGroups[0]!;
const task = (job = build()) => group(job).Tasks[0]!;

test('job identity: ID = Name = matrixos-{handle}, a service job in the given namespace and datacenters', (t) => {
  const job = build();
  t.is(instanceJobId('alice'), 'matrixos-alice');
  t.like(job, { ID: 'matrixos-alice', Name: 'matrixos-alice', Type: 'service', Namespace: 'matrixos', Datacenters: ['*'] });
  t.false('Region' in job);
  t.is(build(sampleSpec(), sampleOptions({ region: 'eu' })).Region, 'eu');
  t.is(job.TaskGroups.length, 1);
  t.like(group(job), { Name: 'instance', Count: 1 });
  t.is(group(job).Tasks.length, 1);
  t.like(task(job), { Name: 'matrixos', Driver: 'docker' });
});

test('Meta carries handle, owner and spec hash, nothing else', (t) => {
  const job = build();
  t.deepEqual(job.Meta, { matrixos_handle: 'alice', matrixos_owner: 'user-42', matrixos_spec_hash: 'a'.repeat(64) });
  t.is(INSTANCE_META_KEYS.specHash, 'matrixos_spec_hash');
  t.is(specHashOf(job), 'a'.repeat(64));
  t.is(specHashOf({ Meta: null }), undefined);
  t.is(task(job).Meta, undefined);
});

test("secrets appear nowhere in the job: a template renders them from the job's Nomad Variable, which the driver writes", (t) => {
  const spec = sampleSpec();
  const job = build(spec);
  t.deepEqual(pathsContaining(job, Object.values(spec.secrets)), [], 'no secret value in the jobspec');
  const [template] = task(job).Templates!;
  t.is(template!.DestPath, 'secrets/platform.env');
  t.true(template!.Envvars);
  t.is(
    template!.EmbeddedTmpl,
    '{{ with nomadVar "nomad/jobs/matrixos-alice" }}\nANTHROPIC_API_KEY={{ .ANTHROPIC_API_KEY | toJSON }}\nMATRIX_AUTH_TOKEN={{ .MATRIX_AUTH_TOKEN | toJSON }}\n{{ end }}\n',
  );
  t.deepEqual(instanceSecretsVariable(spec, sampleOptions()), {
    path: 'nomad/jobs/matrixos-alice',
    items: { ANTHROPIC_API_KEY: SECRET_KEY, MATRIX_AUTH_TOKEN: SECRET_TOKEN },
  });
});

test('network: host mode, dynamic gateway and shell ports mapped to the spec ports', (t) => {
  t.deepEqual(group(build(sampleSpec({ ports: { gateway: 4100, shell: 3100 } }))).Networks, [
    {
      Mode: 'host',
      DynamicPorts: [
        { Label: 'gateway', To: 4100 },
        { Label: 'shell', To: 3100 },
      ],
    },
  ]);
});

test('services: one Nomad-native service per port with an http /health check (durations in ns)', (t) => {
  const check = (name: string) => ({ Name: name, Type: 'http', Path: '/health', Interval: 10 * S, Timeout: 2 * S });
  t.deepEqual(group().Services, [
    {
      Name: 'matrixos-alice-gateway',
      PortLabel: 'gateway',
      Provider: 'nomad',
      Tags: ['matrixos', 'handle-alice'],
      Checks: [check('matrixos-alice-gateway-health')],
    },
    { Name: 'matrixos-alice-shell', PortLabel: 'shell', Provider: 'nomad', Tags: ['matrixos', 'handle-alice'], Checks: [check('matrixos-alice-shell-health')] },
  ]);
});

test('restart, reschedule, kill timeout and logs: exact nanoseconds', (t) => {
  const job = build();
  t.deepEqual(group(job).RestartPolicy, { Attempts: 3, Interval: 300 * S, Delay: 15 * S, Mode: 'fail' });
  t.deepEqual(group(job).ReschedulePolicy, {
    Attempts: 3,
    Interval: 3600 * S,
    Delay: 30 * S,
    DelayFunction: 'exponential',
    MaxDelay: 600 * S,
    Unlimited: false,
  });
  t.is(task(job).KillTimeout, 10 * S);
  t.deepEqual(task(job).LogConfig, { MaxFiles: 3, MaxFileSizeMB: 10 });
});

test('resources: cores x MHz per core, rounded, at least 100 MHz; MemoryMaxMB only when set', (t) => {
  t.deepEqual(task().Resources, { CPU: 1000, MemoryMB: 256 });
  t.is(task(build(sampleSpec({ cpu: 0.333 }), sampleOptions({ cpuMhzPerCore: 1000 }))).Resources.CPU, 333);
  t.is(task(build(sampleSpec({ cpu: 0.01 }))).Resources.CPU, 100);
  t.deepEqual(task(build(sampleSpec(), sampleOptions({ memoryMaxMB: 1024 }))).Resources, { CPU: 1000, MemoryMB: 256, MemoryMaxMB: 1024 });
});

test('env: spec env, then the platform variables, which neither env nor a secret can override', (t) => {
  const spec = sampleSpec({ env: { MATRIX_HANDLE: 'alice', PORT: '1', HOME: '/root' } });
  spec.secrets = { ...spec.secrets, SHELL_PORT: 'sneaky' };
  const options = sampleOptions({ homePath: '/data/home' });
  t.false('SHELL_PORT' in instanceSecretsVariable(spec, options).items, 'a template would win over Env: such a secret is left out');
  t.deepEqual(task(build(spec, options)).Env, {
    MATRIX_HANDLE: 'alice',
    PORT: '4000',
    SHELL_PORT: '3000',
    HOST: '0.0.0.0',
    MATRIX_DATA_DIR: '/data/home',
    HOME: '/data/home',
  });
});

test('docker-volume mode: a named docker volume mounted at the home path, no Nomad volumes', (t) => {
  const job = build();
  t.deepEqual(task(job).Config, {
    image: 'ghcr.io/hamedmp/matrix-os:1.2.3',
    ports: ['gateway', 'shell'],
    cpu_hard_limit: true,
    pids_limit: INSTANCE_PIDS_LIMIT,
    mount: [{ type: 'volume', target: DEFAULT_HOME_PATH, source: 'matrixos-alice', readonly: false }],
  });
  t.false('Volumes' in group(job));
  t.false('VolumeMounts' in task(job));
});

test('host mode: a group host volume and a task volume mount, no docker mount', (t) => {
  const job = build(sampleSpec(), sampleOptions({ volume: { mode: 'host' } }));
  t.deepEqual(group(job).Volumes, { home: { Name: 'home', Type: 'host', Source: 'matrixos-alice', ReadOnly: false } });
  t.deepEqual(task(job).VolumeMounts, [{ Volume: 'home', Destination: '/home/matrixos', ReadOnly: false }]);
  t.deepEqual(task(job).Config, {
    image: 'ghcr.io/hamedmp/matrix-os:1.2.3',
    ports: ['gateway', 'shell'],
    cpu_hard_limit: true,
    pids_limit: INSTANCE_PIDS_LIMIT,
  });
});

for (const mode of ['docker-volume', 'host'] as const) {
  test(`schema: the ${mode} job and its register request match Nomad's API structs and the docker driver spec`, (t) => {
    const job = build(sampleSpec(), sampleOptions({ volume: { mode }, region: 'eu', memoryMaxMB: 512 }));
    t.deepEqual(validateAgainstNomadSchema(job, 'Job'), []);
    const request: NomadJobRegisterRequest = { Job: job, EnforceIndex: true, JobModifyIndex: 7 };
    t.deepEqual(validateAgainstNomadSchema(asJson(request), 'JobRegisterRequest'), []);
  });
}

test('pure: same input, same job; the spec is not modified', (t) => {
  const spec = sampleSpec();
  const before = structuredClone(spec);
  t.deepEqual(build(spec), build(spec));
  t.deepEqual(spec, before);
});

test('refuses inputs Nomad would reject or misapply', (t) => {
  const refuse = (spec: ReturnType<typeof sampleSpec>, options = sampleOptions()) =>
    t.throws(() => buildInstanceJob(spec, options), { instanceOf: RangeError })!.message;
  t.regex(refuse(sampleSpec({ handle: 'Alice Smith' })), /handle/);
  t.regex(refuse(sampleSpec({ cpu: 0 })), /cpu/);
  t.regex(refuse(sampleSpec({ memoryMB: 255.5 })), /memoryMB/);
  t.regex(refuse(sampleSpec(), sampleOptions({ memoryMaxMB: 128 })), /memoryMaxMB/);
  t.regex(refuse(sampleSpec(), sampleOptions({ homePath: 'home' })), /homePath/);
  t.regex(refuse(sampleSpec(), sampleOptions({ datacenters: [] })), /datacenters/);
});
