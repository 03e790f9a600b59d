import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuleFileError } from '../../src/rules/rule-schema.js';
import { FIXTURE_CALL_FIELDS, FIXTURE_USAGE_FIELDS, loadRuleTestFile } from '../../src/rules/rule-test.js';
import { tempDir } from '../helpers/events.js';

const RULES = 'rules:\n  - { alert: Errors, kind: error_rate, threshold: 5% }\n';

function problems(t: import('ava').ExecutionContext, text: string): string[] {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'r.yaml'), RULES);
  const err = t.throws(() => loadRuleTestFile(text, join(dir, 't.yaml')), { instanceOf: RuleFileError }) as RuleFileError;
  return err.problems.map((p) => `${p.line}: ${p.field}: ${p.message}`);
}

test('the call fields a rule test fixture sets are fields of the event contract (event.schema.json)', (t) => {
  const schema = JSON.parse(readFileSync('src/event/event.schema.json', 'utf8')) as { $defs: Record<string, { properties: Record<string, unknown> }> };
  for (const f of FIXTURE_CALL_FIELDS) t.true(f in schema.$defs['call']!.properties, f);
  for (const f of FIXTURE_USAGE_FIELDS) t.true(f in schema.$defs['usage']!.properties, f);
});

test('a rule test file is validated as rule files are: unknown keys at every level, wrong types, call fields fixtures do not set', (t) => {
  const got = problems(t, [
    'rule_files: [r.yaml]',
    'budget: { daily: 1 }',
    'tests:',
    '  - name: x',
    '    start: 2026-01-15T12:00:00',
    '    evaltime: 1m',
    '    calls:',
    '      - { at: soon, count: many, status: fine, app: other }',
    '      - { rate_limits: { requests: { limit: 5 } } }',
    '    health: [{ at: 0m, dead_letter: 1 }]',
    '    alerts:',
    '      - { alertname: Errors, exp_alerts: [{ exp_label: { a: b } }] }',
    '',
  ].join('\n'));
  t.deepEqual(got, [
    '2: budget: unknown field (a rules test file takes rule_files, budgets, tests)',
    '6: tests[0].evaltime: unknown field (a test takes name, start, eval_interval, calls, health, alerts)',
    '5: tests[0].start: must be an ISO time with its zone, such as 2026-01-15T12:00:00Z (got "2026-01-15T12:00:00")',
    '8: tests[0].calls[0].app: a call field fixtures do not set (they set at, until, count, model, status, error_type, http_status, stop_reason, duration_ms, ttft_ms, attempts, rate_limits, input_tokens, output_tokens, feature, cost_usd)',
    '8: tests[0].calls[0].at: must be a duration such as -5m, 0m, 90s (got "soon")',
    '8: tests[0].calls[0].count: must be a whole number ≥ 0',
    '8: tests[0].calls[0].status: must be one of ok, error, aborted',
    '9: tests[0].calls[1].rate_limits.requests.remaining: is required',
    '10: tests[0].health[0].dead_letter: unknown field (a health sample takes at, tail_lag_bytes, dead_letters, emitter_dropped_events, influx_auth_failed, unreadable_event_files, descriptor_shortages)',
    '12: tests[0].alerts[0].eval_time: is required',
    '12: tests[0].alerts[0].exp_alerts[0].exp_label: unknown field (an expected firing alert takes exp_labels, exp_annotations)',
  ]);
});

test('a rule test\'s eval_interval is refused when zero, negative or below a second, the step the test runs at', (t) => {
  const withInterval = (v: string): string[] => problems(t, `rule_files: [r.yaml]\ntests:\n  - name: x\n    eval_interval: ${v}\n    alerts: [{ eval_time: 0m, alertname: Errors }]\n`);
  t.deepEqual(withInterval('0m'), ['4: tests[0].eval_interval: must be at least 1s (got "0m")']);
  t.deepEqual(withInterval('0'), ['4: tests[0].eval_interval: must be at least 1s (got 0)']);
  t.deepEqual(withInterval('500ms'), ['4: tests[0].eval_interval: must be at least 1s (got "500ms")']);
  t.deepEqual(withInterval('-1m'), ['4: tests[0].eval_interval: must be a duration such as 30s, 1m (got "-1m")']);
});

test('a valid rule test file loads with its rules; cost_usd: null (an unpriced call) is accepted', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'r.yaml'), RULES);
  const { doc, rules } = loadRuleTestFile('rule_files: [r.yaml]\nbudgets: { daily: 1, features: { chat: { daily: 0.5 } } }\ntests:\n  - calls: [{ at: -1m, cost_usd: null, feature: chat, rate_limits: { tokens: { limit: 10, remaining: 1 } } }]\n    alerts: [{ eval_time: 0m, alertname: Errors }]\n', join(dir, 't.yaml'));
  t.deepEqual(rules.map((r) => r.name), ['Errors']);
  t.is(doc.tests?.length, 1);
});
