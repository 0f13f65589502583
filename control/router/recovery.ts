/**
 * What the router does when a running instance refuses or resets a connection: ask
 * once (per instance, however many requests fail together) whether it is really down.
 * First its own /health; if that fails, the control service checks the instance with
 * the orchestrator (in this process, or over IPC from a router worker), which restarts
 * it if it crashed, and the route is read again. The answer is reused for a second, so
 * a burst of failures costs one check.
 */
import type { HealthProbe } from './health-probe.ts';
import type { RouteTable } from './route-table.ts';
import { isReady } from './wake.ts';

/** 'healthy': it answers its health check (the failure was a blip); 'checked': the control service looked and acted. */
export type RecoveryOutcome = 'healthy' | 'checked';

const REUSE_MS = 1000;
/** The longest a request waits for the control service's check: past it the route is read as it is. */
const CHECK_TIMEOUT_MS = 5000;

export class ConnectionRecovery {
  private readonly flights = new Map<string, { outcome: Promise<RecoveryOutcome>; settledAt: number | null }>();

  constructor(
    private readonly deps: {
      routes: RouteTable;
      probe: HealthProbe;
      /** Asks the control service to check the instance now; resolves once it has acted. Never rejects. */
      checkInstance(handle: string): Promise<void>;
    },
  ) {}

  recover(handle: string, now = Date.now()): Promise<RecoveryOutcome> {
    const known = this.flights.get(handle);
    if (known && (known.settledAt === null || now - known.settledAt < REUSE_MS)) return known.outcome;
    const flight: { outcome: Promise<RecoveryOutcome>; settledAt: number | null } = { outcome: this.run(handle), settledAt: null };
    this.flights.set(handle, flight);
    void flight.outcome.finally(() => {
      flight.settledAt = Date.now();
      setTimeout(() => {
        if (this.flights.get(handle) === flight) this.flights.delete(handle);
      }, REUSE_MS).unref();
    });
    return flight.outcome;
  }

  private async run(handle: string): Promise<RecoveryOutcome> {
    const { routes, probe, checkInstance } = this.deps;
    const route = routes.get(handle);
    let outcome: RecoveryOutcome = 'healthy';
    if (!route || !isReady(route) || !(await probe.healthy(handle, route.gatewayUrl!, { fresh: true }))) {
      outcome = 'checked';
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([checkInstance(handle), new Promise((resolve) => (timer = setTimeout(resolve, CHECK_TIMEOUT_MS)))]);
      clearTimeout(timer);
    }
    // Even after a blip: the address may have changed (moved by another replica) and a retry must not go to the old one.
    await routes.refresh(handle).catch(() => undefined);
    return outcome;
  }
}
