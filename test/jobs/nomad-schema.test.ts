/** The validator itself: it must accept real job JSON and catch the mistakes Nomad would silently swallow. */
import test from 'ava';
import { buildInstanceJob } from '../../jobs/instance.ts';
import { asJson, sampleOptions, sampleSpec } from './_helpers.ts';
import { loadNomadSchema, validateAgainstNomadSchema } from './nomad-schema.ts';

// biome-ignore lint/suspicious/noExplicitAny: the job is mutated freely to build invalid variants
const job = () => asJson(buildInstanceJob(sampleSpec(), sampleOptions())) as unknown as Record<string, any>;
const problems = (value: unknown, root = 'Job') => validateAgainstNomadSchema(value, root);

test('the fixture is the extracted Nomad api field data', (t) => {
  const schema = loadNomadSchema();
  t.true(schema.structs.Job!.fields.some((f) => f.name === 'TaskGroups'));
  t.truthy(schema.drivers.docker!.config.attrs!.image);
});

test('accepts a minimal hand-written job', (t) => {
  t.deepEqual(
    problems({
      ID: 'x',
      Name: 'x',
      Type: 'service',
      Datacenters: ['*'],
      Meta: null,
      TaskGroups: [{ Name: 'g', Count: 1, Tasks: [{ Name: 't', Driver: 'docker', Config: { image: 'busybox', args: ['sh'] } }] }],
    }),
    [],
  );
});

test('catches HCL-style snake_case keys and a string duration', (t) => {
  const bad = job();
  bad.task_groups = [];
  bad.TaskGroups[0].RestartPolicy.Interval = '5m';
  t.deepEqual(problems(bad), [
    'Job.TaskGroups[0].RestartPolicy.Interval: expected a duration: integer nanoseconds, got "5m"',
    'Job.task_groups: unknown field of Job',
  ]);
});

test('names the JSON field for an HCL name and for a key in the wrong case', (t) => {
  const bad = job();
  const resources = bad.TaskGroups[0].Tasks[0].Resources;
  resources.memory = resources.MemoryMB;
  delete resources.MemoryMB;
  bad.id = bad.ID;
  delete bad.ID;
  t.deepEqual(problems(bad).sort(), [
    'Job.TaskGroups[0].Tasks[0].Resources.memory: unknown field of Resources: that is the HCL name, the JSON field is MemoryMB',
    'Job.id: unknown field of Job: wrong case, the field is ID',
  ]);
});

test('catches wrong JSON types: fractional integers, numbers as strings, objects for arrays', (t) => {
  const bad = job();
  bad.TaskGroups[0].Tasks[0].Resources.CPU = 999.5;
  bad.TaskGroups[0].Count = '1';
  bad.Datacenters = 'dc1';
  bad.TaskGroups[0].Services[0].Checks[0].Timeout = 2.5e9 + 0.5;
  t.deepEqual(problems(bad), [
    'Job.Datacenters: expected a JSON array ([]string), got "dc1"',
    'Job.TaskGroups[0].Count: expected an integer (int), got "1"',
    'Job.TaskGroups[0].Services[0].Checks[0].Timeout: expected a duration: integer nanoseconds, got number 2500000000.5',
    'Job.TaskGroups[0].Tasks[0].Resources.CPU: expected an integer (int), got number 999.5',
  ]);
});

test('checks docker task config against the driver spec', (t) => {
  const bad = job();
  const config = bad.TaskGroups[0].Tasks[0].Config;
  delete config.image;
  config.cpu_hard_limit = 'true';
  config.mount[0].readonly = 'false';
  config.volumes_from = ['x'];
  config.mount = config.mount[0];
  t.deepEqual(problems(bad).sort(), [
    'Job.TaskGroups[0].Tasks[0].Config.cpu_hard_limit: expected bool, got "true"',
    'Job.TaskGroups[0].Tasks[0].Config.image: required',
    'Job.TaskGroups[0].Tasks[0].Config.mount: expected a list of blocks, got an object',
    'Job.TaskGroups[0].Tasks[0].Config.volumes_from: unknown key for this driver config block',
  ]);
  bad.TaskGroups[0].Tasks[0].Driver = 'podman';
  t.deepEqual(problems(bad), ['Job.TaskGroups[0].Tasks[0].Config: cannot check the task config of driver "podman": no such built-in driver']);
});

test('null is fine for pointers, slices and maps, not for plain values', (t) => {
  const bad = job();
  bad.Namespace = null;
  bad.Meta = null;
  bad.TaskGroups[0].Tasks[0].Name = null;
  t.deepEqual(problems(bad), ['Job.TaskGroups[0].Tasks[0].Name: null is not a string (only pointers, slices and maps take null)']);
});

test('register request root and an unknown root', (t) => {
  t.deepEqual(problems({ Job: job(), EnforceIndex: 'yes' }, 'JobRegisterRequest'), ['EnforceIndex: expected true/false, got "yes"']);
  t.deepEqual(problems({}, 'Jobb'), ['no struct "Jobb" in the Nomad schema']);
});
