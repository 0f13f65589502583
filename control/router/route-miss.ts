/**
 * A request for a handle the route table does not know: the instance may have been
 * created a moment ago (by this process, whose refresh is still under way, or by
 * another replica, seen at its next sync). Its row is read once before answering 404.
 * Bounded, because anyone can ask for made-up handles: one read per handle at a time,
 * at most MAX_CONCURRENT at once; beyond that the table's answer stands.
 */
import type { Route, RouteTable } from './route-table.ts';

const MAX_CONCURRENT = 8;

export class RouteMisses {
  private readonly inflight = new Map<string, Promise<Route | undefined>>();

  constructor(private readonly routes: RouteTable) {}

  /** The route after reading the database, or undefined (also when too many reads are under way, or the read failed). */
  lookup(handle: string): Promise<Route | undefined> {
    const running = this.inflight.get(handle);
    if (running !== undefined) return running;
    if (this.inflight.size >= MAX_CONCURRENT) return Promise.resolve(undefined);
    const read = this.routes
      .refresh(handle)
      .catch(() => undefined)
      .finally(() => this.inflight.delete(handle));
    this.inflight.set(handle, read);
    return read;
  }
}
