import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { createRuleEngine } from '../../src/rules/rule-engine.js';
import { StateDb } from '../../src/rules/state-db.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { tempDir } from '../helpers/events.js';
import { MIN, T0, commit, errorCall, rulesFrom, spread } from './helpers.js';

const run = promisify(execFile);
async function cli(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], env !== undefined ? { env } : {});
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err: unknown) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('rules check names file, line and field of a malformed rule and exits non-zero', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'bad.yaml');
  writeFileSync(f, 'rules:\n  - alert: Slow\n    kind: latency\n    threshold: 10s\n    for: soon\n');
  const r = await cli(['rules', 'check', f, 'rules/claude.yaml']);
  t.is(r.code, 1);
  t.true(r.stderr.includes(`${f}:5: rules[0].for: must be a duration`), r.stderr);
  t.regex(r.stdout, /rules\/claude\.yaml: 15 rule\(s\) OK/);
});

test('rules check refuses an alert name defined in two of the files, as rules eval and the daemon do, and still says OK of the others', async (t) => {
  const dir = tempDir(t);
  const a = join(dir, 'a.yaml');
  const b = join(dir, 'b.yaml');
  writeFileSync(a, 'rules:\n  - alert: Other\n    kind: error_rate\n    threshold: 5%\n  - alert: X\n    kind: error_rate\n    threshold: 5%\n');
  writeFileSync(b, 'rules:\n  - alert: X\n    kind: latency\n    threshold: 10s\n');
  const r = await cli(['rules', 'check', a, b, a]);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.true(r.stderr.includes(`${b}:2: alert: duplicate alert name X (also in ${a}:5)`), r.stderr);
  t.true(r.stdout.includes(`${a}: 2 rule(s) OK`), r.stdout);
  t.false(r.stdout.includes(`${b}: 1 rule(s) OK`), r.stdout);
  // Named twice, a file is no duplicate of itself.
  t.false(r.stderr.split('\n').some((l) => l.startsWith(`${a}:`)), r.stderr);
});

test('rules check --json prints one JSON document: ok, each file\'s result, the rules checked and every problem with file, line and field', async (t) => {
  const dir = tempDir(t);
  const bad = join(dir, 'bad.yaml');
  const a = join(dir, 'a.yaml');
  const b = join(dir, 'b.yaml');
  writeFileSync(bad, 'rules:\n  - alert: Slow\n    kind: latency\n    threshold: 10s\n    for: soon\n');
  writeFileSync(a, 'rules:\n  - alert: X\n    kind: error_rate\n    threshold: 5%\n');
  writeFileSync(b, 'rules:\n  - alert: X\n    kind: latency\n    threshold: 10s\n');
  const r = await cli(['rules', 'check', '--json', bad, 'rules/claude.yaml', a, b, 'rules/claude.test.yaml']);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.is(r.stderr, '');
  t.deepEqual(JSON.parse(r.stdout), {
    ok: false,
    files: [
      { file: bad, result: 'invalid', rules: null },
      { file: 'rules/claude.yaml', result: 'ok', rules: 15 },
      { file: a, result: 'ok', rules: 1 },
      { file: b, result: 'invalid', rules: 1 },
      { file: 'rules/claude.test.yaml', result: 'skipped', rules: null },
    ],
    rules: 16,
    errors: [
      { file: bad, line: 5, field: 'rules[0].for', message: 'must be a duration such as 30s, 5m, 1h (got "soon")' },
      { file: b, line: 2, field: 'alert', message: `duplicate alert name X (also in ${a}:2)` },
    ],
  });
  // A file named twice has its problems listed once.
  const twice = await cli(['rules', 'check', '--json', bad, bad]);
  t.deepEqual((JSON.parse(twice.stdout) as { errors: unknown[] }).errors, [{ file: bad, line: 5, field: 'rules[0].for', message: 'must be a duration such as 30s, 5m, 1h (got "soon")' }]);
  const good = await cli(['rules', 'check', '--json', 'rules/claude.yaml']);
  t.is(good.code, 0, good.stderr);
  t.deepEqual(JSON.parse(good.stdout), { ok: true, files: [{ file: 'rules/claude.yaml', result: 'ok', rules: 15 }], rules: 15, errors: [] });
});

