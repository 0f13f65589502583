/**
 * The side-by-side HTTP runs: for each target (direct, router, nginx, chp, bare) a
 * short unrecorded wrk warm-up, then the measured wrk run, with the CPU time the
 * proxy's processes and the upstream used during it (from /proc).
 */
import { round, sleep } from '../lib.ts';
import { cpuMs, get } from '../procs.ts';
import { params } from './plan.ts';
import { runWrk, type WrkResult } from './wrk.ts';

export type TargetName = 'direct' | 'router' | 'nginx' | 'chp' | 'bare' | 'router1';

export interface HttpTarget {
  name: TargetName;
  label: string;
  url: string;
  /** The proxy's processes (empty for direct). */
  pids: () => number[];
}

export interface TargetRun {
  label: string;
  url: string;
  requestsPerSec: number;
  requests: number;
  latencyMs: WrkResult['latencyMs'];
  non2xx: number;
  socketErrors: WrkResult['socketErrors'];
  /** CPU ms used during the measured run, and per 1,000 requests. */
  cpu: { proxyMs: number; upstreamMs: number; proxyMsPerKReq: number | null; upstreamMsPerKReq: number };
}

/** A request as wrk sends it must come back 200 with the upstream's body. */
export async function checkAnswers(target: HttpTarget, headers: Record<string, string>, body: string): Promise<void> {
  const r = await get(`${target.url}${params.path}`, headers);
  if (r.status !== 200 || r.body !== body) {
    throw new Error(`${target.label}: GET ${params.path} answered ${r.status} "${r.body.slice(0, 200)}", not 200 with the upstream's body`);
  }
}

export async function runTarget(wrk: string, target: HttpTarget, headers: Record<string, string>, upstreamPid: number): Promise<TargetRun> {
  const common = { wrk, url: `${target.url}${params.path}`, headers, threads: params.wrkThreads, connections: params.wrkConnections };
  if (params.warmupSeconds > 0) await runWrk({ ...common, seconds: params.warmupSeconds });
  await sleep(500);
  const pids = target.pids();
  const [proxyBefore, upstreamBefore] = [cpuMs(pids), cpuMs([upstreamPid])];
  const result = await runWrk({ ...common, seconds: params.wrkSeconds });
  const [proxyMs, upstreamMs] = [cpuMs(pids) - proxyBefore, cpuMs([upstreamPid]) - upstreamBefore];
  const kreq = result.requests / 1000;
  const run: TargetRun = {
    label: target.label,
    url: target.url,
    requestsPerSec: round(result.requestsPerSec, 0),
    requests: result.requests,
    latencyMs: result.latencyMs,
    non2xx: result.non2xx,
    socketErrors: result.socketErrors,
    cpu: {
      proxyMs,
      upstreamMs,
      proxyMsPerKReq: pids.length ? round(proxyMs / kreq, 1) : null,
      upstreamMsPerKReq: round(upstreamMs / kreq, 1),
    },
  };
  const l = run.latencyMs;
  console.log(
    `  ${target.name.padEnd(7)} ${String(run.requestsPerSec).padStart(7)} req/s  p50 ${l.p50} ms  p90 ${l.p90} ms  p99 ${l.p99} ms` +
      `  non-2xx ${run.non2xx}  cpu ${pids.length ? `${run.cpu.proxyMsPerKReq} ms/1k req` : '-'} (upstream ${run.cpu.upstreamMsPerKReq})`,
  );
  return run;
}
