/**
 * WebSocket echo round trips: one client, one message in flight at a time, `warmup`
 * unrecorded then `count` timed (send -> echo received), on one connection.
 */
import WebSocket from 'ws';
import { percentile, round } from '../lib.ts';

export interface RttResult {
  n: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  handshakeMs: number;
}

export async function measureRtt(url: string, headers: Record<string, string>, warmup: number, count: number, bytes: number): Promise<RttResult> {
  const opened = performance.now();
  const ws = new WebSocket(url, { headers, perMessageDeflate: false });
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`WebSocket handshake to ${url} answered ${res.statusCode}`)));
    });
    const handshakeMs = performance.now() - opened;
    const payload = Buffer.alloc(bytes, 'x');
    const samples: number[] = [];
    for (let i = 0; i < warmup + count; i++) {
      const sent = performance.now();
      await new Promise<void>((resolve, reject) => {
        const onMessage = (data: WebSocket.RawData) => {
          ws.off('close', onClose);
          if ((data as Buffer).length !== bytes) reject(new Error(`echo of ${bytes} bytes came back as ${(data as Buffer).length}`));
          else resolve();
        };
        const onClose = () => reject(new Error('the WebSocket closed during the round trips'));
        ws.once('message', onMessage);
        ws.once('close', onClose);
        ws.send(payload);
      });
      if (i >= warmup) samples.push(performance.now() - sent);
    }
    const ms = (v: number | null) => round(v ?? NaN, 3);
    return {
      n: samples.length,
      p50Ms: ms(percentile(samples, 50)),
      p90Ms: ms(percentile(samples, 90)),
      p99Ms: ms(percentile(samples, 99)),
      maxMs: ms(Math.max(...samples)),
      meanMs: ms(samples.reduce((a, b) => a + b, 0) / samples.length),
      handshakeMs: round(handshakeMs, 2),
    };
  } finally {
    ws.terminate();
  }
}