test('rules test runs the unit tests of the default rules', async (t) => {
  const r = await cli(['rules', 'test', 'rules/claude.test.yaml']);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /SUCCESS \(10 test\(s\)\)/);
});

test('rules test reports a failing expectation and exits non-zero', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'r.yaml'), 'rules:\n  - { alert: Errors, kind: error_rate, threshold: 5% }\n');
  writeFileSync(join(dir, 't.yaml'), 'rule_files: [r.yaml]\ntests:\n  - name: quiet\n    calls: [{ at: -1m, count: 5 }]\n    alerts:\n      - { eval_time: 0m, alertname: Errors, exp_alerts: [{ exp_labels: { severity: warning } }] }\n');
  const r = await cli(['rules', 'test', join(dir, 't.yaml')]);
  t.is(r.code, 1);
  t.regex(r.stdout, /FAILED: quiet/);
  t.regex(r.stdout, /got firing: +\(none\)/);
});

test('rules test --json prints one JSON document: ok, each file and test with its result, each failure with file, line, test, eval time, alert name, expected and got', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 't.yaml');
  const bad = join(dir, 'bad.test.yaml');
  writeFileSync(join(dir, 'r.yaml'), 'rules:\n  - { alert: Errors, kind: error_rate, threshold: 5%, annotations: { summary: "errors at {{ $value | humanizePercentage }}" } }\n');
  writeFileSync(f, [
    'rule_files: [r.yaml]',
    'tests:',
    '  - name: quiet',
    '    calls: [{ at: -1m, count: 5 }]',
    '    alerts:',
    '      - { eval_time: 0m, alertname: Errors }',
    '  - name: errors fire',
    '    calls: [{ at: -1m, count: 5, error_type: api_error }]',
    '    alerts:',
    '      - { eval_time: -2m, alertname: Errors }',
    '      - eval_time: 0m',
    '        alertname: Errors',
    '        exp_alerts:',
    '          - exp_labels: { severity: critical }',
    '  - name: summary',
    '    calls: [{ at: -1m, count: 5, error_type: api_error }]',
    '    alerts:',
    '      - eval_time: 0m',
    '        alertname: Errors',
    '        exp_alerts:',
    '          - exp_labels: { severity: warning }',
    '            exp_annotations:',
    '              summary: errors at 50%',
    '',
  ].join('\n'));
  writeFileSync(bad, 'rule_files: [r.yaml]\ntests:\n  - name: zero\n    eval_interval: 0m\n');
  const r = await cli(['rules', 'test', '--json', f, bad, 'rules/claude.test.yaml']);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.is(r.stderr, '');
  const doc = JSON.parse(r.stdout) as { files: { file: string; result: string; tests: unknown[] }[] };
  // The shipped tests, all passing, each with its line.
  const shipped = doc.files[2]!;
  t.is(shipped.result, 'ok');
  t.is(shipped.tests.length, 10);
  t.true(shipped.tests.every((x) => (x as { result: string; line: number }).result === 'ok' && (x as { line: number }).line > 1), JSON.stringify(shipped));
  t.deepEqual({ ...doc, files: doc.files.slice(0, 2) }, {
    ok: false,
    files: [
      { file: f, result: 'failed', tests: [{ name: 'quiet', line: 3, result: 'ok' }, { name: 'errors fire', line: 7, result: 'failed' }, { name: 'summary', line: 15, result: 'failed' }] },
      { file: bad, result: 'invalid', tests: [] },
    ],
    tests: 13,
    failed: 2,
    failures: [
      { file: f, line: 11, test: 'errors fire', kind: 'firing', eval_time: '0m', alertname: 'Errors', labels: null, annotation: null, expected: [{ severity: 'critical' }], got: [{ severity: 'warning' }], message: null },
      { file: f, line: 23, test: 'summary', kind: 'annotation', eval_time: '0m', alertname: 'Errors', labels: { severity: 'warning' }, annotation: 'summary', expected: 'errors at 50%', got: 'errors at 100%', message: null },
    ],
    errors: [{ file: bad, line: 4, field: 'tests[0].eval_interval', message: 'must be at least 1s (got "0m")' }],
  });
  // All passing: ok, exit 0, as in text.
  const good = await cli(['rules', 'test', '--json', 'rules/claude.test.yaml']);
  t.is(good.code, 0, good.stdout + good.stderr);
  const g = JSON.parse(good.stdout) as { ok: boolean; tests: number; failed: number; failures: unknown[]; errors: unknown[] };
  t.like(g, { ok: true, tests: 10, failed: 0, failures: [], errors: [] });
  // Text mode says the same of the same files.
  const text = await cli(['rules', 'test', f]);
  t.is(text.code, 1);
  t.true(text.stdout.includes('  FAILED: errors fire\n    alertname: Errors, time: 0m\n    expected firing: {alertname="Errors", severity="critical"}\n    got firing:      {alertname="Errors", severity="warning"}\n'), text.stdout);
  t.true(text.stdout.includes('  FAILED: summary\n    alertname: Errors, time: 0m: annotation summary\n    expected: "errors at 50%"\n    got:      "errors at 100%"\n'), text.stdout);
});

