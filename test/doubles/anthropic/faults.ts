/**
 * Faults queued for the upcoming /v1/messages requests, each used once, in
 * order: a status error, an `event: error` after a 200, a slow stream, a stall.
 * A fault is taken once the request passed authentication and validation, as a
 * real overload or rate limit only meets requests the API accepted.
 */
import { DEFAULT_ERROR_MESSAGES, errorTypeFor } from './errors.ts';
import type { ErrorType, Stall, StatusFaultOptions, StreamErrorOptions, StreamRecord } from './types.ts';

/** A stall point: reached once, released by the test (or by the client leaving). */
export class Gate implements Stall {
  readonly reached: Promise<StreamRecord | undefined>;
  private readonly releasedP: Promise<void>;
  private onReached!: (stream: StreamRecord | undefined) => void;
  private onRelease!: () => void;

  constructor() {
    this.reached = new Promise((resolve) => {
      this.onReached = resolve;
    });
    this.releasedP = new Promise((resolve) => {
      this.onRelease = resolve;
    });
  }

  release(): void {
    this.onRelease();
  }

  /** Marks the stall point reached and waits for release() or `signal`. */
  async hold(stream: StreamRecord | undefined, signal: AbortSignal): Promise<void> {
    this.onReached(stream);
    if (signal.aborted) return;
    let onAbort = () => {};
    const aborted = new Promise<void>((resolve) => {
      onAbort = resolve;
      signal.addEventListener('abort', onAbort, { once: true });
    });
    await Promise.race([this.releasedP, aborted]);
    signal.removeEventListener('abort', onAbort);
  }
}

export type Fault =
  | { kind: 'status'; status: number; type: ErrorType; message: string; headers: Record<string, string> }
  | { kind: 'stream_error'; afterDeltas: number; type: ErrorType; message: string }
  | { kind: 'slow'; eventDelayMs: number }
  | { kind: 'stall'; afterDeltas: number; gate: Gate };

export class FaultQueue {
  private queue: Fault[] = [];

  status(status: number, options: StatusFaultOptions = {}): void {
    const type = options.type ?? errorTypeFor(status);
    const headers = { ...options.headers };
    const retryAfter = options.retryAfter ?? (status === 429 ? 1 : undefined);
    if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
    this.queue.push({ kind: 'status', status, type, message: options.message ?? DEFAULT_ERROR_MESSAGES[type], headers });
  }

  streamError(options: StreamErrorOptions = {}): void {
    const type = options.type ?? 'overloaded_error';
    this.queue.push({ kind: 'stream_error', afterDeltas: options.afterDeltas ?? 2, type, message: options.message ?? DEFAULT_ERROR_MESSAGES[type] });
  }

  slow(eventDelayMs: number): void {
    this.queue.push({ kind: 'slow', eventDelayMs });
  }

  stall(afterDeltas = 2): Stall {
    const gate = new Gate();
    this.queue.push({ kind: 'stall', afterDeltas, gate });
    return gate;
  }

  take(): Fault | undefined {
    return this.queue.shift();
  }

  get pending(): number {
    return this.queue.length;
  }

  clear(): void {
    for (const f of this.queue) if (f.kind === 'stall') f.gate.release();
    this.queue = [];
  }
}
