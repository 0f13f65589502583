/**
 * The /ws echo endpoint. The HTTP server decides whether an upgrade is allowed
 * (path, auth); this module performs it, echoes every message back unchanged,
 * drops peers that stop answering pings, and closes everyone on shutdown.
 */

import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { WebSocketServer } from 'ws';

export const MAX_MESSAGE_BYTES = 1024 * 1024;
const HEARTBEAT_MS = 30_000;
const CLOSE_GRACE_MS = 2_000;

export interface EchoServerOptions {
  heartbeatMs?: number;
}

export interface EchoServer {
  readonly connections: number;
  /** Completes the handshake (ws answers a malformed one with 400); `onOpen` runs once the connection is established. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, onOpen?: () => void): void;
  close(): Promise<void>;
}

export function createEchoServer(options: EchoServerOptions = {}): EchoServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, clientTracking: true });
  const alive = new WeakSet<WebSocket>();

  wss.on('connection', (ws: WebSocket) => {
    alive.add(ws);
    ws.on('pong', () => alive.add(ws));
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    // Protocol violations (oversized frames, bad UTF-8) are the peer's fault; ws already closes with the right code.
    ws.on('error', () => ws.terminate());
  });

  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, options.heartbeatMs ?? HEARTBEAT_MS);
  heartbeat.unref();

  return {
    get connections() {
      return wss.clients.size;
    },
    upgrade(req, socket, head, onOpen) {
      wss.handleUpgrade(req, socket, head, (ws) => {
        wss.emit('connection', ws, req);
        onOpen?.();
      });
    },
    async close() {
      clearInterval(heartbeat);
      const closing = [...wss.clients].map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === ws.CLOSED) return resolve();
            const timer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
            ws.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            ws.close(1001, 'server shutting down');
          }),
      );
      await Promise.all(closing);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** Answers an upgrade request with a plain HTTP error, then closes the socket once the answer is flushed. */
export function rejectUpgrade(socket: Duplex, status: number, code: string, message: string, headers: Readonly<Record<string, string>> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code, message } });
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
