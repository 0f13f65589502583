/**
 * Bearer PLATFORM_SECRET on the internal API, compared in constant time.
 * Fail-closed: only PLATFORM_DEV=1 (refused in production) turns it off.
 */
import type { Context, Next } from 'koa';
import { UnauthorizedError } from '../errors.ts';
import { constantTimeEqual } from '../web/compare.ts';

export function requirePlatformSecret(secret: string, disabled: boolean, openPaths: ReadonlySet<string>) {
  return async function platformAuth(ctx: Context, next: Next): Promise<void> {
    if (disabled || openPaths.has(ctx.path)) return next();
    const header = ctx.get('authorization');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new UnauthorizedError('Missing credentials: send Authorization: Bearer <PLATFORM_SECRET>.');
    if (!constantTimeEqual(match[1]!, secret)) throw new UnauthorizedError('Invalid platform secret: check PLATFORM_SECRET.');
    ctx.state.actor = 'platform-api';
    return next();
  };
}

/** Who made an API call, for the audit log: the platform API, or the development mode without auth. */
export const actorOf = (ctx: Context): string => (ctx.state.actor as string | undefined) ?? 'platform-dev';
