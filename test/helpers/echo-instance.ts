/**
 * A stand-in instance for router tests: a gateway and a shell server that report what
 * reached them (which handle, which port, method, path, headers), plus the behaviours
 * the router must carry: event streams, cookies, slow answers, uploads, WebSocket echo.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export interface EchoSeen {
  handle: string;
  port: 'gateway' | 'shell';
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  bodyBytes: number;
}

export interface EchoInstance {
  handle: string;
  gateway: string;
  shell: string;
  seen: EchoSeen[];
  /** Releases the next event of a pending /sse stream. */
  releaseEvent(): void;
  close(): Promise<void>;
}

export async function startEchoInstance(handle: string): Promise<EchoInstance> {
  const seen: EchoSeen[] = [];
  const waiting: Array<() => void> = [];
  const servers: http.Server[] = [];
  const make = async (port: 'gateway' | 'shell') => {
    const server = http.createServer((req, res) => {
      let bodyBytes = 0;
      req.on('data', (c: Buffer) => (bodyBytes += c.length));
      req.on('end', () => {
        const entry = { handle, port, method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes };
        if (!req.url!.startsWith('/health')) seen.push(entry);
        respond(req, res, entry, waiting);
      });
    });
    if (port === 'gateway') {
      const wss = new WebSocketServer({ server, path: '/ws' });
      wss.on('connection', (socket, req) => {
        seen.push({ handle, port, method: 'UPGRADE', url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0 });
        socket.on('message', (data) => socket.send(`${handle}:${String(data)}`));
      });
    }
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const gateway = await make('gateway');
  const shell = await make('shell');
  return {
    handle,
    gateway,
    shell,
    seen,
    releaseEvent: () => waiting.shift()?.(),
    close: async () => {
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise<void>((r) => s.close(() => r()));
      }
    },
  };
}

/** How many /drop-once requests each handle's instance saw. */
const dropped = new Map<string, number>();

function respond(req: http.IncomingMessage, res: http.ServerResponse, entry: EchoSeen, waiting: Array<() => void>): void {
  const path = req.url!.split('?')[0];
  if (path === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return void res.end('{"status":"ok"}');
  }
  if (path === '/drop-once' && entry.port === 'shell') {
    // The first request's connection is cut before any answer (a blip); later ones are answered.
    const earlier = (dropped.get(entry.handle) ?? 0) + 1;
    dropped.set(entry.handle, earlier);
    if (earlier === 1) return void req.socket.destroy();
  }
  if (path === '/sse') {
    // Three events, each only after the test releases it: proves nothing is buffered.
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    let n = 0;
    const next = () => {
      n++;
      res.write(`data: event ${n}\n\n`);
      if (n < 3) waiting.push(next);
      else res.end();
    };
    waiting.push(next);
    return;
  }
  if (path === '/cookies') {
    res.writeHead(200, {
      'set-cookie': [
        'own=1; Path=/; HttpOnly',
        'wide=1; Domain=localhost; Path=/',
        'wide2=1; path=/; DOMAIN=.localhost',
        'mxos_session=forged; Path=/',
        '__Host-mxos_session=forged; Path=/; Secure',
      ],
      'content-type': 'text/plain',
    });
    return void res.end('cookies');
  }
  if (path === '/slow') {
    setTimeout(() => {
      if (!res.destroyed) res.end('late');
    }, 2000);
    return;
  }
  if (path === '/hop') {
    res.writeHead(200, {
      connection: 'x-secret-hop, keep-alive',
      'x-secret-hop': 'leak',
      'keep-alive': 'timeout=5',
      'x-kept': 'yes',
      'content-type': 'text/plain',
    });
    return void res.end('hop');
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(entry));
}
