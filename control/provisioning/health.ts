/**
 * Waits until an instance's own /health answers 200 at the address the
 * orchestrator reports. An instance is `running` only after this succeeds.
 */
import { PlatformError } from '../errors.ts';
import type { Orchestrator } from '../orchestrator/types.ts';

export class StartTimeoutError extends PlatformError {
  constructor(handle: string, timeoutMs: number, lastProblem: string) {
    super(
      'start_timeout',
      `Instance "${handle}" did not become healthy within ${Math.round(timeoutMs / 1000)} s (${lastProblem}). Check its logs, then start it again.`,
      {
        status: 504,
      },
    );
  }
}

class InstanceCrashedError extends PlatformError {
  constructor(handle: string, detail: string) {
    super('instance_crashed', `Instance "${handle}" stopped while starting: ${detail}`, { status: 502 });
  }
}

const PROBE_TIMEOUT_MS = 2000;
// Short: a woken instance is waited for by a person; a local probe costs next to nothing.
const PROBE_INTERVAL_MS = 50;
/** How often the orchestrator is asked again while /health is being probed. */
const STATUS_INTERVAL_MS = 1000;

/** Resolves with the address that answered; throws StartTimeoutError or InstanceCrashedError. */
export async function waitUntilHealthy(
  orchestrator: Orchestrator,
  handle: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ gateway: string; shell: string }> {
  const deadline = Date.now() + timeoutMs;
  const refresh = () =>
    orchestrator.awaitRunning ? orchestrator.awaitRunning(handle, Math.max(1, deadline - Date.now()), signal) : orchestrator.status(handle);
  let status = await refresh();
  let statusAt = Date.now();
  let lastProblem = 'no address yet';
  while (Date.now() < deadline) {
    signal.throwIfAborted();
    if (status.state === 'failed') throw new InstanceCrashedError(handle, status.detail);
    if (status.address) {
      try {
        const response = await fetch(`${status.address.gateway}/health`, {
          signal: AbortSignal.any([signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]),
        });
        await response.body?.cancel();
        if (response.status === 200) return status.address;
        lastProblem = `/health answered ${response.status}`;
      } catch (err) {
        signal.throwIfAborted();
        const cause = (err as Error).cause as Error | undefined;
        lastProblem = `/health not reachable: ${cause?.message ?? (err as Error).message}`;
      }
    } else {
      lastProblem = status.detail;
    }
    await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS));
    if (!status.address || Date.now() - statusAt >= STATUS_INTERVAL_MS) {
      status = await refresh();
      statusAt = Date.now();
    }
  }
  throw new StartTimeoutError(handle, timeoutMs, lastProblem);
}
