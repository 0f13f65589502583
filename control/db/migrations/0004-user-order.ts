/** The admin list pages users newest first: an index, so a page is not a sort of every user. */
import type { QueryInterface } from 'sequelize';

export async function up(q: QueryInterface): Promise<void> {
  await q.addIndex('users', ['created_at', 'id'], { name: 'users_created' });
}

export async function down(q: QueryInterface): Promise<void> {
  await q.removeIndex('users', 'users_created');
}
