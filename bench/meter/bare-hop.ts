/**
 * The floor a Node proxy cannot go below: one HTTP hop with nothing else (no key, no
 * budget, no parsing), through the same kind of undici pool the meter uses. The meter
 * benchmark measures it beside the meter, so "added latency" splits into what any Node
 * hop costs and what the meter adds on top.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

export async function startBareHop(upstreamUrl: string, apiKey: string): Promise<{ url: string; close(): Promise<void> }> {
  const pool = new Pool(new URL(upstreamUrl).origin, { connections: 256, keepAliveTimeout: 30_000 });
  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      try {
        const answer = await pool.request({
          method: 'POST',
          path: req.url ?? '/',
          headers: { 'x-api-key': apiKey, 'content-type': 'application/json', 'anthropic-version': String(req.headers['anthropic-version'] ?? '') },
          body: Buffer.concat(chunks),
        });
        res.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type'] ?? '') });
        res.flushHeaders();
        for await (const chunk of answer.body) res.write(chunk);
        res.end();
      } catch {
        res.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await pool.close();
    },
  };
}
