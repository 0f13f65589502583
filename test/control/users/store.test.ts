import { type Database, openDatabase } from '../../../control/db/database.ts';
import { InstanceService } from '../../../control/provisioning/service.ts';
import { InstanceStore } from '../../../control/provisioning/store.ts';
import { SiteSessions } from '../../../control/users/sessions.ts';
import { UserStore } from '../../../control/users/store.ts';
import { databaseTargets } from '../../helpers/databases.ts';

const targets = await databaseTargets();

const identity = (email: string) => ({ issuer: 'https://idp.example', subject: `sub-${email}`, email, emailVerified: true, name: email.split('@')[0]! });

async function open(t: import('ava').ExecutionContext, target: (typeof targets)[number]): Promise<{ db: Database; users: UserStore }> {
  const created = await target.create();
  t.teardown(created.cleanup);
  const db = await openDatabase(created.url);
  t.teardown(() => db.close());
  return { db, users: new UserStore(db, new SiteSessions(db, 3_600_000), new InstanceStore(db)) };
}

/** Makes the next audit insert fail, as a full disk or a lost connection would. */
function breakAudit(db: Database): void {
  db.models.AuditEntry.addHook('beforeCreate', 'broken', () => {
    throw new Error('audit log unavailable');
  });
}

for (const target of targets) {
  target.test(`[${target.name}] sign-in creates a user once, finds them again, and makes listed verified emails admins`, async (t) => {
    const { users } = await open(t, target);
    const first = await users.signIn(identity('root@example.com'), ['root@example.com']);
    const again = await users.signIn(identity('root@example.com'), ['root@example.com']);
    t.is(again.id, first.id);
    t.is(first.role, 'admin');
    t.is((await users.signIn(identity('someone@example.com'), ['root@example.com'])).role, 'user');
    t.is((await users.page({ q: '', offset: 0, limit: 10 })).total, 2);
  });

  target.test(`[${target.name}] the admin search is a prefix search where % and _ are plain characters`, async (t) => {
    const { users } = await open(t, target);
    for (const email of ['a_b@example.com', 'axb@example.com', 'a%b@example.com', 'abc@example.com']) await users.signIn(identity(email), []);
    const found = async (q: string) => (await users.page({ q, offset: 0, limit: 10 })).users.map((u) => u.email).sort();
    t.deepEqual(await found('a_b'), ['a_b@example.com']);
    t.deepEqual(await found('a%'), ['a%b@example.com']);
    t.deepEqual(await found('ab'), ['abc@example.com']);
    t.deepEqual(await found("a'b"), [], 'quotes are data, not SQL');
    t.is((await users.page({ q: 'a', offset: 0, limit: 10 })).total, 4);
  });

  target.test(`[${target.name}] suspending ends every session and is audited; an admin change and its audit entry commit together or not at all`, async (t) => {
    const { db, users } = await open(t, target);
    const erin = await users.signIn(identity('erin@example.com'), []);
    const session = await users.sessions.create(erin.id);
    await users.sessions.create(erin.id);
    t.truthy(await users.sessions.find(session.token));

    t.is((await users.setSuspended(erin.id, true, 'admin:root')).sessionsEnded, 2);
    t.is(await users.sessions.find(session.token), null);
    t.truthy((await users.findById(erin.id))!.suspended_at);
    t.truthy(await db.models.AuditEntry.findOne({ where: { action: 'suspend', actor: 'admin:root' } }));

    breakAudit(db);
    await t.throwsAsync(users.setRole(erin.id, 'admin', 'admin:root'), { message: 'audit log unavailable' });
    t.is((await users.findById(erin.id))!.role, 'user', 'the role change rolled back with its audit entry');
    await t.throwsAsync(users.setSuspended(erin.id, false, 'admin:root'));
    t.truthy((await users.findById(erin.id))!.suspended_at, 'still suspended');
  });

  target.test(`[${target.name}] an instance request and its audit entry commit together or not at all`, async (t) => {
    const { db } = await open(t, target);
    const store = new InstanceStore(db);
    const service = new InstanceService(db, store, 'local');
    await service.provision({ handle: 'alice', userId: 'u-alice' }, 'platform-api');
    t.truthy(await db.models.AuditEntry.findOne({ where: { action: 'provision', target: 'alice' } }));
    breakAudit(db);
    await t.throwsAsync(service.request('alice', 'destroy', 'admin:root'), { message: 'audit log unavailable' });
    t.is((await store.findByHandle('alice'))!.status, 'requested', 'no state change without its audit entry');
    await t.throwsAsync(service.rotateAccess('alice', 'admin:root'));
    t.is((await store.findByHandle('alice'))!.access_generation, 1, 'no rotation without its audit entry');
  });
}
