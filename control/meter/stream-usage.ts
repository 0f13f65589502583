/**
 * Reads the usage out of an Anthropic Messages event stream as its bytes pass through
 * the proxy. It only reads: the caller forwards its own chunks untouched.
 *
 * Chunks may split anything (a UTF-8 character, a "\r\n"): lines are cut on bytes
 * (CR and LF never occur inside a multi-byte character) and decoded whole. Memory is
 * bounded by one event: events the meter does not need (content deltas, pings) keep
 * no data, and an event larger than `maxEventBytes` is skipped and reported.
 *
 * `message_start` sets the usage; each `message_delta` carries cumulative usage and
 * overwrites the fields it names (never adds). `usage` stays null without a readable
 * message_start. When `problem` is set, something the meter needed could not be read:
 * do not trust the usage (settle at the reserved worst case).
 */
import { applyUsagePatch, fromAnthropicUsage, isObject, type MeteredUsage, parseUsagePatch } from './usage.ts';

export interface StreamError {
  type: string;
  message: string;
}

export interface StreamUsageOptions {
  /** The largest single event that is read; a larger one is skipped (default 1 MiB). */
  maxEventBytes?: number;
}

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;
const EMPTY = Buffer.alloc(0);
/** Events the meter reads; every other event name is skipped without keeping its data. */
const METERED = new Set(['message_start', 'message_delta', 'message_stop', 'error']);

export class StreamUsage {
  readonly maxEventBytes: number;
  #usage: MeteredUsage | null = null;
  #model: string | null = null;
  #stopped = false;
  #error: StreamError | null = null;
  #problem: string | null = null;
  #ended = false;
  // The line being assembled across chunks (bytes copied: the caller may reuse its buffers).
  #partial: Buffer[] = [];
  #partialBytes = 0;
  /** The last chunk ended with CR: an LF opening the next one belongs to that line end. */
  #skipLF = false;
  // The event being assembled.
  #eventName: string | null = null;
  #data: string[] = [];
  #hasData = false;
  #eventBytes = 0;
  #oversized = false;

  constructor(options: StreamUsageOptions = {}) {
    this.maxEventBytes = options.maxEventBytes ?? 1024 * 1024;
  }

  get usage(): MeteredUsage | null {
    return this.#usage;
  }
  get model(): string | null {
    return this.#model;
  }
  get stopped(): boolean {
    return this.#stopped;
  }
  /** An `event: error` received in the stream (after HTTP 200). */
  get error(): StreamError | null {
    return this.#error;
  }
  /** The first thing that could not be metered (a malformed or oversized event), or null. */
  get problem(): string | null {
    return this.#problem;
  }

  /** What this reader holds right now (a partial line, the data of one event): at most about `maxEventBytes`. */
  get retainedBytes(): number {
    return this.#partial.reduce((sum, piece) => sum + piece.length, 0) + this.#data.reduce((sum, line) => sum + Buffer.byteLength(line), 0);
  }

  /** Reads a chunk as it passes through. Never throws, never modifies `chunk`. */
  push(chunk: Buffer): void {
    if (this.#ended) return this.#note('bytes arrived after the end of the stream and were not read');
    if (chunk.length === 0) return;
    let start = 0;
    if (this.#skipLF) {
      this.#skipLF = false;
      if (chunk[0] === LF) start = 1;
    }
    let lf = chunk.indexOf(LF, start);
    let cr = chunk.indexOf(CR, start);
    for (;;) {
      if (lf !== -1 && lf < start) lf = chunk.indexOf(LF, start);
      if (cr !== -1 && cr < start) cr = chunk.indexOf(CR, start);
      const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr);
      if (end === -1) break;
      this.#line(chunk, start, end);
      start = end + 1;
      if (chunk[end] === CR) {
        if (start === chunk.length) this.#skipLF = true;
        else if (chunk[start] === LF) start += 1;
      }
    }
    if (start < chunk.length) this.#keepPartial(chunk.subarray(start));
  }

