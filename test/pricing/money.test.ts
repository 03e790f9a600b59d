import test from 'ava';
import fc from 'fast-check';
import { exactDecimal, formatNanoUsd, formatUsd, multiplierFromDecimal, parseScaledDecimal, rateFromUsdPerMTok, roundHalfEven, roundHalfEvenBig, usdToNano } from '../../src/pricing/money.js';

test('prices parse exactly into whole picodollars per token', (t) => {
  t.is(rateFromUsdPerMTok(0.125), 125_000);
  t.is(rateFromUsdPerMTok(75), 75_000_000);
  t.is(rateFromUsdPerMTok('0.01'), 10_000);
  t.is(rateFromUsdPerMTok(0.000001), 1);
  t.is(rateFromUsdPerMTok(1e-7), null); // finer than the rate unit
  t.is(rateFromUsdPerMTok(-1), null);
  t.is(rateFromUsdPerMTok('abc'), null);
  t.is(rateFromUsdPerMTok(Number.NaN), null);
  t.is(parseScaledDecimal('1.50000000', 6), 1_500_000);
  t.is(parseScaledDecimal('2.5e1', 0), 25);
});

test('multipliers are reduced fractions, not floats', (t) => {
  t.deepEqual(multiplierFromDecimal(1.1), { num: 11, den: 10 });
  t.deepEqual(multiplierFromDecimal(0.5), { num: 1, den: 2 });
  t.deepEqual(multiplierFromDecimal('0.85'), { num: 17, den: 20 });
  t.deepEqual(multiplierFromDecimal(0), { num: 0, den: 1 });
});

test('half-to-even rounding: ties go to the even neighbour, others to the nearest', (t) => {
  t.is(roundHalfEven(55, 10), 6);
  t.is(roundHalfEven(165, 10), 16);
  t.is(roundHalfEven(164, 10), 16);
  t.is(roundHalfEven(166, 10), 17);
  t.is(roundHalfEven(5, 10), 0);
  t.is(roundHalfEven(15, 10), 2);
  t.is(roundHalfEvenBig(25n, 10n), 2n);
  t.is(roundHalfEvenBig(35n, 10n), 4n);
});

test('number and BigInt rounding agree', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 1, max: 1_000_000 }), (n, d) => roundHalfEven(n, d) === Number(roundHalfEvenBig(BigInt(n), BigInt(d)))),
  );
  t.pass();
});

test('exact decimals and nanodollar formatting', (t) => {
  t.is(exactDecimal(11n, 20n, 1_000_000_000_000n), '0.00000000000055');
  t.is(exactDecimal(1_955_000_000_000n, 1n, 1_000_000_000_000n), '1.955');
  t.is(exactDecimal(0n, 1n, 1n), '0');
  t.is(formatNanoUsd(6), '0.000000006');
  t.is(formatNanoUsd(4_521_000_000_000), '4521.000000000');
  t.is(usdToNano('0.0370005'), 37_000_500);
  t.is(usdToNano('0.0000000001'), null);
});

test('amounts read the same everywhere: the CLI formatter and the dashboard agree, and a cost is never shown as $0.0000', async (t) => {
  // The dashboard's own module, as the browser loads it.
  const web = (await import(new URL('../../src/daemon/web/format.js', import.meta.url).href)) as { money: (v: number) => string };
  t.is(formatUsd(1234.5678), '$1,234.57');
  t.is(formatUsd(12.3456), '$12.35');
  t.is(formatUsd(0.0123456), '$0.0123');
  t.is(formatUsd(0.000315), '$0.000315');
  t.is(formatUsd(0.00000105), '$0.000001');
  t.is(formatUsd(0), '$0.00');
  t.is(formatUsd(-0.0042), '-$0.0042');
  t.is(formatUsd(-0), '$0.00');
  t.is(formatUsd(-1e-12), '$0.00');
  t.is(formatUsd(null), 'n/a');
  t.is(formatUsd(null, 'unpriced'), 'unpriced');
  for (const v of [0, -0, -1e-12, 1e-6, 0.000315, 0.00999, 0.01, 0.5, 0.99994, 1, 99.995, 1234.5678, 1e7, -0.0042, -12.5]) t.is(formatUsd(v), web.money(v), String(v));
  fc.assert(fc.property(fc.double({ min: -1e7, max: 1e7, noNaN: true }), (v) => {
    const shown = formatUsd(v);
    t.is(shown, web.money(v));
    return v === 0 || Math.abs(v) < 5e-7 || /[1-9]/.test(shown);
  }));
});
