/** The lock that gives one daemon a data folder. */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireLock, DataDirLockedError } from '../../src/tail/lock-file.js';

function folder(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cs-lock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A pid no process has any more. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

test('the lock holds the owner pid, refuses a second taker and is gone once released, leaving nothing else', (t) => {
  const dir = folder(t);
  const path = join(dir, 'daemon.lock');
  const lock = acquireLock(path);
  t.is(readFileSync(path, 'utf8').trim(), String(process.pid));
  t.throws(() => acquireLock(path), { instanceOf: DataDirLockedError });
  lock.release();
  t.deepEqual(readdirSync(dir), []);
});

test("a live owner's lock is refused; a dead owner's is taken over", (t) => {
  const dir = folder(t);
  const path = join(dir, 'daemon.lock');
  writeFileSync(path, `${process.ppid}\n`);
  const err = t.throws(() => acquireLock(path), { instanceOf: DataDirLockedError });
  t.is(err?.ownerPid, process.ppid);
  writeFileSync(path, `${deadPid()}\n`);
  const lock = acquireLock(path);
  t.is(readFileSync(path, 'utf8').trim(), String(process.pid));
  lock.release();
  t.deepEqual(readdirSync(dir), []);
});

test('a lock file holding no pid yet is not taken for a dead owner unless it has been so for seconds', (t) => {
  const dir = folder(t);
  const path = join(dir, 'daemon.lock');
  writeFileSync(path, '');
  t.throws(() => acquireLock(path), { instanceOf: DataDirLockedError }, 'a daemon may be writing it now');
  const past = new Date(Date.now() - 60_000);
  utimesSync(path, past, past);
  const lock = acquireLock(path);
  t.is(readFileSync(path, 'utf8').trim(), String(process.pid));
  lock.release();
  t.deepEqual(readdirSync(dir), []);
});
