/**
 * The instance state machine. Transient states are work for the provisioning
 * worker; stable states wait for a request (API, router wake, idle sweep).
 *
 *   requested -> provisioning -> starting -> running -> stopping -> stopped
 *   any live state -> destroying -> destroyed;  any transient state -> failed(error)
 */
export const INSTANCE_STATUSES = ['requested', 'provisioning', 'starting', 'running', 'stopping', 'stopped', 'destroying', 'destroyed', 'failed'] as const;

export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];

/** States the worker acts on: each has exactly one step that moves it forward. */
export const TRANSIENT_STATUSES = ['requested', 'provisioning', 'starting', 'stopping', 'destroying'] as const;
export type TransientStatus = (typeof TRANSIENT_STATUSES)[number];

export function isTransient(status: InstanceStatus): status is TransientStatus {
  return (TRANSIENT_STATUSES as readonly string[]).includes(status);
}

export function isInstanceStatus(value: unknown): value is InstanceStatus {
  return typeof value === 'string' && (INSTANCE_STATUSES as readonly string[]).includes(value);
}

/** Requests a user or operator can make, and the states each one may start from. */
const REQUEST_SOURCES = {
  start: ['stopped', 'failed'],
  stop: ['requested', 'provisioning', 'starting', 'running', 'failed'],
  destroy: ['requested', 'provisioning', 'starting', 'running', 'stopping', 'stopped', 'failed'],
  reprovision: ['destroyed', 'failed'],
} as const satisfies Record<string, readonly InstanceStatus[]>;

/** Where each request leads. */
export const REQUEST_TARGETS = {
  start: 'starting',
  stop: 'stopping',
  destroy: 'destroying',
  reprovision: 'requested',
} as const satisfies Record<keyof typeof REQUEST_SOURCES, InstanceStatus>;

export type InstanceRequest = keyof typeof REQUEST_SOURCES;

/** States in which a request is already done (or on its way): asking again changes nothing. */
const REQUEST_SETTLED = {
  start: ['requested', 'provisioning', 'starting', 'running'],
  stop: ['stopping', 'stopped'],
  destroy: ['destroying', 'destroyed'],
  reprovision: ['requested', 'provisioning', 'starting', 'running', 'stopping', 'stopped', 'destroying'],
} as const satisfies Record<InstanceRequest, readonly InstanceStatus[]>;

/** Whether `request` may be made of an instance in `status` (and would change something). */
export function canRequest(status: InstanceStatus, request: InstanceRequest): boolean {
  return (REQUEST_SOURCES[request] as readonly InstanceStatus[]).includes(status);
}

/** Whether `request` is already satisfied in `status`. */
export function isSettled(status: InstanceStatus, request: InstanceRequest): boolean {
  return (REQUEST_SETTLED[request] as readonly InstanceStatus[]).includes(status);
}

/** States in which no instance process should run: one found running is drift. */
const NOT_RUNNING_STATUSES = ['stopped', 'destroyed', 'failed'] as const satisfies readonly InstanceStatus[];

export function shouldNotRun(status: InstanceStatus): boolean {
  return (NOT_RUNNING_STATUSES as readonly InstanceStatus[]).includes(status);
}
