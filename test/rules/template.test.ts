import test from 'ava';
import { compileTemplate } from '../../src/rules/template.js';

const render = (tpl: string, value: number | null): string => compileTemplate(tpl)({ value, threshold: 0.8, labels: {} });

test('$value keeps its own digits: a large value is not rounded to another number', (t) => {
  t.is(render('{{ $value }}', 1234567), '1234567');
  t.is(render('{{ $value }}', 12.3456789), '12.3456789');
  t.is(render('{{ $value }}', 0.1 + 0.2), '0.3', 'float noise still goes');
  t.is(render('{{ $value }}', null), 'unknown');
});

test('humanize gives small values SI prefixes, as Prometheus does, instead of 0', (t) => {
  t.is(render('{{ $value | humanize }}', 0.000123), '123µ');
  t.is(render('{{ $value | humanize }}', -0.002), '-2m');
  t.is(render('{{ $value | humanize }}', 1e-9), '1n');
  t.is(render('{{ $value | humanize }}', 0), '0');
  t.is(render('{{ $value | humanize }}', 1234567), '1.23M');
  t.is(render('{{ $value | humanize }}', 12.3456), '12.35');
});

test('humanizeDuration keeps sub-millisecond and negative durations instead of 0ms or -5000ms', (t) => {
  t.is(render('{{ $value | humanizeDuration }}', 0.000123), '123µs');
  t.is(render('{{ $value | humanizeDuration }}', 0.25), '250ms');
  t.is(render('{{ $value | humanizeDuration }}', 0.0012345), '1.23ms');
  t.is(render('{{ $value | humanizeDuration }}', -5), '-5s');
  t.is(render('{{ $value | humanizeDuration }}', 12.3), '12s');
  t.is(render('{{ $value | humanizeDuration }}', 5400), '1h30m');
  t.is(render('{{ $value | humanizeDuration }}', 0), '0s');
  t.is(render('{{ $value | humanizeDuration }}', null), 'unknown');
});

test('humanizePercentage keeps a small share instead of 0%', (t) => {
  t.is(render('{{ $value | humanizePercentage }}', 0.36363636363636365), '36.36%');
  t.is(render('{{ $value | humanizePercentage }}', 0.00000123), '0.000123%');
  t.is(render('{{ $value | humanizePercentage }}', 0.0012346), '0.1235%');
  t.is(render('{{ $value | humanizePercentage }}', 0), '0%');
  t.is(render('{{ $value | humanizePercentage }}', 1.5), '150%');
  t.is(render('{{ $value | humanizePercentage }}', null), 'unknown');
});
