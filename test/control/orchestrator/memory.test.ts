/**
 * The Orchestrator contract against the in-memory double (test/doubles/), so
 * worker and lifecycle tests that use it rely on the same behaviour as the real
 * drivers. Its addresses point at a real /health server.
 */
import os from 'node:os';
import path from 'node:path';
import { buildInstanceSpec } from '../../../control/orchestrator/spec.ts';
import { startHealthServer } from '../../doubles/health-server.ts';
import { MemoryOrchestrator } from '../../doubles/memory-orchestrator.ts';
import { TEST_KEY, testConfig } from '../../helpers/platform.ts';
import { runOrchestratorContract, withOverrides } from './contract.ts';

// Never created on disk: the memory double only needs the spec's paths as strings.
const config = testConfig(path.join(os.tmpdir(), 'mxos-memory-contract'));

runOrchestratorContract(
  'memory',
  async () => {
    const server = await startHealthServer();
    const orchestrator = new MemoryOrchestrator();
    orchestrator.address = () => ({ gateway: server.url, shell: server.url });
    return {
      orchestrator,
      spec: (handle, overrides) => withOverrides(buildInstanceSpec(config, TEST_KEY, { handle, owner: `owner-${handle}`, tokenGeneration: 1 }), overrides),
      async cleanup() {
        await orchestrator.close();
        await server.close();
      },
    };
  },
  {
    addressOutlivesInstance:
      'every address of the memory double points at one shared health server, which keeps answering after the double stops or destroys an instance',
  },
);
