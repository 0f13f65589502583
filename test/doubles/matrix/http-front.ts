/**
 * The listening socket: a real HTTP server on 127.0.0.1, port 0 the first time
 * and the same port after down()/up(). down() closes the listener and destroys
 * every open connection (long-polling /sync included), so clients see
 * ECONNREFUSED for new requests and a reset for those in flight.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;

export class HttpFront {
  private server: http.Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly handler: RequestHandler,
    private readonly onError: (err: unknown) => void,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get isUp(): boolean {
    return this.server !== null;
  }

  async up(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => {
      this.handler(req, res).catch((err: unknown) => {
        this.onError(err);
        if (res.headersSent) return void res.destroy();
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errcode: 'M_UNKNOWN', error: `matrix double: ${err instanceof Error ? err.message : String(err)}` }));
      });
    });
    server.keepAliveTimeout = 1000;
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }
}
