// Lines are encoded as UTF-8 when buffered, into blocks of BLOCK_BYTES: multi-byte characters
// at a block's end must never be cut, and the caps count the bytes that land on disk.
import * as fs from 'node:fs';
import test from 'ava';
import { EventWriter, type CallEventInput, type WriterFs } from '../../src/emitter/file-writer.js';
import { BLOCK_BYTES, BlockPool, LineQueue } from '../../src/emitter/line-queue.js';
import { callEvent, eventFiles, readLines, tempDir, type Line } from './file-writer-helpers.js';

const calls = (lines: Line[]): Line[] => lines.filter((l) => l.t === 'call');
const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

/** Fills the first block of `q` with ASCII lines until exactly `room` bytes are left in it. */
function fillLeaving(q: LineQueue, room: number): string {
  let text = '';
  let left = BLOCK_BYTES;
  while (left > room) {
    const size = Math.min(1000, left - room); // line plus its newline
    const line = 'x'.repeat(size - 1);
    q.commit(q.stage(line), 1);
    text += `${line}\n`;
    left -= size;
  }
  return text;
}

for (const [name, line] of [
  ['a 3-byte character', 'aaaaaa€€'], // 8 units, 12 bytes + newline, in 10 bytes of room
  ['a surrogate pair', 'aaaaa😀😀'], // 9 units, 13 bytes + newline
  ['a 2-byte character', 'aaaaaaaaé'], // 9 units, 10 bytes + newline: one byte too many
] as const) {
  test(`a line with ${name} across a block's end moves whole to the next block`, (t) => {
    const q = new LineQueue(new BlockPool());
    let expected = fillLeaving(q, 10);
    const bytes = q.stage(line);
    t.is(bytes, utf8(line) + 1);
    q.commit(bytes, 1);
    expected += `${line}\n`;
    t.is(q.bytes, utf8(expected));
    const taken = q.take(2 * BLOCK_BYTES, '');
    t.is(taken.buf.toString('utf8'), expected);
    t.is(taken.lines, expected.split('\n').length - 1);
    t.is(q.bytes, 0);
  });
}

test('a multi-byte line that exactly fills a block stays in it', (t) => {
  const q = new LineQueue(new BlockPool());
  let expected = fillLeaving(q, 10);
  const line = 'aaaaaa€'; // 9 bytes + newline = 10
  q.commit(q.stage(line), 1);
  expected += `${line}\n`;
  const first = q.take(BLOCK_BYTES, '');
  t.not(first.block, null, 'one full block, written without a copy');
  t.is(first.buf.length, BLOCK_BYTES);
  t.is(first.buf.toString('utf8'), expected);
});

test('a staged line not committed leaves no trace; a line longer than a block gets its own', (t) => {
  const q = new LineQueue(new BlockPool());
  q.commit(q.stage('first'), 1);
  q.stage('dropped by a cap'); // never committed
  const long = 'é'.repeat(BLOCK_BYTES); // twice a block, in UTF-8
  q.commit(q.stage(long), 1);
  q.commit(q.stage('last'), 0);
  const taken = q.take(4 * BLOCK_BYTES, 'prefix\n');
  t.is(taken.buf.toString('utf8'), `prefix\nfirst\n${long}\nlast\n`);
  t.like(taken, { lines: 3, events: 2, bytes: utf8(`first\n${long}\nlast\n`) });
});

/** An event whose line is mostly 3-byte characters: its UTF-8 size is far above its length. */
function wideEvent(i: number): CallEventInput {
  const e = callEvent(i);
  e.tags = { feature: '要約'.repeat(300), customer: `客-${i}` };
  return e;
}

/** The size of `event`'s line in the file, newline included, as line `seq` of its file. */
function lineBytes(event: CallEventInput, seq: number): number {
  return utf8(JSON.stringify({ ...event, seq })) + 1;
}

/** The same in UTF-16 units, as the caps once counted it. */
function lineUnits(event: CallEventInput, seq: number): number {
  return JSON.stringify({ ...event, seq }).length + 1;
}

