/**
 * Wake on request. However many requests arrive for a sleeping instance, one start is
 * requested (single-flight here, and the guarded transition makes it one across
 * replicas too); callers then wait on the route table, not the database.
 */
import { describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { InstanceService } from '../provisioning/service.ts';
import type { Route, RouteTable } from './route-table.ts';

const WAKE_WATCH_LIMIT_MS = 10 * 60_000;

type WakeOutcome = { ready: true; route: Route } | { ready: false; route: Route | undefined; reason: 'failed' | 'timeout' | 'gone' | 'waiting' };

export class Waker {
  private inflight = new Map<string, Promise<void>>();

  constructor(
    private readonly deps: {
      routes: RouteTable;
      service: InstanceService;
      logger: Logger;
      /** Called once per start the router requested, with the seconds until it was ready (null: it was not). */
      onWoken?: (handle: string, seconds: number | null) => void;
    },
  ) {}

  /** Requests a start if the instance sleeps; idempotent, never throws (failures are logged). */
  wake(handle: string, actor: string): Promise<void> {
    const running = this.inflight.get(handle);
    if (running !== undefined) return running;
    const route = this.deps.routes.get(handle);
    if (!route || route.suspended || (route.status !== 'stopped' && route.status !== 'stopping')) return Promise.resolve();
    const request = this.requestStart(handle, actor).finally(() => this.inflight.delete(handle));
    this.inflight.set(handle, request);
    return request;
  }

  /** Wakes the instance and waits until it runs, fails, has to wait for a place (the platform is full), or `timeoutMs` passes. */
  async hold(handle: string, actor: string, timeoutMs: number): Promise<WakeOutcome> {
    void this.wake(handle, actor);
    const route = await this.until(handle, (r) => r === undefined || isReady(r) || r.status === 'failed' || r.waiting, timeoutMs);
    if (route && isReady(route)) return { ready: true, route };
    return {
      ready: false,
      route,
      reason:
        route === undefined
          ? this.deps.routes.get(handle)
            ? 'timeout'
            : 'gone'
          : route.status === 'failed'
            ? 'failed'
            : route.waiting
              ? 'waiting'
              : 'timeout',
    };
  }

  private async requestStart(handle: string, actor: string): Promise<void> {
    const { routes, service, logger, onWoken } = this.deps;
    try {
      // A stop under way must finish before the instance can start again.
      const route = await this.until(handle, (r) => r === undefined || r.status !== 'stopping', 60_000);
      if (route?.status !== 'stopped') return;
      const startedAt = Date.now();
      const { changed } = await service.request(handle, 'start', actor);
      await routes.refresh(handle);
      if (!changed) return;
      logger.info({ handle, actor }, 'waking a stopped instance on request');
      // Stay in flight until it is up: later requests join this wake instead of asking again.
      const done = await this.until(handle, (r) => r === undefined || isReady(r) || r.status === 'failed', WAKE_WATCH_LIMIT_MS);
      onWoken?.(handle, done && isReady(done) ? (Date.now() - startedAt) / 1000 : null);
    } catch (err) {
      logger.warn({ handle, err: describeError(err) }, 'could not wake instance');
    }
  }

  /** Resolves with the first route state satisfying `done` (checked now and on every change), or the last one seen at the timeout. */
  until(handle: string, done: (route: Route | undefined) => boolean, timeoutMs: number): Promise<Route | undefined> {
    const { routes } = this.deps;
    const now = routes.get(handle);
    if (done(now)) return Promise.resolve(now);
    return new Promise((resolve) => {
      let last = now;
      const finish = (route: Route | undefined) => {
        clearTimeout(timer);
        unwatch();
        resolve(route);
      };
      const unwatch = routes.watch(handle, (route) => {
        last = route;
        if (done(route)) finish(route);
      });
      const timer = setTimeout(() => finish(last), timeoutMs);
    });
  }
}

export function isReady(route: Route): boolean {
  return route.status === 'running' && route.gatewayUrl !== null && route.shellUrl !== null;
}