test('rules test refuses a misspelt key (exp_annotatons) with file, line and field, rather than passing without checking it', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'r.yaml'), 'rules:\n  - { alert: Errors, kind: error_rate, threshold: 5%, annotations: { summary: errors } }\n');
  writeFileSync(join(dir, 't.yaml'), [
    'rule_files: [r.yaml]',
    'tests:',
    '  - name: typo',
    '    calls: [{ at: -1m, count: 5, error_type: api_error }]',
    '    alerts:',
    '      - eval_time: 0m',
    '        alertname: Errors',
    '        exp_alerts:',
    '          - exp_labels: { severity: warning }',
    '            exp_annotatons: { summary: "totally wrong" }',
    '',
  ].join('\n'));
  const r = await cli(['rules', 'test', join(dir, 't.yaml')]);
  t.is(r.code, 1, r.stdout);
  t.notRegex(r.stdout, /SUCCESS/);
  t.true(r.stdout.includes(`${join(dir, 't.yaml')}:10: tests[0].alerts[0].exp_alerts[0].exp_annotatons: unknown field`), r.stdout);
});

test('rules test refuses a fixture call field the event contract does not have and an expected alert no loaded rule defines', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 't.yaml');
  writeFileSync(join(dir, 'r.yaml'), 'rules:\n  - { alert: Errors, kind: error_rate, threshold: 5% }\n');
  writeFileSync(f, 'rule_files: [r.yaml]\ntests:\n  - calls:\n      - { at: -1m, modle: x }\n    alerts:\n      - { eval_time: 0m, alertname: NoSuchAlert }\n');
  const r = await cli(['rules', 'test', f]);
  t.is(r.code, 1, r.stdout);
  t.notRegex(r.stdout, /SUCCESS/);
  t.true(r.stdout.includes(`${f}:4: tests[0].calls[0].modle: unknown field: no such call field in the event contract`), r.stdout);
  t.true(r.stdout.includes(`${f}:6: tests[0].alerts[0].alertname: no rule in rule_files defines alert NoSuchAlert`), r.stdout);
});

test('rules test refuses eval_interval: 0m with file, line and field instead of stepping by a second', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 't.yaml');
  writeFileSync(join(dir, 'r.yaml'), 'rules:\n  - { alert: Errors, kind: error_rate, threshold: 5% }\n');
  writeFileSync(f, 'rule_files: [r.yaml]\ntests:\n  - name: zero\n    eval_interval: 0m\n    alerts:\n      - { eval_time: 0m, alertname: Errors }\n');
  const r = await cli(['rules', 'test', f]);
  t.is(r.code, 1, r.stdout);
  t.notRegex(r.stdout, /SUCCESS/);
  t.true(r.stdout.includes(`${f}:4: tests[0].eval_interval: must be at least 1s (got "0m")`), r.stdout);
});

test('rules test of a file it cannot read says so as rules check does, with the file, and exits non-zero', async (t) => {
  const missing = join(tempDir(t), 'missing.test.yaml');
  const r = await cli(['rules', 'test', missing]);
  t.is(r.code, 1);
  t.true(r.stdout.includes(`    ${missing}:1: (file): cannot read: no such file or folder (ENOENT)\n`), r.stdout);
  // (A rule file: check passes over a name ending in .test.yaml.)
  const missingRules = missing.replace(/\.test\.yaml$/, '.yaml');
  const c = await cli(['rules', 'check', missingRules]);
  t.is(c.stderr, `${missingRules}:1: (file): cannot read: no such file or folder (ENOENT)\n`);
});

