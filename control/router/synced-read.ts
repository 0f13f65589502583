/**
 * A small fact every router keeps in memory so the request path never reads the
 * database (who is an admin, who signed out when): read at start-up, again on every
 * change made in this process (an event on `changes`), and every ROUTE_SYNC_INTERVAL
 * for changes made elsewhere (router workers, other replicas). A failed read keeps the
 * last known value.
 */
import type { EventEmitter } from 'node:events';
import { describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';

export class SyncedRead<T> {
  private current: T;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | null = null;
  private readonly onChange = () => void this.sync();

  constructor(
    private readonly options: {
      /** What is read, for the log line when a read fails. */
      what: string;
      initial: T;
      read(): Promise<T>;
      changes: EventEmitter;
      /** The event on `changes` that means "read again now". */
      event: string;
      syncIntervalMs: number;
      logger: Logger;
      /** Called after every successful read, with the new value. */
      onRead?(value: T): void;
    },
  ) {
    this.current = options.initial;
  }

  /** The value as last read. O(1), no I/O. */
  get value(): T {
    return this.current;
  }

  async load(): Promise<void> {
    await this.read();
    this.options.changes.on(this.options.event, this.onChange);
    this.timer = setInterval(this.onChange, this.options.syncIntervalMs);
    this.timer.unref();
  }

  /** One read; concurrent calls share it. */
  sync(): Promise<void> {
    this.reading ??= this.read()
      .catch((err) => this.options.logger.warn({ err: describeError(err) }, `could not read ${this.options.what}; keeping the last known`))
      .finally(() => {
        this.reading = null;
      });
    return this.reading;
  }

  close(): void {
    clearInterval(this.timer);
    this.options.changes.off(this.options.event, this.onChange);
  }

  private async read(): Promise<void> {
    this.current = await this.options.read();
    this.options.onRead?.(this.current);
  }
}
