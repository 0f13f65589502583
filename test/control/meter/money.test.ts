import test from 'ava';
import { formatUsd, formatUsdUp, parseUsd } from '../../../control/meter/money.ts';

test('dollar amounts parse exactly into micro-dollars, or not at all', (t) => {
  t.is(parseUsd('5'), 5_000_000);
  t.is(parseUsd(' 2.50 '), 2_500_000);
  t.is(parseUsd('0'), 0);
  t.is(parseUsd('0.000001'), 1);
  t.is(parseUsd('0.1'), 100_000, 'no float error: 0.1 is exactly 100,000 µ$');
  for (const bad of ['', '-1', '1e3', '0.0000001', 'five', '1,5', '.5', 'NaN', 'Infinity', '１']) t.is(parseUsd(bad), null, bad);
});

test('amounts shown never overstate what is left, and a cost is never understated', (t) => {
  t.is(formatUsd(4_999_999), '4.99');
  t.is(formatUsd(0), '0.00');
  t.is(formatUsd(1_234_567, 4), '1.2345');
  t.is(formatUsd(99, 4), '0.0000');
  t.is(formatUsd(-1_500_000), '-1.50');
  t.is(formatUsdUp(1), '0.01');
  t.is(formatUsdUp(1_230_001), '1.24');
  t.is(formatUsdUp(1_230_000), '1.23');
});
