/** A loopback HTTP server answering GET /health, for orchestrator doubles' addresses. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HealthServer {
  url: string;
  /** Status /health answers with; change it to simulate an unhealthy instance. */
  status: number;
  close(): Promise<void>;
}

export async function startHealthServer(): Promise<HealthServer> {
  const state = { status: 200 };
  const server = http.createServer((req, res) => {
    res.writeHead(req.url?.endsWith('/health') ? state.status : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: state.status === 200 ? 'ok' : 'unhealthy' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get status() {
      return state.status;
    },
    set status(value: number) {
      state.status = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
