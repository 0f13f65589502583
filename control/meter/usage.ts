/**
 * The usage the platform bills, normalized from an Anthropic `usage` object.
 *
 * The three input counts do not overlap: the prompt is input + cache writes + cache
 * reads. Cache writes are split by TTL because they are priced apart; a total without
 * its breakdown counts as 5-minute writes (Anthropic's default TTL).
 *
 * Anything that is not a non-negative integer is refused: a proxy must never bill
 * garbage. `null` is read as absent (older responses send `cache_*: null`).
 */

export interface MeteredUsage {
  input: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  cacheRead: number;
  output: number;
  webSearches: number;
}

/** The fields one `usage` object carries; a streamed `message_delta` overwrites only these. */
export interface UsagePatch {
  input?: number;
  /** `cache_creation_input_tokens`: both TTLs together. */
  cacheWriteTotal?: number;
  cacheWrite5m?: number;
  cacheWrite1h?: number;
  /** True when the object carried a `cache_creation` breakdown. */
  cacheBreakdown: boolean;
  cacheRead?: number;
  output?: number;
  webSearches?: number;
}

/** An Anthropic usage object that cannot be billed (not an object, a negative or fractional count). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const NO_USAGE: Readonly<MeteredUsage> = Object.freeze({ input: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0, output: 0, webSearches: 0 });

/** A JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A count, or undefined when absent or null. */
function count(container: Record<string, unknown>, key: string, path: string): number | undefined {
  const value = container[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new UsageError(`usage.${path} must be a non-negative integer, got ${JSON.stringify(value)}: refusing to bill it`);
  }
  return value;
}

/** An optional nested object (`cache_creation`, `server_tool_use`), or undefined when absent or null. */
function section(usage: Record<string, unknown>, key: string): Record<string, unknown> | undefined {
  const value = usage[key];
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new UsageError(`usage.${key} must be an object, got ${JSON.stringify(value)}: refusing to bill it`);
  return value;
}

/** Reads what an Anthropic `usage` object says, field by field, validating each. */
export function parseUsagePatch(u: unknown): UsagePatch {
  if (!isObject(u)) throw new UsageError(`usage must be an object, got ${u === undefined ? 'undefined' : JSON.stringify(u)}: refusing to bill it`);
  const patch: UsagePatch = { cacheBreakdown: false };
  patch.input = count(u, 'input_tokens', 'input_tokens');
  patch.cacheWriteTotal = count(u, 'cache_creation_input_tokens', 'cache_creation_input_tokens');
  patch.cacheRead = count(u, 'cache_read_input_tokens', 'cache_read_input_tokens');
  patch.output = count(u, 'output_tokens', 'output_tokens');
  const creation = section(u, 'cache_creation');
  if (creation) {
    patch.cacheBreakdown = true;
    patch.cacheWrite5m = count(creation, 'ephemeral_5m_input_tokens', 'cache_creation.ephemeral_5m_input_tokens');
    patch.cacheWrite1h = count(creation, 'ephemeral_1h_input_tokens', 'cache_creation.ephemeral_1h_input_tokens');
  }
  const tools = section(u, 'server_tool_use');
  if (tools) patch.webSearches = count(tools, 'web_search_requests', 'server_tool_use.web_search_requests');
  return patch;
}

/**
 * `base` with the fields `patch` carries overwritten (never added: streamed usage is
 * cumulative). Cache writes, when the two sources disagree, never lose tokens:
 * - a breakdown wins over a smaller total; a larger total puts the remainder on 5m;
 * - a total alone keeps the 1h tokens already known and puts the rest on 5m.
 */
export function applyUsagePatch(base: Readonly<MeteredUsage>, patch: UsagePatch): MeteredUsage {
  let cacheWrite5m = patch.cacheWrite5m ?? base.cacheWrite5m;
  let cacheWrite1h = patch.cacheWrite1h ?? base.cacheWrite1h;
  const total = patch.cacheWriteTotal;
  if (total !== undefined) {
    if (patch.cacheBreakdown) {
      if (total > cacheWrite5m + cacheWrite1h) cacheWrite5m = total - cacheWrite1h;
    } else {
      cacheWrite1h = Math.min(cacheWrite1h, total);
      cacheWrite5m = total - cacheWrite1h;
    }
  }
  return {
    input: patch.input ?? base.input,
    cacheWrite5m,
    cacheWrite1h,
    cacheRead: patch.cacheRead ?? base.cacheRead,
    output: patch.output ?? base.output,
    webSearches: patch.webSearches ?? base.webSearches,
  };
}

/** The normalized usage of a complete `usage` object (a response body, or `message_start`). Missing fields are 0. */
export function fromAnthropicUsage(u: unknown): MeteredUsage {
  return applyUsagePatch(NO_USAGE, parseUsagePatch(u));
}

/** Prompt tokens: everything on the input side, which is what the long-context tier looks at. */
export function promptTokens(usage: MeteredUsage): number {
  return usage.input + usage.cacheWrite5m + usage.cacheWrite1h + usage.cacheRead;
}
