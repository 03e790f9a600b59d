/** The page's number formatting (src/daemon/web/format.js), at the edges where rounding changes the unit. */
import test from 'ava';

const fmt = (await import(new URL('../../src/daemon/web/format.js', import.meta.url).href)) as { duration(ms: number | null): string };

test('a duration reads in the unit its rounded value falls in: never 1000 ms, 60.0 s or 1 min 60 s', (t) => {
  const cases: [number | null, string][] = [
    [null, '–'], [0, '0 ms'], [849.6, '850 ms'], [999.4, '999 ms'], [999.6, '1.00 s'], [1250, '1.25 s'],
    [9_994, '9.99 s'], [9_999, '10.0 s'], [59_940, '59.9 s'], [59_950, '1 min 0 s'], [59_999, '1 min 0 s'],
    [60_000, '1 min 0 s'], [125_000, '2 min 5 s'], [119_499, '1 min 59 s'], [119_700, '2 min 0 s'],
  ];
  for (const [ms, shown] of cases) t.is(fmt.duration(ms), shown, String(ms));
  // Whatever the value, the seconds of "N min S s" are 0–59 and the figures never reach the next unit.
  for (let ms = 0; ms < 200_000; ms += 7.3) {
    const s = fmt.duration(ms);
    const m = /^(\d+) min (\d+) s$/.exec(s);
    if (m) t.true(Number(m[2]) < 60, `${ms}: ${s}`);
    else if (s.endsWith(' ms')) t.true(Number(s.slice(0, -3)) < 1000, `${ms}: ${s}`);
    else t.true(Number(s.slice(0, -2)) < 60, `${ms}: ${s}`);
  }
});
