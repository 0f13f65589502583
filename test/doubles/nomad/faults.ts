/**
 * Faults a test can switch on: failed responses, added latency, placement
 * failures, crashing allocations, image pulls that fail. (down()/up() live
 * with the HTTP front, since they close the listener.)
 */

export interface InjectedFailure {
  status: number;
  body: string;
}

/** Whether a fault given as a job ID or instance handle applies to `jobId`. */
export function jobMatches(key: string | ((jobId: string) => boolean), jobId: string): boolean {
  if (typeof key === 'function') return key(jobId);
  return jobId === key || jobId.endsWith(`-${key}`) || jobId.startsWith(`${key}-`) || jobId.includes(`-${key}-`);
}

/** Whether an image fault ("nginx" or "nginx:1.27") covers a task's image. */
function imageMatches(fault: string, image: string): boolean {
  if (fault === image) return true;
  const lastSegment = fault.split('/').pop() ?? fault;
  return !lastSegment.includes(':') && !fault.includes('@') && image.startsWith(`${fault}:`);
}

export class Faults {
  private failures: InjectedFailure[] = [];
  slowMs = 0;
  placement: { reason: string } | null = null;
  private crashes: Array<{ key: string | ((jobId: string) => boolean); message: string }> = [];
  private pulls = new Map<string, string | undefined>();

  failNext(n: number, status: number, body: string): void {
    for (let i = 0; i < n; i += 1) this.failures.push({ status, body });
  }

  /** The injected failure for this request, if any is queued. */
  takeFailure(): InjectedFailure | undefined {
    return this.failures.shift();
  }

  crashNext(key: string | ((jobId: string) => boolean), message: string): void {
    this.crashes.push({ key, message });
  }

  /** Consumes and returns the crash message queued for this job, if any. */
  takeCrash(jobId: string): string | null {
    const idx = this.crashes.findIndex((c) => jobMatches(c.key, jobId));
    if (idx < 0) return null;
    const [crash] = this.crashes.splice(idx, 1);
    return crash ? crash.message : null;
  }

  imagePullFailure(image: string, message: string | undefined | false): void {
    if (message === false) this.pulls.delete(image);
    else this.pulls.set(image, message);
  }

  /** The DriverError of a failed pull of `image`, or null when pulls of it succeed. */
  pullError(image: string): string | null {
    for (const [fault, message] of this.pulls) {
      if (!imageMatches(fault, image)) continue;
      return `Failed to pull \`${image}\`: ${message ?? `Error response from daemon: manifest for ${image} not found: manifest unknown: manifest unknown`}`;
    }
    return null;
  }

  clear(): void {
    this.failures = [];
    this.slowMs = 0;
    this.placement = null;
    this.crashes = [];
    this.pulls.clear();
  }
}