test('rules eval prints each rule with its value and state', async (t) => {
  const dir = tempDir(t);
  const db = join(dir, 'claudescope.db');
  const store = SqliteStore.open({ path: db });
  const now = Date.now();
  commit(store, [...spread(30, now - 4 * 60_000, now), ...spread(10, now - 4 * 60_000, now, errorCall())]);
  store.close();
  const r = await cli(['rules', 'eval', '--db', db, '--budget-daily', '100']);
  t.is(r.code, 0, r.stderr);
  // Values read as alert emails give them, by the rule's kind: a share as a percentage, a latency as a duration.
  t.regex(r.stdout, /ClaudeHighErrorRate \(error_rate\) \{severity=critical,model=claude-test-1\} value=25% calls=40 state=firing/);
  // The failed calls have no usage, so no price, but they leave the spend known: 30 × $0.00105 of $100.
  t.regex(r.stdout, /ClaudeDailyBudget \(budget\) \{severity=\w+,period=day,budget_usd=100\} value=0\.0315% calls=40 state=inactive/);
  t.regex(r.stdout, /ClaudeHighLatencyP99 \(latency\) \{severity=warning,model=claude-test-1\} value=80\d(\.\d+)?ms calls=40 state=inactive/);
  // --json keeps the values as numbers, unrounded.
  const json = await cli(['rules', 'eval', '--db', db, '--budget-daily', '100', '--json']);
  t.is(json.code, 0, json.stderr);
  const res = JSON.parse(json.stdout) as { rules: { rule: string; samples: { value: number | null }[] }[] };
  t.is(res.rules.find((x) => x.rule === 'ClaudeHighErrorRate')?.samples[0]?.value, 0.25);
  const spend = res.rules.find((x) => x.rule === 'ClaudeDailyBudget')?.samples[0]?.value;
  t.is(typeof spend, 'number');
  t.true(Math.abs((spend ?? 0) - (30 * 0.00105) / 100) < 1e-12, String(spend));
});

/** The environment without the settings the daemon's config loader reads (a developer's own would leak in). */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CLAUDESCOPE_') && k !== 'ANTHROPIC_ADMIN_KEY'));
  return { ...env, ...extra };
}

test('rules eval takes budgets (per feature too) and rules.dirs from the daemon\'s config file, as the daemon does; --budget-daily and --rules still win', async (t) => {
  const home = tempDir(t);
  mkdirSync(join(home, 'data'));
  mkdirSync(join(home, 'myrules'));
  const store = SqliteStore.open({ path: join(home, 'data', 'claudescope.db') });
  const now = Date.now();
  commit(store, spread(20, now - 4 * 60_000, now, { tags: { feature: 'chat' } }));
  store.close();
  writeFileSync(join(home, 'myrules', 'budgets.yaml'), [
    'rules:',
    '  - { alert: MyDaily, kind: budget, threshold: 80% }',
    '  - { alert: MyFeatureDaily, kind: budget, scope: feature, threshold: 80% }',
    '',
  ].join('\n'));
  writeFileSync(join(home, 'config.yaml'), 'budgets:\n  daily_usd: 100\n  per_feature:\n    chat: { daily_usd: 0.5 }\nrules:\n  dirs: [myrules]\n');
  const r = await cli(['rules', 'eval', '--home', home], cleanEnv());
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^evaluated 2 rule\(s\)/m);
  // 20 × $0.00105 of $100 and of $0.5.
  t.regex(r.stdout, /MyDaily \(budget\) \{severity=warning,period=day,budget_usd=100\} value=0\.021% calls=20 state=inactive/);
  t.regex(r.stdout, /MyFeatureDaily \(budget\) \{severity=warning,period=day,feature=chat,budget_usd=0\.5\} value=4\.2% calls=20/);
  // CLAUDESCOPE_CONFIG names the file as well.
  const viaEnv = await cli(['rules', 'eval', '--db', join(home, 'data', 'claudescope.db')], cleanEnv({ CLAUDESCOPE_CONFIG: join(home, 'config.yaml') }));
  t.regex(viaEnv.stdout, /MyDaily \(budget\) \{severity=warning,period=day,budget_usd=100\}/, viaEnv.stderr);
  // Flags > environment > file.
  const flags = await cli(['rules', 'eval', '--home', home, '--budget-daily', '200', '--rules', 'rules/claude.yaml'], cleanEnv({ CLAUDESCOPE_BUDGET_DAILY_USD: '150' }));
  t.is(flags.code, 0, flags.stderr);
  t.regex(flags.stdout, /ClaudeDailyBudget \(budget\) \{severity=warning,period=day,budget_usd=200\}/);
  t.regex(flags.stdout, /ClaudeFeatureDailyBudget \(budget\) \{severity=warning,period=day,feature=chat,budget_usd=0\.5\}/);
  t.notRegex(flags.stdout, /MyDaily/);
  const env = await cli(['rules', 'eval', '--home', home], cleanEnv({ CLAUDESCOPE_BUDGET_DAILY_USD: '150' }));
  t.regex(env.stdout, /MyDaily \(budget\) \{severity=warning,period=day,budget_usd=150\}/, env.stderr);
  // A rules.dirs folder that is gone is refused at the line that names it; --rules still evaluates.
  renameSync(join(home, 'myrules'), join(home, 'old-rules'));
  const gone = await cli(['rules', 'eval', '--home', home], cleanEnv());
  t.is(gone.code, 2, gone.stderr);
  t.is(gone.stderr, `claudescope: invalid configuration:\n  ${join(home, 'config.yaml')}:6: rules.dirs[0]: cannot read the rules folder ${join(home, 'myrules')}: no such file or folder (ENOENT)\n`);
  t.is((await cli(['rules', 'eval', '--home', home, '--rules', 'rules/claude.yaml'], cleanEnv())).code, 0);
});

