import test from 'ava';
import { ValidationError } from '../../control/errors.ts';
import { assertValidHandle, checkHandle } from '../../control/handles.ts';

const invalid: Array<[unknown, string]> = [
  [undefined, 'required'],
  ['', 'required'],
  [42, 'required'],
  ['ab', 'length'],
  ['a'.repeat(33), 'length'],
  ['Alice', 'pattern'],
  ['1alice', 'pattern'],
  ['-alice', 'pattern'],
  ['alice-', 'pattern'],
  ['al_ice', 'pattern'],
  ['al.ice', 'pattern'],
  ['al ice', 'pattern'],
  ['ali\u00e7e', 'pattern'],
  ['al--ice', 'double-hyphen'],
  ['www', 'reserved'],
  ['api', 'reserved'],
  ['admin', 'reserved'],
  ['matrix', 'reserved'],
  ['proxy', 'reserved'],
  ['platform', 'reserved'],
  ['root', 'reserved'],
  ['system', 'reserved'],
];

for (const [handle, rule] of invalid) {
  test(`refuses ${JSON.stringify(handle)} for breaking the ${rule} rule`, (t) => {
    t.is(checkHandle(handle)?.rule, rule);
    const error = t.throws(() => assertValidHandle(handle), { instanceOf: ValidationError });
    t.is(error!.status, 400);
    t.regex(error!.message, /handle/);
  });
}

for (const handle of ['abc', 'alice', 'bob-smith', 'a1b2', 'x'.repeat(32), 'hacker-2026']) {
  test(`accepts ${handle}`, (t) => {
    t.is(checkHandle(handle), null);
    t.is(assertValidHandle(handle), handle);
  });
}
