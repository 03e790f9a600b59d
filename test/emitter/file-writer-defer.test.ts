// EventWriter.defer: a call's event is built later, with the others, just before the writer
// writes. Nothing deferred may be lost or reordered, and what it holds stays bounded.
import * as fs from 'node:fs';
import test from 'ava';
import { EventWriter, type CallEventInput, type WriterFs } from '../../src/emitter/file-writer.js';
import { callEvent, eventFiles, readLines, runWriterChild, tempDir, type Line } from './file-writer-helpers.js';

const calls = (lines: Line[]): Line[] => lines.filter((l) => l.t === 'call');
const ids = (lines: Line[]): unknown[] => calls(lines).map((l) => l['event_id']);
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test('deferred events are built when the writer flushes, in the order they were deferred, among written ones', async (t) => {
  const dir = tempDir(t);
  const writer = new EventWriter({ dir, app: 'defer', flushIntervalMs: 60_000 });
  let built = 0;
  const later = (i: number) => (): CallEventInput => {
    built++;
    return callEvent(i);
  };
  writer.defer(later(0));
  writer.defer(later(1));
  t.is(built, 0, 'nothing is built while the app works');
  writer.write(callEvent(2)); // written at once: it lands before the two built at the flush
  await writer.flush();
  t.is(built, 2);
  const lines = readLines(eventFiles(dir)[0] as string);
  t.deepEqual(ids(lines), [callEvent(2).event_id, callEvent(0).event_id, callEvent(1).event_id]);
  t.deepEqual(
    calls(lines).map((l) => l['seq']),
    [1, 2, 3],
  );
  await writer.close();
});

test('a deferred event is built and written by the flush interval alone', async (t) => {
  const dir = tempDir(t);
  const writer = new EventWriter({ dir, app: 'tick', flushIntervalMs: 5 });
  t.teardown(() => writer.close());
  writer.defer(() => callEvent(7));
  for (let i = 0; i < 200 && writer.stats().events_written === 0; i++) await new Promise((r) => setTimeout(r, 5));
  t.is(writer.stats().events_written, 1);
  await writer.flush();
  t.deepEqual(ids(readLines(eventFiles(dir)[0] as string)), [callEvent(7).event_id]);
});

test('64 deferred calls are built in a task of their own, not in the path of the 64th call', async (t) => {
  const dir = tempDir(t);
  const writer = new EventWriter({ dir, app: 'soon', flushIntervalMs: 60_000 });
  t.teardown(() => writer.close());
  for (let i = 0; i < 64; i++) writer.defer(() => callEvent(i));
  t.is(writer.stats().events_written, 0, 'the 64th defer() returned without building');
  await turn();
  t.is(writer.stats().events_written, 64, 'built on the next turn, long before the flush interval');
});

test('past 1,024 deferred calls the events are built at once: what the writer holds is bounded', (t) => {
  const dir = tempDir(t);
  const writer = new EventWriter({ dir, app: 'bound', flushIntervalMs: 60_000 });
  t.teardown(() => writer.close());
  for (let i = 0; i < 1023; i++) writer.defer(() => callEvent(i));
  t.is(writer.stats().events_written, 0);
  writer.defer(() => callEvent(1023));
  t.is(writer.stats().events_written, 1024);
});

test('a builder that throws is counted as an internal error; the calls around it are written', async (t) => {
  const dir = tempDir(t);
  const writer = new EventWriter({ dir, app: 'faulty' });
  writer.defer(() => callEvent(0));
  writer.defer(() => {
    throw new Error('a bug while building');
  });
  writer.defer(() => callEvent(2));
  await writer.close();
  t.is(writer.stats().internal_errors, 1);
  t.deepEqual(ids(readLines(eventFiles(dir)[0] as string)), [callEvent(0).event_id, callEvent(2).event_id]);
});

test('calls deferred before the pid changed (a fork) are the parent\'s: the child writes none of them', async (t) => {
  const dir = tempDir(t);
  let pid = 1000;
  const writer = new EventWriter({ dir, app: 'fork', pid: () => pid, flushIntervalMs: 60_000 });
  writer.defer(() => callEvent(0));
  pid = 2000;
  writer.defer(() => callEvent(1)); // the child's own call, deferred before it writes anything
  writer.write(callEvent(2));
  await writer.close();
  const files = eventFiles(dir);
  t.is(files.length, 1);
  t.true((files[0] as string).includes('-2000-'));
  t.deepEqual(ids(readLines(files[0] as string)), [callEvent(2).event_id, callEvent(1).event_id]);
});

test('flushSync() writes the deferred events itself: it starts no write the thread pool could land again after it', async (t) => {
  // A write started while flushSync builds the deferred events would be completed by its
  // synchronous writes and still be run by the thread pool: its lines twice, after the footer.
  const dir = tempDir(t);
  let hold = false;
  const held: Array<() => Promise<void>> = [];
  const write: WriterFs['write'] = (fd, b, o, l, p, cb) => {
    const run = (): Promise<void> =>
      new Promise((resolve) =>
        fs.write(fd, b, o, l, p, (err, n) => {
          cb(err, n);
          resolve();
        }),
      );
    if (hold) held.push(run); // the thread pool has not run it yet
    else void run();
  };
  const writer = new EventWriter({ dir, app: 'exit', fs: { write }, flushIntervalMs: 60_000 });
  writer.write(callEvent(0));
  await writer.flush(); // the file is open, no write in flight
  hold = true;
  const big = (i: number): CallEventInput => ({ ...callEvent(i), content: 'z'.repeat(4096) });
  for (let i = 1; i <= 40; i++) writer.defer(() => big(i)); // over 64 KiB, under 64 calls
  writer.flushSync();
  await Promise.all(held.map((run) => run())); // any write it started lands now
  t.is(held.length, 0, 'no asynchronous write was started');
  const lines = readLines(eventFiles(dir)[0] as string);
  t.deepEqual(
    ids(lines),
    Array.from({ length: 41 }, (_, i) => callEvent(i).event_id),
  );
  t.like(lines.at(-1), { t: 'footer', reason: 'close' });
});

for (const n of [100, 3000]) {
  test(`a process that defers ${n} events then calls process.exit() loses none`, async (t) => {
    const dir = tempDir(t);
    const r = await runWriterChild(['exit-deferred', dir, String(n)]);
    t.is(r.code, 0, r.stderr);
    const lines = readLines(eventFiles(dir)[0] as string);
    t.deepEqual(
      ids(lines),
      Array.from({ length: n }, (_, i) => callEvent(i).event_id),
    );
    t.like(lines.at(-1), { t: 'footer', reason: 'close' });
  });
}
