/** Builds the nomad driver from config: the one place that knows both. */
import type { Config } from '../../config.ts';
import { NomadClient } from './client.ts';
import { NomadOrchestrator } from './driver.ts';

export { NomadApiError, NomadClient, NomadUnavailableError } from './client.ts';
export { NomadOrchestrator } from './driver.ts';

const INSTANCE_HOME = '/home/matrixos';

export function createNomadOrchestrator(config: Config): NomadOrchestrator {
  const n = config.nomad;
  const client = new NomadClient({ address: n.address, token: n.token, namespace: n.namespace, region: n.region, timeoutMs: n.timeoutMs });
  return new NomadOrchestrator(client, {
    namespace: n.namespace,
    ...(n.region ? { region: n.region } : {}),
    datacenters: [...n.datacenters],
    cpuMhzPerCore: n.cpuMhzPerCore,
    memoryMaxMB: config.instance.memoryMaxMB,
    volume: { mode: n.volumeMode },
    homePath: INSTANCE_HOME,
  });
}
