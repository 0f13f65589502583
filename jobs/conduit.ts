/**
 * The Conduit Matrix homeserver job, for infra to register. Configured entirely
 * through CONDUIT_* environment variables (no config file), RocksDB on a persistent
 * volume, listening on a static port (default 6167) that the control service reaches.
 *
 * Registration is closed by default. With `registrationToken` it is open only to
 * holders of that token (how the platform creates Matrix accounts); the token goes
 * into the task Env, never Meta (see the note in jobs/control.ts).
 *
 * Data: a docker named volume (default) stays on the node that first ran the job; on
 * a multi-node cluster use a host volume so Nomad only places Conduit where its
 * database is.
 */
import type { Placement, VolumeMode } from './common.ts';
import { attachVolume, definedOnly, dockerTask, httpCheck, nomadService, platformUpdateStrategy, serviceJob, singleTaskGroup, staticPorts } from './common.ts';
import type { NomadJob } from './types.ts';

export interface ConduitJobOptions extends Placement {
  /** The Matrix server name: the part after the colon in @user:server. Cannot change later. */
  serverName: string;
  /** Default 'matrixconduit/matrix-conduit:latest'. Pin a version in production. */
  image?: string;
  /** Static host port, the same inside the container. Default 6167. */
  port?: number;
  /** Where the database lives. Default a docker volume 'platform-conduit-data'. */
  dataVolume?: { mode: VolumeMode; name: string };
  /** Database directory inside the container. Default '/var/lib/matrix-conduit'. */
  databasePath?: string;
  /** Federate with other homeservers. Default false (the platform's server is private). */
  allowFederation?: boolean;
  /** Opens registration to holders of this token. Secret. */
  registrationToken?: string;
  /** CONDUIT_REGISTRATION_TOKEN comes from the job's Nomad Variable (nomad/jobs/platform-conduit) instead. */
  registrationTokenFromVariable?: boolean;
  /** Further CONDUIT_* settings; the ones above win. */
  env?: Record<string, string>;
  /** CPU in MHz. Default 500. */
  cpu?: number;
  /** Memory in MB. Default 512. */
  memoryMB?: number;
}

export const CONDUIT_JOB_ID = 'platform-conduit';
export const CONDUIT_DEFAULTS = {
  image: 'matrixconduit/matrix-conduit:latest',
  port: 6167,
  dataVolume: { mode: 'docker-volume', name: 'platform-conduit-data' },
  databasePath: '/var/lib/matrix-conduit',
  allowFederation: false,
  cpu: 500,
  memoryMB: 512,
} as const;

export function buildConduitJob(options: ConduitJobOptions): NomadJob {
  if (!options.serverName) throw new RangeError('buildConduitJob: serverName is required');
  const o = { ...CONDUIT_DEFAULTS, ...definedOnly(options) };
  const volume = attachVolume(o.dataVolume.mode, 'data', o.dataVolume.name, o.databasePath);
  const serviceName = `${CONDUIT_JOB_ID}-http`;

  const task = dockerTask({
    name: 'conduit',
    config: { image: o.image, ports: ['http'] },
    env: {
      ...o.env,
      // Conduit refuses to start without CONDUIT_CONFIG; empty means "environment only".
      CONDUIT_CONFIG: '',
      CONDUIT_SERVER_NAME: o.serverName,
      CONDUIT_DATABASE_BACKEND: 'rocksdb',
      CONDUIT_DATABASE_PATH: o.databasePath,
      CONDUIT_PORT: String(o.port),
      CONDUIT_ADDRESS: '0.0.0.0',
      CONDUIT_ALLOW_FEDERATION: String(o.allowFederation),
      CONDUIT_ALLOW_REGISTRATION: String(Boolean(o.registrationToken) || Boolean(o.registrationTokenFromVariable)),
      ...(o.registrationToken && !o.registrationTokenFromVariable ? { CONDUIT_REGISTRATION_TOKEN: o.registrationToken } : {}),
    },
    variableSecrets: o.registrationTokenFromVariable ? { jobId: CONDUIT_JOB_ID, names: ['CONDUIT_REGISTRATION_TOKEN'] } : undefined,
    resources: { CPU: o.cpu, MemoryMB: o.memoryMB },
    volume,
  });

  return serviceJob({
    id: CONDUIT_JOB_ID,
    placement: o,
    update: platformUpdateStrategy(),
    group: singleTaskGroup({
      name: 'conduit',
      network: staticPorts({ http: o.port }),
      services: [nomadService(serviceName, 'http', ['matrixos-platform', 'conduit'], [httpCheck(`${serviceName}-versions`, '/_matrix/client/versions')])],
      task,
      volume,
    }),
  });
}
