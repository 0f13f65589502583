/**
 * Server-sent events: a small parser, a follower that reconnects from the last
 * event id, and waitForStatus, which follows an instance until it settles.
 */
import { ApiError, type InstanceView, isAbort, type PlatformClient, type StoredEvent } from './client.ts';

interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

/** Parses an SSE byte stream (text/event-stream) into messages; comments are skipped. */
export async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  let message: { id: string | null; event: string; data: string[] } = { id: null, event: 'message', data: [] };
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      const lines = buffer.split(/\r\n|\n|\r/);
      buffer = done ? '' : lines.pop()!;
      for (const line of lines) {
        if (line === '') {
          if (message.data.length > 0) yield { id: message.id, event: message.event, data: message.data.join('\n') };
          message = { id: message.id, event: 'message', data: [] };
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') message.data.push(value);
        else if (field === 'event') message.event = value;
        else if (field === 'id') message.id = value;
      }
      if (done) return;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/**
 * Yields the instance's events after `after`, for as long as `signal` allows. A stream
 * the server ends is reopened from the last event seen; connection errors propagate.
 */
export async function* followEvents(client: PlatformClient, handle: string, after: number, signal: AbortSignal): AsyncGenerator<StoredEvent> {
  let lastId = after;
  while (!signal.aborted) {
    const body = await client.eventStream(handle, lastId, signal);
    try {
      for await (const message of parseSse(body)) {
        if (message.event !== 'instance') continue;
        const event = JSON.parse(message.data) as StoredEvent;
        if (event.id <= lastId) continue;
        lastId = event.id;
        yield event;
      }
    } catch (err) {
      if (signal.aborted || isAbort(err)) return;
      /* the stream broke: reopen below */
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Id of the instance's newest event, or 0 when it has none (or does not exist yet). */
export async function lastEventId(client: PlatformClient, handle: string): Promise<number> {
  let after = 0;
  const page = 5000;
  try {
    for (;;) {
      const { events } = await client.events(handle, after, page);
      if (events.length > 0) after = events[events.length - 1]!.id;
      if (events.length < page) return after;
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return 0;
    throw err;
  }
}

const STABLE = new Set(['running', 'stopped', 'destroyed', 'failed']);

type WaitOutcome = 'reached' | 'failed' | 'diverted' | 'timeout';

interface WaitResult {
  outcome: WaitOutcome;
  instance: InstanceView;
}

/**
 * Follows events after `after` until the instance reaches `target` (reached), `failed`,
 * another stable state (diverted) or the timeout. Returns the instance as it is then.
 */
export async function waitForStatus(
  client: PlatformClient,
  handle: string,
  opts: { target: string; after: number; timeoutMs: number; onEvent?: (event: StoredEvent) => void },
): Promise<WaitResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), opts.timeoutMs);
  let outcome: WaitOutcome = 'timeout';
  try {
    for await (const event of followEvents(client, handle, opts.after, controller.signal)) {
      opts.onEvent?.(event);
      // Transitions come as 'transition', 'error' (into failed) or 'reconcile' events: `to` is what counts.
      if (!event.to || !STABLE.has(event.to)) continue;
      outcome = event.to === opts.target ? 'reached' : event.to === 'failed' ? 'failed' : 'diverted';
      break;
    }
  } catch (err) {
    if (!isAbort(err)) throw err;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  const { instance } = await client.get(handle);
  // The last word is the instance's current state (an event may have raced the timeout).
  if (instance.status === opts.target) outcome = 'reached';
  else if (outcome === 'timeout' && STABLE.has(instance.status)) outcome = instance.status === 'failed' ? 'failed' : 'diverted';
  return { outcome, instance };
}
