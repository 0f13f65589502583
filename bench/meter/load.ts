/**
 * A closed-loop load generator: `concurrency` clients, each sending its next request as
 * soon as the last one is read to its end, over keep-alive connections. For each
 * request: the time to the first byte of the body and the time to its last byte.
 */
import { Pool } from 'undici';

export interface LoadRun {
  totalMs: number[];
  firstByteMs: number[];
  non200: number;
  errors: number;
  wallMs: number;
}

export interface LoadTarget {
  pool: Pool;
  headers: (i: number) => Record<string, string>;
}

export function loadTarget(url: string, connections: number, headers: (i: number) => Record<string, string>): LoadTarget {
  return { pool: new Pool(url, { connections, pipelining: 1, keepAliveTimeout: 60_000 }), headers };
}

/**
 * `staggerMs`: client k starts k/concurrency of it late, so requests arrive spread out
 * as independent agents' do, instead of in one burst per round.
 */
export async function runLoad(target: LoadTarget, body: string, concurrency: number, requests: number, staggerMs = 0): Promise<LoadRun> {
  const run: LoadRun = { totalMs: [], firstByteMs: [], non200: 0, errors: 0, wallMs: 0 };
  let next = 0;
  const started = performance.now();
  const client = async (k: number) => {
    if (staggerMs > 0) await new Promise((resolve) => setTimeout(resolve, (k * staggerMs) / concurrency));
    for (let i = next++; i < requests; i = next++) {
      const sent = performance.now();
      try {
        const response = await target.pool.request({ method: 'POST', path: '/v1/messages', headers: target.headers(i), body });
        let first = 0;
        for await (const _chunk of response.body) if (first === 0) first = performance.now();
        const done = performance.now();
        if (response.statusCode !== 200) run.non200++;
        run.totalMs.push(done - sent);
        run.firstByteMs.push((first || done) - sent);
      } catch {
        run.errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, k) => client(k)));
  run.wallMs = performance.now() - started;
  return run;
}
