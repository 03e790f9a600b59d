/**
 * The CLI with its stdout read by a reader that stops early (`claudescope pricing | head -1`):
 * a real child process whose stdout pipe has no reader left. It exits 0 with nothing on stderr,
 * not with an unhandled `Error: write EPIPE`.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { tempDir } from '../helpers/events.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Runs the CLI with its stdout closed after the first chunk read (`firstChunk`) or before it
 * writes anything; resolves with the exit code and stderr.
 */
function runClosingStdout(args: string[], home: string, when: 'at-once' | 'after-first-chunk'): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CLAUDESCOPE_HOME: home, CLAUDESCOPE_CONFIG: '' },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr += d));
    // The read end closed: every later write of the child fails with EPIPE, as after `head -1` exits.
    if (when === 'at-once') child.stdout.destroy();
    else child.stdout.once('data', () => child.stdout.destroy());
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

for (const when of ['at-once', 'after-first-chunk'] as const) {
  test(`pricing with its stdout closed ${when === 'at-once' ? 'before it writes' : 'after the first chunk'} exits 0 quietly`, async (t) => {
    const r = await runClosingStdout(['pricing'], tempDir(t), when);
    t.is(r.stderr, '');
    t.is(r.code, 0);
  });
}

test('rules eval with its stdout closed exits 0 quietly', async (t) => {
  const home = tempDir(t);
  const db = join(home, 'claudescope.db');
  SqliteStore.open({ path: db }).close();
  const r = await runClosingStdout(['rules', 'eval', '--db', db], home, 'at-once');
  t.is(r.stderr, '');
  t.is(r.code, 0);
});

test('an error of the command itself is still reported and fails with stdout closed', async (t) => {
  const home = tempDir(t);
  const r = await runClosingStdout(['rules', 'eval', '--db', join(home, 'missing.db')], home, 'at-once');
  t.is(r.code, 2);
  t.regex(r.stderr, /^claudescope: no store at /);
  t.notRegex(r.stderr, /EPIPE/);
});