test('rules eval refuses a bad budget (environment, flag or config file) as the daemon does, and an --at without its zone', async (t) => {
  const home = tempDir(t);
  mkdirSync(join(home, 'data'));
  SqliteStore.open({ path: join(home, 'data', 'claudescope.db') }).close();
  const envBad = await cli(['rules', 'eval', '--home', home], cleanEnv({ CLAUDESCOPE_BUDGET_DAILY_USD: 'abc' }));
  t.not(envBad.code, 0);
  t.regex(envBad.stderr, /CLAUDESCOPE_BUDGET_DAILY_USD: budgets\.daily_usd: expected a number ≥ 0, got "abc"/);
  const flagBad = await cli(['rules', 'eval', '--home', home, '--budget-daily', '-5'], cleanEnv());
  t.not(flagBad.code, 0);
  t.regex(flagBad.stderr, /--budget-daily: budgets\.daily_usd: expected a number ≥ 0, got -5/);
  writeFileSync(join(home, 'config.yaml'), 'budgets:\n  per_feature:\n    chat: { monthly_usd: lots }\n');
  const fileBad = await cli(['rules', 'eval', '--home', home], cleanEnv());
  t.not(fileBad.code, 0);
  t.regex(fileBad.stderr, /config\.yaml:3: budgets\.per_feature\.chat\.monthly_usd: expected a number ≥ 0, got "lots"/);
  writeFileSync(join(home, 'config.yaml'), '');
  const noZone = await cli(['rules', 'eval', '--home', home, '--at', '2026-01-15T12:00:00'], cleanEnv());
  t.not(noZone.code, 0);
  t.regex(noZone.stderr, /--at: "2026-01-15T12:00:00" has no time zone/);
  const noDay = await cli(['rules', 'eval', '--home', home, '--at', '2026-02-31'], cleanEnv());
  t.not(noDay.code, 0);
  t.regex(noDay.stderr, /--at: expected an ISO time/);
  const ok = await cli(['rules', 'eval', '--home', home, '--at', '2026-01-15 12:00:00+01:00'], cleanEnv());
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /at 2026-01-15T11:00:00\.000Z/);
});

