/**
 * The route-table seam: handle -> where the instance answers, its state and who may
 * reach it. The router reads it on every request, so reads are synchronous and never
 * touch the database; the database stays the truth and the table follows it.
 */
import type { InstanceStatus } from '../provisioning/states.ts';

export interface Route {
  handle: string;
  ownerId: string;
  status: InstanceStatus;
  /** Base URLs, set while the instance runs (null before its first start). */
  gatewayUrl: string | null;
  shellUrl: string | null;
  /** Why the last start failed, shown on the failure page. */
  lastError: string | null;
  /** The owner is suspended: only admins get through, and nothing wakes it. */
  suspended: boolean;
  /** Waiting for one of MAX_RUNNING_INSTANCES places (the platform is full). */
  waiting: boolean;
  /** Generation of the user-facing token and of browser sessions; bumped by rotation. */
  accessGeneration: number;
  /** The token users present (Authorization: Bearer mxi_...), for this generation. */
  instanceToken: string;
  /** The token the router presents to the instance; users never see it. */
  routerToken: string;
  /** Generation of what the instance holds (its router token and meter key). */
  tokenGeneration: number;
}

export type RouteListener = (route: Route | undefined) => void;

export interface RouteTable {
  /** O(1), no I/O. undefined: no such handle, or destroyed. */
  get(handle: string): Route | undefined;

  /**
   * Re-reads one handle from the database and notifies its watchers. Concurrent calls
   * for the same handle share one read. Throws only when the database fails.
   */
  refresh(handle: string): Promise<Route | undefined>;

  /** Calls `listener` after every change of `handle`'s route; returns the unsubscribe. */
  watch(handle: string, listener: RouteListener): () => void;

  /** Calls `listener` after every change of any route (used to drop stale upstream pools). */
  onChange(listener: (handle: string, before: Route | undefined, after: Route | undefined) => void): void;

  readonly size: number;

  /** Every route, for indexes kept beside the table (e.g. the meter's keys). */
  values(): IterableIterator<Route>;

  /** Stops following the database. Idempotent. */
  close(): void;
}
