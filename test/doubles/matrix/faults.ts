/**
 * Faults queued for upcoming requests, each used once, in order: a status error
 * (Conduit-shaped JSON body, or a raw body such as a proxy's 502 page), and a
 * rate limit (429 M_LIMIT_EXCEEDED with retry_after_ms and Retry-After). A fault
 * with a match waits for the first request it matches; it is taken before
 * routing and authentication, as a proxy or an overloaded server would answer.
 */
import { defaultErrcode } from './errors.ts';
import type { FailOptions, FaultMatch } from './types.ts';

export interface QueuedFault {
  kind: 'status' | 'limit';
  status: number;
  errcode: string;
  message: string;
  body?: string;
  retryAfterMs?: number;
  match: FaultMatch;
}

function matches(match: FaultMatch, method: string, path: string): boolean {
  if (match.method !== undefined && match.method.toUpperCase() !== method) return false;
  if (match.path === undefined) return true;
  return typeof match.path === 'string' ? path.includes(match.path) : match.path.test(path);
}

export class FaultQueue {
  private queue: QueuedFault[] = [];

  fail(status: number, errcode: string | undefined, options: FailOptions = {}): void {
    const code = errcode ?? defaultErrcode(status);
    const { message, body, ...match } = options;
    const fault: QueuedFault = { kind: 'status', status, errcode: code, message: message ?? `${code}: Injected fault`, match };
    if (body !== undefined) fault.body = body;
    this.queue.push(fault);
  }

  limit(retryAfterMs: number, match: FaultMatch = {}): void {
    this.queue.push({ kind: 'limit', status: 429, errcode: 'M_LIMIT_EXCEEDED', message: 'Too many requests', retryAfterMs, match });
  }

  take(method: string, path: string): QueuedFault | undefined {
    const index = this.queue.findIndex((f) => matches(f.match, method, path));
    if (index < 0) return undefined;
    const [fault] = this.queue.splice(index, 1);
    return fault;
  }

  get pending(): number {
    return this.queue.length;
  }

  clear(): void {
    this.queue = [];
  }
}