test('alerts prints each value as its rule\'s kind gives it, as rules eval and alert emails do; --json keeps the exact number', async (t) => {
  const dir = tempDir(t);
  const store = SqliteStore.open({ path: join(dir, 'claudescope.db') });
  t.teardown(() => store.close());
  commit(store, [...spread(30, T0 - 4 * MIN, T0), ...spread(10, T0 - 4 * MIN, T0, errorCall())]);
  const state = join(dir, 'alerts.db');
  const engine = createRuleEngine({
    query: store, statePath: state, clock: () => T0, budgets: { daily: 100 },
    rules: rulesFrom('rules:\n  - { alert: Errors, kind: error_rate, threshold: 5% }\n  - { alert: Spend, kind: budget, period: day, threshold: 0.01% }\n  - { alert: Slow, kind: latency, threshold: 100ms }\n'),
  });
  await engine.evaluateOnce(T0);
  await engine.stop();
  const r = await cli(['alerts', '--state', state]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /FIRING +Errors \{severity=warning\} value=25% for /);
  // 30 × $0.00105 of $100: 0.000315 of the budget, which the command printed raw.
  t.regex(r.stdout, /FIRING +Spend \{severity=warning,period=day,budget_usd=100\} value=0\.0315% for /);
  t.regex(r.stdout, /FIRING +Slow \{severity=warning\} value=80\d(\.\d+)?ms for /);
  const json = await cli(['alerts', '--state', state, '--json']);
  t.is(json.code, 0, json.stderr);
  const alerts = JSON.parse(json.stdout) as Record<string, unknown>[];
  t.is(alerts.find((a) => a['rule'] === 'Errors')?.['value'], 0.25);
  const spend = alerts.find((a) => a['rule'] === 'Spend')?.['value'];
  t.true(typeof spend === 'number' && Math.abs(spend - (30 * 0.00105) / 100) < 1e-12, String(spend));
  t.false(alerts.some((a) => 'valueText' in a), 'the JSON keeps its fields');
});

test('alerts refuses a --state or --home whose folder is not there (a mistyped path), where it said there were no alerts and exited 0', async (t) => {
  const dir = tempDir(t);
  const state = join(dir, 'nope', 'alerts.db');
  for (const [args, folder] of [[['--state', state], join(dir, 'nope')], [['--state', state, '--json'], join(dir, 'nope')], [['--home', join(dir, 'nope')], join(dir, 'nope', 'data')]] as const) {
    const r = await cli(['alerts', ...args], cleanEnv());
    t.is(r.code, 2, args.join(' '));
    t.is(r.stdout, '');
    t.is(r.stderr, `claudescope: ${args[0]}: no folder ${folder}, where the alert state would be: pass the --home the daemon runs with (its state is <home>/data/alerts.db)\n`);
  }
  // A home whose daemon has not written its alert state yet has no alerts.
  mkdirSync(join(dir, 'data'));
  const quiet = await cli(['alerts', '--home', dir], cleanEnv());
  t.is(quiet.code, 0, quiet.stderr);
  t.is(quiet.stdout, 'no alerts (no alert state yet)\n');
});

test('alerts --json prints JSON (an empty list) before the daemon has written any alert state', async (t) => {
  const dir = tempDir(t);
  const json = await cli(['alerts', '--state', join(dir, 'none.db'), '--json']);
  t.is(json.code, 0, json.stderr);
  t.deepEqual(JSON.parse(json.stdout), []);
  const text = await cli(['alerts', '--state', join(dir, 'none.db')]);
  t.is(text.stdout, 'no alerts (no alert state yet)\n');
});

