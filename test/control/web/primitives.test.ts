import type { IncomingMessage } from 'node:http';
import test from 'ava';
import { TrustedProxies } from '../../../control/web/client-address.ts';
import { constantTimeEqual } from '../../../control/web/compare.ts';
import { hostCookie, isPlatformCookie, platformCookieName, readCookie, withoutPlatformCookies } from '../../../control/web/cookies.ts';
import { escapeHtml } from '../../../control/web/html.ts';
import { safeNextPath } from '../../../control/web/next-path.ts';
import { assertFormFromSameOrigin, isSameOrigin } from '../../../control/web/origin.ts';
import { signJson, signValue, verifyJson, verifySignedValue } from '../../../control/web/signed.ts';

const KEY = 'k'.repeat(40);

test('constantTimeEqual accepts only the exact value, whatever the length of the guess', (t) => {
  t.true(constantTimeEqual('mxi_abc', 'mxi_abc'));
  t.false(constantTimeEqual('mxi_abd', 'mxi_abc'));
  t.false(constantTimeEqual('mxi_ab', 'mxi_abc'));
  t.false(constantTimeEqual('', 'mxi_abc'));
  t.false(constantTimeEqual('mxi_abcé', 'mxi_abcx'), 'same string length, different byte length');
});

test('a signed value survives the round trip; tampering, another key or another purpose is refused', (t) => {
  const signed = signValue(KEY, 'instance-session', 'alice.1.o.dXNlcg.1900000000');
  t.is(verifySignedValue(KEY, 'instance-session', signed), 'alice.1.o.dXNlcg.1900000000');
  t.is(verifySignedValue(KEY, 'pending-login', signed), null, 'signed for another purpose');
  t.is(verifySignedValue('x'.repeat(40), 'instance-session', signed), null, 'another key');
  t.is(verifySignedValue(KEY, 'instance-session', signed.replace('alice', 'bob')), null, 'payload changed');
  t.is(verifySignedValue(KEY, 'instance-session', `${signed}x`), null, 'MAC changed');
  for (const broken of [undefined, null, '', '.', 'nodot', '.onlymac']) t.is(verifySignedValue(KEY, 'instance-session', broken), null);
  const json = signJson(KEY, 'pending-login', { next: '/dashboard', n: 1 });
  t.deepEqual(verifyJson(KEY, 'pending-login', json), { next: '/dashboard', n: 1 });
  t.is(verifyJson(KEY, 'instance-session', json), null);
  t.is(verifyJson(KEY, 'pending-login', signValue(KEY, 'pending-login', 'not-base64-json!')), null, 'a valid MAC over garbage is still refused');
});

test('platform cookies are host-only, HttpOnly, Lax, and __Host-/Secure over https; they are recognised to be withheld', (t) => {
  t.is(platformCookieName('site', false), 'mxos_site');
  t.is(platformCookieName('site', true), '__Host-mxos_site');
  t.is(hostCookie('mxos_site', 'v', 60.7, false), 'mxos_site=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax');
  t.is(hostCookie('__Host-mxos_site', '', 0, true), '__Host-mxos_site=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure');
  t.notRegex(hostCookie('mxos_site', 'v', 1, true), /Domain/i);
  t.is(readCookie('a=1; mxos_site=two; b=3', 'mxos_site'), 'two');
  t.is(readCookie('xmxos_site=1', 'mxos_site'), null);
  t.is(readCookie(undefined, 'mxos_site'), null);
  t.true(isPlatformCookie('__Secure-mxos_x'));
  t.false(isPlatformCookie('theme'));
  t.is(withoutPlatformCookies('theme=dark; mxos_site=s; __Host-mxos_session=x; lang=en'), 'theme=dark; lang=en');
  t.is(withoutPlatformCookies('mxos_site=s'), null);
});

const request = (remoteAddress: string, headers: Record<string, string> = {}) => ({ socket: { remoteAddress }, headers }) as unknown as IncomingMessage;

test('the client address behind trusted proxies is the first untrusted hop from the right, never what the client wrote', (t) => {
  const proxies = new TrustedProxies(['127.0.0.1', '10.0.0.0/8']);
  t.is(proxies.clientAddress(request('203.0.113.9', { 'x-forwarded-for': '1.2.3.4' })), '203.0.113.9', 'an untrusted peer cannot name a client');
  t.is(proxies.clientAddress(request('127.0.0.1', { 'x-forwarded-for': '198.51.100.7' })), '198.51.100.7');
  // A client behind cloudflared writes its own X-Forwarded-For; the proxy appends the real address.
  t.is(proxies.clientAddress(request('::ffff:127.0.0.1', { 'x-forwarded-for': '6.6.6.6, 198.51.100.7' })), '198.51.100.7');
  t.is(
    proxies.clientAddress(request('127.0.0.1', { 'x-forwarded-for': 'spoofed, 198.51.100.7, 10.1.2.3' })),
    '198.51.100.7',
    'inner trusted proxies are skipped',
  );
  t.is(proxies.clientAddress(request('127.0.0.1', { 'x-forwarded-for': 'garbage' })), 'garbage', 'the proxy vouches for what it appended');
  t.is(proxies.clientAddress(request('127.0.0.1')), '127.0.0.1');
  t.is(new TrustedProxies([]).clientAddress(request('127.0.0.1', { 'x-forwarded-for': '1.2.3.4' })), '127.0.0.1');
});

test('same-origin means Sec-Fetch-Site same-origin, or else an Origin naming this host; forms also need the CSRF token', (t) => {
  t.true(isSameOrigin({ host: 'localhost:8000', 'sec-fetch-site': 'same-origin' }));
  t.false(
    isSameOrigin({ host: 'localhost:8000', 'sec-fetch-site': 'same-site', origin: 'http://localhost:8000' }),
    'a sibling subdomain is same-site, not same-origin',
  );
  t.true(isSameOrigin({ host: 'localhost:8000', origin: 'http://localhost:8000' }));
  t.false(isSameOrigin({ host: 'localhost:8000', origin: 'http://bob.localhost:8000' }));
  t.false(isSameOrigin({ host: 'localhost:8000', origin: 'null' }));
  t.false(isSameOrigin({ host: 'localhost:8000' }), 'neither header: refused');
  const same = { host: 'localhost:8000', origin: 'http://localhost:8000' };
  t.notThrows(() => assertFormFromSameOrigin(same, 'token', 'token'));
  t.throws(() => assertFormFromSameOrigin(same, 'other', 'token'), { message: /form expired/ });
  t.throws(() => assertFormFromSameOrigin(same, null, 'token'));
  t.throws(() => assertFormFromSameOrigin({ host: 'localhost:8000', origin: 'http://evil.example' }, 'token', 'token'));
});

test('escapeHtml and safeNextPath', (t) => {
  t.is(escapeHtml(`<a href="x">'&'</a>`), '&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;');
  t.is(safeNextPath('/files/a?b=1'), '/files/a?b=1');
  t.is(safeNextPath(undefined), '/');
  for (const bad of ['//evil.example', 'https://evil.example', '/\\evil', '/a\nb', 'relative', 42])
    t.throws(() => safeNextPath(bad), { message: /next must be a path/ });
});
