/**
 * wrk: run it (`wrk -t1 -c50 -d10s --latency` plus headers) and parse its report:
 * requests/s, the latency distribution (us / ms / s / m / h), request count, socket
 * errors and "Non-2xx or 3xx responses" (wrk counts statuses >= 400 there).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';

export const WRK = '/usr/bin/wrk';
export const NGINX = '/usr/sbin/nginx';

export function findTool(name: string, preferred: string): string | null {
  if (fs.existsSync(preferred)) return preferred;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = `${dir}/${name}`;
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  return null;
}

export interface WrkResult {
  requestsPerSec: number;
  requests: number;
  durationS: number;
  latencyMs: { avg: number; p50: number; p75: number; p90: number; p99: number; max: number };
  non2xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  raw: string;
}

export interface WrkOptions {
  wrk: string;
  url: string;
  headers: Record<string, string>;
  threads: number;
  connections: number;
  seconds: number;
}

export function runWrk(o: WrkOptions): Promise<WrkResult> {
  const args = [`-t${o.threads}`, `-c${o.connections}`, `-d${o.seconds}s`, '--latency'];
  for (const [k, v] of Object.entries(o.headers)) args.push('-H', `${k}: ${v}`);
  args.push(o.url);
  return new Promise((resolve, reject) => {
    execFile(o.wrk, args, { timeout: (o.seconds + 30) * 1000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`wrk failed: ${err.message}\n${stderr}`));
      try {
        resolve(parseWrk(stdout));
      } catch (parseErr) {
        reject(new Error(`${(parseErr as Error).message}\n--- wrk output ---\n${stdout}${stderr}`));
      }
    });
  });
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "1.23ms" -> 1.23; "850.00us" -> 0.85 */
export function toMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`cannot read the wrk duration "${text}"`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]! * 1000) / 1000;
}

export function parseWrk(out: string): WrkResult {
  const need = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(out);
    if (!m) throw new Error(`wrk output has no ${what}`);
    return m;
  };
  const percentile = (p: string) => toMs(need(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm'), `${p}% latency line`)[1]!);
  const latency = need(/^\s+Latency\s+(\S+)\s+\S+\s+(\S+)/m, 'Latency stats line');
  const total = need(/^\s+(\d+) requests in ([\d.]+)(us|ms|s|m),/m, 'request count');
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    requestsPerSec: Number(need(/^Requests\/sec:\s+([\d.]+)/m, 'Requests/sec')[1]),
    requests: Number(total[1]),
    durationS: toMs(`${total[2]}${total[3]}`) / 1000,
    latencyMs: {
      avg: toMs(latency[1]!),
      p50: percentile('50'),
      p75: percentile('75'),
      p90: percentile('90'),
      p99: percentile('99'),
      max: toMs(latency[2]!),
    },
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: socket
      ? { connect: Number(socket[1]), read: Number(socket[2]), write: Number(socket[3]), timeout: Number(socket[4]) }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
    raw: out,
  };
}
