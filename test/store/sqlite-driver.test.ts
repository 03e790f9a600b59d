/**
 * better-sqlite3 is optional (a native module that may not install): without it the emitter and
 * every command that opens no SQLite file work, and one that does says how to fix it.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteDriverMissingError, sqliteDriver } from '../../src/store/sqlite-driver.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { tempDir } from '../helpers/events.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli/main.js');
const HIDE = join(ROOT, 'test/fixtures/hide-better-sqlite3.cjs');

test('a missing package or native binary becomes an error that says how to fix it; any other failure stays as it is', (t) => {
  const missing = Object.assign(new Error("Cannot find module 'better-sqlite3'"), { code: 'MODULE_NOT_FOUND' });
  const noBinary = new Error('Could not locate the bindings file. Tried:\n → …/build/Release/better_sqlite3.node');
  for (const cause of [missing, noBinary]) {
    const err = t.throws(() => sqliteDriver(() => {
      throw cause;
    }));
    t.true(err instanceof SqliteDriverMissingError);
    t.regex(err!.message, /better-sqlite3 .*npm install better-sqlite3@12.*The emitter does not need it/);
    t.is(err!.cause, cause);
  }
  const other = new Error('EACCES');
  t.is(t.throws(() => sqliteDriver(() => {
    throw other;
  })), other);
});

test('without better-sqlite3 the emitter records calls and the CLI runs; a command that opens the store says what to do', (t) => {
  const home = tempDir(t);
  const run = (args: string[]) => spawnSync(process.execPath, ['-r', HIDE, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, CLAUDESCOPE_HOME: home } });
  // The emitter writes an event of a call against the fake API, in a process that cannot load the driver.
  const app = run(['--input-type=module', '-e', `
    const { default: Anthropic } = await import('@anthropic-ai/sdk');
    const { createEmitter } = await import(${JSON.stringify(join(ROOT, 'dist/src/index.js'))});
    const { startFakeApi } = await import(${JSON.stringify(join(ROOT, 'dist/src/testing/index.js'))});
    const api = await startFakeApi();
    const emitter = createEmitter({ dir: ${JSON.stringify(join(home, 'events'))}, app: 'nodriver' });
    await emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: api.url })).messages.create({ model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
    await emitter.close();
    await api.close();
    let driver = 'loaded';
    try { await import('better-sqlite3'); } catch { driver = 'missing'; }
    process.stdout.write(JSON.stringify({ written: emitter.stats().events_written, driver }));
  `]);
  t.is(app.status, 0, app.stderr);
  t.deepEqual(JSON.parse(app.stdout), { written: 1, driver: 'loaded' }, 'the preload hides the driver from require() (the store loads it so)');
  t.is(run([CLI, 'fake-api', '--help']).status, 0);
  // A store made where the driver is installed, read where it is not.
  mkdirSync(join(home, 'data'), { recursive: true });
  SqliteStore.open({ path: join(home, 'data', 'claudescope.db') }).close();
  const report = run([CLI, 'report', '--home', home]);
  t.not(report.status, 0);
  t.regex(report.stderr, /needs the better-sqlite3 package, whose native module is not installed here/);
  t.regex(report.stderr, /npm install better-sqlite3@12/);
  t.notRegex(report.stderr, /\n\s+at /, 'no stack trace');
});

test('a store or alert state file that is not a SQLite database is named in the error, by every command that opens it', (t) => {
  const home = tempDir(t);
  const data = join(home, 'data');
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, 'claudescope.db'), 'not a database\n'.repeat(100));
  writeFileSync(join(data, 'alerts.db'), 'not a database\n'.repeat(100));
  const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, CLAUDESCOPE_HOME: home, CLAUDESCOPE_CONFIG: '' } });
  const cases: [string[], string][] = [
    [['report'], join(data, 'claudescope.db')],
    [['daemon', '--port', '0'], join(data, 'claudescope.db')],
    [['alerts'], join(data, 'alerts.db')],
    [['silence', 'list'], join(data, 'alerts.db')],
  ];
  for (const [args, file] of cases) {
    const r = run(args);
    t.not(r.status, 0, args.join(' '));
    t.is(r.stderr, `claudescope: ${file}: file is not a database\n`, args.join(' '));
  }
});
