/**
 * The Cloudflare tunnel connector job, for infra to register. The tunnel is
 * remote-managed: its token (TUNNEL_TOKEN) identifies it and its ingress rules live in
 * Cloudflare (infra points them at the control service's public port, 8000).
 *
 * The container uses the host's network (docker network_mode "host"), so origins on
 * the node are reachable as they would be for a cloudflared installed on the host.
 * Its metrics server (with /ready: 200 once connected to the edge) listens on a static
 * port on the node's address and backs the service check.
 *
 * The token goes into the task Env (readable with `read-job`, never in Meta): see the
 * note in jobs/control.ts.
 */
import type { Placement } from './common.ts';
import { definedOnly, dockerTask, httpCheck, nomadService, platformUpdateStrategy, serviceJob, singleTaskGroup, staticPorts } from './common.ts';
import type { NomadJob } from './types.ts';

export interface CloudflaredJobOptions extends Placement {
  /** The tunnel's token (Cloudflare dashboard or API). Secret. Unset: tokenFromVariable. */
  tunnelToken?: string;
  /** TUNNEL_TOKEN comes from the job's Nomad Variable (nomad/jobs/platform-cloudflared); the jobspec holds no token. */
  tokenFromVariable?: boolean;
  /** Default 'cloudflare/cloudflared:latest'. Pin a version in production. */
  image?: string;
  /** Static host port of the metrics server. Default 2000. */
  metricsPort?: number;
  /** CPU in MHz. Default 100. */
  cpu?: number;
  /** Memory in MB. Default 128. */
  memoryMB?: number;
}

export const CLOUDFLARED_JOB_ID = 'platform-cloudflared';
export const CLOUDFLARED_DEFAULTS = { image: 'cloudflare/cloudflared:latest', metricsPort: 2000, cpu: 100, memoryMB: 128 } as const;
export const CLOUDFLARED_ARGS: readonly string[] = ['tunnel', '--no-autoupdate', 'run'];

export function buildCloudflaredJob(options: CloudflaredJobOptions): NomadJob {
  if (!options.tunnelToken && !options.tokenFromVariable) throw new RangeError('buildCloudflaredJob: tunnelToken (or tokenFromVariable) is required');
  const o = { ...CLOUDFLARED_DEFAULTS, ...definedOnly(options) };
  const serviceName = `${CLOUDFLARED_JOB_ID}-metrics`;

  const task = dockerTask({
    name: 'cloudflared',
    config: { image: o.image, args: [...CLOUDFLARED_ARGS], network_mode: 'host' },
    variableSecrets: o.tokenFromVariable ? { jobId: CLOUDFLARED_JOB_ID, names: ['TUNNEL_TOKEN'] } : undefined,
    env: {
      ...(o.tokenFromVariable ? {} : { TUNNEL_TOKEN: o.tunnelToken! }),
      // `--metrics` from the environment; Nomad interpolates the node address and static port.
      TUNNEL_METRICS: '${NOMAD_ADDR_metrics}',
    },
    resources: { CPU: o.cpu, MemoryMB: o.memoryMB },
  });

  return serviceJob({
    id: CLOUDFLARED_JOB_ID,
    placement: o,
    update: platformUpdateStrategy(),
    group: singleTaskGroup({
      name: 'cloudflared',
      network: staticPorts({ metrics: o.metricsPort }),
      services: [nomadService(serviceName, 'metrics', ['matrixos-platform', 'cloudflared'], [httpCheck(`${serviceName}-ready`, '/ready')])],
      task,
    }),
  });
}
