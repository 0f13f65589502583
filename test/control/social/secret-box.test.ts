import test from 'ava';
import { SecretBox, SecretBoxError } from '../../../control/social/secret-box.ts';

const KEY = 'k'.repeat(40);
const NEXT = 'n'.repeat(40);

test('a sealed secret opens to itself and shows nothing of it', (t) => {
  const box = new SecretBox(KEY, 'matrix-token');
  const token = 'syt_YWxpY2U_secretvalue_0123';
  const sealed = box.seal(token);
  t.false(sealed.includes(token));
  t.false(sealed.includes(Buffer.from(token).toString('base64url')));
  t.regex(sealed, /^mxs1\.[\w-]{8}\.[\w-]+\.[\w-]+\.[\w-]+$/);
  t.is(box.open(sealed), token);
  t.not(box.seal(token), sealed, 'a fresh IV each time');
});

test('a changed value, another purpose or another key does not open', (t) => {
  const box = new SecretBox(KEY, 'matrix-token');
  const sealed = box.seal('secret');
  const parts = sealed.split('.');
  const flipped = Buffer.from(parts[3]!, 'base64url');
  flipped[0] = flipped[0]! ^ 1;
  parts[3] = flipped.toString('base64url');
  t.throws(() => box.open(parts.join('.')), { instanceOf: SecretBoxError, message: /was changed/ });
  t.throws(() => new SecretBox(KEY, 'other-purpose').open(sealed), { instanceOf: SecretBoxError });
  t.throws(() => new SecretBox(NEXT, 'matrix-token').open(sealed), { instanceOf: SecretBoxError, message: /SECRET_KEY_PREVIOUS/ });
  t.throws(() => box.open('plaintext-token'), { instanceOf: SecretBoxError, message: /Not a sealed secret/ });
  t.throws(() => new SecretBox('short', 'x'), { instanceOf: SecretBoxError });
});

test('after a key rotation the previous key still opens, and says what to seal again', (t) => {
  const old = new SecretBox(KEY, 'matrix-token').seal('before');
  const rotated = new SecretBox(NEXT, 'matrix-token', [KEY]);
  t.is(rotated.open(old), 'before');
  t.true(rotated.needsReseal(old));
  const fresh = rotated.seal('after');
  t.false(rotated.needsReseal(fresh));
  t.is(rotated.open(fresh), 'after');
});
