/**
 * Who gets an instance: every SIGNUP_MODE with people let in and people refused
 * (refused: told why and whom to ask, and nothing written for them), invite codes used
 * up, expired, withdrawn and raced, and existing users never locked out by a later
 * change of policy.
 */
import test from 'ava';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { freePort } from '../helpers/postgres.ts';
import { providerDance, siteClient } from '../helpers/site.ts';

async function platformWith(t: import('ava').ExecutionContext, env: Record<string, string>, dataDir?: string): Promise<TestPlatform> {
  return startTestPlatform(t, { env: { SUPPORT_CONTACT: 'help@event.test', ...env }, dataDir, keepDataDir: dataDir !== undefined });
}

/** Signs in through the development provider; the callback's answer (302 in, or the refusal page). */
async function signIn(platform: TestPlatform, email: string, invite?: string) {
  const site = siteClient(platform);
  const start = await site.send(`/login?next=%2Fsignup${invite === undefined ? '' : `&invite=${encodeURIComponent(invite)}`}`);
  const loginCookie = String(start.headers['set-cookie']![0]).split(';')[0]!;
  const callback = await providerDance(start.headers.location!, email);
  return site.send(callback.pathname + callback.search, { cookie: loginCookie, headers: { accept: 'text/html' } });
}

const userCount = (platform: TestPlatform) => platform.db.models.User.count();

test('closed: nobody new gets in, is told why and whom to ask, and nothing is written; open lets anyone in', async (t) => {
  const open = await platformWith(t, {});
  t.is((await signIn(open, 'anyone@example.com')).status, 302);

  const closed = await platformWith(t, { SIGNUP_MODE: 'closed' });
  const refused = await signIn(closed, 'late@example.com');
  t.is(refused.status, 403);
  t.regex(refused.text, /Sign-up is closed/);
  t.regex(refused.text, /help@event\.test/);
  t.is(await userCount(closed), 0);
  t.is(await closed.db.models.Session.count(), 0);
  const landing = await siteClient(closed).send('/');
  t.regex(landing.text, /Sign-up is closed; participants who already signed up can still sign in/);
});

