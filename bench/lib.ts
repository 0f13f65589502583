/**
 * Shared helpers for the benchmarks: machine description, percentiles, the result
 * file format (bench/results/<name>.json) and a printed summary.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(BENCH_DIR, '..');
export const RESULTS_DIR = path.join(BENCH_DIR, 'results');

export interface MachineInfo {
  os: string;
  cpus: number;
  cpuModel: string;
  totalMemBytes: number;
  totalMemGB: number;
  node: string;
  /** 1/5/15-minute load averages when the benchmark finished: other work on the machine skews figures. */
  loadAvg: number[];
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    totalMemBytes: os.totalmem(),
    totalMemGB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    loadAvg: os.loadavg().map((l) => round(l, 2)),
  };
}

/** One target: `value` compared against `limit` with `op`. */
export interface TargetResult {
  name: string;
  value: number | null;
  unit: string;
  op: '<' | '<=' | '==';
  limit: number;
  pass: boolean;
}

export function target(name: string, value: number | null, op: TargetResult['op'], limit: number, unit: string): TargetResult {
  const pass = value !== null && Number.isFinite(value) && (op === '<' ? value < limit : op === '<=' ? value <= limit : value === limit);
  return { name, value: value === null ? null : round(value), unit, op, limit, pass };
}

export interface BenchResult {
  name: string;
  date: string;
  machine: MachineInfo;
  parameters: Record<string, unknown>;
  figures: Record<string, unknown>;
  targets: TargetResult[];
  /** Every target met. */
  pass: boolean;
  notes: string[];
}

export function writeResult(result: Omit<BenchResult, 'date' | 'machine' | 'pass'>): BenchResult {
  const full: BenchResult = {
    name: result.name,
    date: new Date().toISOString(),
    machine: machineInfo(),
    parameters: result.parameters,
    figures: result.figures,
    targets: result.targets,
    pass: result.targets.every((t) => t.pass),
    notes: result.notes,
  };
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${result.name}.json`);
  fs.writeFileSync(file, `${JSON.stringify(full, null, 2)}\n`);
  return full;
}

export function printTargets(targets: TargetResult[]): void {
  for (const t of targets) {
    const value = t.value === null ? 'n/a' : `${t.value} ${t.unit}`;
    console.log(`  ${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${value} (target ${t.op} ${t.limit} ${t.unit})`);
  }
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function mb(bytes: number): number {
  return round(bytes / 1024 / 1024, 1);
}

/** Nearest-rank percentile (p in 0..100) of an unsorted list; null when empty. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Whole-number knob from the environment, at least `min`; `fallback` when unset or empty. */
export function intEnv(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number >= ${min}, got "${raw}"`);
  return value;
}

/** Count, p50 / p90 / p99, max and min of a list of milliseconds, rounded to whole ms (null when empty). */
export function msStats(values: readonly number[]) {
  const ms = (v: number | null) => (v === null ? null : round(v, 0));
  return {
    n: values.length,
    p50: ms(percentile(values, 50)),
    p90: ms(percentile(values, 90)),
    p99: ms(percentile(values, 99)),
    max: ms(values.length ? Math.max(...values) : null),
    min: ms(values.length ? Math.min(...values) : null),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A random secret long enough for PLATFORM_SECRET / SECRET_KEY (32+ chars). */
export function benchSecret(label: string): string {
  return `bench-${label}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}-0123456789abcdef`;
}

/**
 * The environment every in-process platform of a benchmark starts from: a fresh
 * DATA_DIR, every listener on port 0, fresh secrets, no logs, its own replica id.
 */
export function benchPlatformEnv(dataDir: string, replicaId: string): Record<string, string | undefined> {
  return {
    PATH: process.env.PATH,
    DATA_DIR: dataDir,
    API_PORT: '0',
    METER_PORT: '0',
    PUBLIC_PORT: '0',
    DEV_IDP_PORT: '0',
    PLATFORM_SECRET: benchSecret('platform'),
    SECRET_KEY: benchSecret('key'),
    LOG_LEVEL: 'silent',
    REPLICA_ID: replicaId,
  };
}

/** Total RSS (bytes) and PSS (bytes, null when unreadable) of a set of pids, from /proc. */
export async function processMemory(pids: readonly number[]): Promise<{ rss: number; pss: number | null; counted: number }> {
  let rss = 0;
  let pss: number | null = 0;
  let counted = 0;
  await Promise.all(
    pids.map(async (pid) => {
      try {
        const status = await fs.promises.readFile(`/proc/${pid}/status`, 'utf8');
        const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
        if (!m) return;
        rss += Number(m[1]) * 1024;
        counted++;
        try {
          const rollup = await fs.promises.readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
          const p = /^Pss:\s+(\d+) kB/m.exec(rollup);
          if (p && pss !== null) pss += Number(p[1]) * 1024;
        } catch {
          pss = null;
        }
      } catch {
        /* gone */
      }
    }),
  );
  return { rss, pss, counted };
}

/** MemTotal - MemAvailable from /proc/meminfo (bytes); falls back to os.freemem(). */
export function systemMemoryUsed(): number {
  try {
    const info = fs.readFileSync('/proc/meminfo', 'utf8');
    const total = /^MemTotal:\s+(\d+) kB/m.exec(info);
    const available = /^MemAvailable:\s+(\d+) kB/m.exec(info);
    if (total && available) return (Number(total[1]) - Number(available[1])) * 1024;
  } catch {
    /* not Linux */
  }
  return os.totalmem() - os.freemem();
}

/** The commit measured, and whether control/ had uncommitted changes (the code under test may be mid-edit). */
export function codeUnderTest(): { commit: string; controlDirty: boolean } | null {
  try {
    const git = (args: string[]) => execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return { commit: git(['rev-parse', '--short', 'HEAD']), controlDirty: git(['status', '--porcelain', '--', 'control']) !== '' };
  } catch {
    return null;
  }
}
