/**
 * The benchmark's upstream, run as its own process so it never shares an event loop
 * with a proxy: keep-alive HTTP answering a short fixed body on every path (/health
 * included, 200), and a WebSocket echo on /ws. Reports {url} over IPC when listening.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { UPSTREAM_BODY } from './plan.ts';

const BODY = Buffer.from(UPSTREAM_BODY);

const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (req, res) => {
  // Requests in this benchmark have no body; drain any anyway so the connection stays usable.
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length, 'x-bench-upstream': '1' });
  res.end(BODY);
});
server.headersTimeout = 66_000;

const wss = new WebSocketServer({ noServer: true });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => ws.terminate());
});
server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  if (req.url !== '/ws') {
    socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ type: 'ready', body: { url: `http://127.0.0.1:${port}`, pid: process.pid } });
});

const stop = () => {
  for (const ws of wss.clients) ws.terminate();
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
