import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/events.js';
import { ConfigError, DEFAULT_HOST, DEFAULT_PORT, describeConfig, isLoopback, loadDaemonConfig, type DaemonFlags } from '../../src/daemon/config.js';
import { CONFIG_SCHEMA, validateAgainst, type ConfigProblem } from '../../src/daemon/config-schema.js';

const TOKEN = 'a-long-enough-test-token-0123456789';

function problemsOf(t: import('ava').ExecutionContext, f: () => unknown): string[] {
  const err = t.throws(f, { instanceOf: ConfigError }) as ConfigError;
  return err.problems.map((p) => `${p.where}: ${p.field}: ${p.message}`);
}

test('defaults: loopback, the documented port, home from CLAUDESCOPE_HOME', (t) => {
  const home = tempDir(t);
  const c = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: home } });
  t.is(c.home, home);
  t.is(c.listen.host, DEFAULT_HOST);
  t.is(c.listen.port, DEFAULT_PORT);
  t.is(c.auth.requireToken, false);
  t.is(c.configFile, null);
  t.deepEqual(c.metrics.featureLabelAllowlist, []);
});

test('precedence: flag over environment over file over default', (t) => {
  const home = tempDir(t);
  writeFileSync(join(home, 'config.yaml'), 'listen:\n  port: 9001\ntail:\n  poll_interval_ms: 250\nmetrics:\n  feature_label_allowlist: [search]\n');
  const env = { CLAUDESCOPE_HOME: home, CLAUDESCOPE_LISTEN_PORT: '9002', CLAUDESCOPE_POLL_INTERVAL_MS: '300' };
  const fileOnly = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: home } });
  t.is(fileOnly.configFile, join(home, 'config.yaml'));
  t.is(fileOnly.listen.port, 9001);
  t.is(fileOnly.tail.pollIntervalMs, 250);
  t.deepEqual(fileOnly.metrics.featureLabelAllowlist, ['search']);
  const withEnv = loadDaemonConfig({ env });
  t.is(withEnv.listen.port, 9002);
  t.is(withEnv.tail.pollIntervalMs, 300);
  const withFlag = loadDaemonConfig({ env, flags: { port: '9003' } });
  t.is(withFlag.listen.port, 9003);
  t.is(withFlag.tail.pollIntervalMs, 300, 'a flag overrides only its own field');
  t.is(loadDaemonConfig({ env, flags: { featureLabels: 'chat,search' } }).metrics.featureLabelAllowlist.join(), 'chat,search');
});

test('tail.batch_interval_ms: 200 ms unless set, from the file or CLAUDESCOPE_BATCH_INTERVAL_MS, 0 allowed, a negative refused', (t) => {
  const dir = tempDir(t);
  t.is(loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir } }).tail.batchIntervalMs, 200);
  writeFileSync(join(dir, 'config.yaml'), 'tail:\n  batch_interval_ms: 0\n');
  t.is(loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir } }).tail.batchIntervalMs, 0);
  t.is(loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir, CLAUDESCOPE_BATCH_INTERVAL_MS: '50' } }).tail.batchIntervalMs, 50);
  writeFileSync(join(dir, 'config.yaml'), 'tail:\n  batch_interval_ms: -5\n');
  const p = problemsOf(t, () => loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir } }));
  t.is(p.length, 1);
  t.regex(p[0]!, /:2: tail\.batch_interval_ms: expected an integer 0-60000, got -5/);
});

test('tail.max_open_files: 256 unless set, from the file, CLAUDESCOPE_MAX_OPEN_FILES or --max-open-files, 0 refused', (t) => {
  const dir = tempDir(t);
  const load = (env: Record<string, string> = {}, flags: DaemonFlags = {}) => loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir, ...env }, flags });
  t.is(load().tail.maxOpenFiles, 256);
  writeFileSync(join(dir, 'config.yaml'), 'tail:\n  max_open_files: 64\n');
  t.deepEqual(describeConfig(load()).tail, { poll_interval_ms: 1000, batch_interval_ms: 200, max_open_files: 64 });
  t.is(load({ CLAUDESCOPE_MAX_OPEN_FILES: '32' }).tail.maxOpenFiles, 32);
  t.is(load({ CLAUDESCOPE_MAX_OPEN_FILES: '32' }, { maxOpenFiles: '16' }).tail.maxOpenFiles, 16);
  t.regex(problemsOf(t, () => load({}, { maxOpenFiles: 'many' })).join('\n'), /--max-open-files/);
  writeFileSync(join(dir, 'config.yaml'), 'tail:\n  max_open_files: 0\n');
  t.deepEqual(problemsOf(t, () => load()).map((p) => p.replace(/^.*config\.yaml/, '')), [':2: tail.max_open_files: expected an integer 1-1048576, got 0']);
});

