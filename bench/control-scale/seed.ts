/**
 * Seeds a fresh database for control-scale through Sequelize bulkCreate, in chunks
 * of 1,000 users: users, instances (running ones at their fake addresses, some idle
 * past the timeout; the rest stopped), a few history events each, one audit entry each.
 */
import { openDatabase } from '../../control/db/database.ts';
import { round } from '../lib.ts';
import { fakeAddress, IDLE_TIMEOUT_MS, params, type SeedPlan } from './plan.ts';

export interface SeedFigures {
  seedMs: number;
  users: number;
  instances: number;
  running: number;
  idle: number;
  events: number;
  auditEntries: number;
}

/** The `driver` column of seeded rows: the name of the orchestrator the child runs with. */
const DRIVER = 'memory';

const HISTORY: Array<{ from: string | null; to: string; message: string }> = [
  { from: null, to: 'requested', message: 'Instance requested' },
  { from: 'requested', to: 'provisioning', message: 'Provisioning started' },
  { from: 'provisioning', to: 'starting', message: 'Storage and instance definition ready' },
  { from: 'starting', to: 'running', message: 'Running: health check passed' },
  { from: 'running', to: 'stopping', message: 'Stopping: idle for more than 30 min; the next visit wakes it' },
  { from: 'stopping', to: 'stopped', message: 'Stopped; data kept' },
];

export async function seed(databaseUrl: string, plan: SeedPlan): Promise<SeedFigures> {
  const started = performance.now();
  const db = await openDatabase(databaseUrl);
  try {
    const { User, Instance, InstanceEvent, AuditEntry } = db.models;
    const now = Date.now();
    const runningSet = new Set(plan.running);
    const idleSet = new Set(plan.idle);
    const CHUNK = 1000;
    let events = 0;
    for (let offset = 0; offset < plan.handles.length; offset += CHUNK) {
      const slice = plan.handles.slice(offset, offset + CHUNK);
      await db.sequelize.transaction(async (transaction) => {
        await User.bulkCreate(
          slice.map((handle) => ({ id: `uid-${handle}`, handle, email: `${handle}@bench.invalid`, display_name: handle })),
          { transaction },
        );
        await Instance.bulkCreate(
          slice.map((handle, k) => {
            const id = offset + k + 1;
            const requested = new Date(now - 7 * 24 * 3600_000 + id * 1000);
            if (runningSet.has(handle)) {
              const address = fakeAddress(handle);
              const lastActive = idleSet.has(handle)
                ? new Date(now - IDLE_TIMEOUT_MS - 3600_000 - (id % 600) * 1000) // idle well past the timeout
                : new Date(now - (id % 600) * 1000); // active within the last 10 minutes
              return {
                id,
                handle,
                owner_id: `uid-${handle}`,
                driver: DRIVER,
                runtime_ref: `matrixos-${handle}`,
                status: 'running' as const,
                gateway_url: address.gateway,
                shell_url: address.shell,
                last_active_at: lastActive,
                requested_at: requested,
                started_at: new Date(now - 2 * 3600_000 - (id % 600) * 1000),
                spec_hash: 'bench',
              };
            }
            return {
              id,
              handle,
              owner_id: `uid-${handle}`,
              driver: DRIVER,
              runtime_ref: `matrixos-${handle}`,
              status: 'stopped' as const,
              last_active_at: new Date(now - 3 * 24 * 3600_000),
              requested_at: requested,
              started_at: new Date(now - 4 * 24 * 3600_000),
              stopped_at: new Date(now - 3 * 24 * 3600_000 + 1800_000),
              spec_hash: 'bench',
            };
          }),
          { transaction },
        );
        const rows = slice.flatMap((handle, k) =>
          HISTORY.slice(0, params.eventsPerInstance).map((h) => ({
            instance_id: offset + k + 1,
            handle,
            kind: 'transition' as const,
            from_status: h.from,
            to_status: h.to,
            message: h.message,
          })),
        );
        events += rows.length;
        if (rows.length) await InstanceEvent.bulkCreate(rows, { transaction });
        await AuditEntry.bulkCreate(
          slice.map((handle) => ({ actor: 'platform-api', action: 'provision', target: handle, detail: JSON.stringify({ userId: `uid-${handle}` }) })),
          { transaction },
        );
      });
    }
    if (db.dialect === 'postgres') {
      // Explicit ids do not move the serial sequence: move it so later inserts do not collide.
      await db.sequelize.query(`SELECT setval(pg_get_serial_sequence('instances', 'id'), (SELECT MAX(id) FROM instances))`);
      await db.sequelize.query('ANALYZE');
    } else {
      await db.sequelize.query('PRAGMA wal_checkpoint(TRUNCATE)');
    }
    return {
      seedMs: round(performance.now() - started),
      users: plan.handles.length,
      instances: plan.handles.length,
      running: plan.running.length,
      idle: plan.idle.length,
      events,
      auditEntries: plan.handles.length,
    };
  } finally {
    await db.close();
  }
}
