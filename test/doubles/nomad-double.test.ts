/**
 * The Nomad double behaves like Nomad's HTTP API as
 * test/doubles/nomad/README.md describes it: real HTTP, plain-text
 * errors with Nomad's statuses and texts, Go-style decoding, server-side
 * validation, scheduling, blocking queries, ACLs, namespaces and faults.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { type NomadDouble, type NomadDoubleOptions, startNomadDouble } from './nomad/index.ts';

// biome-ignore lint/suspicious/noExplicitAny: Nomad JSON read back in assertions, checked field by field
type J = any;

interface Reply {
  status: number;
  text: string;
  json: J;
  headers: Headers;
}

async function call(d: NomadDouble, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(`${d.url}${path}`, init);
  const text = await res.text();
  const json = res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : undefined;
  return { status: res.status, text, json, headers: res.headers };
}

function instanceJob(id = 'mxos-alice', over: Record<string, unknown> = {}): Record<string, J> {
  return {
    ID: id,
    Name: id,
    Type: 'service',
    Datacenters: ['*'],
    Meta: { handle: 'alice' },
    TaskGroups: [
      {
        Name: 'instance',
        Count: 1,
        Networks: [{ Mode: 'host', DynamicPorts: [{ Label: 'gateway', To: 4000 }] }],
        RestartPolicy: { Attempts: 2, Interval: 1800e9, Delay: 15e9, Mode: 'fail' },
        Services: [{ Name: `${id}-gateway`, PortLabel: 'gateway', Provider: 'nomad', Tags: ['mxos'] }],
        Tasks: [
          {
            Name: 'instance',
            Driver: 'docker',
            Config: { image: 'ghcr.io/matrix-os/instance:1', ports: ['gateway'] },
            Env: { PORT: '${NOMAD_PORT_gateway}' },
            Resources: { CPU: 500, MemoryMB: 512 },
          },
        ],
      },
    ],
    ...over,
  };
}

const task = (job: J): J => job.TaskGroups[0].Tasks[0];

async function withDouble(t: ExecutionContext, options: NomadDoubleOptions = {}): Promise<NomadDouble> {
  const d = await startNomadDouble(options);
  t.teardown(() => d.close());
  return d;
}

async function register(d: NomadDouble, job: J, query = ''): Promise<Reply> {
  return call(d, 'PUT', `/v1/jobs${query}`, { Job: job });
}

async function allocsOf(d: NomadDouble, jobId: string, query = ''): Promise<J[]> {
  return (await call(d, 'GET', `/v1/job/${jobId}/allocations${query}`)).json;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function assertPlainText(t: ExecutionContext, reply: Reply, status: number, body: string): void {
  t.is(reply.status, status, reply.text);
  t.is(reply.headers.get('content-type'), 'text/plain; charset=utf-8');
  t.is(reply.text, body);
}

test('unknown routes get Go\'s 404 text and wrong methods 405 "Invalid method"', async (t) => {
  const d = await withDouble(t);
  assertPlainText(t, await call(d, 'GET', '/v1/nope'), 404, '404 page not found\n');
  assertPlainText(t, await call(d, 'DELETE', '/v1/jobs'), 405, 'Invalid method');
  assertPlainText(t, await call(d, 'GET', '/v1/job/x/plan'), 405, 'Invalid method');
  assertPlainText(t, await call(d, 'POST', '/v1/allocation/abc'), 405, 'Invalid method');
});

test("the HTTP layer answers malformed registrations with 400 and Nomad's texts", async (t) => {
  const d = await withDouble(t);
  assertPlainText(t, await call(d, 'PUT', '/v1/jobs'), 400, 'Request body is empty');
  assertPlainText(t, await call(d, 'PUT', '/v1/jobs', {}), 400, 'Job must be specified');
  assertPlainText(t, await call(d, 'PUT', '/v1/jobs', { Job: { Name: 'x' } }), 400, "Job ID hasn't been provided");
  assertPlainText(t, await call(d, 'POST', '/v1/job/other', { Job: instanceJob('mxos-alice') }), 400, 'Job ID does not match name');
  assertPlainText(t, await call(d, 'PUT', '/v1/jobs', '{"Job": {"ID": "x",}}'), 400, "invalid character '}' looking for beginning of object key string");
  assertPlainText(t, await call(d, 'PUT', '/v1/jobs', '{"Job": {"ID": "x"'), 400, 'unexpected EOF');
  assertPlainText(t, await call(d, 'PUT', '/v1/jobs', '[1]'), 400, 'json: cannot unmarshal array into Go value of type api.JobRegisterRequest');
  t.is((await call(d, 'GET', '/v1/jobs')).json.length, 0);
});

test("wrong JSON types are 400 with encoding/json's message and nothing is registered", async (t) => {
  const d = await withDouble(t);
  const cases: Array<[(job: J) => void, string]> = [
    [
      (j) => {
        j.TaskGroups[0].Count = '1';
      },
      'json: cannot unmarshal string into Go struct field TaskGroup.Job.TaskGroups.Count of type int',
    ],
    [
      (j) => {
        task(j).Resources.CPU = 1.5;
      },
      'json: cannot unmarshal number 1.5 into Go struct field Resources.Job.TaskGroups.Tasks.Resources.CPU of type int',
    ],
    [
      (j) => {
        j.Datacenters = 'dc1';
      },
      'json: cannot unmarshal string into Go struct field Job.Job.Datacenters of type []string',
    ],
    [
      (j) => {
        j.Meta = { n: 1 };
      },
      'json: cannot unmarshal number into Go struct field Job.Job.Meta of type string',
    ],
    [
      (j) => {
        j.TaskGroups[0].RestartPolicy.Delay = '15s';
      },
      'json: cannot unmarshal string into Go struct field RestartPolicy.Job.TaskGroups.RestartPolicy.Delay of type time.Duration',
    ],
    [
      (j) => {
        j.TaskGroups[0].Networks[0].DynamicPorts[0].To = 70000.5;
      },
      'json: cannot unmarshal number 70000.5 into Go struct field Port.Job.TaskGroups.Networks.DynamicPorts.To of type int',
    ],
    [
      (j) => {
        j.TaskGroups = { instance: {} };
      },
      'json: cannot unmarshal object into Go struct field Job.Job.TaskGroups of type []*api.TaskGroup',
    ],
    [
      (j) => {
        j.Priority = true;
      },
      'json: cannot unmarshal bool into Go struct field Job.Job.Priority of type int',
    ],
  ];
  for (const [mutate, message] of cases) {
    const job = instanceJob();
    mutate(job);
    assertPlainText(t, await register(d, job), 400, message);
  }
  // JSON.stringify writes 1e3 as 1000, so send the exponent form verbatim.
  const raw = JSON.stringify({ Job: instanceJob() }).replace('"MemoryMB":512', '"MemoryMB":1e3');
  assertPlainText(
    t,
    await call(d, 'PUT', '/v1/jobs', raw),
    400,
    'json: cannot unmarshal number 1e3 into Go struct field Resources.Job.TaskGroups.Tasks.Resources.MemoryMB of type int',
  );
  const overflow = JSON.stringify({ Job: instanceJob(), JobModifyIndex: 1 }).replace('"JobModifyIndex":1', '"JobModifyIndex":-1');
  assertPlainText(
    t,
    await call(d, 'PUT', '/v1/jobs', overflow),
    400,
    'json: cannot unmarshal number -1 into Go struct field JobRegisterRequest.JobModifyIndex of type uint64',
  );
  t.is((await call(d, 'GET', '/v1/job/mxos-alice')).status, 404);
});

test('HCL-style keys are dropped as Nomad drops them, reported, and fail server validation', async (t) => {
  const d = await withDouble(t);
  const { TaskGroups, ...rest } = instanceJob();
  const hcl = await register(d, { ...rest, task_groups: TaskGroups });
  assertPlainText(t, hcl, 500, '1 error occurred:\n\t* Missing job task groups\n\n');
  t.deepEqual(d.lastRegisterWarnings?.unknownKeys, ['Job.task_groups']);

  // `cpu` still matches CPU (Go matches keys case-insensitively), but HCL's `memory` is not
  // MemoryMB: it is dropped and the task silently gets Nomad's default of 300 MB.
  const job = instanceJob();
  task(job).Resources = { cpu: 500, memory: 256 };
  t.is((await register(d, job)).status, 200);
  t.deepEqual(d.lastRegisterWarnings?.unknownKeys, ['Job.TaskGroups[0].Tasks[0].Resources.memory']);
  const stored = (await call(d, 'GET', '/v1/job/mxos-alice')).json;
  t.is(task(stored).Resources.CPU, 500);
  t.is(task(stored).Resources.MemoryMB, 300);
});

test('keys match case-insensitively and come back with the api field names', async (t) => {
  const d = await withDouble(t);
  const body = '{"job": {"id": "lower", "taskgroups": [{"name": "g", "tasks": [{"name": "t", "driver": "docker", "config": {"image": "busybox:1"}}]}]}}';
  const reply = await call(d, 'PUT', '/v1/jobs', body);
  t.is(reply.status, 200, reply.text);
  t.deepEqual(d.lastRegisterWarnings?.unknownKeys, []);
  const job = (await call(d, 'GET', '/v1/job/lower')).json;
  t.is(job.ID, 'lower');
  t.is(job.Name, 'lower');
  t.deepEqual(job.Datacenters, ['*']);
  t.is(job.TaskGroups[0].Count, 1);
  t.is(task(job).Resources.MemoryMB, 300);
  t.is(task(job).KillTimeout, 5e9);
  t.is(job.TaskGroups[0].RestartPolicy.Mode, 'fail');
  t.is(job.Meta, null, 'empty maps come back as null');
  t.true('Constraints' in job && job.Constraints === null);
});

test('server-side validation is a 500 with a go-multierror list', async (t) => {
  const d = await withDouble(t);
  const job = instanceJob('', { Name: 'alice', Type: 'web' });
  const group = job.TaskGroups[0];
  group.Services[0].Name = 'alice-gateway';
  group.Count = -1;
  group.RestartPolicy.Mode = 'sometimes';
  group.Networks[0].DynamicPorts.push({ Label: 'gateway' });
  group.Services[0].PortLabel = 'http';
  task(job).Driver = '';
  task(job).Resources = { CPU: 0, MemoryMB: 5 };
  task(job).VolumeMounts = [{ Volume: 'data', Destination: '/data' }];
  const reply = await register(d, job);
  t.is(reply.status, 500);
  t.is(reply.headers.get('content-type'), 'text/plain; charset=utf-8');
  t.true(reply.text.startsWith('3 errors occurred:\n\t* Missing job ID\n\t* Invalid job type: "web"\n\t* Task group instance validation failed: '), reply.text);
  for (const part of [
    "Task group count can't be negative",
    'Unsupported restart mode: "sometimes"',
    'Port label gateway already in use by taskgroup network',
    'port label "http" referenced by services alice-gateway does not exist',
    'Task instance validation failed: ',
    'Missing task driver',
    'minimum CPU value is 1; got 0',
    'minimum MemoryMB value is 10; got 5',
    'Volume Mount (0) references undefined volume data',
  ])
    t.true(reply.text.includes(`\t* ${part}`), `${part} in ${reply.text}`);
  t.is((await call(d, 'GET', '/v1/jobs')).json.length, 0);
});

test('a volume mount of a declared host volume and a known port label pass validation', async (t) => {
  const d = await withDouble(t);
  const job = instanceJob();
  job.TaskGroups[0].Volumes = { data: { Type: 'host', Source: 'mxos-data', ReadOnly: false } };
  task(job).VolumeMounts = [{ Volume: 'data', Destination: '/data' }];
  const reply = await register(d, job);
  t.is(reply.status, 200, reply.text);
});

test('namespaces: unknown namespace is a 500 on register, reads only see their namespace', async (t) => {
  const d = await withDouble(t, { namespaces: ['default', 'team'] });
  assertPlainText(t, await register(d, instanceJob('x'), '?namespace=nope'), 500, '1 error occurred:\n\t* job "x" is in nonexistent namespace "nope"\n\n');
  t.is((await register(d, instanceJob('x'), '?namespace=team')).status, 200);
  t.is((await register(d, instanceJob('y', { Namespace: 'team' }))).status, 200, "the job's own Namespace counts without ?namespace");
  assertPlainText(t, await call(d, 'GET', '/v1/job/x'), 404, 'job not found');
  t.is((await call(d, 'GET', '/v1/job/x?namespace=team')).json.Namespace, 'team');
  t.deepEqual((await call(d, 'GET', '/v1/jobs')).json, []);
  t.deepEqual(
    (await call(d, 'GET', '/v1/jobs?namespace=team')).json.map((j: J) => j.ID),
    ['x', 'y'],
  );
  t.deepEqual(await allocsOf(d, 'x'), []);
  assertPlainText(t, await call(d, 'GET', '/v1/jobs?region=mars'), 500, 'No path to region');
});

test('ACLs: missing token is "Permission denied", unknown token "ACL token not found", read-only tokens cannot write', async (t) => {
  const d = await withDouble(t, { token: 'secret', readOnlyTokens: ['viewer'] });
  assertPlainText(t, await call(d, 'GET', '/v1/jobs'), 403, 'Permission denied');
  assertPlainText(t, await call(d, 'GET', '/v1/jobs', undefined, { 'X-Nomad-Token': 'wrong' }), 403, 'ACL token not found');
  assertPlainText(t, await call(d, 'PUT', '/v1/jobs', { Job: instanceJob() }, { 'X-Nomad-Token': 'wrong' }), 403, 'ACL token not found');
  t.is((await call(d, 'GET', '/v1/jobs', undefined, { 'X-Nomad-Token': 'secret' })).status, 200);
  t.is((await call(d, 'PUT', '/v1/jobs', { Job: instanceJob() }, { Authorization: 'Bearer secret' })).status, 200);
  t.is((await call(d, 'GET', '/v1/job/mxos-alice', undefined, { 'X-Nomad-Token': 'viewer' })).status, 200);
  assertPlainText(t, await call(d, 'DELETE', '/v1/job/mxos-alice', undefined, { 'X-Nomad-Token': 'viewer' }), 403, 'Permission denied');
  // As in Nomad, a malformed body is rejected by the HTTP layer before the token is looked at.
  assertPlainText(t, await call(d, 'PUT', '/v1/jobs', '{'), 400, 'unexpected EOF');
});

test('register -> evaluation complete -> allocation pending -> running with host ports -> service registration', async (t) => {
  // The task starts only when the test says so: the pending state is observed, not raced.
  let release!: () => void;
  const started = new Promise<void>((resolve) => {
    release = resolve;
  });
  const d = await withDouble(t, { hostIP: '127.0.0.1', onAllocationRunning: () => started });
  const reply = await register(d, instanceJob());
  t.is(reply.status, 200, reply.text);
  t.is(reply.json.Warnings, '');
  t.is(reply.headers.get('x-nomad-index'), String(reply.json.EvalCreateIndex));
  t.true(reply.json.JobModifyIndex > 0 && reply.json.EvalCreateIndex > reply.json.JobModifyIndex);

  const evaluation = await until('eval complete', async () => {
    const e = (await call(d, 'GET', `/v1/evaluation/${reply.json.EvalID}`)).json;
    return e.Status === 'complete' ? e : undefined;
  });
  t.is(evaluation.TriggeredBy, 'job-register');
  t.is(evaluation.FailedTGAllocs, null);

  const [pending] = await allocsOf(d, 'mxos-alice');
  t.is(pending.ClientStatus, 'pending');
  t.is(pending.DesiredStatus, 'run');
  t.is(pending.Name, 'mxos-alice.instance[0]');
  t.deepEqual((await call(d, 'GET', '/v1/service/mxos-alice-gateway')).json, [], 'no service before the task runs');
  release();

  const blocked = await call(d, 'GET', `/v1/allocation/${pending.ID}?index=${pending.ModifyIndex}&wait=5s`);
  const alloc = blocked.json;
  t.is(alloc.ClientStatus, 'running');
  t.true(Number(blocked.headers.get('x-nomad-index')) > pending.ModifyIndex);
  const state = alloc.TaskStates.instance;
  t.is(state.State, 'running');
  t.false(state.Failed);
  t.deepEqual(
    state.Events.map((e: J) => e.Type),
    ['Received', 'Task Setup', 'Driver', 'Started'],
  );
  t.true(state.Events.every((e: J) => typeof e.Time === 'number' && e.DisplayMessage !== ''));
  t.regex(state.StartedAt, /^\d{4}-\d\d-\d\dT/);
  const [port] = alloc.AllocatedResources.Shared.Ports;
  t.is(port.Label, 'gateway');
  t.is(port.To, 4000);
  t.is(port.HostIP, '127.0.0.1');
  t.true(port.Value >= 20000 && port.Value <= 32000);
  t.is(alloc.NetworkStatus, null);
  t.is(alloc.Job.ID, 'mxos-alice');

  const services = (await call(d, 'GET', '/v1/service/mxos-alice-gateway')).json;
  t.is(services.length, 1);
  t.like(services[0], {
    ServiceName: 'mxos-alice-gateway',
    Address: '127.0.0.1',
    Port: port.Value,
    AllocID: alloc.ID,
    JobID: 'mxos-alice',
    Tags: ['mxos'],
    Namespace: 'default',
  });
  const job = (await call(d, 'GET', '/v1/job/mxos-alice')).json;
  t.is(job.Status, 'running');
  t.is(job.Version, 0);
  t.deepEqual(d.errors, []);
});

test('onAllocationRunning can serve real HTTP on the allocated port; onAllocationStopped closes it', async (t) => {
  const servers = new Map<string, http.Server>();
  const envs: Array<Record<string, string>> = [];
  const d = await withDouble(t, {
    onAllocationRunning: async (info) => {
      envs.push(info.env);
      const server = http.createServer((_req, res) => res.end(`hello from ${info.allocId}`));
      await new Promise<void>((resolve) => server.listen(info.ports.gateway, info.hostIP, resolve));
      servers.set(info.allocId, server);
    },
    onAllocationStopped: async (info) => {
      const server = servers.get(info.allocId);
      servers.delete(info.allocId);
      await new Promise<void>((resolve) => server?.close(() => resolve()));
    },
  });
  await register(d, instanceJob());
  await d.settled();
  const [service] = (await call(d, 'GET', '/v1/service/mxos-alice-gateway')).json;
  const res = await fetch(`http://${service.Address}:${service.Port}/health`);
  t.is(await res.text(), `hello from ${service.AllocID}`);
  const env = envs[0]!;
  t.is(env.NOMAD_PORT_gateway, '4000');
  t.is(env.NOMAD_HOST_PORT_gateway, String(service.Port));
  t.is(env.NOMAD_ALLOC_ID, service.AllocID);
  t.is(env.NOMAD_META_handle, 'alice');
  t.is(env.PORT, '4000', 'task Env is interpolated');
  await call(d, 'DELETE', '/v1/job/mxos-alice');
  await d.settled();
  t.is(servers.size, 0);
  await t.throwsAsync(fetch(`http://${service.Address}:${service.Port}/health`));
});

test('onAllocationRunning throwing fails the allocation with a Driver Failure event', async (t) => {
  const d = await withDouble(t, {
    onAllocationRunning: () => {
      throw new Error('container exited: bad config');
    },
  });
  await register(d, instanceJob());
  await d.settled();
  const alloc = d.allocations('mxos-alice')[0] as J;
  t.is(alloc.ClientStatus, 'failed');
  const state = alloc.TaskStates.instance;
  t.is(state.State, 'dead');
  t.true(state.Failed);
  const failure = state.Events.find((e: J) => e.Type === 'Driver Failure');
  t.is(failure.DriverError, 'container exited: bad config');
  t.is(failure.DisplayMessage, 'container exited: bad config');
  t.is(state.Events.at(-1).Type, 'Not Restarting');
  t.deepEqual((await call(d, 'GET', '/v1/service/mxos-alice-gateway')).json, []);
  t.is((await call(d, 'GET', '/v1/job/mxos-alice')).json.Status, 'dead');
});

test('re-registering an unchanged job keeps JobModifyIndex and Version, creates an eval, places nothing', async (t) => {
  const d = await withDouble(t);
  const first = (await register(d, instanceJob())).json;
  await d.settled();
  const [alloc] = await allocsOf(d, 'mxos-alice');
  const second = (await register(d, instanceJob())).json;
  await d.settled();
  t.is(second.JobModifyIndex, first.JobModifyIndex);
  t.not(second.EvalID, first.EvalID);
  t.true(second.EvalCreateIndex > first.EvalCreateIndex);
  t.is((await call(d, 'GET', `/v1/evaluation/${second.EvalID}`)).json.Status, 'complete');
  const job = (await call(d, 'GET', '/v1/job/mxos-alice')).json;
  t.is(job.Version, 0);
  t.is(job.JobModifyIndex, first.JobModifyIndex);
  t.deepEqual(
    (await allocsOf(d, 'mxos-alice')).map((a) => a.ID),
    [alloc.ID],
  );
});

test('a job read back with GET and submitted again is unchanged', async (t) => {
  const d = await withDouble(t);
  const first = (await register(d, instanceJob())).json;
  await d.settled();
  const read = (await call(d, 'GET', '/v1/job/mxos-alice')).json;
  const again = await register(d, read);
  t.is(again.status, 200, again.text);
  t.is(again.json.JobModifyIndex, first.JobModifyIndex);
  t.deepEqual(d.lastRegisterWarnings?.unknownKeys, []);
  await d.settled();
  t.is((await call(d, 'GET', '/v1/job/mxos-alice')).json.Version, 0);
  t.is((await allocsOf(d, 'mxos-alice')).length, 1);
});

test('re-registering a changed job bumps Version and replaces its allocations', async (t) => {
  const d = await withDouble(t);
  const first = (await register(d, instanceJob())).json;
  await d.settled();
  const [old] = await allocsOf(d, 'mxos-alice');
  const changed = instanceJob();
  task(changed).Config.image = 'ghcr.io/matrix-os/instance:2';
  const second = (await register(d, changed)).json;
  await d.settled();
  t.true(second.JobModifyIndex > first.JobModifyIndex);
  t.is((await call(d, 'GET', '/v1/job/mxos-alice')).json.Version, 1);
  const allocs = d.allocations('mxos-alice') as J[];
  t.is(allocs.length, 2);
  t.like(
    allocs.find((a) => a.ID === old.ID),
    { DesiredStatus: 'stop', ClientStatus: 'complete', DesiredDescription: 'alloc is being updated due to job update' },
  );
  const fresh = allocs.find((a) => a.ID !== old.ID);
  t.like(fresh, { DesiredStatus: 'run', ClientStatus: 'running' });
  t.is(task(fresh.Job).Config.image, 'ghcr.io/matrix-os/instance:2');
  const services = (await call(d, 'GET', '/v1/service/mxos-alice-gateway')).json;
  t.deepEqual(
    services.map((s: J) => s.AllocID),
    [fresh.ID],
  );
});

test('MemoryMaxMB without memory oversubscription is ignored with a warning', async (t) => {
  const d = await withDouble(t);
  const job = instanceJob();
  task(job).Resources.MemoryMaxMB = 1024;
  const reply = await register(d, job);
  t.is(
    reply.json.Warnings,
    '1 warning:\n\n* Memory oversubscription is not enabled; Task "instance.instance" memory_max value will be ignored. Update the Scheduler Configuration to allow oversubscription.',
  );
  await d.settled();
  const alloc = d.allocations('mxos-alice')[0] as J;
  t.is(alloc.AllocatedResources.Tasks.instance.Memory.MemoryMaxMB, 0);

  const over = await withDouble(t, { memoryOversubscription: true });
  t.is((await register(over, job)).json.Warnings, '');
  await over.settled();
  t.is((over.allocations('mxos-alice')[0] as J).AllocatedResources.Tasks.instance.Memory.MemoryMaxMB, 1024);
});

test('stop keeps the job (Stop true, dead, new version); purge removes it; unknown jobs answer 200 with no eval', async (t) => {
  const d = await withDouble(t);
  await register(d, instanceJob());
  await d.settled();
  const stop = await call(d, 'DELETE', '/v1/job/mxos-alice');
  t.is(stop.status, 200);
  t.truthy(stop.json.EvalID);
  await d.settled();
  const job = (await call(d, 'GET', '/v1/job/mxos-alice')).json;
  t.like(job, { Stop: true, Status: 'dead', Version: 1 });
  t.like((await allocsOf(d, 'mxos-alice'))[0], { DesiredStatus: 'stop', ClientStatus: 'complete' });
  t.deepEqual((await call(d, 'GET', '/v1/service/mxos-alice-gateway')).json, []);
  t.is((await call(d, 'GET', `/v1/evaluation/${stop.json.EvalID}`)).json.TriggeredBy, 'job-deregister');

  const purge = await call(d, 'DELETE', '/v1/job/mxos-alice?purge=true');
  t.is(purge.status, 200);
  assertPlainText(t, await call(d, 'GET', '/v1/job/mxos-alice'), 404, 'job not found');
  const unknown = await call(d, 'DELETE', '/v1/job/never-was');
  t.is(unknown.status, 200);
  t.is(unknown.json.EvalID, '');
  t.deepEqual(await allocsOf(d, 'never-was'), [], 'allocations of an unknown job: 200 []');
  assertPlainText(t, await call(d, 'GET', '/v1/allocation/00000000-0000-0000-0000-000000000000'), 404, 'alloc not found');
  assertPlainText(t, await call(d, 'GET', '/v1/evaluation/00000000-0000-0000-0000-000000000000'), 404, 'eval not found');
});

test('re-registering a stopped job starts it again', async (t) => {
  const d = await withDouble(t);
  await register(d, instanceJob());
  await d.settled();
  await call(d, 'DELETE', '/v1/job/mxos-alice');
  await d.settled();
  await register(d, instanceJob());
  await d.settled();
  const job = (await call(d, 'GET', '/v1/job/mxos-alice')).json;
  t.like(job, { Stop: false, Status: 'running', Version: 2 });
  t.is((await allocsOf(d, 'mxos-alice')).filter((a) => a.ClientStatus === 'running').length, 1);
});

test('EnforceIndex with a stale JobModifyIndex is a 500', async (t) => {
  const d = await withDouble(t);
  const first = (await register(d, instanceJob())).json;
  const stale = await call(d, 'PUT', '/v1/jobs', { Job: instanceJob(), EnforceIndex: true, JobModifyIndex: first.JobModifyIndex + 100 });
  assertPlainText(
    t,
    stale,
    500,
    `Enforcing job modify index ${first.JobModifyIndex + 100}: job exists with conflicting job modify index: ${first.JobModifyIndex}`,
  );
  const ok = await call(d, 'PUT', '/v1/jobs', { Job: instanceJob(), EnforceIndex: true, JobModifyIndex: first.JobModifyIndex });
  t.is(ok.status, 200);
});

test('job list stubs carry Meta only with meta=true and filter by prefix', async (t) => {
  const d = await withDouble(t);
  await register(d, instanceJob('mxos-alice'));
  await register(d, instanceJob('mxos-bob'));
  await register(d, instanceJob('other'));
  await d.settled();
  const plain = (await call(d, 'GET', '/v1/jobs?prefix=mxos-')).json;
  t.deepEqual(
    plain.map((j: J) => j.ID),
    ['mxos-alice', 'mxos-bob'],
  );
  t.false('Meta' in plain[0]);
  t.like(plain[0], { Name: 'mxos-alice', Namespace: 'default', Type: 'service', Status: 'running', Stop: false });
  t.is(plain[0].JobSummary.Summary.instance.Running, 1);
  const withMeta = (await call(d, 'GET', '/v1/jobs?prefix=mxos-&meta=true')).json;
  t.deepEqual(withMeta[0].Meta, { handle: 'alice' });
});

test('a blocking query holds until the resource changes and then answers at once', async (t) => {
  const d = await withDouble(t);
  await register(d, instanceJob());
  await d.settled();
  const current = await call(d, 'GET', '/v1/job/mxos-alice');
  const index = Number(current.headers.get('x-nomad-index'));
  t.is(index, current.json.ModifyIndex);
  t.is(current.headers.get('x-nomad-knownleader'), 'true');
  t.is(current.headers.get('x-nomad-lastcontact'), '0');
  const started = Date.now();
  const held = call(d, 'GET', `/v1/job/mxos-alice?index=${index}&wait=10s`);
  setTimeout(() => {
    void call(d, 'DELETE', '/v1/job/mxos-alice');
  }, 300);
  const reply = await held;
  const elapsed = Date.now() - started;
  t.true(elapsed >= 250 && elapsed < 5000, `returned after ${elapsed}ms`);
  t.true(Number(reply.headers.get('x-nomad-index')) > index);
  t.true(reply.json.Stop);
  const stale = await call(d, 'GET', `/v1/job/mxos-alice?index=${index}&wait=10s`);
  t.true(stale.json.Stop, 'an index already passed answers immediately');
});

test('a blocking query honours wait (plus at most wait/16 jitter) when nothing changes', async (t) => {
  const d = await withDouble(t);
  await register(d, instanceJob());
  await d.settled();
  const index = Number((await call(d, 'GET', '/v1/job/mxos-alice')).headers.get('x-nomad-index'));
  const started = Date.now();
  const reply = await call(d, 'GET', `/v1/job/mxos-alice?index=${index}&wait=400ms`);
  const elapsed = Date.now() - started;
  t.true(elapsed >= 395 && elapsed < 400 + 25 + 1000, `returned after ${elapsed}ms`);
  t.is(Number(reply.headers.get('x-nomad-index')), index);
  t.is(reply.status, 200);
});

test('blocking on a missing job or service wakes when it appears; bad wait/index are 400', async (t) => {
  const d = await withDouble(t);
  const missing = await call(d, 'GET', '/v1/service/mxos-alice-gateway');
  t.deepEqual(missing.json, []);
  const index = Number(missing.headers.get('x-nomad-index'));
  const held = call(d, 'GET', `/v1/service/mxos-alice-gateway?index=${index}&wait=10s`);
  setTimeout(() => {
    void register(d, instanceJob());
  }, 100);
  t.is((await held).json.length, 1);
  const jobIndex = Number((await call(d, 'GET', '/v1/job/mxos-bob')).headers.get('x-nomad-index'));
  const jobHeld = call(d, 'GET', `/v1/job/mxos-bob?index=${jobIndex}&wait=10s`);
  setTimeout(() => {
    void register(d, instanceJob('mxos-bob'));
  }, 100);
  t.is((await jobHeld).json.ID, 'mxos-bob');
  assertPlainText(t, await call(d, 'GET', '/v1/jobs?index=1&wait=30'), 400, 'Invalid wait time');
  assertPlainText(t, await call(d, 'GET', '/v1/jobs?index=abc'), 400, 'Invalid index');
});

test('docker config: an unknown key fails the task at start with Failed Validation, as the Nomad client does', async (t) => {
  const d = await withDouble(t);
  const job = instanceJob();
  task(job).Config.port = ['gateway'];
  const reply = await register(d, job);
  t.is(reply.status, 200, 'Nomad servers do not know driver schemas');
  t.deepEqual(d.lastRegisterWarnings?.driverConfigErrors, [
    'instance/instance: Invalid label: No argument or block type is named "port". Did you mean "ports"?',
  ]);
  await d.settled();
  const alloc = d.allocations('mxos-alice')[0] as J;
  t.is(alloc.ClientStatus, 'failed');
  const events = alloc.TaskStates.instance.Events;
  const validation = events.find((e: J) => e.Type === 'Failed Validation');
  t.is(
    validation.ValidationError,
    '2 errors occurred:\n\t* failed to parse config: \n\t* Invalid label: No argument or block type is named "port". Did you mean "ports"?\n\n',
  );
  t.like(events.at(-1), { Type: 'Not Restarting', DisplayMessage: 'Error was unrecoverable' });
});

test('docker config: with driverConfigValidation "register", unknown keys and a missing image are a 500', async (t) => {
  const d = await withDouble(t, { driverConfigValidation: 'register' });
  const job = instanceJob();
  task(job).Config = { foo: 1, ports: 'gateway' };
  const reply = await register(d, job);
  t.is(reply.status, 500);
  t.true(
    reply.text.startsWith(
      '1 error occurred:\n\t* Task group instance validation failed: 1 error occurred:\n\t* Task instance validation failed: 1 error occurred:\n\t* 4 errors occurred:\n\t* failed to parse config: \n',
    ),
    reply.text,
  );
  t.true(reply.text.includes('\t* Invalid label: No argument or block type is named "foo".'));
  t.true(reply.text.includes('\t* Incorrect attribute value type: Inappropriate value for attribute "ports": list of string required.'));
  t.true(reply.text.includes('\t* Missing required argument: The argument "image" is required, but no definition was found.'));
});

test('fault: down() refuses connections until up() on the same port', async (t) => {
  const d = await withDouble(t);
  const port = d.port;
  await d.down();
  await t.throwsAsync(fetch(`${d.url}/v1/jobs`));
  await d.up();
  t.is(d.port, port);
  t.is((await call(d, 'GET', '/v1/jobs')).status, 200);
});

test('fault: failNext(n) answers the next n requests with the given 5xx', async (t) => {
  const d = await withDouble(t);
  d.failNext(2, 503, 'rpc error: eval broker disabled');
  assertPlainText(t, await register(d, instanceJob()), 503, 'rpc error: eval broker disabled');
  assertPlainText(t, await call(d, 'GET', '/v1/jobs'), 503, 'rpc error: eval broker disabled');
  t.deepEqual((await call(d, 'GET', '/v1/jobs')).json, []);
  d.failNext(1);
  assertPlainText(t, await call(d, 'GET', '/v1/jobs'), 500, 'rpc error: No cluster leader');
});

test('fault: slow(ms) delays every request', async (t) => {
  const d = await withDouble(t);
  d.slow(200);
  const started = Date.now();
  await call(d, 'GET', '/v1/jobs');
  t.true(Date.now() - started >= 195);
  d.slow(0);
});

test('fault: placementFailure blocks the evaluation with FailedTGAllocs and places nothing until it clears', async (t) => {
  const d = await withDouble(t);
  d.placementFailure(true);
  const reply = await register(d, instanceJob());
  t.is(reply.status, 200);
  await d.settled();
  const evaluation = (await call(d, 'GET', `/v1/evaluation/${reply.json.EvalID}`)).json;
  t.is(evaluation.Status, 'complete');
  t.like(evaluation.FailedTGAllocs.instance, { NodesEvaluated: 1, NodesExhausted: 1, DimensionExhausted: { memory: 1 }, CoalescedFailures: 0 });
  t.truthy(evaluation.BlockedEval);
  const blocked = (await call(d, 'GET', `/v1/evaluation/${evaluation.BlockedEval}`)).json;
  t.is(blocked.Status, 'blocked');
  t.deepEqual(await allocsOf(d, 'mxos-alice'), []);
  t.is((await call(d, 'GET', '/v1/job/mxos-alice')).json.Status, 'pending');
  d.placementFailure(false);
  await d.settled();
  t.is((await call(d, 'GET', `/v1/evaluation/${evaluation.BlockedEval}`)).json.Status, 'complete');
  t.is((await allocsOf(d, 'mxos-alice'))[0].ClientStatus, 'running');
});

test('fault: crashNext fails the next allocation of that job after its restarts', async (t) => {
  const d = await withDouble(t);
  d.crashNext('alice', 'segfault in gateway');
  await register(d, instanceJob('mxos-bob'));
  await register(d, instanceJob('mxos-alice'));
  await d.settled();
  t.is((d.allocations('mxos-bob')[0] as J).ClientStatus, 'running');
  const alloc = d.allocations('mxos-alice')[0] as J;
  t.is(alloc.ClientStatus, 'failed');
  const state = alloc.TaskStates.instance;
  t.like(state, { State: 'dead', Failed: true, Restarts: 2 });
  const terminated = state.Events.filter((e: J) => e.Type === 'Terminated');
  t.is(terminated.length, 3);
  t.is(terminated[0].DisplayMessage, 'Exit Code: 1, Exit Message: "segfault in gateway"');
  t.is(state.Events.at(-1).DisplayMessage, 'Exceeded allowed attempts 2 in interval 30m0s and mode is "fail"');
  t.is((await call(d, 'GET', '/v1/job/mxos-alice')).json.Status, 'dead');
  // Only the next allocation: registering again (a new version) runs.
  const again = instanceJob('mxos-alice');
  task(again).Env.FIX = '1';
  await register(d, again);
  await d.settled();
  t.true((d.allocations('mxos-alice') as J[]).some((a) => a.ClientStatus === 'running'));
});

test('fault: imagePullFailure fails allocations using that image with a Driver Failure', async (t) => {
  const d = await withDouble(t);
  d.imagePullFailure('ghcr.io/matrix-os/instance');
  await register(d, instanceJob());
  await d.settled();
  const alloc = d.allocations('mxos-alice')[0] as J;
  t.is(alloc.ClientStatus, 'failed');
  const failures = alloc.TaskStates.instance.Events.filter((e: J) => e.Type === 'Driver Failure');
  t.is(failures.length, 3, 'the first pull and two restarts');
  t.is(
    failures[0].DisplayMessage,
    'Failed to pull `ghcr.io/matrix-os/instance:1`: Error response from daemon: manifest for ghcr.io/matrix-os/instance:1 not found: manifest unknown: manifest unknown',
  );
  d.imagePullFailure('ghcr.io/matrix-os/instance', false);
  await register(d, instanceJob('mxos-bob'));
  await d.settled();
  t.is((d.allocations('mxos-bob')[0] as J).ClientStatus, 'running');
});

test('fault: crashAllocation makes a running allocation fail and deregisters its service', async (t) => {
  const d = await withDouble(t);
  await register(d, instanceJob());
  await d.settled();
  const [alloc] = await allocsOf(d, 'mxos-alice');
  d.crashAllocation(alloc.ID, 'OOM Killed');
  const after = (await call(d, 'GET', `/v1/allocation/${alloc.ID}`)).json;
  t.is(after.ClientStatus, 'failed');
  t.deepEqual((await call(d, 'GET', '/v1/service/mxos-alice-gateway')).json, []);
});

test('services with provider "consul" (Nomad\'s default) are not placed without Consul', async (t) => {
  const d = await withDouble(t);
  const job = instanceJob();
  delete job.TaskGroups[0].Services[0].Provider;
  const reply = await register(d, job);
  await d.settled();
  const evaluation = (await call(d, 'GET', `/v1/evaluation/${reply.json.EvalID}`)).json;
  t.deepEqual(evaluation.FailedTGAllocs.instance.ConstraintFiltered, { '${attr.consul.version} semver >= 1.8.0': 1 });
  t.is((await call(d, 'GET', '/v1/job/mxos-alice')).json.TaskGroups[0].Services[0].Provider, 'consul');
});

test("allocations that do not fit the node's memory are not placed", async (t) => {
  const d = await withDouble(t, { nodeResources: { cpu: 10_000, memoryMB: 1024 } });
  const job = instanceJob();
  job.TaskGroups[0].Count = 3;
  const reply = await register(d, job);
  await d.settled();
  t.is((await allocsOf(d, 'mxos-alice')).length, 2);
  const evaluation = (await call(d, 'GET', `/v1/evaluation/${reply.json.EvalID}`)).json;
  t.like(evaluation.FailedTGAllocs.instance, { DimensionExhausted: { memory: 1 }, NodesExhausted: 1 });
  t.deepEqual(evaluation.QueuedAllocations, { instance: 1 });
  await call(d, 'DELETE', '/v1/job/mxos-alice');
  await d.settled();
  await register(d, instanceJob('mxos-bob'));
  await d.settled();
  t.is((await allocsOf(d, 'mxos-bob'))[0].ClientStatus, 'running', 'stopped allocations free their memory');
});

test('a driver the client does not have is filtered as "missing drivers"', async (t) => {
  const d = await withDouble(t, { drivers: ['docker'] });
  const job = instanceJob();
  task(job).Driver = 'podman';
  const reply = await register(d, job);
  await d.settled();
  const evaluation = (await call(d, 'GET', `/v1/evaluation/${reply.json.EvalID}`)).json;
  t.deepEqual(evaluation.FailedTGAllocs.instance.ConstraintFiltered, { 'missing drivers': 1 });
});

test('a docker port not in the group network fails the task at start', async (t) => {
  const d = await withDouble(t);
  const job = instanceJob();
  task(job).Config.ports = ['gateway', 'shell'];
  await register(d, job);
  await d.settled();
  const failure = (d.allocations('mxos-alice')[0] as J).TaskStates.instance.Events.find((e: J) => e.Type === 'Driver Failure');
  t.is(failure.DriverError, 'Failed to create container configuration for image "ghcr.io/matrix-os/instance:1": Port "shell" not found, check network block');
});

test('close() calls onAllocationStopped for allocations still running', async (t) => {
  let stopped = 0;
  const d = await startNomadDouble({
    onAllocationRunning: () => {},
    onAllocationStopped: () => {
      stopped += 1;
    },
  });
  await register(d, instanceJob());
  await d.settled();
  await d.close();
  t.is(stopped, 1);
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(d.port, '127.0.0.1', resolve));
  t.is((probe.address() as AddressInfo).port, d.port, 'the port is free after close');
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

test('the request log records method, path and query', async (t) => {
  const d = await withDouble(t);
  await call(d, 'GET', '/v1/jobs?prefix=a&namespace=default');
  t.like(d.requests.at(-1), { method: 'GET', path: '/v1/jobs', query: { prefix: 'a', namespace: 'default' }, status: 200 });
});

test('a batch job runs to its end: its allocation completes and the job is dead', async (t) => {
  const d = await withDouble(t);
  const job = instanceJob('mxos-once', { Type: 'batch' });
  t.is((await register(d, job)).status, 200);
  const [alloc] = await until('the batch allocation to complete', async () => {
    const allocs = await allocsOf(d, 'mxos-once');
    return allocs.length === 1 && allocs[0].ClientStatus === 'complete' ? allocs : undefined;
  });
  t.is(alloc.DesiredStatus, 'run', 'nobody stopped it: it finished');
  const read = (await call(d, 'GET', '/v1/job/mxos-once')).json;
  t.is(read.Status, 'dead');
  const events = (await call(d, 'GET', `/v1/allocation/${alloc.ID}`)).json.TaskStates.instance.Events.map((e: J) => e.Type);
  t.deepEqual(events.slice(-1), ['Terminated']);
});

test('variables: put, read, check-and-set, delete, list; reserved paths refused; anonymous access denied', async (t) => {
  const nomad = await startNomadDouble({ token: 'root' });
  t.teardown(() => nomad.close());
  const call = (method: string, path: string, body?: unknown, token: string | null = 'root') =>
    fetch(`${nomad.url}${path}`, {
      method,
      headers: { ...(token ? { 'x-nomad-token': token } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  t.is((await call('GET', '/v1/var/nomad/jobs/app')).status, 404);
  t.is(await (await call('GET', '/v1/var/nomad/jobs/app')).text(), 'variable not found');
  t.is((await call('PUT', '/v1/var/nomad/jobs/app', { Items: { A: '1' } }, null)).status, 403, 'anonymous access is denied');
  const put = await call('PUT', '/v1/var/nomad/jobs/app', { Path: 'nomad/jobs/app', Items: { A: '1' } });
  t.is(put.status, 200);
  const created = (await put.json()) as { ModifyIndex: number; Items: Record<string, string> };
  t.deepEqual(created.Items, { A: '1' });
  t.is((await call('PUT', `/v1/var/nomad/jobs/app?cas=${created.ModifyIndex - 1}`, { Items: { A: '2' } })).status, 409, 'a stale check-and-set conflicts');
  t.is((await call('PUT', `/v1/var/nomad/jobs/app?cas=${created.ModifyIndex}`, { Items: { A: '2' } })).status, 200);
  t.deepEqual(((await (await call('GET', '/v1/var/nomad/jobs/app')).json()) as { Items: unknown }).Items, { A: '2' });
  const listed = (await (await call('GET', '/v1/vars?prefix=nomad/jobs')).json()) as Array<Record<string, unknown>>;
  t.deepEqual(
    listed.map((v) => v.Path),
    ['nomad/jobs/app'],
  );
  t.false('Items' in listed[0]!, 'the list holds no items');
  t.is((await call('PUT', '/v1/var/nomad/secrets', { Items: { A: '1' } })).status, 400, 'nomad/ is reserved');
  t.is((await call('PUT', '/v1/var/nomad/jobs/app', { Items: {} })).status, 400);
  t.is((await call('DELETE', '/v1/var/nomad/jobs/app')).status, 200);
  t.is((await call('DELETE', '/v1/var/nomad/jobs/app')).status, 200, 'deleting again is no error');
  t.deepEqual(nomad.variables(), []);
});

test('a task reads its job’s variable through its template; without the variable it fails the template', async (t) => {
  let seen: Record<string, string> = {};
  const d = await withDouble(t, {
    onAllocationRunning: (info) => {
      seen = info.env;
    },
  });
  const withTemplate = (id: string) => {
    const job = instanceJob(id);
    task(job).Templates = [
      {
        EmbeddedTmpl: `{{ with nomadVar "nomad/jobs/${id}" }}\nSECRET={{ .SECRET | toJSON }}\n{{ end }}\n`,
        DestPath: 'secrets/platform.env',
        Envvars: true,
        ChangeMode: 'restart',
      },
    ];
    return job;
  };
  await register(d, withTemplate('mxos-orphan'));
  await d.settled();
  const orphan = d.allocations('mxos-orphan')[0] as J;
  t.is(orphan.ClientStatus, 'failed');
  t.regex(JSON.stringify(orphan.TaskStates.instance.Events), /Template failed: nomad\.var\.block\(nomad\/jobs\/mxos-orphan@default\.global\)/);

  t.is((await call(d, 'PUT', '/v1/var/nomad/jobs/mxos-alice', { Items: { SECRET: 's3cr3t' } })).status, 200);
  await register(d, withTemplate('mxos-alice'));
  await d.settled();
  t.is((d.allocations('mxos-alice')[0] as J).ClientStatus, 'running');
  t.is(seen.SECRET, 's3cr3t');
});