test('--config names the file; a missing one is refused', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'my.yaml');
  writeFileSync(file, 'budgets:\n  daily_usd: 5\n  per_feature:\n    search:\n      daily_usd: 1.5\n');
  const c = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir }, flags: { config: file } });
  t.is(c.budgets.dailyUsd, 5);
  t.deepEqual(c.budgets.perFeature['search'], { dailyUsd: 1.5, monthlyUsd: null });
  const p = problemsOf(t, () => loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir }, flags: { config: join(dir, 'nope.yaml') } }));
  t.regex(p[0]!, /nope\.yaml: \(file\): cannot read: no such file or folder \(ENOENT\)$/);
});

test('a malformed value is refused with file, line and field named', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'config.yaml');
  writeFileSync(file, '# claudescope\n\nretention:\n  rows_days: 30\n\nlisten:\n  port: abc\n');
  const p = problemsOf(t, () => loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir } }));
  t.deepEqual(p, [`${file}:7: listen.port: expected an integer 0-65535, got "abc"`]);
});

test('a YAML syntax error is refused with its line', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'listen:\n  port: 1\nlisten: 2\n');
  const p = problemsOf(t, () => loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir }, flags: { config: file } }));
  t.true(p.length > 0);
  t.regex(p[0]!, /^.*bad\.yaml:3: \(syntax\): Map keys must be unique$/);
});

test('an unknown field (a typo) is refused, not ignored', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'config.yaml');
  writeFileSync(file, 'listen:\n  host: 127.0.0.1\n  prot: 9000\nmetrics:\n  feature_label_allowlist:\n    - search\n    - 7\n');
  const p = problemsOf(t, () => loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir } }));
  t.is(p.length, 2);
  t.regex(p[0]!, /config\.yaml:3: listen\.prot: unknown field \(known: host, port\)/);
  t.regex(p[1]!, /config\.yaml:7: metrics\.feature_label_allowlist\[1\]: expected a non-empty string, got 7/);
});

test('bad environment values and flags name the variable and the flag', (t) => {
  const dir = tempDir(t);
  const p = problemsOf(t, () => loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir, CLAUDESCOPE_LISTEN_PORT: 'x' }, flags: { sealedFiles: 'shred' } }));
  t.deepEqual(p, [
    'CLAUDESCOPE_LISTEN_PORT: listen.port: expected an integer 0-65535, got "x"',
    '--sealed-files: retention.sealed_files: expected one of delete, archive, keep, got "shred"',
  ]);
});

test('a retention of 0 days is refused (it would delete every row at start), and unset keeps everything', (t) => {
  const dir = tempDir(t);
  const p = problemsOf(t, () => loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir, CLAUDESCOPE_RETENTION_ROLLUPS_DAYS: '0' }, flags: { retentionRowsDays: '0' } }));
  t.deepEqual(p, [
    'CLAUDESCOPE_RETENTION_ROLLUPS_DAYS: retention.rollups_days: expected a number > 0 (leave it unset (or null) to keep everything), got 0',
    '--retention-rows-days: retention.rows_days: expected a number > 0 (leave it unset (or null) to keep everything), got 0',
  ]);
  t.is(loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir }, flags: { retentionRowsDays: '0.5' } }).retention.rowsMaxAgeMs, 43_200_000);
  t.is(loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir } }).retention.rowsMaxAgeMs, undefined);
});

test('beyond loopback without a token the daemon refuses to start', (t) => {
  const dir = tempDir(t);
  const p = problemsOf(t, () => loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir }, flags: { host: '0.0.0.0' } }));
  t.is(p.length, 1);
  t.regex(p[0]!, /^--host: listen\.host: listening on 0\.0\.0\.0, beyond loopback, needs a bearer token/);
  const ok = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir, CLAUDESCOPE_TOKEN: TOKEN }, flags: { host: '0.0.0.0' } });
  t.true(ok.auth.requireToken);
  t.is(ok.auth.token, TOKEN);
});