test('allowlist: listed addresses and domains get in, others are refused with nothing written; admins always get in', async (t) => {
  const platform = await platformWith(t, {
    SIGNUP_MODE: 'allowlist',
    SIGNUP_ALLOWLIST: 'alice@example.com, @corp.test',
    ADMIN_EMAILS: 'root@example.com',
  });
  t.is((await signIn(platform, 'alice@example.com')).status, 302);
  t.is((await signIn(platform, 'bob@corp.test')).status, 302);
  t.is((await signIn(platform, 'root@example.com')).status, 302);
  for (const email of ['eve@evil.test', 'mallory@corp.test.evil.test', 'alice@example.com.evil.test']) {
    const refused = await signIn(platform, email);
    t.is(refused.status, 403, email);
    t.regex(refused.text, /is not on this event(&#39;|')s list/);
  }
  t.deepEqual(
    (await platform.db.models.User.findAll({ order: [['email', 'ASC']] })).map((u) => u.email),
    ['alice@example.com', 'bob@corp.test', 'root@example.com'],
  );
});

test('a later policy change never locks out existing users', async (t) => {
  // The same provider (its issuer includes its port) across both runs, as in production.
  const idp = { DEV_IDP_PORT: String(await freePort()) };
  const first = await platformWith(t, idp);
  const dataDir = first.dataDir;
  t.is((await signIn(first, 'early@example.com')).status, 302);
  await first.close();
  const closed = await platformWith(t, { ...idp, SIGNUP_MODE: 'closed' }, dataDir);
  const again = await signIn(closed, 'early@example.com');
  t.is(again.status, 302, 'the early participant still signs in');
  t.is((await signIn(closed, 'new@example.com')).status, 403);
  t.is(await userCount(closed), 1);
});

test('invite: a code admits as many people as it allows, then is used up; expired, withdrawn and unknown codes say so', async (t) => {
  const platform = await platformWith(t, { SIGNUP_MODE: 'invite' });
  const create = async (json: Record<string, unknown>) =>
    (await (await platform.api('/invites', { method: 'POST', json })).json()) as { invite: { id: string }; code: string; url: string };
  const twice = await create({ uses: 2, note: 'table 3' });
  t.regex(twice.code, /^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
  t.true(twice.url.endsWith(`/login?invite=${encodeURIComponent(twice.code)}&next=%2Fsignup`));

  const none = await signIn(platform, 'nocode@example.com');
  t.is(none.status, 403);
  t.regex(none.text, /Sign-up is by invitation/);
  t.is((await signIn(platform, 'one@example.com', twice.code.toLowerCase())).status, 302, 'case and dashes do not matter');
  t.is((await signIn(platform, 'two@example.com', twice.code)).status, 302);
  const third = await signIn(platform, 'three@example.com', twice.code);
  t.is(third.status, 403);
  t.regex(third.text, /used as many times as it allows/);
  t.is((await signIn(platform, 'one@example.com')).status, 302, 'a user who signed up with a code needs none again');

  const withdrawn = await create({ uses: 5 });
  t.is((await platform.api(`/invites/${withdrawn.invite.id}`, { method: 'DELETE' })).status, 200);
  t.regex((await signIn(platform, 'w@example.com', withdrawn.code)).text, /withdrawn/);
  t.regex((await signIn(platform, 'u@example.com', 'ABCD-EFGH-JKMN-PQRS')).text, /not one of ours/);

  const expiring = await create({ uses: 5, expiresInDays: 1 });
  await platform.db.models.Invite.update({ expires_at: new Date(Date.now() - 1000) }, { where: { id: expiring.invite.id } });
  t.regex((await signIn(platform, 'x@example.com', expiring.code)).text, /expired/);

  t.deepEqual(
    (await platform.db.models.User.findAll({ order: [['email', 'ASC']] })).map((u) => [u.email, u.invite_id]),
    [
      ['one@example.com', twice.invite.id],
      ['two@example.com', twice.invite.id],
    ],
  );
  const list = (await (await platform.api('/invites')).json()) as { invites: Array<{ id: string; state: string; uses: number }> };
  t.like(
    list.invites.find((i) => i.id === twice.invite.id),
    { state: 'used', uses: 2 },
  );
  t.like(
    list.invites.find((i) => i.id === withdrawn.invite.id),
    { state: 'revoked', uses: 0 },
  );
  t.like(
    list.invites.find((i) => i.id === expiring.invite.id),
    { state: 'expired', uses: 0 },
  );
  t.is((await platform.api('/invites', { method: 'POST', json: { uses: 0 } })).status, 400);
  t.is((await platform.api('/invites', { method: 'POST', json: { expiresInDays: 400 } })).status, 400);
});

test('invite: ten people racing for a three-use code: exactly three get in', async (t) => {
  const platform = await platformWith(t, { SIGNUP_MODE: 'invite' });
  const { code, invite } = (await (await platform.api('/invites', { method: 'POST', json: { uses: 3 } })).json()) as { code: string; invite: { id: string } };
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => signIn(platform, `racer${i}@example.com`, code)));
  t.is(answers.filter((a) => a.status === 302).length, 3);
  t.is(answers.filter((a) => a.status === 403).length, 7);
  t.is(await userCount(platform), 3);
  t.is((await platform.db.models.Invite.findByPk(invite.id))!.uses, 3);
});

test('admins make and withdraw invites on the admin page; the code is shown once, on the answer', async (t) => {
  const platform = await platformWith(t, { SIGNUP_MODE: 'invite', ADMIN_EMAILS: 'root@example.com' });
  const site = siteClient(platform);
  const { cookie } = await site.signIn('root@example.com');
  const page = await site.send('/admin/invites', { cookie });
  t.is(page.status, 200);
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)![1]!;
  const made = await site.send('/admin/invites', { cookie, form: { csrf, uses: '30', days: '7', note: 'hackathon <b>room</b> 2' } });
  t.is(made.status, 201);
  const code = /id="invite-code">([^<]+)</.exec(made.text)![1]!;
  t.regex(made.text, /hackathon &#60;b&#62;room&#60;\/b&#62; 2/);
  const again = await site.send('/admin/invites', { cookie });
  t.false(again.text.includes(code), 'the list never shows a code');
  const [row] = await platform.db.models.Invite.findAll();
  t.is(row!.max_uses, 30);
  t.false(JSON.stringify(row!.toJSON()).includes(code), 'only its hash is stored');
  t.is((await site.send(`/admin/invites/${row!.id}/revoke`, { cookie, form: { csrf } })).status, 303);
  t.truthy((await platform.db.models.Invite.findByPk(row!.id))!.revoked_at);
  const audit = await platform.db.models.AuditEntry.findAll({ where: { target: row!.id } });
  t.deepEqual(audit.map((a) => a.action).sort(), ['invite.create', 'invite.revoke']);
});
