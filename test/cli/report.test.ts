/**
 * `claudescope report` without a store says what to do, and its advice works: the demo keeps its
 * store in a home of its own, so "run the demo first" would leave the same error (the CLI as a
 * child process, through tsx).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
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

test('report without a store points at the daemon or --home, not at a demo that would not fill this home', (t) => {
  const home = tempDir(t);
  const r = cli(['report'], home);
  t.not(r.code, 0);
  t.is(r.stdout, '');
  t.is(r.stderr, `claudescope: no store at ${join(home, 'data', 'claudescope.db')}: run 'claudescope daemon' first, or pass --home (for the demo's numbers, the home 'claudescope demo' printed)\n`);
});

test('report over an empty window (--since 0h) is refused, not answered with an empty table', (t) => {
  const home = tempDir(t);
  const r = cli(['report', '--since', '0h'], home);
  t.is(r.code, 2);
  t.is(r.stdout, '');
  t.regex(r.stderr, /^claudescope: --since \(\S+\) must be before --until \(\S+\)\n$/);
});
