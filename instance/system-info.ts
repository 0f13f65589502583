/**
 * GET /api/system/info: what this instance is, how long it has run, what it is
 * configured with and how much disk its data uses. Never includes secrets.
 */
import type { InstanceConfig, LlmRoute } from './config.ts';
import { walkTree } from './files.ts';

export const MAX_WALKED_ENTRIES = 100_000;

export interface DataUsage {
  bytes: number;
  files: number;
  /** True when the walk stopped at the entry limit, so bytes and files are lower bounds. */
  truncated: boolean;
}

export interface SystemInfo {
  version: string;
  handle: string;
  uptimeSeconds: number;
  startedAt: string;
  node: string;
  dataDir: DataUsage;
  channels: string[];
  modules: string[];
  llm: LlmRoute;
}

/** Walks the data directory without following symlinks, stopping after `maxEntries` entries. */
export async function measureDataDir(dir: string, maxEntries = MAX_WALKED_ENTRIES): Promise<DataUsage> {
  const usage: DataUsage = { bytes: 0, files: 0, truncated: false };
  let seen = 0;
  for await (const { stats } of walkTree(dir)) {
    if (seen === maxEntries) {
      usage.truncated = true;
      break;
    }
    seen += 1;
    if (stats.isFile()) {
      usage.files += 1;
      usage.bytes += stats.size;
    }
  }
  return usage;
}

export async function collectSystemInfo(config: InstanceConfig, startedAt: Date, now: Date = new Date()): Promise<SystemInfo> {
  const llm: LlmRoute =
    config.llm.baseUrl === undefined ? { configured: config.llm.configured } : { configured: config.llm.configured, baseUrl: config.llm.baseUrl };
  return {
    version: config.version,
    handle: config.handle,
    uptimeSeconds: Math.max(0, Math.floor((now.getTime() - startedAt.getTime()) / 1000)),
    startedAt: startedAt.toISOString(),
    node: process.version,
    dataDir: await measureDataDir(config.dataDir),
    channels: [...config.channels],
    modules: [...config.modules],
    llm,
  };
}