test('alerts reads a state file written before values were kept as text, and the daemon\'s next open migrates it in place', async (t) => {
  const dir = tempDir(t);
  const state = join(dir, 'alerts.db');
  // The state file as earlier releases wrote it: no schema version, no value_text column.
  const old = new Database(state);
  old.exec(`
    CREATE TABLE alerts (
      fingerprint TEXT PRIMARY KEY, rule TEXT NOT NULL, labels TEXT NOT NULL, annotations TEXT NOT NULL,
      state TEXT NOT NULL, value REAL, active_at INTEGER NOT NULL, fired_at INTEGER, last_active_at INTEGER NOT NULL,
      resolved_at INTEGER, repeat_interval_ms INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE notification_log (
      receiver TEXT NOT NULL, group_key TEXT NOT NULL, sent_at INTEGER NOT NULL, firing TEXT NOT NULL,
      PRIMARY KEY (receiver, group_key)
    ) WITHOUT ROWID;
    CREATE TABLE silences (
      id TEXT PRIMARY KEY, matchers TEXT NOT NULL, starts_at INTEGER NOT NULL, ends_at INTEGER NOT NULL,
      created_by TEXT NOT NULL, comment TEXT NOT NULL
    ) WITHOUT ROWID;
  `);
  const now = Date.now();
  const insert = old.prepare('INSERT INTO alerts VALUES (?, ?, ?, \'{}\', \'firing\', ?, ?, ?, ?, NULL, NULL)');
  insert.run('a1', 'Spend', JSON.stringify({ alertname: 'Spend', severity: 'warning' }), 0.000315123456, now - MIN, now - MIN, now);
  insert.run('a2', 'Tiny', JSON.stringify({ alertname: 'Tiny', severity: 'info' }), 1.23456e-7, now - MIN, now - MIN, now);
  old.prepare('INSERT INTO silences VALUES (\'s1\', \'[]\', ?, ?, \'me\', \'\')').run(now - MIN, now + 60 * MIN);
  old.close();
  // Read-only, as the daemon may not have migrated it yet: rounded, but never to 0.
  const r = await cli(['alerts', '--state', state]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /FIRING +Spend \{severity=warning\} value=0\.0003151 for /);
  t.regex(r.stdout, /FIRING +Tiny \{severity=info\} value=1\.235e-7 for /);
  const json = JSON.parse((await cli(['alerts', '--state', state, '--json'])).stdout) as { rule: string; value: number }[];
  t.deepEqual(json.map((a) => [a.rule, a.value]).sort(), [['Spend', 0.000315123456], ['Tiny', 1.23456e-7]]);
  // Opened for writing (the daemon, silence add), the file gains the table of texts and keeps its rows.
  const db = StateDb.open(state);
  t.teardown(() => db.close());
  t.is(db.db.pragma('user_version', { simple: true }), 2);
  const spend = db.loadAlerts().find((a) => a.rule === 'Spend');
  t.like(spend, { state: 'firing', value: 0.000315123456, valueText: null, activeAt: now - MIN });
  t.deepEqual(db.silences().map((s) => s.id), ['s1']);
  db.saveAlerts([{ ...spend!, valueText: '0.0315%' }], []);
  t.is(db.loadAlerts().find((a) => a.rule === 'Spend')?.valueText, '0.0315%');
  // An earlier release run on the migrated file (a downgrade) still writes its rows, and the
  // text it leaves behind a new value is not read.
  const earlier = new Database(state);
  earlier.prepare('INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, \'{}\', \'firing\', ?, ?, ?, ?, NULL, NULL)')
    .run('a1', 'Spend', JSON.stringify({ alertname: 'Spend', severity: 'warning' }), 0.0005, now - MIN, now - MIN, now);
  earlier.close();
  t.like(db.loadAlerts().find((a) => a.rule === 'Spend'), { value: 0.0005, valueText: null });
  db.saveAlerts([], ['a1']);
  t.is(db.db.prepare('SELECT COUNT(*) FROM alert_value_texts').pluck().get(), 0);
  // Opening it again applies nothing twice.
  StateDb.open(state).close();
  t.is(db.db.pragma('user_version', { simple: true }), 2);
  // A file a later release has migrated further is refused, not misread.
  db.db.pragma('user_version = 3');
  t.throws(() => StateDb.open(state), { message: /alert state schema version 3 is newer than this release knows \(2\)/ });
  t.throws(() => StateDb.open(state, { readonly: true }), { message: /newer than this release knows/ });
});

test('silence add, list and expire', async (t) => {
  const home = tempDir(t);
  const add = await cli(['silence', 'add', 'alertname=ClaudeHighErrorRate', 'model=~claude-.*', '--duration', '2h', '--comment', 'deploy', '--home', home]);
  t.is(add.code, 0, add.stderr);
  const id = add.stdout.trim();
  // Two hours less the time between the two commands, to the second: "2h" when under half a second.
  t.regex((await cli(['silence', 'list', '--home', home])).stdout, /alertname=ClaudeHighErrorRate model=~"claude-\.\*" ends in (2h|1h59m(\d+s)?) by/);
  t.is((await cli(['silence', 'expire', id, '--home', home])).code, 0);
  t.regex((await cli(['silence', 'list', '--home', home])).stdout, /no active silences/);
});

