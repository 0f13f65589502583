/**
 * Seeds the router benchmark's database with Sequelize bulkCreate (as control-scale
 * does): one user and one `running` instance per handle, every instance's gateway and
 * shell at the same upstream, so the route table holds one route per user.
 */
import { openDatabase } from '../../control/db/database.ts';
import { round } from '../lib.ts';

export const SEED_DRIVER = 'memory';

export async function seedRunning(databaseUrl: string, handles: readonly string[], upstreamUrl: string): Promise<{ seedMs: number; instances: number }> {
  const started = performance.now();
  const db = await openDatabase(databaseUrl);
  try {
    const { User, Instance, InstanceEvent } = db.models;
    const now = Date.now();
    const CHUNK = 1000;
    for (let offset = 0; offset < handles.length; offset += CHUNK) {
      const slice = handles.slice(offset, offset + CHUNK);
      await db.transaction(async (transaction) => {
        await User.bulkCreate(
          slice.map((handle) => ({ id: `uid-${handle}`, handle, email: `${handle}@bench.invalid`, display_name: handle })),
          { transaction },
        );
        await Instance.bulkCreate(
          slice.map((handle, k) => ({
            id: offset + k + 1,
            handle,
            owner_id: `uid-${handle}`,
            driver: SEED_DRIVER,
            runtime_ref: `matrixos-${handle}`,
            status: 'running' as const,
            gateway_url: upstreamUrl,
            shell_url: upstreamUrl,
            requested_at: new Date(now - 3600_000),
            started_at: new Date(now - 3500_000),
            last_active_at: new Date(now - 60_000),
            spec_hash: 'bench',
          })),
          { transaction },
        );
        await InstanceEvent.bulkCreate(
          slice.map((handle, k) => ({
            instance_id: offset + k + 1,
            handle,
            kind: 'transition' as const,
            from_status: 'starting',
            to_status: 'running',
            message: 'Running: health check passed',
          })),
          { transaction },
        );
      });
    }
    if (db.dialect === 'sqlite') await db.sequelize.query('PRAGMA wal_checkpoint(TRUNCATE)');
    return { seedMs: round(performance.now() - started), instances: handles.length };
  } finally {
    await db.close();
  }
}
