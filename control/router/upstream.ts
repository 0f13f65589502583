/**
 * Forwarding to an instance: one keep-alive pool per instance port (undici), bodies
 * streamed both ways with backpressure and never buffered, so server-sent events
 * arrive event by event. Failures are classified into what the client is told.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { Pool } from 'undici';
import { downstreamHeaders } from './headers.ts';

interface UpstreamOptions {
  connections: number;
  connectTimeoutMs: number;
  /** Longest wait for response headers; bodies (streams) have no limit. */
  headersTimeoutMs: number;
}

export class UpstreamPools {
  private pools = new Map<string, Pool>();

  constructor(private readonly options: UpstreamOptions) {}

  get(origin: string): Pool {
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.options.connections,
        connectTimeout: this.options.connectTimeoutMs,
        headersTimeout: this.options.headersTimeoutMs,
        bodyTimeout: 0,
        keepAliveTimeout: 4000,
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /** Closes the pool for an address the instance no longer has (stopped or moved). */
  drop(origin: string | null): void {
    if (!origin) return;
    const pool = this.pools.get(origin);
    if (!pool) return;
    this.pools.delete(origin);
    void pool.destroy().catch(() => undefined);
  }

  get size(): number {
    return this.pools.size;
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  }
}

export interface UpstreamFailure {
  status: 502 | 504 | 413;
  code: string;
  /** What happened, in words for the person who sent the request. */
  message: string;
}

/** Set up once per router: what every forwarded request shares. */
export interface ForwardSettings {
  pools: UpstreamPools;
  bodyLimitBytes: number;
  /** Called when nothing has been sent to the client yet; after that a failure just cuts the stream. */
  onFailure(req: IncomingMessage, res: ServerResponse, handle: string, failure: UpstreamFailure, cause: Error): void;
}

interface ForwardTarget {
  handle: string;
  origin: string;
  path: string;
  headers: string[];
  /** false on the path form: Set-Cookie is dropped and the response sandboxed. */
  allowCookies: boolean;
}

export function forward(settings: ForwardSettings, req: IncomingMessage, res: ServerResponse, target: ForwardTarget): void {
  let body: IncomingMessage | Transform | null = null;
  if (req.headers['content-length'] !== undefined) body = req;
  else if (req.headers['transfer-encoding'] !== undefined) body = limitBody(req, settings.bodyLimitBytes);
  const handler = new ForwardHandler(settings, req, res, target);
  settings.pools.get(target.origin).dispatch({ method: req.method as 'GET', path: target.path, headers: target.headers, body }, handler);
}

/**
 * One forwarded exchange as undici handler callbacks. A class rather than closures:
 * this runs for every request, and methods on a prototype cost nothing per request.
 */
class ForwardHandler {
  private abortRequest: ((err?: Error) => void) | null = null;
  private finished = false;
  private clientGone = false;
  private resume: (() => void) | null = null;

  constructor(
    private readonly settings: ForwardSettings,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly target: ForwardTarget,
  ) {
    res.on('close', this.onClientClose);
  }

  private readonly onClientClose = (): void => {
    if (this.finished) return;
    this.clientGone = true;
    this.abortRequest?.(new Error('client closed the connection'));
  };

  private readonly onDrain = (): void => {
    this.resume?.();
  };

  onConnect(abort: (err?: Error) => void): void {
    this.abortRequest = abort;
  }

  onError(err: Error): void {
    this.finished = true;
    // The client left first: nobody to tell, and nothing wrong with the instance.
    if (this.clientGone) return;
    if (!this.res.headersSent) this.settings.onFailure(this.req, this.res, this.target.handle, classify(err, this.settings.bodyLimitBytes), err);
    else this.res.destroy(err);
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    if (status < 200) return true;
    let headers: string[];
    try {
      headers = downstreamHeaders(raw, this.target.allowCookies);
      this.res.writeHead(status, headers);
    } catch (err) {
      const failure: UpstreamFailure = { status: 502, code: 'bad_upstream_headers', message: 'The instance sent response headers the router cannot pass on.' };
      this.settings.onFailure(this.req, this.res, this.target.handle, failure, err as Error);
      return false;
    }
    // A body of unknown length (an event stream, a long poll) may be a while coming:
    // send the headers now. A sized body follows at once and goes out with them.
    if (!hasContentLength(headers)) this.res.flushHeaders();
    this.resume = resume;
    return true;
  }

  onData(chunk: Buffer): boolean {
    const flowing = this.res.write(chunk);
    if (!flowing) this.res.once('drain', this.onDrain);
    return flowing;
  }

  onComplete(): void {
    this.finished = true;
    this.res.end();
  }

  onUpgrade(): void {
    this.res.destroy();
  }
}

function hasContentLength(flat: string[]): boolean {
  for (let i = 0; i < flat.length; i += 2) if (flat[i]!.length === 14 && flat[i]!.toLowerCase() === 'content-length') return true;
  return false;
}

class BodyTooLargeError extends Error {
  readonly code = 'BODY_TOO_LARGE';
}

/** Chunked bodies have no length up front: count as they stream and stop at the limit. */
function limitBody(req: IncomingMessage, limit: number): Transform {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      seen += chunk.length;
      if (seen > limit) callback(new BodyTooLargeError(`body over ${limit} bytes`));
      else callback(null, chunk);
    },
  });
  req.on('error', (err) => counter.destroy(err));
  return req.pipe(counter);
}

export function classify(err: Error & { code?: string; cause?: unknown }, bodyLimit: number): UpstreamFailure {
  const code = err.code ?? (err.cause as { code?: string } | undefined)?.code;
  switch (code) {
    case 'BODY_TOO_LARGE':
      return { status: 413, code: 'payload_too_large', message: `The request body is larger than ${bodyLimit} bytes.` };
    case 'ECONNREFUSED':
      return { status: 502, code: 'upstream_refused', message: 'The instance refused the connection: it may be restarting. Try again in a moment.' };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    // The pool was closed under the request: the instance stopped or moved while it was on its way.
    case 'UND_ERR_DESTROYED':
    case 'UND_ERR_CLOSED':
      return {
        status: 502,
        code: 'upstream_reset',
        message: 'The instance dropped the connection before it answered: it may be restarting. Try again in a moment.',
      };
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { status: 504, code: 'upstream_connect_timeout', message: 'The instance did not accept a connection in time. Try again in a moment.' };
    case 'UND_ERR_HEADERS_TIMEOUT':
      return { status: 504, code: 'upstream_timeout', message: 'The instance did not answer in time.' };
    default:
      return { status: 502, code: 'upstream_failed', message: 'The connection to the instance broke before it answered.' };
  }
}
