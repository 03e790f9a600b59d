import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { call, readDeadLetters, tempHome, waitFor, writeEventFile } from '../helpers/event-files.js';
import { counts, kill, runner, WRITER } from './runner-process.js';

test('loses and doubles nothing when the daemon is SIGKILLed mid-batch and restarted', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const expected: string[] = [];
  for (let f = 0; f < 6; f++) {
    const calls = Array.from({ length: 3000 }, () => call());
    expected.push(...calls.map((c) => c.event_id));
    writeEventFile({ dir: h.events, calls, sealed: f % 2 === 0 });
  }
  const kills: number[] = [];
  // Slow pricing makes each 1000-line batch take ~50 ms, so the kills land inside batches.
  for (const threshold of [1, 6000]) {
    const r = runner(h.home, { busyMicros: 50 });
    t.teardown(() => r.child.kill('SIGKILL'));
    await waitFor(() => counts(h.data).rows >= threshold, `rows >= ${threshold}`, 60_000);
    await kill(r.child, 'SIGKILL');
    kills.push(counts(h.data).rows);
  }
  t.log(`rows stored at each SIGKILL: ${kills.join(', ')} of ${expected.length}`);
  t.true(kills[0]! < expected.length, 'the first kill landed before the end');
  const r = runner(h.home);
  t.teardown(() => r.child.kill('SIGKILL'));
  await waitFor(() => counts(h.data).rows >= expected.length, 'all rows', 60_000);
  await kill(r.child, 'SIGTERM');
  const c = counts(h.data);
  t.is(c.rows, expected.length);
  t.is(c.rollup, expected.length, 'rollups count every event once');
  t.deepEqual([...c.ids].sort(), [...expected].sort());
  t.deepEqual(readDeadLetters(h.data), []);
});

test('stores every event exactly once while 4 processes write 100 files and the daemon restarts twice', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const WRITERS = 4, FILES = 25, PER_FILE = 120;
  let r = runner(h.home);
  t.teardown(() => r.child.kill('SIGKILL'));
  await waitFor(() => r.out().includes('ready'), 'runner ready');
  const writers = Array.from({ length: WRITERS }, (_, w) => spawn(process.execPath, ['--import', 'tsx', WRITER, h.events, String(w), String(FILES), String(PER_FILE)], { stdio: 'inherit' }));
  const writersDone = Promise.all(writers.map((w) => once(w, 'exit')));
  await waitFor(() => counts(h.data).rows > 500, 'some rows');
  await kill(r.child, 'SIGKILL');
  r = runner(h.home);
  await waitFor(() => counts(h.data).rows > 3000, 'more rows', 60_000);
  await kill(r.child, 'SIGTERM');
  r = runner(h.home);
  const codes = await writersDone;
  t.deepEqual(codes.map(([code]) => code as number), [0, 0, 0, 0]);
  const total = WRITERS * FILES * PER_FILE;
  await waitFor(() => counts(h.data).rows >= total, 'all rows', 90_000);
  await kill(r.child, 'SIGTERM');
  const c = counts(h.data);
  const expected = new Set<string>();
  for (let w = 0; w < WRITERS; w++) for (let f = 0; f < FILES; f++) for (let e = 0; e < PER_FILE; e++) expected.add(`w${w}-f${f}-e${e}`);
  t.is(c.rows, total);
  t.is(c.rollup, total);
  t.deepEqual([...c.ids].sort(), [...expected].sort());
});

test('a second daemon is refused by the lock, and a dead daemon\'s stale lock is taken over', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const a = runner(h.home);
  t.teardown(() => a.child.kill('SIGKILL'));
  await waitFor(() => a.out().includes('ready'), 'first daemon ready');
  const b = runner(h.home);
  const [code] = await once(b.child, 'exit');
  t.is(code, 3);
  t.regex(b.out(), new RegExp(`LOCKED another claudescope daemon \\(pid ${a.child.pid}\\) owns this data folder`));
  await kill(a.child, 'SIGKILL');
  const c = runner(h.home);
  t.teardown(() => c.child.kill('SIGKILL'));
  await waitFor(() => c.out().includes('ready'), 'third daemon ready after a stale lock');
  await kill(c.child, 'SIGTERM');
  t.is(c.child.exitCode, 0);
});

test('a SIGTERM sent the moment the daemon says ready drains and exits 0 (the handler is installed first)', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  // The runner spins 300 ms after printing `ready`, as a process preempted there would: the
  // signal arrives in that gap and must still find the handler.
  const r = runner(h.home, { pauseAfterReadyMs: 300 });
  t.teardown(() => r.child.kill('SIGKILL'));
  const exited = once(r.child, 'exit');
  r.child.stdout!.on('data', (d: Buffer) => {
    if (d.toString().includes('ready')) r.child.kill('SIGTERM');
  });
  const [code, signal] = await exited;
  t.is(signal, null, 'not killed by the signal\'s default action');
  t.is(code, 0);
});
