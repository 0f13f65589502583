/**
 * Stand-ins for instance processes: for each Nomad allocation that starts, two tiny
 * `node:http` servers on the host ports Nomad gave it (gateway and shell), answering
 * GET /health with 200, so the platform's own health probe stays in the loop
 * without booting 500 reference instances. Closed when the allocation stops.
 */
import http from 'node:http';
import type { AllocationInfo } from '../../test/doubles/nomad/index.ts';

const LABELS = ['gateway', 'shell'] as const;

export class HealthServers {
  private readonly byAlloc = new Map<string, http.Server[]>();
  /** Allocations that got servers, ever. */
  started = 0;
  /** /health requests answered. */
  probes = 0;

  /** Currently open allocations (servers listening). */
  get open(): number {
    return this.byAlloc.size;
  }

  /** onAllocationRunning: listen on the allocation's ports; throwing fails the allocation. */
  async start(info: AllocationInfo): Promise<void> {
    const servers: http.Server[] = [];
    this.byAlloc.set(info.allocId, servers);
    for (const label of LABELS) {
      const port = info.ports[label];
      if (!port) throw new Error(`allocation ${info.allocId} has no ${label} port`);
      const server = http.createServer((req, res) => {
        if (req.url === '/health') {
          this.probes++;
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', handle: info.env.MATRIX_HANDLE ?? null }));
        } else {
          res.writeHead(404).end();
        }
      });
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, info.hostIP, () => resolve());
      });
    }
    this.started++;
  }

  /** onAllocationStopped. */
  async stop(info: AllocationInfo): Promise<void> {
    const servers = this.byAlloc.get(info.allocId);
    this.byAlloc.delete(info.allocId);
    await Promise.all((servers ?? []).map(closeServer));
  }

  async closeAll(): Promise<void> {
    const all = [...this.byAlloc.values()].flat();
    this.byAlloc.clear();
    await Promise.all(all.map(closeServer));
  }
}

function closeServer(server: http.Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
