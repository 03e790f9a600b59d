// Faults injected at the file-system seam: the writer must never throw into the app, never
// block it, count what it drops, and recover once the disk does.
import * as fs from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { EventWriter, type WriterFs } from '../../src/emitter/file-writer.js';
import { callEvent, eventFiles, readLines, tempDir, type Line } from './file-writer-helpers.js';

type WriteFn = WriterFs['write'];
const realWrite: WriteFn = (fd, b, o, l, p, cb) => fs.write(fd, b, o, l, p, cb);

function errno(code: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: injected`);
  err.code = code;
  return err;
}

const calls = (lines: Line[]): Line[] => lines.filter((l) => l.t === 'call');

/** The writer's retry timers never hold a process open: this keeps the test's open until it ends. */
function keepAlive(t: ExecutionContext): void {
  const alive = setInterval(() => undefined, 100);
  t.teardown(() => clearInterval(alive));
}

/** The lines that parse, and the fragments that do not (a write cut part-way). */
function parseLines(raw: string[]): { parsed: Line[]; bad: string[] } {
  const parsed: Line[] = [];
  const bad: string[] = [];
  for (const l of raw) {
    try {
      parsed.push(JSON.parse(l) as Line);
    } catch {
      bad.push(l);
    }
  }
  return { parsed, bad };
}

test('disk full (ENOSPC) never throws, counts the dropped events, and recovers when space frees', async (t) => {
  const dir = tempDir(t);
  let full = true;
  const write: WriteFn = (fd, b, o, l, p, cb) =>
    full ? setImmediate(() => cb(errno('ENOSPC'), 0)) : realWrite(fd, b, o, l, p, cb);
  const writer = new EventWriter({ dir, app: 'full', fs: { write }, flushIntervalMs: 5 });
  for (let i = 0; i < 10; i++) t.notThrows(() => writer.write(callEvent(i)));
  await writer.flush();
  t.is(writer.stats().events_dropped_write_error, 10);
  t.true((writer.stats().write_errors ?? 0) >= 1);
  full = false;
  for (let i = 10; i < 20; i++) writer.write(callEvent(i));
  await writer.close();
  const lines = readLines(eventFiles(dir)[0] as string);
  t.is(lines[0]?.t, 'header', 'the header is retried, not dropped');
  t.deepEqual(
    calls(lines).map((l) => l['event_id']),
    Array.from({ length: 10 }, (_, i) => callEvent(i + 10).event_id),
  );
  t.like(lines.at(-1), { t: 'footer', lines: lines.length - 1 });
  t.like((lines.at(-1) as Line)['stats'] as object, { events_dropped_write_error: 10, events_written: 20 });
});

test('a slow disk with a full buffer drops and counts new events and never blocks write()', async (t) => {
  const dir = tempDir(t);
  const held: Array<() => void> = [];
  const write: WriteFn = (fd, b, o, l, p, cb) => {
    held.push(() => realWrite(fd, b, o, l, p, cb));
  };
  const maxBufferBytes = 50_000;
  const writer = new EventWriter({ dir, app: 'slow', fs: { write }, maxBufferBytes, flushIntervalMs: 5 });
  for (let i = 0; i < 1000; i++) writer.write(callEvent(i));
  // All 1,000 calls returned while not one write reached the disk: nothing waited on it.
  const s = writer.stats();
  t.true(s.events_dropped_buffer > 0);
  t.is(s.events_written + s.events_dropped_buffer, 1000);
  t.true(s.events_written * 1000 <= maxBufferBytes);
  // Release the disk: everything accepted gets written.
  const release = setInterval(() => held.splice(0).forEach((go) => go()), 2);
  t.teardown(() => clearInterval(release));
  await writer.close();
  const lines = readLines(eventFiles(dir)[0] as string);
  t.is(calls(lines).length, s.events_written);
  t.like((lines.at(-1) as Line)['stats'] as object, { events_dropped_buffer: s.events_dropped_buffer });
});

test('EAGAIN is retried: no event is lost', async (t) => {
  const dir = tempDir(t);
  let failures = 3;
  const write: WriteFn = (fd, b, o, l, p, cb) =>
    failures-- > 0 ? setImmediate(() => cb(errno('EAGAIN'), 0)) : realWrite(fd, b, o, l, p, cb);
  const writer = new EventWriter({ dir, app: 'again', fs: { write } });
  for (let i = 0; i < 50; i++) writer.write(callEvent(i));
  await writer.close();
  t.is(writer.stats().events_dropped_write_error, 0);
  t.is(calls(readLines(eventFiles(dir)[0] as string)).length, 50);
});

test('short writes continue from the remaining bytes: every line stays whole', async (t) => {
  const dir = tempDir(t);
  const write: WriteFn = (fd, b, o, l, p, cb) => realWrite(fd, b, o, Math.min(l, 333), p, cb);
  const writer = new EventWriter({ dir, app: 'short', fs: { write } });
  for (let i = 0; i < 200; i++) writer.write(callEvent(i));
  await writer.close();
  const lines = readLines(eventFiles(dir)[0] as string);
  t.is(calls(lines).length, 200);
  t.like(lines.at(-1), { t: 'footer', lines: 201 });
});

test('a write failing part-way leaves one fragment, ended by a newline so later lines stay whole', async (t) => {
  const dir = tempDir(t);
  let step = 0;
  const write: WriteFn = (fd, b, o, l, p, cb) => {
    step++;
    if (step === 1) return realWrite(fd, b, o, Math.min(l, 2000), p, cb); // short write
    if (step === 2) return setImmediate(() => cb(errno('EIO'), 0)); // then the rest fails
    return realWrite(fd, b, o, l, p, cb);
  };
  const writer = new EventWriter({ dir, app: 'torn', fs: { write }, flushIntervalMs: 5 });
  for (let i = 0; i < 10; i++) writer.write(callEvent(i));
  await writer.flush();
  for (let i = 10; i < 20; i++) writer.write(callEvent(i));
  await writer.close();
  const text = fs.readFileSync(eventFiles(dir)[0] as string, 'utf8');
  t.true(text.endsWith('\n'));
  const raw = text.split('\n').slice(0, -1);
  const { parsed, bad } = parseLines(raw);
  t.is(bad.length, 1, 'exactly one fragment');
  t.is(parsed[0]?.t, 'header');
  // The short write landed the header and one whole event before the failure.
  t.is(calls(parsed).length, 11);
  t.like(parsed.at(-1), { t: 'footer', lines: raw.length - 1 });
  t.is(writer.stats().events_dropped_write_error, 9);
});

test('a write failing part-way with a stats line among its lines counts as dropped exactly the events that did not land', async (t) => {
  const dir = tempDir(t);
  let armed = false;
  let step = 0;
  const write: WriteFn = (fd, b, o, l, p, cb) => {
    if (!armed) return realWrite(fd, b, o, l, p, cb);
    step++;
    if (step === 1) return realWrite(fd, b, o, l - 10, p, cb); // all but the last call's end
    if (step === 2) return setImmediate(() => cb(errno('EIO'), 0));
    return realWrite(fd, b, o, l, p, cb);
  };
  const writer = new EventWriter({ dir, app: 'torn-stats', fs: { write }, flushIntervalMs: 1000, statsIntervalMs: 10 });
  keepAlive(t);
  writer.write(callEvent(0));
  await writer.flush();
  await new Promise((r) => setTimeout(r, 40)); // stats lines wait in the buffer
  writer.write(callEvent(1));
  writer.write(callEvent(2));
  armed = true;
  await writer.flush();
  await writer.close();
  const raw = fs.readFileSync(eventFiles(dir)[0] as string, 'utf8').split('\n').slice(0, -1);
  const { parsed } = parseLines(raw);
  t.true(parsed.some((l) => l.t === 'stats'), 'a stats line landed with the calls');
  t.is(calls(parsed).length, 2);
  // Every event accepted is on disk or counted as dropped.
  t.is(writer.stats().events_dropped_write_error, 1);
});

test('a footer the full disk refuses is written once space frees, and the next file goes on after it', async (t) => {
  const dir = tempDir(t);
  let full = false;
  let footersRefused = 0;
  const write: WriteFn = (fd, b, o, l, p, cb) => {
    if (full && Buffer.from(b.subarray(o, o + l)).toString('latin1').includes('"t":"footer"')) {
      footersRefused++;
      return setImmediate(() => cb(errno('ENOSPC'), 0));
    }
    return realWrite(fd, b, o, l, p, cb);
  };
  const writer = new EventWriter({ dir, app: 'footer-full', fs: { write }, flushIntervalMs: 5, maxFileBytes: 8 * 1024 });
  keepAlive(t);
  for (let i = 0; i < 5; i++) writer.write(callEvent(i));
  await writer.flush();
  full = true;
  for (let i = 5; i < 20; i++) writer.write(callEvent(i)); // past the size: the first file is sealed
  await new Promise((r) => setTimeout(r, 60));
  t.true(footersRefused >= 2, `footer writes refused: ${footersRefused}`);
  full = false;
  await writer.close();
  const files = eventFiles(dir);
  t.true(files.length >= 2);
  const all = files.flatMap((f) => readLines(f));
  t.deepEqual(calls(all).map((l) => l['event_id']), Array.from({ length: 20 }, (_, i) => callEvent(i).event_id));
  for (const f of files) {
    const lines = readLines(f);
    t.like(lines.at(-1), { t: 'footer', lines: lines.length - 1 }, f);
  }
  t.is(writer.stats().events_dropped_write_error, 0);
});

test('EPIPE stops writing without throwing; later events are counted as dropped', async (t) => {
  const dir = tempDir(t);
  const write: WriteFn = (_fd, _b, _o, _l, _p, cb) => setImmediate(() => cb(errno('EPIPE'), 0));
  const writer = new EventWriter({ dir, app: 'pipe', fs: { write } });
  for (let i = 0; i < 5; i++) writer.write(callEvent(i));
  await writer.flush();
  t.notThrows(() => writer.write(callEvent(5)));
  await writer.close();
  t.is(writer.stats().events_dropped_write_error, 6);
});

test('a descriptor closed under the writer (EBADF) is never closed again, and the next events go to a new file', async (t) => {
  const dir = tempDir(t);
  let badFd: number | null = null;
  const closed: number[] = [];
  const write: WriteFn = (fd, b, o, l, p, cb) => {
    if (badFd === null) {
      badFd = fd;
      return setImmediate(() => cb(errno('EBADF'), 0));
    }
    return realWrite(fd, b, o, l, p, cb);
  };
  const close: WriterFs['close'] = (fd, cb) => {
    closed.push(fd);
    fs.close(fd, cb);
  };
  const writer = new EventWriter({ dir, app: 'badf', fs: { write, close }, flushIntervalMs: 5 });
  keepAlive(t);
  for (let i = 0; i < 5; i++) writer.write(callEvent(i));
  await writer.flush();
  t.is(writer.stats().events_dropped_write_error, 5);
  for (let i = 5; i < 10; i++) writer.write(callEvent(i));
  await writer.close();
  t.false(closed.includes(badFd!), 'the number that was closed under it is not closed again');
  const files = eventFiles(dir);
  const last = readLines(files.at(-1)!);
  t.deepEqual(calls(last).map((l) => l['event_id']), Array.from({ length: 5 }, (_, i) => callEvent(i + 5).event_id));
  t.like(last.at(-1), { t: 'footer', lines: last.length - 1 });
  t.is(writer.stats().events_dropped_write_error, 5);
});

test('a folder that cannot be created drops and counts, then recovers', async (t) => {
  const dir = tempDir(t);
  let deny = true;
  const mkdir: WriterFs['mkdir'] = (p, o, cb) =>
    deny ? setImmediate(() => cb(errno('EACCES'))) : fs.mkdir(p, o, (err) => cb(err));
  const writer = new EventWriter({ dir: `${dir}/ev`, app: 'acc', fs: { mkdir }, flushIntervalMs: 5 });
  writer.write(callEvent(0));
  await writer.flush();
  t.is(writer.stats().events_dropped_write_error, 1);
  deny = false;
  writer.write(callEvent(1));
  await writer.close();
  const lines = readLines(eventFiles(`${dir}/ev`)[0] as string);
  t.deepEqual(
    calls(lines).map((l) => l['event_id']),
    [callEvent(1).event_id],
  );
});

test('no unhandled rejection or error event escapes a failing file system', async (t) => {
  const dir = tempDir(t);
  const boom: WriterFs['write'] = () => {
    throw new Error('fs bug');
  };
  const writer = new EventWriter({ dir, app: 'boom', fs: { write: boom } });
  t.notThrows(() => writer.write(callEvent(0)));
  await t.notThrowsAsync(writer.flush());
  t.true(writer.stats().internal_errors >= 1);
});

for (const landed of [true, false]) {
  test(`flushSync on exit completes a write still in flight exactly once (write ${landed ? 'landed' : 'not yet run'})`, async (t) => {
    const dir = tempDir(t);
    let hold = true;
    const write: WriteFn = (fd, b, o, l, p, cb) => {
      if (!hold) return realWrite(fd, b, o, l, p, cb);
      // The thread pool did (or did not yet do) the write; its callback never comes back.
      if (landed) fs.writeSync(fd, b, o, l);
    };
    const writer = new EventWriter({ dir, app: 'inflight', fs: { write } });
    for (let i = 0; i < 100; i++) writer.write(callEvent(i)); // > 64 KiB: a write starts
    await new Promise((r) => setTimeout(r, 20)); // let the open finish and the write start
    hold = false;
    for (let i = 100; i < 150; i++) writer.write(callEvent(i));
    writer.flushSync();
    const lines = readLines(eventFiles(dir)[0] as string);
    t.deepEqual(
      calls(lines).map((l) => l['event_id']),
      Array.from({ length: 150 }, (_, i) => callEvent(i).event_id),
    );
    t.like(lines.at(-1), { t: 'footer', reason: 'close', lines: lines.length - 1 });
  });
}

for (const giveUp of ['flushSync', 'a fork'] as const) {
  test(`the bytes of a write still in flight after ${giveUp} are never reused for later lines`, async (t) => {
    const dir = tempDir(t);
    let pid = 1000;
    let writes = 0;
    let held: { view: Uint8Array; copy: Buffer } | null = null;
    const write: WriteFn = (fd, b, o, l, p, cb) => {
      // The second write (lines alone, one block written as it is) is held: the thread pool
      // has not run it yet, and its callback never comes back.
      if (++writes !== 2) return realWrite(fd, b, o, l, p, cb);
      const view = b.subarray(o, o + l);
      held = { view, copy: Buffer.from(view) };
    };
    const writer = new EventWriter({ dir, app: 'reuse', fs: { write }, pid: () => pid, flushIntervalMs: 5 });
    writer.write(callEvent(0));
    await writer.flush(); // the header and the first line
    for (let i = 1; i < 20; i++) writer.write(callEvent(i));
    while (held === null) await new Promise((r) => setTimeout(r, 5));
    if (giveUp === 'flushSync') writer.flushSync();
    else pid = 2000;
    // Many more lines, through the same writer and its blocks.
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 1500; i++) writer.write(callEvent(1000 + i));
      await writer.flush();
      for (let i = 0; i < 10; i++) {
        writer.write(callEvent(5000 + i));
        await writer.flush();
      }
    }
    await writer.close();
    const { view, copy } = held as unknown as { view: Uint8Array; copy: Buffer };
    t.true(Buffer.from(view).equals(copy), 'the pending write would still write the bytes it was given');
    t.is(eventFiles(dir).flatMap((f) => calls(readLines(f))).length, (giveUp === 'flushSync' ? 20 : 1) + 5 * 1510);
  });
}

test('a folder under /proc (where mkdir -p never returns) drops and counts; flush and close return', async (t) => {
  if (!fs.existsSync('/proc/self')) {
    t.pass('no procfs here');
    return;
  }
  const writer = new EventWriter({ dir: `/proc/claudescope-no-such-folder-${process.pid}/events`, app: 'proc', flushIntervalMs: 5 });
  writer.write(callEvent(0));
  const hung = new Promise<string>((resolve) => setTimeout(() => resolve('hung'), 20_000).unref());
  t.is(await Promise.race([writer.flush().then(() => 'flushed'), hung]), 'flushed');
  t.is(writer.stats().events_dropped_write_error, 1);
  writer.write(callEvent(1));
  t.is(await Promise.race([writer.close().then(() => 'closed'), hung]), 'closed');
  t.is(writer.stats().events_dropped_write_error, 2);
});

test('a disk that never answers holds flush() and close() no longer than flushTimeoutMs, and the events land once it answers', async (t) => {
  const dir = tempDir(t);
  const held: Array<() => void> = [];
  let hang = true;
  const write: WriteFn = (fd, b, o, l, p, cb) => {
    if (hang) held.push(() => realWrite(fd, b, o, l, p, cb));
    else realWrite(fd, b, o, l, p, cb);
  };
  const writer = new EventWriter({ dir, app: 'hung', fs: { write }, flushTimeoutMs: 300, flushIntervalMs: 5 });
  for (let i = 0; i < 5; i++) writer.write(callEvent(i));
  const waited = async (p: Promise<void>): Promise<number> => {
    const t0 = performance.now();
    await p;
    return performance.now() - t0;
  };
  const flushMs = await waited(writer.flush());
  t.true(flushMs >= 250 && flushMs < 5000, `flush() waited ${flushMs} ms`);
  t.true(held.length > 0, 'the write is still in flight');
  t.is(eventFiles(dir).flatMap(readLines).filter((l) => l.t === 'call').length, 0, 'nothing reached the disk yet');
  writer.write(callEvent(5));
  const closeMs = await waited(writer.close());
  t.true(closeMs >= 250 && closeMs < 5000, `close() waited ${closeMs} ms`);
  // The disk answers: nothing was dropped, and every event lands, once.
  hang = false;
  while (held.length > 0) held.shift()!();
  await writer.close();
  const lines = eventFiles(dir).flatMap(readLines);
  t.deepEqual(lines.filter((l) => l.t === 'call').map((l) => l['event_id']), Array.from({ length: 6 }, (_, i) => callEvent(i).event_id));
  t.is(writer.stats().events_dropped_buffer + writer.stats().events_dropped_write_error, 0);
});
