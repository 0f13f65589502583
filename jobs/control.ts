/**
 * The control service job (the Koa platform process), for infra to register.
 *
 * Ports are static host ports (the same port inside the container), so cloudflared,
 * instances and operators find the control service at fixed addresses:
 * api 9000 (internal platform API, /health, /metrics), public 8000 (site + router),
 * meter 8080 (reachable by instances only: firewall it from the outside).
 *
 * Secrets (PLATFORM_SECRET, SECRET_KEY, DATABASE_URL, ...) go into the task Env, like
 * `env`. Env is part of the stored job: anyone holding `read-job` on the namespace can
 * read them through the API or UI, so restrict that capability with ACLs (or move the
 * secrets to Nomad Variables rendered by a template). They never go into Meta.
 *
 * Env values may use Nomad interpolation, e.g.
 * `NOMAD_ADDR: 'http://${attr.unique.network.ip-address}:4646'` to reach the local agent
 * from inside the container (127.0.0.1 there is the container itself).
 */
import type { Placement } from './common.ts';
import {
  attachVolume,
  definedOnly,
  dockerTask,
  httpCheck,
  nomadService,
  platformUpdateStrategy,
  serviceJob,
  singleTaskGroup,
  staticPorts,
  tcpCheck,
} from './common.ts';
import type { NomadJob } from './types.ts';

export interface ControlJobOptions extends Placement {
  /** Image of the control service. */
  image: string;
  /** Non-secret environment (PLATFORM_MODE, DOMAIN, DATABASE_URL without password, ...). */
  env?: Record<string, string>;
  /** Secret environment: task Env only (see the module comment). */
  secrets?: Record<string, string>;
  /**
   * Names of secrets held in the job's Nomad Variable (nomad/jobs/platform-control) and
   * rendered into the environment at start: the jobspec holds no value (infra uses this).
   */
  variableSecrets?: readonly string[];
  /**
   * Docker network mode "host": the listeners bind on the node itself, so the API and
   * the router can stay on loopback, out of the containers' reach (infra uses this).
   */
  hostNetwork?: boolean;
  /** Platform API port. Default 9000. */
  apiPort?: number;
  /** Public site and router port. Default 8000. */
  publicPort?: number;
  /** Meter port. Default 8080. */
  meterPort?: number;
  /** With hostNetwork: the address the meter binds, where instances reach the host. Default the docker bridge, 172.17.0.1. */
  meterHost?: string;
  /** CPU in MHz. Default 500. */
  cpu?: number;
  /** Memory in MB. Default 512. */
  memoryMB?: number;
  /** Name of a Nomad host volume for DATA_DIR (SQLite, per-user data, archives). Unset: no volume (Postgres + nothing on disk). */
  dataHostVolume?: string;
  /** DATA_DIR inside the container. Default '/data'. */
  dataDir?: string;
}

/** Not `matrixos-*`: that prefix belongs to instances (and a handle could be "control-..."). */
export const CONTROL_JOB_ID = 'platform-control';
export const CONTROL_DEFAULTS = { apiPort: 9000, publicPort: 8000, meterPort: 8080, cpu: 500, memoryMB: 512, dataDir: '/data' } as const;

/**
 * Environment names the control service reads for its listeners. config.ts reads API_HOST and
 * API_PORT today; the public and meter names are the ones their listeners are to use: keep in sync.
 */
export const CONTROL_LISTENER_ENV = {
  apiHost: 'API_HOST',
  apiPort: 'API_PORT',
  publicHost: 'PUBLIC_HOST',
  publicPort: 'PUBLIC_PORT',
  meterHost: 'METER_HOST',
  meterPort: 'METER_PORT',
} as const;

export function buildControlJob(options: ControlJobOptions): NomadJob {
  const o = { ...CONTROL_DEFAULTS, ...definedOnly(options) };
  const ports = { api: o.apiPort, public: o.publicPort, meter: o.meterPort };
  const volume = o.dataHostVolume ? attachVolume('host', 'data', o.dataHostVolume, o.dataDir) : undefined;
  const name = (label: string) => `${CONTROL_JOB_ID}-${label}`;
  const tags = ['matrixos-platform', 'control'];
  const E = CONTROL_LISTENER_ENV;

  const task = dockerTask({
    name: 'control',
    // On the host network the listeners bind the node's ports themselves: nothing to publish.
    config: o.hostNetwork ? { image: o.image, network_mode: 'host' } : { image: o.image, ports: Object.keys(ports) },
    variableSecrets: o.variableSecrets ? { jobId: CONTROL_JOB_ID, names: o.variableSecrets } : undefined,
    env: {
      ...o.env,
      ...o.secrets,
      [E.apiHost]: o.hostNetwork ? '127.0.0.1' : '0.0.0.0',
      [E.apiPort]: String(ports.api),
      [E.publicHost]: o.hostNetwork ? '127.0.0.1' : '0.0.0.0',
      [E.publicPort]: String(ports.public),
      // On the host network the meter listens where containers reach the host (the bridge's address).
      [E.meterHost]: o.hostNetwork ? meterHostOf(o) : '0.0.0.0',
      [E.meterPort]: String(ports.meter),
      ...(volume ? { DATA_DIR: o.dataDir } : {}),
    },
    resources: { CPU: o.cpu, MemoryMB: o.memoryMB },
    volume,
  });

  return serviceJob({
    id: CONTROL_JOB_ID,
    placement: o,
    update: platformUpdateStrategy(),
    group: singleTaskGroup({
      name: 'control',
      network: staticPorts(ports),
      services: [
        nomadService(name('api'), 'api', tags, [httpCheck(`${name('api')}-health`, '/health')]),
        nomadService(name('public'), 'public', tags, [tcpCheck(`${name('public')}-tcp`)]),
        // On the host network the meter binds the bridge address, not the port's (loopback): advertise and check that.
        {
          ...nomadService(name('meter'), 'meter', tags, [tcpCheck(`${name('meter')}-tcp`)]),
          ...(o.hostNetwork ? { Address: meterHostOf(o) } : {}),
        },
      ],
      task,
      volume,
    }),
  });
}

/** Where the meter listens on the host network: where containers reach the host (the docker bridge). */
function meterHostOf(options: { meterHost?: string }): string {
  return options.meterHost ?? '172.17.0.1';
}
