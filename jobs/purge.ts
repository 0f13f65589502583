/**
 * A one-shot batch job that empties a user's volume: what `destroy --purge` runs on
 * Nomad, whose API cannot delete a docker or host volume itself. It mounts the same
 * volume the instance used and removes everything in it, hidden files included.
 */
import { attachVolume, dockerTask, type VolumeMode } from './common.ts';
import { minutes, seconds } from './duration.ts';
import { instanceVolumeName } from './instance.ts';
import type { NomadJob } from './types.ts';

export interface PurgeJobOptions {
  namespace: string;
  region?: string;
  datacenters: string[];
  volume: { mode: VolumeMode };
  /** Any image with a POSIX shell. */
  image?: string;
}

export const PURGE_IMAGE = 'busybox:1.36';
const MOUNT = '/data';

/** Not `matrixos-…`: that prefix names instance jobs, which reconcile looks after. */
export function purgeJobId(handle: string): string {
  return `platform-purge-${handle}`;
}

export function buildVolumePurgeJob(handle: string, options: PurgeJobOptions): NomadJob {
  const volume = attachVolume(options.volume.mode, 'home', instanceVolumeName(handle), MOUNT);
  const task = dockerTask({
    name: 'wipe',
    config: { image: options.image ?? PURGE_IMAGE, command: 'sh', args: ['-c', `rm -rf ${MOUNT}/* ${MOUNT}/.[!.]* ${MOUNT}/..?*; ls -A ${MOUNT}`] },
    env: {},
    resources: { CPU: 100, MemoryMB: 32 },
    volume,
  });
  return {
    ID: purgeJobId(handle),
    Name: purgeJobId(handle),
    Type: 'batch',
    Namespace: options.namespace,
    ...(options.region ? { Region: options.region } : {}),
    Datacenters: [...options.datacenters],
    Meta: { matrixos_purge_of: handle },
    TaskGroups: [
      {
        Name: 'purge',
        Count: 1,
        ...(volume.groupVolumes ? { Volumes: volume.groupVolumes } : {}),
        RestartPolicy: { Attempts: 2, Interval: minutes(5), Delay: seconds(5), Mode: 'fail' },
        Tasks: [task],
      },
    ],
  };
}
