/**
 * Numeric options name a bad value as the user typed it (`got "abc"`), never as yargs' NaN: the
 * shared helper, and each command's numeric options through the CLI as a child process.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { numberOption, portOption } from '../../src/cli/options.js';
import { tempDir } from '../helpers/events.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function cli(args: string[], home: string, env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, CLAUDESCOPE_HOME: home, CLAUDESCOPE_CONFIG: '', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('numberOption reads what was typed and names a bad value as typed', (t) => {
  const calls = { integer: true, min: 1, expected: 'a whole number ≥ 1' };
  t.is(numberOption('--calls', '12', calls), 12);
  t.is(numberOption('--calls', ' 12 ', calls), 12);
  t.is(numberOption('--calls', 60, calls), 60, 'a default is a number already');
  t.is(numberOption('--duration', '1.5', { above: 0, expected: 'seconds' }), 1.5);
  for (const typed of ['abc', '', '12abc', '0x10', '1,5', 'NaN', 'Infinity', '0', '-3', '2.5']) {
    t.throws(() => numberOption('--calls', typed, calls), { message: `--calls: expected a whole number ≥ 1, got ${JSON.stringify(typed)}` });
  }
  t.throws(() => numberOption('--calls', ['1', '2'], calls), { message: '--calls: expected a whole number ≥ 1, got "1", "2" (give it once)' });
  t.throws(() => numberOption('--duration', '0', { above: 0, expected: 'seconds above 0' }), { message: '--duration: expected seconds above 0, got "0"' });
  t.is(portOption('--port', '0'), 0);
  t.is(portOption('--port', '65535'), 65535);
  for (const typed of ['abc', '-1', '65536', '80.5']) t.throws(() => portOption('--port', typed), { message: `--port: expected a port number 0-65535, got ${JSON.stringify(typed)}` });
});

test("fake-api --port, demo --calls / --duration and the daemon's numeric flags quote what was typed", (t) => {
  const home = tempDir(t);
  const cases: [string[], string][] = [
    [['fake-api', '--port', 'abc'], 'claudescope: --port: expected a port number 0-65535, got "abc"\n'],
    [['fake-api', '--port', '99999'], 'claudescope: --port: expected a port number 0-65535, got "99999"\n'],
    [['demo', '--calls', 'abc'], 'claudescope: --calls: expected a whole number of calls ≥ 1, got "abc"\n'],
    [['demo', '--calls', '2.5'], 'claudescope: --calls: expected a whole number of calls ≥ 1, got "2.5"\n'],
    [['demo', '--duration', 'soon'], 'claudescope: --duration: expected a number of seconds above 0, got "soon"\n'],
  ];
  for (const [args, message] of cases) {
    const r = cli(args, home);
    t.not(r.code, 0, args.join(' '));
    t.is(r.stderr, message, args.join(' '));
    t.is(r.stdout, '');
  }
  // demo --port and rules eval --budget-daily are the daemon's settings: its configuration loader quotes them already.
  t.regex(cli(['demo', '--port', 'abc'], home).stderr, /--port: listen\.port: expected an integer 0-65535, got "abc"/);
  t.regex(cli(['rules', 'eval', '--budget-daily', 'abc'], home).stderr, /--budget-daily: budgets\.daily_usd: expected a number ≥ 0, got "abc"/);
});

test('demo refused for a bad setting leaves no temporary folder of its own behind', (t) => {
  const home = tempDir(t);
  const tmp = tempDir(t);
  const r = cli(['demo', '--port', '99999'], home, { TMPDIR: tmp });
  t.is(r.code, 2);
  t.regex(r.stderr, /--port: listen\.port: expected an integer 0-65535, got 99999/);
  t.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('claudescope-demo-')), []);
});
