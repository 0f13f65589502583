/**
 * WebSocket (and any Upgrade) through the router: the handshake is forwarded with the
 * same header rules as HTTP, then bytes flow both ways untouched. Open sockets are
 * counted as activity every WS_ACTIVITY_INTERVAL, so a long session keeps its
 * instance awake without a timer per socket.
 */

import type { IncomingMessage } from 'node:http';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { ActivityRecorder } from '../lifecycle.ts';
import { rawReply } from './pages.ts';
import { classify } from './upstream.ts';

export class OpenSockets {
  private sockets = new Map<Duplex, string>();
  /** Sockets a browser session opened: who, and when (a sign-out ends those opened before it). */
  private sessions = new Map<Duplex, { userId: string; openedAt: number }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly activity: ActivityRecorder,
    intervalMs: number,
  ) {
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  /** `session`: the browser session that opened it (none for a bearer token). */
  add(socket: Duplex, handle: string, session?: { userId: string; openedAt: number }): void {
    this.sockets.set(socket, handle);
    if (session) this.sessions.set(socket, session);
    this.activity.record(handle);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.sessions.delete(socket);
      this.activity.record(handle);
    });
  }

  /** Closes every socket a browser session opened before its user signed out. Returns how many. */
  endSignedOut(signedOutAt: (userId: string) => number | undefined): number {
    let ended = 0;
    for (const [socket, { userId, openedAt }] of this.sessions) {
      const at = signedOutAt(userId);
      if (at !== undefined && openedAt <= at) {
        socket.destroy();
        ended++;
      }
    }
    return ended;
  }

  count(handle?: string): number {
    if (handle === undefined) return this.sockets.size;
    let n = 0;
    for (const h of this.sockets.values()) if (h === handle) n++;
    return n;
  }

  /** Records every handle with an open socket once. */
  tick(): void {
    const now = Date.now();
    for (const handle of new Set(this.sockets.values())) this.activity.record(handle, now);
  }

  /** Closes every proxied socket (shutdown). */
  close(): void {
    clearInterval(this.timer);
    for (const socket of this.sockets.keys()) socket.destroy();
    this.sockets.clear();
    this.sessions.clear();
  }
}

interface UpgradeTarget {
  origin: string;
  path: string;
  headers: string[];
  timeoutMs: number;
  downstreamHeaders: (raw: string[]) => string[];
  onOpen: (socket: Duplex) => void;
}

export function proxyUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: UpgradeTarget): void {
  const url = new URL(target.origin);
  const upstream = http.request({
    hostname: url.hostname,
    port: url.port,
    method: req.method,
    path: target.path,
    headers: target.headers,
    agent: false,
    setHost: false,
  });
  let answered = false;
  const timer = setTimeout(() => upstream.destroy(Object.assign(new Error('handshake timeout'), { code: 'UND_ERR_HEADERS_TIMEOUT' })), target.timeoutMs);
  socket.on('error', () => upstream.destroy());

  upstream.on('upgrade', (res, upSocket, upHead) => {
    answered = true;
    clearTimeout(timer);
    if (!socket.writable) return upSocket.destroy();
    socket.write(statusLine(101, res.statusMessage) + headerLines(target.downstreamHeaders(res.rawHeaders), String(res.headers.upgrade ?? 'websocket')));
    if (upHead.length) socket.write(upHead);
    if (head.length) upSocket.write(head);
    upSocket.on('error', () => socket.destroy());
    socket.on('close', () => upSocket.destroy());
    upSocket.on('close', () => socket.destroy());
    for (const s of [socket, upSocket] as const) {
      const sock = s as Duplex & { setNoDelay?: (v: boolean) => void; setTimeout?: (ms: number) => void };
      sock.setNoDelay?.(true);
      sock.setTimeout?.(0);
    }
    upSocket.pipe(socket);
    socket.pipe(upSocket);
    target.onOpen(socket);
  });

  upstream.on('response', (res) => {
    // The instance declined the upgrade: pass its answer on, then close.
    answered = true;
    clearTimeout(timer);
    socket.write(
      statusLine(res.statusCode ?? 502, res.statusMessage) + headerLines([...target.downstreamHeaders(res.rawHeaders), 'connection', 'close'], null),
    );
    res.pipe(socket);
  });

  upstream.on('error', (err) => {
    clearTimeout(timer);
    if (answered) return socket.destroy();
    const failure = classify(err as Error & { code?: string }, 0);
    rawReply(socket, { status: failure.status, code: failure.code, title: 'Bad gateway', message: failure.message });
  });
  upstream.end();
}

function statusLine(status: number, message: string | undefined): string {
  return `HTTP/1.1 ${status} ${(message ?? '').replace(/[\r\n]/g, '')}\r\n`;
}

function headerLines(flat: string[], upgrade: string | null): string {
  let out = upgrade === null ? '' : `connection: Upgrade\r\nupgrade: ${upgrade.replace(/[\r\n]/g, '')}\r\n`;
  for (let i = 0; i < flat.length; i += 2) out += `${flat[i]}: ${flat[i + 1]!.replace(/[\r\n]/g, '')}\r\n`;
  return `${out}\r\n`;
}
