/**
 * `instances.job_id` held a Nomad job id, a name only the Nomad driver should know.
 * It becomes `runtime_ref`: whatever reference the driver reports for an instance.
 * (Plain ALTER TABLE: SQLite 3.25+ and PostgreSQL both rename in place, keeping indexes.)
 */
import type { QueryInterface } from 'sequelize';

export async function up(q: QueryInterface): Promise<void> {
  await q.sequelize.query('ALTER TABLE instances RENAME COLUMN job_id TO runtime_ref');
}

export async function down(q: QueryInterface): Promise<void> {
  await q.sequelize.query('ALTER TABLE instances RENAME COLUMN runtime_ref TO job_id');
}
