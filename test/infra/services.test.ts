import test from 'ava';
import { Testing } from 'cdktf';
import { MATRIX_ORIGIN } from '../../infra/stacks/parts.ts';
import { CONTROL_SECRETS, ServicesStack } from '../../infra/stacks/services.ts';
import { buildCloudflaredJob } from '../../jobs/cloudflared.ts';
import { buildConduitJob } from '../../jobs/conduit.ts';
import type { NomadJob } from '../../jobs/types.ts';
import { inputs, parse } from './_inputs.ts';

const TUNNEL_TOKEN_REF = '${data.tunnel.token}';
const build = () => {
  const stack = new ServicesStack(Testing.app(), 'services', { ...inputs(), tunnelToken: TUNNEL_TOKEN_REF });
  return { stack, out: Testing.synth(stack) };
};

test('three Nomad jobs registered as JSON, each exactly what the jobs/ builders produce', (t) => {
  const { stack, out } = build();
  const jobs = parse(out).resource.nomad_job!;
  t.deepEqual(Object.keys(jobs).sort(), ['cloudflared-job', 'conduit-job', 'control-job']);
  for (const [name, job] of Object.entries(stack.jobs)) {
    const registered = jobs[`${name}-job`] as { jobspec: string; json: boolean };
    t.true(registered.json);
    t.deepEqual((JSON.parse(registered.jobspec) as { Job: NomadJob }).Job, job, name);
  }
  t.deepEqual(stack.jobs.cloudflared, buildCloudflaredJob({ image: 'cloudflare/cloudflared:2025.11.1', tokenFromVariable: true }));
  t.deepEqual(
    stack.jobs.conduit,
    buildConduitJob({ image: 'matrixconduit/matrix-conduit:v0.10.9', serverName: 'matrix.example.com', registrationTokenFromVariable: true }),
  );
});

test('secrets live only in nomad_variable: the jobspecs name them, a template renders them', (t) => {
  const { stack, out } = build();
  const doc = parse(out);
  // Every reference to a secret variable, and the tunnel token, is inside a nomad_variable.
  const withoutVariables = JSON.stringify({ ...doc, resource: { ...doc.resource, nomad_variable: {} }, variable: {} });
  for (const name of [...CONTROL_SECRETS, 'CONTROL_NOMAD_TOKEN']) t.false(withoutVariables.includes(`var.${name.toLowerCase()}`), name);
  t.false(withoutVariables.includes(TUNNEL_TOKEN_REF));
  for (const name of CONTROL_SECRETS) t.like(doc.variable![name.toLowerCase()], { sensitive: true });
  t.true(Testing.toHaveResourceWithProperties(out, 'nomad_variable', { path: 'nomad/jobs/platform-cloudflared', items: { TUNNEL_TOKEN: TUNNEL_TOKEN_REF } }));
  t.true(Testing.toHaveResourceWithProperties(out, 'nomad_variable', { path: 'nomad/jobs/platform-control' }));
  const control = stack.jobs.control.TaskGroups[0]!.Tasks[0]!;
  for (const name of CONTROL_SECRETS) t.false(name in (control.Env ?? {}), `${name} not in Env`);
  t.regex(control.Templates![0]!.EmbeddedTmpl!, /nomadVar "nomad\/jobs\/platform-control"/);
  t.regex(control.Templates![0]!.EmbeddedTmpl!, /PLATFORM_SECRET=\{\{ \.PLATFORM_SECRET \| toJSON \}\}/);
  t.true(control.Templates![0]!.Envvars);
  t.false('TUNNEL_TOKEN' in (stack.jobs.cloudflared.TaskGroups[0]!.Tasks[0]!.Env ?? {}));
});

test('the control service runs on the host network with its API and router on loopback, the meter where containers reach it', (t) => {
  const { stack } = build();
  const task = stack.jobs.control.TaskGroups[0]!.Tasks[0]!;
  t.is(task.Config.network_mode, 'host');
  t.false('ports' in task.Config, 'nothing published: the listeners bind the node itself');
  const meter = stack.jobs.control.TaskGroups[0]!.Services!.find((s) => s.PortLabel === 'meter')!;
  t.is(meter.Address, '172.17.0.1', 'the meter is advertised and checked where it listens');
  t.like(task.Env, { API_HOST: '127.0.0.1', PUBLIC_HOST: '127.0.0.1', METER_HOST: '172.17.0.1', ORCHESTRATOR: 'nomad', PLATFORM_MODE: 'production' });
  t.like(task.Env, { DOMAIN: 'matrix.example.com', PUBLIC_URL: 'https://matrix.example.com', INSTANCE_IMAGE: 'ghcr.io/example/matrixos-instance:1.2.3' });
});

test("the control service reaches Conduit on the host's loopback and hands instances its public address; both share one registration token", (t) => {
  const { stack, out } = build();
  const task = stack.jobs.control.TaskGroups[0]!.Tasks[0]!;
  t.like(task.Env, {
    MATRIX_HOMESERVER_URL: MATRIX_ORIGIN,
    MATRIX_INSTANCE_HOMESERVER_URL: 'https://matrix.matrix.example.com',
    MATRIX_SERVER_NAME: 'matrix.example.com',
  });
  t.true(CONTROL_SECRETS.includes('MATRIX_REGISTRATION_TOKEN'));
  t.true(
    Testing.toHaveResourceWithProperties(out, 'nomad_variable', {
      path: 'nomad/jobs/platform-conduit',
      items: { CONDUIT_REGISTRATION_TOKEN: '${var.matrix_registration_token}' },
    }),
  );
});
