/** Users from sign-ins: found by (issuer, subject); new ones created; admins from ADMIN_EMAILS. */
import crypto from 'node:crypto';
import type { Database } from '../control/db/database.ts';
import type { User } from '../control/db/models.ts';
import { ForbiddenError } from '../control/errors.ts';
import { LoginError, type Identity } from '../control/identity/oidc.ts';

export async function findOrCreateUser(db: Database, identity: Identity, adminEmails: readonly string[]): Promise<User> {
  const { User } = db.models;
  const now = new Date();
  const existing = await User.findOne({ where: { oidc_issuer: identity.issuer, oidc_subject: identity.subject } });
  if (existing) {
    if (existing.suspended_at || existing.deleted_at) throw new ForbiddenError('This account is suspended. Contact the platform operator.');
    await existing.update({ last_login_at: now, email: identity.email ?? existing.email, ...(identity.name && !existing.display_name ? { display_name: identity.name } : {}) });
    return existing;
  }
  if (!identity.email) throw new LoginError('The sign-in provider did not share an email address; the platform needs one.');
  const admin = identity.emailVerified && adminEmails.includes(identity.email);
  return User.create({
    id: `u_${crypto.randomBytes(12).toString('base64url')}`,
    handle: null,
    oidc_issuer: identity.issuer,
    oidc_subject: identity.subject,
    email: identity.email,
    display_name: identity.name,
    role: admin ? 'admin' : 'user',
    last_login_at: now,
  });
}
