/**
 * The Orchestrator seam: how the control service runs instances. Drivers: `local`
 * (child processes, development) and `nomad` (production). Nothing outside
 * control/orchestrator/ knows which driver runs; only main.ts picks one.
 *
 * Every method may throw OrchestratorError; an unreachable backend is
 * OrchestratorUnavailableError (retry later). Methods never throw for a missing
 * instance unless documented.
 */
import { PlatformError, UnavailableError } from '../errors.ts';

/** What to run for one user. Built once by buildInstanceSpec(), never by string pasting. */
export interface InstanceSpec {
  handle: string;
  /** The owning user's id: recorded in orchestrator metadata, never a secret. */
  owner: string;
  /** Container image (container drivers). */
  image: string;
  /** Shell command (local driver); null runs the reference instance. */
  command: string | null;
  /** Ports inside the instance: the gateway (4000) and the shell (3000). */
  ports: { gateway: number; shell: number };
  cpu: number;
  memoryMB: number;
  /** Host path of the user's persistent data, mounted as the instance's home. */
  volumePath: string;
  /** Non-secret environment. */
  env: Readonly<Record<string, string>>;
  /** Secret environment (tokens, keys): never logged, never in metadata. */
  secrets: Readonly<Record<string, string>>;
  /** sha256 of the whole spec, secrets included: a change means re-deploy. */
  hash: string;
}

type RuntimeState = 'running' | 'starting' | 'stopped' | 'failed' | 'missing';

export interface InstanceAddress {
  /** Base URL of the gateway (port 4000 inside), e.g. http://127.0.0.1:41234 */
  gateway: string;
  /** Base URL of the shell (port 3000 inside). */
  shell: string;
}

export interface RuntimeStatus {
  handle: string;
  state: RuntimeState;
  address?: InstanceAddress;
  /** Human-readable: why it failed, what it is waiting for. Shown to users. */
  detail: string;
  specHash?: string;
}

export interface DestroyResult {
  /** Where the user's data was archived, unless purged. */
  archivePath: string | null;
}

export interface EnsureResult {
  /**
   * The driver's own name for the instance (Nomad: the job id), recorded on the
   * instance row for operators. Stable for a handle; nothing outside the driver parses it.
   */
  ref: string;
}

export interface OrchestratorHealth {
  ok: boolean;
  detail: string;
}

export interface Orchestrator {
  readonly name: string;

  /**
   * Create or update the instance definition. Idempotent: the same spec twice is a
   * no-op. Does not by itself guarantee the instance runs (see start). Timeout: 30 s.
   * Returns the driver's reference for the instance.
   */
  ensure(spec: InstanceSpec): Promise<EnsureResult>;

  /**
   * Run the instance defined by the last ensure(). Idempotent: a running instance
   * is left alone (after a control restart it is adopted, never started twice).
   * Throws OrchestratorError('spec_missing') when ensure() was never called.
   */
  start(handle: string): Promise<void>;

  /** Stop the instance, keeping its data. Idempotent; a missing instance is a no-op. */
  stop(handle: string): Promise<void>;

  /**
   * Stop and remove the instance. Its data is archived unless purge is set.
   * Idempotent: destroying a missing instance is a no-op returning archivePath null,
   * except that a retried destroy reports the archive its first attempt made.
   */
  destroy(handle: string, options: { purge: boolean }): Promise<DestroyResult>;

  /** Current runtime state. A handle the driver never saw is { state: 'missing' }. */
  status(handle: string): Promise<RuntimeStatus>;

  /**
   * Optional: resolves once the instance runs with an address, has failed, or the
   * timeout passed (then with its current status). Drivers that can watch (Nomad's
   * blocking queries) implement it so waiting does not poll.
   */
  awaitRunning?(handle: string, timeoutMs: number, signal: AbortSignal): Promise<RuntimeStatus>;

  /**
   * Optional: calls `listener` whenever an instance changes behind the platform's back
   * (its process exited, its allocation failed or moved), with its new status, within
   * seconds. Changes the platform asked for (stop, destroy, a re-deploy) are not
   * reported. Returns the unsubscribe function. Drivers that cannot watch leave it out:
   * reconcile and the router's health checks find the change instead.
   */
  watch?(listener: (status: RuntimeStatus) => void): () => void;

  /** Every instance the driver currently runs or knows, for reconcile. */
  list(): Promise<RuntimeStatus[]>;

  /** Whether the backend is reachable; never throws. */
  health(): Promise<OrchestratorHealth>;

  /** Release resources held by the driver (not the instances: they keep running). */
  close(): Promise<void>;
}

export class OrchestratorError extends PlatformError {
  constructor(code: string, message: string, options: { detail?: string; cause?: unknown; status?: number } = {}) {
    super(code, message, { status: options.status ?? 500, detail: options.detail, cause: options.cause });
  }
}

export class OrchestratorUnavailableError extends UnavailableError {
  constructor(driver: string, detail: string, cause?: unknown) {
    super('orchestrator_unavailable', `The ${driver} orchestrator is unreachable right now; the platform retries automatically.`, { detail, cause });
  }
}
