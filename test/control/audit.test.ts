/** How actors are named to people: never an internal id, and an owner never learns an admin's email. */
import test from 'ava';
import { actorNames } from '../../control/audit.ts';
import { startTestPlatform } from '../helpers/platform.ts';

test('actors are named by handle; emails only for the admins, never for an owner reading their events', async (t) => {
  const platform = await startTestPlatform(t);
  await platform.db.models.User.bulkCreate([
    { id: 'u-ana', handle: 'ana', email: 'ana@example.com' },
    { id: 'u-root', handle: null, email: 'root@corp.example' },
  ]);
  const actors = [
    'site:u-ana',
    'router:u-ana',
    'router:admin u-root',
    'admin:u-root',
    'router:admin operator',
    'platform-api',
    'platform:capacity',
    'site:u-gone',
  ];
  const owner = await actorNames(platform.db, actors, { emails: false });
  t.deepEqual(Object.fromEntries(owner), {
    'site:u-ana': '@ana',
    'router:u-ana': '@ana',
    'router:admin u-root': 'an admin',
    'admin:u-root': 'an admin',
    'router:admin operator': 'the operator',
    'platform-api': 'the operator',
    'platform:capacity': 'the platform',
    'site:u-gone': 'a former user',
  });
  const admins = await actorNames(platform.db, actors, { emails: true });
  t.is(admins.get('router:admin u-root'), 'an admin (root@corp.example)');
  t.is(admins.get('site:u-ana'), '@ana');
});
