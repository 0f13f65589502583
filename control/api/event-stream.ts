/**
 * Server-sent events for an instance's progress log. New events arrive from the
 * in-process bus at once; a slow database poll also picks up what other replicas wrote.
 */
import { PassThrough } from 'node:stream';
import type { Context } from 'koa';
import type { InstanceStore, StoredEvent } from '../provisioning/store.ts';

const POLL_MS = 1000;
const HEARTBEAT_MS = 15_000;

export function streamEvents(ctx: Context, store: InstanceStore, handle: string, afterId: number): void {
  const stream = new PassThrough();
  ctx.req.socket.setTimeout(0);
  ctx.req.socket.setNoDelay(true);
  ctx.set({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
  ctx.status = 200;
  ctx.body = stream;

  let lastId = afterId;
  let closed = false;
  let pumping = false;
  const send = (event: StoredEvent) => {
    if (closed || event.id <= lastId) return;
    lastId = event.id;
    stream.write(`id: ${event.id}\nevent: instance\ndata: ${JSON.stringify(event)}\n\n`);
  };
  const pump = async () => {
    if (pumping || closed) return;
    pumping = true;
    try {
      for (;;) {
        const batch = await store.events(handle, lastId, 200);
        batch.forEach(send);
        if (batch.length < 200) break;
      }
    } catch {
      /* the next poll retries */
    } finally {
      pumping = false;
    }
  };
  const onEvent = (event: StoredEvent) => {
    if (event.handle !== handle) return;
    // Events can arrive out of order across transactions: let the database order them.
    if (event.id === lastId + 1) send(event);
    else void pump();
  };
  stream.write(': connected\n\n');
  store.bus.on('event', onEvent);
  const poll = setInterval(() => void pump(), POLL_MS);
  const heartbeat = setInterval(() => stream.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(poll);
    clearInterval(heartbeat);
    store.bus.off('event', onEvent);
    stream.end();
  };
  ctx.res.on('close', close);
  stream.on('error', close);
  void pump();
}
