/**
 * The platform on each orchestrator driver, for suites that must pass on all of
 * them: `local` (real child processes) and `nomad` (the Nomad double, whose
 * allocations run a real reference instance in-process on the ports Nomad gave).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { type RunningInstance, startInstance } from '../../instance/server.ts';
import { type NomadDouble, type NomadDoubleOptions, startNomadDouble } from '../doubles/nomad/index.ts';
import { startTestPlatform, type TestPlatform } from './platform.ts';

export type DriverName = 'local' | 'nomad';

export interface DriverTarget {
  name: DriverName;
  start(
    t: ExecutionContext,
    options?: { env?: Record<string, string>; nomad?: NomadDoubleOptions },
  ): Promise<{ platform: TestPlatform; nomad: NomadDouble | null }>;
}

export const NOMAD_TEST_TOKEN = 'nomad-acl-token-for-tests';

const silent = { request() {}, warn() {}, error() {} };

/** A Nomad double whose running allocations are real reference instances, torn down with the test. */
export function startNomadWithInstances(t: ExecutionContext, options: NomadDoubleOptions = {}): Promise<NomadDouble> {
  return nomadWithInstances((cleanup) => t.teardown(cleanup), options);
}

/** The same for any owner of clean-ups (a benchmark): `register` receives what tears it down. */
export async function nomadWithInstances(register: (cleanup: () => Promise<void>) => void, options: NomadDoubleOptions = {}): Promise<NomadDouble> {
  const volumes = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'nomad-volumes-'));
  const running = new Map<string, RunningInstance>();
  const nomad = await startNomadDouble({
    token: NOMAD_TEST_TOKEN,
    dockerVolumesEnabled: true,
    ...options,
    async onAllocationRunning(info) {
      // Only instance jobs run the reference instance (not, say, a volume purge job).
      if (!info.jobId.startsWith('matrixos-')) return options.onAllocationRunning?.(info);
      const instance = await startInstance({
        port: info.ports.gateway,
        shellPort: info.ports.shell,
        host: info.hostIP,
        handle: info.env.MATRIX_HANDLE,
        authToken: info.env.MATRIX_AUTH_TOKEN,
        dataDir: path.join(volumes, info.jobId), // the docker volume matrixos-{handle}
        logger: silent,
      });
      running.set(info.allocId, instance);
      await options.onAllocationRunning?.(info);
    },
    async onAllocationStopped(info) {
      await running.get(info.allocId)?.close();
      running.delete(info.allocId);
      await options.onAllocationStopped?.(info);
    },
  });
  register(async () => {
    await nomad.close();
    for (const instance of running.values()) await instance.close();
    await fs.promises.rm(volumes, { recursive: true, force: true });
  });
  return nomad;
}

export const DRIVERS: DriverTarget[] = [
  {
    name: 'local',
    async start(t, options = {}) {
      return { platform: await startTestPlatform(t, { env: options.env }), nomad: null };
    },
  },
  {
    name: 'nomad',
    async start(t, options = {}) {
      const nomad = await startNomadWithInstances(t, options.nomad);
      const env = { ORCHESTRATOR: 'nomad', NOMAD_ADDR: nomad.url, NOMAD_TOKEN: NOMAD_TEST_TOKEN, ...options.env };
      return { platform: await startTestPlatform(t, { env }), nomad };
    },
  },
];
