import test from 'ava';
import { hours, milliseconds, minutes, seconds } from '../../jobs/duration.ts';

test('durations are integer nanoseconds', (t) => {
  t.is(milliseconds(250), 250_000_000);
  t.is(seconds(1), 1_000_000_000);
  t.is(seconds(15), 15_000_000_000);
  t.is(minutes(5), 300_000_000_000);
  t.is(hours(1), 3_600_000_000_000);
  t.is(seconds(0.1), 100_000_000);
  t.true(Number.isInteger(seconds(1 / 3)));
});

test('refuses negative, non-finite and unsafe durations', (t) => {
  for (const n of [-1, Number.NaN, Number.POSITIVE_INFINITY]) t.throws(() => seconds(n), { instanceOf: RangeError });
  t.throws(() => hours(1e6), { instanceOf: RangeError, message: /JSON number/ });
});
