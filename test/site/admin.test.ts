import test from 'ava';
import { startTestPlatform } from '../helpers/platform.ts';
import { siteClient } from '../helpers/site.ts';

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)![1]!;

test('admins see users and instances, search and page them, and act on them with every action audited', async (t) => {
  const platform = await startTestPlatform(t, { env: { ADMIN_EMAILS: 'root@example.com' } });
  const site = siteClient(platform);
  for (let i = 0; i < 60; i++) await platform.db.models.User.create({ id: `seed-${i}`, handle: null, email: `seed${String(i).padStart(2, '0')}@example.com` });
  await (await platform.api('/containers/provision', { method: 'POST', json: { handle: 'erin', userId: 'u-erin' } })).body?.cancel();
  await platform.db.models.User.update({ email: 'erin@example.com' }, { where: { id: 'u-erin' } });
  await platform.waitFor('erin', 'running');

  const user = await site.signIn('plain@example.com');
  t.is((await site.send('/admin/users', { cookie: user.cookie })).status, 403);
  const { cookie } = await site.signIn('root@example.com');
  const first = await site.send('/admin/users', { cookie });
  t.is(first.status, 200);
  t.regex(first.text, /63 users/);
  t.regex(first.text, /Page 1 of 2/);
  t.is((first.text.match(/<tr><td data-label="Handle">/g) ?? []).length, 50);
  const second = await site.send('/admin/users?page=2', { cookie });
  t.is((second.text.match(/<tr><td data-label="Handle">/g) ?? []).length, 13);
  const found = await site.send('/admin/users?q=eri', { cookie });
  t.regex(found.text, /1 user;/);
  t.regex(found.text, /erin@example.com/);
  const wildcard = (await site.send('/admin/users?q=%25', { cookie })).text;
  t.is(wildcard.match(/(\d+) users?;/)![1], '0', 'LIKE wildcards are searched literally');
  t.regex(wildcard, /<p id="no-match">No user's handle or email starts with "%"\.<\/p>/, 'an empty search says so');
  t.is((await site.send('/admin/users?page=0', { cookie })).status, 400);

  const csrf = csrfOf(first.text);
  const post = (form: Record<string, string>) => site.send('/admin/users/u-erin', { cookie, form: { csrf, ...form } });
  t.is((await post({ action: 'stop' })).status, 303);
  await platform.waitFor('erin', 'stopped');
  const refused = await post({ action: 'destroy', confirm: 'wrong' });
  t.is(refused.status, 400);
  t.regex(
    refused.text,
    /<p class="error flash" role="alert">To destroy, type the handle &#34;erin&#34; in the confirmation box\.<\/p>/,
    'an inline form error',
  );
  t.regex(refused.text, /<table class="cards">/, 'on the same page, the table still there');
  t.is((await platform.service.get('erin')).status, 'stopped');
  t.is((await site.send('/admin/users/u-erin', { cookie, form: { csrf: 'forged', action: 'start' } })).status, 403);
  t.is((await post({ action: 'make-admin' })).status, 303);
  t.is((await platform.db.models.User.findByPk('u-erin'))!.role, 'admin');
  t.is((await post({ action: 'suspend' })).status, 303);
  t.truthy((await platform.db.models.User.findByPk('u-erin'))!.suspended_at);
  const audit = await site.send('/admin/audit', { cookie });
  for (const action of ['stop', 'set_role', 'suspend']) t.regex(audit.text, new RegExp(`<td>${action}</td>`));
  const root = (await platform.db.models.User.findOne({ where: { email: 'root@example.com' } }))!;
  t.is((await site.send(`/admin/users/${root.id}`, { cookie, form: { csrf, action: 'suspend' } })).status, 400, 'no suspending yourself');
  // ... and your own row does not offer it (nor a change of your own role).
  const mine = (await site.send('/admin/users?q=root', { cookie })).text;
  t.notRegex(
    mine,
    new RegExp(`action="/admin/users/${root.id}"[^>]*>[^<]*<input[^>]*><input[^>]*><input type="hidden" name="action" value="(suspend|make-user)"`),
  );
  t.regex(mine, /value="revoke-sessions"/);
});

test('the community lists people with a handle, without those who chose to hide', async (t) => {
  const platform = await startTestPlatform(t);
  const site = siteClient(platform);
  await platform.db.models.User.bulkCreate([
    { id: 'a', handle: 'anna', display_name: 'Anna' },
    { id: 'b', handle: 'boris', hidden: true },
    { id: 'c', handle: 'cleo', suspended_at: new Date() },
  ]);
  const { cookie } = await site.signIn('dora@example.com');
  const page = await site.send('/community', { cookie });
  t.regex(page.text, /@anna<\/a> · Anna/);
  t.notRegex(page.text, /boris|cleo/);
  await platform.db.models.User.update({ handle: 'dora' }, { where: { email: 'dora@example.com' } });
  t.regex((await site.send('/community', { cookie })).text, /@dora/);
  const hide = await site.send('/community/visibility', { cookie, form: { csrf: csrfOf(page.text), hidden: '1' } });
  t.is(hide.status, 303);
  t.notRegex((await site.send('/community', { cookie })).text, /@dora/);
  t.is((await site.send('/community')).status, 302, 'signed-in users only');
});