  /** The stream is over: a last line or event without its terminator still counts. */
  end(): void {
    if (this.#ended) return;
    if (this.#partialBytes > 0) this.#line(EMPTY, 0, 0);
    if (this.#eventName !== null || this.#hasData || this.#oversized) this.#dispatch();
    this.#ended = true;
  }

  #note(problem: string): void {
    this.#problem ??= problem;
  }

  #grow(bytes: number): void {
    this.#eventBytes += bytes;
    if (this.#oversized || this.#eventBytes <= this.maxEventBytes) return;
    this.#oversized = true;
    this.#data = [];
    this.#partial = [];
  }

  #keepPartial(bytes: Buffer): void {
    this.#partialBytes += bytes.length;
    this.#grow(bytes.length);
    if (!this.#oversized) this.#partial.push(Buffer.from(bytes));
  }

  /** A complete line: the kept partial bytes followed by chunk[start, end). */
  #line(chunk: Buffer, start: number, end: number): void {
    if (this.#partialBytes + (end - start) === 0) return this.#dispatch();
    this.#grow(end - start + 1);
    const line = this.#oversized || this.#partial.length === 0 ? chunk.subarray(start, end) : Buffer.concat([...this.#partial, chunk.subarray(start, end)]);
    this.#partial = [];
    this.#partialBytes = 0;
    if (this.#oversized) return;
    const colon = line.indexOf(COLON);
    if (colon === 0) return; // a comment
    const field = line.toString('utf8', 0, colon === -1 ? line.length : colon);
    let from = colon === -1 ? line.length : colon + 1;
    if (line[from] === SPACE) from += 1;
    if (field === 'event') {
      this.#eventName = line.toString('utf8', from);
    } else if (field === 'data') {
      this.#hasData = true;
      if (this.#eventName === null || METERED.has(this.#eventName)) this.#data.push(line.toString('utf8', from));
    }
  }

  /** A blank line ends the event: read it if the meter needs it, then start afresh. */
  #dispatch(): void {
    const name = this.#eventName;
    const data = this.#data.join('\n');
    const hasData = this.#hasData;
    const oversized = this.#oversized;
    this.#eventName = null;
    this.#data = [];
    this.#hasData = false;
    this.#eventBytes = 0;
    this.#oversized = false;
    if (name !== null && !METERED.has(name)) return;
    if (oversized) return this.#note(`an event${name === null ? '' : ` "${name}"`} larger than ${this.maxEventBytes} bytes was skipped`);
    if (name === null && !hasData) return;
    let parsed: unknown = null;
    if (hasData) {
      try {
        parsed = JSON.parse(data);
      } catch {
        if (name === 'error') this.#error ??= { type: 'unknown_error', message: 'The stream reported an error that could not be read.' };
        return this.#note(`an event${name === null ? '' : ` "${name}"`} carried data that is not JSON`);
      }
    }
    const body = isObject(parsed) ? parsed : {};
    const type = name ?? (typeof body.type === 'string' ? body.type : null);
    try {
      if (type === 'message_start') this.#start(body);
      else if (type === 'message_delta') this.#delta(body);
      else if (type === 'message_stop') this.#stopped = true;
      else if (type === 'error') this.#fail(body);
    } catch (err) {
      this.#note(`${type}: ${(err as Error).message}`);
    }
  }

  #start(body: Record<string, unknown>): void {
    if (this.#usage !== null || this.#model !== null) return this.#note('a second message_start was ignored');
    const message = isObject(body.message) ? body.message : {};
    if (typeof message.model === 'string') this.#model = message.model;
    this.#usage = Object.freeze(fromAnthropicUsage(message.usage));
  }

  #delta(body: Record<string, unknown>): void {
    if (body.usage === undefined || body.usage === null) return;
    if (this.#usage === null) return this.#note('a message_delta arrived before message_start and was ignored');
    this.#usage = Object.freeze(applyUsagePatch(this.#usage, parseUsagePatch(body.usage)));
  }

  #fail(body: Record<string, unknown>): void {
    if (this.#error !== null) return;
    const error = isObject(body.error) ? body.error : {};
    this.#error = {
      type: typeof error.type === 'string' ? error.type : 'unknown_error',
      message: typeof error.message === 'string' ? error.message : '',
    };
  }
}
