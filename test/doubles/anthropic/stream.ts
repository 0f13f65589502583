/**
 * Writing a Messages stream: HTTP 200, text/event-stream, the events in order,
 * optionally sliced into arbitrary byte chunks (through events and UTF-8
 * characters), slowed, stalled, or cut by `event: error`; and the record of
 * what reached the socket and how the stream ended.
 */
import type { ServerResponse } from 'node:http';
import type { Fault } from './faults.ts';
import { type Ctx, commonHeaders, sleep } from './http.ts';
import type { ResolvedReply } from './reply.ts';
import { encodeEvent, errorEvent, streamParts } from './sse.ts';
import type { StreamOutcome, StreamRecord } from './types.ts';

class StreamLog implements StreamRecord {
  state: 'open' | StreamOutcome = 'open';
  readonly events: string[] = [];
  readonly writes: number[] = [];
  readonly ended: Promise<StreamOutcome>;
  /** How the stream ends if every byte gets out. */
  intended: StreamOutcome = 'completed';
  private readonly chunks: Buffer[] = [];
  private settle!: (outcome: StreamOutcome) => void;

  constructor(
    readonly requestIndex: number,
    readonly requestId: string,
    readonly messageId: string,
  ) {
    this.ended = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  wrote(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.writes.push(chunk.length);
  }

  finish(outcome: StreamOutcome): void {
    if (this.state !== 'open') return;
    this.state = outcome;
    this.settle(outcome);
  }
}

/**
 * Socket writes of whole events, or of `chunkBytes` slices carried across events.
 * Between two slices the writer yields to the event loop (and waits `chunkDelayMs`),
 * so that a reader gets them as separate reads instead of one coalesced buffer.
 */
class ChunkWriter {
  private carry = Buffer.alloc(0);

  constructor(
    private readonly res: ServerResponse,
    private readonly log: StreamLog,
    private readonly signal: AbortSignal,
    private readonly chunkBytes: number | undefined,
    private readonly chunkDelayMs: number,
  ) {}

  async write(bytes: Buffer): Promise<void> {
    const n = this.chunkBytes;
    if (!n || n <= 0) return this.send(bytes);
    this.carry = Buffer.concat([this.carry, bytes]);
    while (this.carry.length >= n) {
      const slice = this.carry.subarray(0, n);
      this.carry = this.carry.subarray(n);
      await this.send(slice);
      await this.pause();
    }
  }

  private async pause(): Promise<void> {
    if (this.chunkDelayMs > 0) await sleep(this.chunkDelayMs, this.signal);
    else await new Promise((resolve) => setImmediate(resolve));
  }

  /** Writes the partial slice held back, before a pause or the end. */
  async flush(): Promise<void> {
    if (this.carry.length === 0) return;
    const rest = this.carry;
    this.carry = Buffer.alloc(0);
    await this.send(rest);
  }

  /** One socket write; resolves once it is handed to the kernel (or the client is gone). */
  private send(chunk: Buffer): Promise<void> {
    if (this.signal.aborted || this.res.destroyed) return Promise.resolve();
    this.log.wrote(chunk);
    return new Promise((resolve) => {
      const done = () => {
        this.signal.removeEventListener('abort', done);
        resolve();
      };
      this.signal.addEventListener('abort', done, { once: true });
      this.res.write(chunk, () => done());
    });
  }
}

export async function sendStream(ctx: Ctx, reply: ResolvedReply, fault: Fault | undefined): Promise<void> {
  const { state, res, signal } = ctx;
  const log = new StreamLog(ctx.record.index, ctx.record.requestId, reply.id);
  state.streams.push(log);
  res.once('close', () => log.finish(res.writableFinished ? log.intended : state.closing.signal.aborted ? 'closed' : 'aborted'));

  const { head, deltas, tail } = streamParts(reply);
  let events = [...head, ...deltas, ...tail];
  let stallAfter = -1;
  if (fault?.kind === 'stream_error') {
    events = [...head, ...deltas.slice(0, fault.afterDeltas), errorEvent(fault.type, fault.message)];
    log.intended = 'error_event';
  }
  if (fault?.kind === 'stall') stallAfter = head.length + Math.min(fault.afterDeltas, deltas.length) - 1;
  const delay = fault?.kind === 'slow' ? fault.eventDelayMs : state.eventDelayMs;

  await sleep(state.latencyMs, signal);
  if (signal.aborted || res.destroyed) return;
  ctx.record.status = 200;
  res.writeHead(200, { ...commonHeaders(ctx), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  const out = new ChunkWriter(res, log, signal, reply.chunkBytes, reply.chunkDelayMs);
  for (const [i, event] of events.entries()) {
    log.events.push(event.event);
    await out.write(encodeEvent(event));
    if (i === stallAfter && fault?.kind === 'stall') {
      await out.flush();
      await fault.gate.hold(log, signal);
    } else if (delay > 0 && i < events.length - 1) {
      await out.flush();
      await sleep(delay, signal);
    }
    if (signal.aborted) return;
  }
  await out.flush();
  res.end();
}

/** How many events the stream of `reply` has (a slow non-streaming reply waits as long). */
export function streamLength(reply: ResolvedReply): number {
  const { head, deltas, tail } = streamParts(reply);
  return head.length + deltas.length + tail.length;
}
