/** The wire shape of an instance. One place, so the API and the CLI agree. */
import type { Instance } from '../db/models.ts';
import type { InstanceStatus } from './states.ts';

export interface InstanceView {
  handle: string;
  owner: string;
  status: InstanceStatus;
  driver: string;
  /** The orchestrator driver's own name for the instance (Nomad: the job id). */
  runtimeRef: string | null;
  address: { gateway: string; shell: string } | null;
  lastActiveAt: string | null;
  requestedAt: string | null;
  startedAt: string | null;
  stoppedAt: string | null;
  attempts: number;
  lastError: string | null;
  archivePath: string | null;
  createdAt: string;
  updatedAt: string;
}

const iso = (value: Date | string | null | undefined) => (value ? new Date(value).toISOString() : null);

export function instanceView(row: Instance): InstanceView {
  return {
    handle: row.handle,
    owner: row.owner_id,
    status: row.status,
    driver: row.driver,
    runtimeRef: row.runtime_ref ?? null,
    address: row.gateway_url && row.shell_url ? { gateway: row.gateway_url, shell: row.shell_url } : null,
    lastActiveAt: iso(row.last_active_at),
    requestedAt: iso(row.requested_at),
    startedAt: iso(row.started_at),
    stoppedAt: iso(row.stopped_at),
    attempts: row.attempts,
    lastError: row.last_error ?? null,
    archivePath: row.archive_path ?? null,
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}
