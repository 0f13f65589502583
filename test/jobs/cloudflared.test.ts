import test from 'ava';
import { buildCloudflaredJob, CLOUDFLARED_JOB_ID } from '../../jobs/cloudflared.ts';
import { asJson, pathsContaining } from './_helpers.ts';
import { validateAgainstNomadSchema } from './nomad-schema.ts';

const S = 1_000_000_000;
const TOKEN = 'eyJhIjoiY2YtdHVubmVsLXRva2VuIn0';
const build = (extra: Partial<Parameters<typeof buildCloudflaredJob>[0]> = {}) => asJson(buildCloudflaredJob({ tunnelToken: TOKEN, ...extra }));

test('defaults: image, args, host network, token in Env only, /ready check on the metrics port', (t) => {
  const job = build();
  t.like(job, { ID: CLOUDFLARED_JOB_ID, Name: 'platform-cloudflared', Namespace: 'default', Datacenters: ['*'] });
  const group = job.TaskGroups[0]!;
  const task = group.Tasks[0]!;
  t.deepEqual(task.Config, { image: 'cloudflare/cloudflared:latest', args: ['tunnel', '--no-autoupdate', 'run'], network_mode: 'host' });
  t.deepEqual(task.Env, { TUNNEL_TOKEN: TOKEN, TUNNEL_METRICS: '${NOMAD_ADDR_metrics}' });
  t.deepEqual(task.Resources, { CPU: 100, MemoryMB: 128 });
  t.deepEqual(group.Networks, [{ Mode: 'host', ReservedPorts: [{ Label: 'metrics', Value: 2000, To: 2000 }] }]);
  t.deepEqual(group.Services, [
    {
      Name: 'platform-cloudflared-metrics',
      PortLabel: 'metrics',
      Provider: 'nomad',
      Tags: ['matrixos-platform', 'cloudflared'],
      Checks: [{ Name: 'platform-cloudflared-metrics-ready', Type: 'http', Path: '/ready', Interval: 10 * S, Timeout: 2 * S }],
    },
  ]);
  t.deepEqual(pathsContaining(job, [TOKEN]), ['TaskGroups[0].Tasks[0].Env.TUNNEL_TOKEN']);
});

test('options override the defaults; a missing token is refused', (t) => {
  const job = build({ image: 'cloudflare/cloudflared:2025.1.0', metricsPort: 2100, namespace: 'edge', memoryMB: 64 });
  t.is(job.Namespace, 'edge');
  t.is(job.TaskGroups[0]!.Tasks[0]!.Config.image, 'cloudflare/cloudflared:2025.1.0');
  t.is(job.TaskGroups[0]!.Tasks[0]!.Resources.MemoryMB, 64);
  t.deepEqual(job.TaskGroups[0]!.Networks![0]!.ReservedPorts, [{ Label: 'metrics', Value: 2100, To: 2100 }]);
  t.throws(() => buildCloudflaredJob({ tunnelToken: '' }), { instanceOf: RangeError });
});

test('schema', (t) => {
  t.deepEqual(validateAgainstNomadSchema(build({ region: 'eu' }), 'Job'), []);
});
