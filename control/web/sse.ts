/**
 * Server-sent events from a numbered event log (ids only grow). New events arrive
 * from the feed's subscription at once; a slow poll of the log also picks up what
 * other processes wrote, and fills any gap (events can commit out of id order).
 */
import { PassThrough } from 'node:stream';
import type { Context } from 'koa';

interface EventFeed<T extends { id: number }> {
  /** Events with an id above `afterId`, oldest first, at most `limit`. */
  after(afterId: number, limit: number): Promise<T[]>;
  /** Calls `listener` for each new event; returns the unsubscribe function. */
  subscribe(listener: (event: T) => void): () => void;
}

const POLL_MS = 1000;
const HEARTBEAT_MS = 15_000;
const BATCH = 200;
/** A client that reads nothing while this much waits for it is dropped, not buffered for. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

export function streamEvents<T extends { id: number }>(ctx: Context, feed: EventFeed<T>, afterId: number, eventName: string): void {
  const stream = new PassThrough();
  ctx.req.socket.setTimeout(0);
  ctx.req.socket.setNoDelay(true);
  ctx.set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  ctx.status = 200;
  ctx.body = stream;

  let lastId = afterId;
  let closed = false;
  let pumping = false;
  const send = (event: T) => {
    if (closed || event.id <= lastId) return;
    lastId = event.id;
    stream.write(`id: ${event.id}\nevent: ${eventName}\ndata: ${JSON.stringify(event)}\n\n`);
    if (stream.writableLength > MAX_BUFFERED_BYTES) close();
  };
  const pump = async () => {
    if (pumping || closed) return;
    pumping = true;
    try {
      for (;;) {
        const batch = await feed.after(lastId, BATCH);
        batch.forEach(send);
        if (batch.length < BATCH) break;
      }
    } catch {
      /* the next poll retries */
    } finally {
      pumping = false;
    }
  };
  stream.write(': connected\n\n');
  const unsubscribe = feed.subscribe((event) => {
    // Out of order across transactions: let the log order them.
    if (event.id === lastId + 1) send(event);
    else void pump();
  });
  const poll = setInterval(() => void pump(), POLL_MS);
  const heartbeat = setInterval(() => stream.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(poll);
    clearInterval(heartbeat);
    unsubscribe();
    stream.end();
  };
  ctx.res.on('close', close);
  stream.on('error', close);
  void pump();
}