test('a token file is read; a short token is refused; the message never shows the token', (t) => {
  const dir = tempDir(t);
  const tf = join(dir, 'token');
  writeFileSync(tf, `${TOKEN}\n`);
  const c = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir }, flags: { tokenFile: tf, requireToken: true } });
  t.is(c.auth.token, TOKEN);
  t.true(c.auth.requireToken);
  const err = t.throws(() => loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir, CLAUDESCOPE_TOKEN: 'short-secret' }, flags: { requireToken: true } }), { instanceOf: ConfigError });
  t.regex(err!.message, /at least 16 characters/);
  t.false(err!.message.includes('short-secret'));
});

test('of auth.token and auth.token_file, the one set with the higher precedence gives the token', (t) => {
  const dir = tempDir(t);
  const inFile = `file-${TOKEN}`;
  const inTokenFile = `token-file-${TOKEN}`;
  writeFileSync(join(dir, 'config.yaml'), `auth:\n  token: ${inFile}\n`);
  const tf = join(dir, 'token');
  writeFileSync(tf, `${inTokenFile}\n`);
  // A flag or variable naming a token file replaces the token written in the config file.
  t.is(loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir }, flags: { tokenFile: tf } }).auth.token, inTokenFile);
  t.is(loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir, CLAUDESCOPE_TOKEN_FILE: tf } }).auth.token, inTokenFile);
  t.is(loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir } }).auth.token, inFile);
  // And the other way round: the token in the environment replaces the file's token_file.
  writeFileSync(join(dir, 'config.yaml'), 'auth:\n  token_file: token\n');
  t.is(loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir } }).auth.token, inTokenFile);
  t.is(loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir, CLAUDESCOPE_TOKEN: inFile } }).auth.token, inFile);
  // A short token from the winning file is named by where that file was given.
  writeFileSync(tf, 'short\n');
  writeFileSync(join(dir, 'config.yaml'), `auth:\n  token: ${inFile}\n`);
  t.deepEqual(problemsOf(t, () => loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir }, flags: { tokenFile: tf } })), ['--token-file: auth.token: the token must be at least 16 characters']);
});

test('pricing and influxdb blocks pass through; rules dirs resolve next to the file', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'config.yaml'), 'pricing:\n  models:\n    x: {input: 1}\ninfluxdb:\n  url: http://127.0.0.1:8086\nrules:\n  dirs: [rules.d]\n');
  const c = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir } });
  t.deepEqual(c.pricing, { models: { x: { input: 1 } } });
  t.deepEqual(c.influxdb, { url: 'http://127.0.0.1:8086' });
  t.deepEqual(c.rules.dirs, [join(dir, 'rules.d')]);
});

test('loopback addresses', (t) => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) t.true(isLoopback(h), h);
  for (const h of ['0.0.0.0', '::', '192.168.1.2', 'example.com']) t.false(isLoopback(h), h);
});

test('rules.store chooses the store the rules read, and refuses anything else', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'config.yaml');
  writeFileSync(file, 'rules:\n  store: influxdb\n');
  t.is(loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir } }).rules.store, 'influxdb');
  writeFileSync(file, 'rules:\n  dirs: []\n');
  t.is(loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir } }).rules.store, null);
  writeFileSync(file, 'rules:\n  store: postgres\n');
  const p = problemsOf(t, () => loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir } }));
  t.is(p.length, 1);
  t.regex(p[0]!, /config\.yaml:2: rules\.store: expected one of embedded, influxdb/);
});