test('silence add says that an Alertmanager notifier still gets the alerts it matches (stdout stays the id alone)', async (t) => {
  const home = tempDir(t);
  const plain = await cli(['silence', 'add', 'alertname=A', '--home', home], cleanEnv());
  t.is(plain.code, 0, plain.stderr);
  t.is(plain.stderr, '', 'no Alertmanager configured: nothing to say');
  writeFileSync(join(home, 'config.yaml'), 'notifiers:\n  - { name: pager, type: alertmanager, url: "http://127.0.0.1:9093" }\n  - { name: hook, type: webhook, url: "http://127.0.0.1:9/x" }\n');
  const r = await cli(['silence', 'add', 'alertname=ClaudeHighErrorRate', 'model=~claude-.*', '--home', home], cleanEnv());
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^[0-9a-f-]{36}\n$/);
  t.regex(r.stderr, /the Alertmanager notifier pager still gets the alerts it matches: silence them in the Alertmanager too \(amtool silence add alertname=ClaudeHighErrorRate model=~"claude-\.\*"\)/);
});

test('silence expire with a unique prefix of an active silence prints the full id it expired', async (t) => {
  const home = tempDir(t);
  const first = (await cli(['silence', 'add', 'alertname=A', '--home', home])).stdout.trim();
  const second = (await cli(['silence', 'add', 'alertname=B', '--home', home])).stdout.trim();
  let prefix = first.slice(0, 4);
  while (second.startsWith(prefix)) prefix = first.slice(0, prefix.length + 1);
  const r = await cli(['silence', 'expire', prefix, '--home', home]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `expired ${first}\n`);
  const list = (await cli(['silence', 'list', '--home', home])).stdout;
  t.false(list.includes(first), list);
  t.true(list.includes(second), list);
});

test('silence list and expire in a home without alert state say so and leave no data folder behind; only add creates the state', async (t) => {
  const home = join(tempDir(t), 'mistyped-home');
  const list = await cli(['silence', 'list', '--home', home]);
  t.is(list.code, 0, list.stderr);
  t.is(list.stdout, `no active silences (no alert state yet at ${join(home, 'data', 'alerts.db')})\n`);
  const expire = await cli(['silence', 'expire', 'abc', '--home', home]);
  t.is(expire.code, 2);
  t.is(expire.stderr, `claudescope: no silence abc: no alert state at ${join(home, 'data', 'alerts.db')}\n`);
  t.false(existsSync(home));
  t.is((await cli(['silence', 'add', 'alertname=A', '--home', home])).code, 0);
  t.true(existsSync(join(home, 'data', 'alerts.db')));
});

test('silence add with a negative --duration is refused, not taken for flags (which printed the help and exited 0)', async (t) => {
  const home = tempDir(t);
  const r = await cli(['silence', 'add', 'alertname=X', '--duration', '-1h', '--home', home]);
  t.not(r.code, 0);
  t.regex(r.stderr, /--duration: not a duration: -1h/);
  t.regex((await cli(['silence', 'list', '--home', home])).stdout, /no active silences/);
});

test('rules eval refuses the influxdb settings the daemon refuses, with its message: rules.store: influxdb without a sink, an influxdb block without a url', async (t) => {
  const home = tempDir(t);
  const file = join(home, 'config.yaml');
  const env = { ...process.env, CLAUDESCOPE_HOME: home, CLAUDESCOPE_CONFIG: '' };
  writeFileSync(file, 'rules:\n  store: influxdb\n');
  const daemon = await cli(['daemon', '--print-config'], env);
  t.not(daemon.code, 0);
  t.is(daemon.stderr, `claudescope: invalid configuration:\n  ${file}:2: rules.store: influxdb needs an influxdb: block (the sink the rules read)\n`);
  const storeless = await cli(['rules', 'eval'], env);
  t.not(storeless.code, 0);
  t.is(storeless.stderr, daemon.stderr);

  writeFileSync(file, 'influxdb:\n  embedded_store: false\n');
  const noUrl = await cli(['rules', 'eval'], env);
  t.not(noUrl.code, 0);
  t.is(noUrl.stderr, `claudescope: invalid configuration:\n  ${file}:1: influxdb.url: required (e.g. http://127.0.0.1:8086)\n`);
  t.is((await cli(['report'], env)).stderr, noUrl.stderr);
});
