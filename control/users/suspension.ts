/**
 * Suspending a user, as a whole: their sessions end and their instances refuse the
 * owner's token and cookie on every router (UserStore.setSuspended, one transaction),
 * then their instances are stopped. While suspended nothing starts them (the service
 * refuses); unsuspending restores access and the next visit wakes the instance.
 */
import { PlatformError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { InstanceService } from '../provisioning/service.ts';
import type { UserStore } from './store.ts';

export async function setUserSuspended(
  deps: { users: UserStore; service: InstanceService; logger: Logger },
  userId: string,
  suspended: boolean,
  actor: string,
): Promise<{ sessionsEnded: number; handles: string[] }> {
  const result = await deps.users.setSuspended(userId, suspended, actor);
  if (suspended) {
    for (const handle of result.handles) {
      try {
        await deps.service.request(handle, 'stop', actor);
      } catch (err) {
        // Busy or destroyed: access is refused already, and nothing can start it again.
        if (!(err instanceof PlatformError) || err.status >= 500) throw err;
        deps.logger.warn({ handle, err: err.message }, 'suspended the owner; the instance was not stopped');
      }
    }
  }
  return result;
}
