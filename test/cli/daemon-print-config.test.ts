/**
 * `claudescope daemon --print-config` refuses the settings the daemon refuses at start (notifiers,
 * pricing, rule files, the influxdb block), with the same message (the CLI as a child process,
 * through tsx).
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/events.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function cli(args: string[], home: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, CLAUDESCOPE_HOME: home, CLAUDESCOPE_CONFIG: '' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * `daemon --print-config` refuses the home's configuration, printing nothing, and a daemon
 * started on it refuses it with the same message (before it listens or locks anything); returns
 * that message.
 */
function refusedAlike(t: ExecutionContext, home: string): string {
  const printed = cli(['daemon', '--print-config'], home);
  t.not(printed.code, 0);
  t.is(printed.stdout, '');
  const started = cli(['daemon', '--port', '1'], home);
  t.is(started.code, printed.code);
  t.is(started.stderr, printed.stderr);
  return printed.stderr;
}

test('daemon --print-config exits non-zero on notifier settings the daemon refuses at start, with the same message', (t) => {
  const home = tempDir(t);
  const file = join(home, 'config.yaml');
  writeFileSync(file, [
    'notifiers:',
    '  - name: w2',
    '    type: webhook',
    '    url: http://127.0.0.1:1/hook',
    '    repeat_interval: 2x',
    '    send_resolved: maybe',
    '',
  ].join('\n'));
  t.is(refusedAlike(t, home), [
    'claudescope: invalid notifier settings:',
    `  ${file}:5: notifiers[0] (w2): repeat_interval: expected a duration such as 4h or 30m, got "2x"`,
    `  ${file}:6: notifiers[0] (w2): send_resolved: expected true or false, got "maybe"`,
    '',
  ].join('\n'));

  writeFileSync(file, 'notifiers:\n  - { name: w2, type: webhook, url: "http://127.0.0.1:1/hook", repeat_interval: 2h, send_resolved: false }\n');
  const fine = cli(['daemon', '--print-config'], home);
  t.is(fine.code, 0, fine.stderr);
  t.like(JSON.parse(fine.stdout), { config_file: file, notifiers: [{ name: 'w2', type: 'webhook' }] });
});

test('daemon --print-config also refuses a pricing block and a rules folder the daemon refuses, as the daemon does', (t) => {
  const home = tempDir(t);
  const file = join(home, 'config.yaml');
  writeFileSync(file, 'pricing:\n  providers:\n    bedrock:\n      multiplier: cheap\n');
  t.regex(refusedAlike(t, home), /pricing\.providers\.bedrock\.multiplier: expected a multiplier/);

  const rules = join(home, 'rules');
  mkdirSync(rules);
  writeFileSync(join(rules, 'bad.yaml'), 'rules:\n  - alert: X\n    kind: no_such_kind\n    window: 5m\n');
  writeFileSync(file, `rules:\n  dirs: [${JSON.stringify(rules)}]\n`);
  t.regex(refusedAlike(t, home), /bad\.yaml:3: .*kind/);
});

test('daemon --print-config also refuses an influxdb block the daemon refuses, and both name its file and line', (t) => {
  const home = tempDir(t);
  const file = join(home, 'config.yaml');
  // An empty block: the sink is configured, but it has no address.
  writeFileSync(file, 'listen:\n  port: 9471\ninfluxdb: {}\n');
  t.is(refusedAlike(t, home), `claudescope: invalid configuration:\n  ${file}:3: influxdb.url: required (e.g. http://127.0.0.1:8086)\n`);

  writeFileSync(file, 'influxdb:\n  url: http://127.0.0.1:1\n  token: abc\n  token_file: influx-token\n');
  t.regex(refusedAlike(t, home), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: influxdb\\.token_file: `));

  // rules.store: influxdb without a sink is refused as well, before anything starts.
  writeFileSync(file, 'rules:\n  store: influxdb\n');
  t.is(refusedAlike(t, home), `claudescope: invalid configuration:\n  ${file}:2: rules.store: influxdb needs an influxdb: block (the sink the rules read)\n`);

  writeFileSync(file, 'influxdb: null\n');
  const none = cli(['daemon', '--print-config'], home);
  t.is(none.code, 0, none.stderr);
});

test('daemon --print-config also refuses a reconcile schedule that is not a cron expression, naming its file and line, as the daemon does', (t) => {
  const home = tempDir(t);
  const file = join(home, 'config.yaml');
  writeFileSync(file, 'listen:\n  port: 9471\nreconcile:\n  schedule: "every day"\n');
  t.is(refusedAlike(t, home), `claudescope: invalid configuration:\n  ${file}:4: reconcile.schedule: expected a cron expression such as "17 6 * * *" (minute hour day month weekday), got "every day"\n`);
  writeFileSync(file, 'reconcile:\n  schedule: "17 6 * * *"\n');
  const ok = cli(['daemon', '--print-config'], home);
  t.is(ok.code, 0, ok.stderr);
  t.is((JSON.parse(ok.stdout) as { reconcile: { schedule: string } }).reconcile.schedule, '17 6 * * *');
});

test('daemon --print-config refuses a reconcile.split_by value it does not know instead of dropping it', (t) => {
  const home = tempDir(t);
  const file = join(home, 'config.yaml');
  writeFileSync(file, 'reconcile:\n  split_by:\n    - workspace\n    - apikey\n');
  t.is(refusedAlike(t, home), `claudescope: invalid configuration:\n  ${file}:4: reconcile.split_by[1]: expected one of workspace, api_key, got "apikey"\n`);
  writeFileSync(file, 'reconcile:\n  split_by: [workspace, api_key]\n');
  const ok = cli(['daemon', '--print-config'], home);
  t.is(ok.code, 0, ok.stderr);
  t.deepEqual((JSON.parse(ok.stdout) as { reconcile: { split_by: string[] } }).reconcile.split_by, ['workspace', 'api_key']);
});