test('multi-byte lines crossing many block ends are all written intact and in order', async (t) => {
  const dir = tempDir(t);
  // Enough lines (~3.5 KB each) for about 20 block ends, all buffered before the first write.
  const n = Math.ceil((20 * BLOCK_BYTES) / lineBytes(wideEvent(0), 1));
  const writer = new EventWriter({ dir, app: 'wide', maxBufferBytes: 32 * BLOCK_BYTES });
  const sent = Array.from({ length: n }, (_, i) => wideEvent(i));
  for (const [i, e] of sent.entries()) {
    if (i % 7 === 0) e.tags = { ...e.tags, note: '😀'.repeat(i % 50) + 'é'.repeat(i % 13) };
    writer.write(e);
  }
  await writer.close();
  const lines = readLines(eventFiles(dir)[0] as string);
  t.deepEqual(
    calls(lines).map((l) => l['tags']),
    sent.map((e) => e.tags),
  );
  t.is(writer.stats().bytes_written, fs.statSync(eventFiles(dir)[0] as string).size);
});

test('the buffer cap counts exact UTF-8 bytes', (t) => {
  const dir = tempDir(t);
  // A disk that never answers: every accepted line stays counted against the buffer.
  const write: WriterFs['write'] = () => {};
  const first = wideEvent(0);
  const size = lineBytes(first, 1); // seq 1 to 9 have the same size
  t.true(4 * lineUnits(first, 1) <= 3 * size, 'counting UTF-16 units, a fourth line would fit');
  const writer = new EventWriter({ dir, app: 'bufcap', fs: { write }, maxBufferBytes: 3 * size });
  for (let i = 0; i < 5; i++) writer.write(wideEvent(i));
  t.like(writer.stats(), { events_written: 3, events_dropped_buffer: 2 });
  writer.flushSync(); // the held write is completed synchronously; nothing is left behind
});

test('rotation by size counts exact UTF-8 bytes: a file never passes maxFileBytes before its footer', async (t) => {
  const dir = tempDir(t);
  const size = lineBytes(wideEvent(0), 1);
  const probe = new EventWriter({ dir: `${dir}/probe`, app: 'rot' });
  probe.write(wideEvent(0));
  await probe.close();
  const header = `${fs.readFileSync(eventFiles(`${dir}/probe`)[0] as string, 'utf8').split('\n')[0] as string}\n`;
  // Room for the header and exactly two lines.
  const maxFileBytes = utf8(header) + 2 * size;
  t.true(header.length + 3 * lineUnits(wideEvent(0), 1) <= maxFileBytes, 'counting UTF-16 units, three would fit');
  const writer = new EventWriter({ dir: `${dir}/ev`, app: 'rot', maxFileBytes });
  for (let i = 0; i < 6; i++) writer.write(wideEvent(i));
  await writer.close();
  const files = eventFiles(`${dir}/ev`);
  t.is(files.length, 3);
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    const beforeFooter = text.slice(0, text.lastIndexOf('\n', text.length - 2) + 1);
    t.is(utf8(beforeFooter), maxFileBytes);
    t.is(calls(readLines(file)).length, 2);
  }
});

test('blocks are reused whether or not lines arrive while a write is in flight: a steady writer allocates no new block per write', (t) => {
  // The writer's cycle: take the lines for one write, buffer what arrives meanwhile, hand the
  // block back once written. A write that finds nothing arriving returns its block while the
  // previous one still waits in the pool; dropping it meant a new 1 MiB block at the next write.
  const pool = new BlockPool();
  const q = new LineQueue(pool);
  const seen = new Set<Buffer>();
  let seed = 7;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const line = 'x'.repeat(1399);
  const arrive = (n: number): void => {
    for (let i = 0; i < n; i++) q.commit(q.stage(line), 1);
  };
  arrive(48);
  for (let write = 0; write < 400; write++) {
    const taken = q.take(BLOCK_BYTES, '');
    t.not(taken.block, null);
    seen.add(taken.block!);
    // Lines arrive during the write, or none do.
    if (random() < 0.5) arrive(1 + Math.floor(random() * 60));
    pool.put(taken.block!);
    if (q.bytes === 0) arrive(1 + Math.floor(random() * 60));
  }
  t.true(seen.size <= 3, `${seen.size} distinct blocks for 400 writes`);
});
