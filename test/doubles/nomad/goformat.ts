/**
 * Go formatting the double must reproduce: hashicorp/go-multierror lists,
 * Nomad's warnings list, time.Duration parsing (?wait=) and printing.
 */

/**
 * go-multierror's ListFormatFunc:
 *   1 error occurred:\n\t* msg\n\n
 *   2 errors occurred:\n\t* a\n\t* b\n\n
 */
export function formatMultiError(errors: readonly string[]): string {
  if (errors.length === 1) return `1 error occurred:\n\t* ${errors[0]}\n\n`;
  return `${errors.length} errors occurred:\n\t${errors.map((e) => `* ${e}`).join('\n\t')}\n\n`;
}

/** Nomad's helper.MergeMultierrorWarnings: "1 warning:\n\n* msg" ("" for none). */
export function formatWarnings(warnings: readonly string[]): string {
  if (warnings.length === 0) return '';
  const head = warnings.length === 1 ? '1 warning:\n' : `${warnings.length} warnings:\n`;
  return head + warnings.map((w) => `\n* ${w.trim()}`).join('');
}

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** time.ParseDuration: nanoseconds, or null when Go would reject the text. */
export function parseGoDuration(text: string): number | null {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return null;
  let total = 0;
  while (s !== '') {
    const num = /^(\d*)(\.(\d*))?/.exec(s);
    if (!num || (num[1] === '' && (num[3] ?? '') === '')) return null;
    s = s.slice(num[0].length);
    const unit = /^[^\d.]+/.exec(s);
    if (!unit) return null;
    const scale = UNIT_NS[unit[0]];
    if (scale === undefined) return null;
    s = s.slice(unit[0].length);
    total += Number(`${num[1] || '0'}.${num[3] ?? ''}0`) * scale;
  }
  return sign * Math.round(total);
}

function trimFraction(value: number, digits: number): string {
  return value.toFixed(digits).replace(/\.?0+$/, '');
}

/** time.Duration.String(): "30m0s", "15s", "1h0m0s", "500ms", "0s". */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  const n = Math.abs(ns);
  if (n < 1e3) return `${sign}${n}ns`;
  if (n < 1e6) return `${sign}${trimFraction(n / 1e3, 3)}µs`;
  if (n < 1e9) return `${sign}${trimFraction(n / 1e6, 6)}ms`;
  const hours = Math.floor(n / 3600e9);
  const minutes = Math.floor((n % 3600e9) / 60e9);
  const seconds = trimFraction((n % 60e9) / 1e9, 9);
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${seconds}s`;
}

/** strconv.ParseBool, as Nomad's query parsing uses it. */
export function parseGoBool(text: string): boolean | null {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return null;
}

export const SECOND = 1e9;
export const MINUTE = 60e9;
export const HOUR = 3600e9;

/** Nomad's error for a query flag that strconv.ParseBool rejects. */
export function formatGoBoolError(field: string, value: string): string {
  return `Failed to parse value of ${JSON.stringify(field)} (${value}) as a bool: strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`;
}