test('--print-config shows the settings in the config file\'s form, which a config file accepts back, and no secret', (t) => {
  const home = tempDir(t);
  const secrets = ['influx-SECRET-token', 'influx-SECRET-password', 'sk-ant-admin01-SECRETKEY', TOKEN, 'smtp-SECRET'];
  writeFileSync(join(home, 'config.yaml'), [
    'retention: { rows_days: 30, sealed_files: keep }',
    'tail: { poll_interval_ms: 250 }',
    'budgets: { daily_usd: 50, per_feature: { search: { monthly_usd: 100 } } }',
    'metrics: { feature_label_allowlist: [search] }',
    'influxdb: { url: "http://influx-user:influx-SECRET-password@127.0.0.1:8086", bucket: b, org: o, token: influx-SECRET-token, embedded_store: true }',
    'reconcile: { admin_key: sk-ant-admin01-SECRETKEY, lookback_days: 5, split_by: [workspace] }',
    'notifiers:',
    '  - { name: mail, type: email, host: 127.0.0.1, port: 25, from: a@example.com, to: [b@example.com], auth: { user: u, pass: smtp-SECRET } }',
    '',
  ].join('\n'));
  const c = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: home, CLAUDESCOPE_TOKEN: TOKEN } });
  const shown = describeConfig(c);
  const text = JSON.stringify(shown);
  for (const s of secrets) t.false(text.includes(s), `shows ${s}`);
  t.like(shown, {
    retention: { rows_days: 30, sealed_files: 'keep' }, tail: { poll_interval_ms: 250 }, auth: { token: '(set)' },
    budgets: { daily_usd: 50, per_feature: { search: { monthly_usd: 100 } } }, influxdb: { token: '(set)', bucket: 'b' },
    reconcile: { admin_key: '(set)', lookback_days: 5, split_by: ['workspace'] }, notifiers: [{ name: 'mail', type: 'email' }],
  });
  // Everything but where it came from reads back as a config file (secrets aside, which are placeholders).
  const { home: _h, config_file: _f, ...file } = shown;
  const problems: ConfigProblem[] = [];
  validateAgainst(file, CONFIG_SCHEMA, '', (p) => p, problems);
  t.deepEqual(problems, []);
});

test('notifier settings the daemon refuses name the config file and line, as every other config problem does', async (t) => {
  const { checkNotifiers, prepareAlerting } = await import('../../src/daemon/alerting.js');
  const { NotifierConfigError } = await import('../../src/notify/index.js');
  const home = tempDir(t);
  const file = join(home, 'config.yaml');
  writeFileSync(file, [
    'notifiers:',
    '  - name: w1',
    '    type: webhook',
    '    url: http://127.0.0.1:1/ok',
    '  - name: w2',
    '    type: webhook',
    '    url: http://127.0.0.1:1/x',
    '    repeat_interval: 2x',
    '    send_resolved: maybe',
    '  - { name: m, type: email, host: h, port: 25, from: a@example.com, to: [b@example.com], auth: { user: u, pass: "${CS_TEST_UNSET_PASS}" } }',
    '',
  ].join('\n'));
  const c = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: home } });
  const expected = [
    `${file}:8: notifiers[1] (w2): repeat_interval: expected a duration such as 4h or 30m, got "2x"`,
    `${file}:9: notifiers[1] (w2): send_resolved: expected true or false, got "maybe"`,
  ];
  const env = { CS_TEST_UNSET_PASS: 'p' };
  const err = await t.throwsAsync(checkNotifiers(c, env), { instanceOf: NotifierConfigError });
  t.deepEqual(err!.problems, expected);
  // The daemon's own start refuses with the very same problems.
  const atStart = await t.throwsAsync(prepareAlerting(c, env), { instanceOf: NotifierConfigError });
  t.deepEqual(atStart!.problems, expected);
  // An unset ${ENV} reference is located too.
  await t.throwsAsync(checkNotifiers(c, {}), { message: `${file}:10: notifiers[2].auth.pass: environment variable CS_TEST_UNSET_PASS is not set` });
});

test('reconcile.tolerance is a fraction: 2 (200 %, flagging nothing) is refused, saying 0.02 is 2 %', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'config.yaml');
  writeFileSync(file, 'reconcile:\n  tolerance: 2\n');
  t.deepEqual(problemsOf(t, () => loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir }, flags: { config: file } })), [
    `${file}:2: reconcile.tolerance: expected a number below 1 (a fraction: 0.02 is 2 %), got 2`,
  ]);
  writeFileSync(file, 'reconcile:\n  tolerance: 0.05\n');
  t.is(loadDaemonConfig({ env: { CLAUDESCOPE_HOME: dir }, flags: { config: file } }).reconcile?.tolerance, 0.05);
});
