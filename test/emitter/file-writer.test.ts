import { statSync } from 'node:fs';
import test from 'ava';
import { EventWriter } from '../../src/emitter/file-writer.js';
import { WriterOptionsError } from '../../src/emitter/writer-options.js';
import { callEvent, eventFiles, readLines, tempDir, type Line } from './file-writer-helpers.js';

const calls = (lines: Line[]): Line[] => lines.filter((l) => l.t === 'call');

test('1,000 events written from concurrent tasks give 1,000 whole lines in order, seq increasing', async (t) => {
  const dir = tempDir(t);
  const writer = new EventWriter({ dir, app: 'conc' });
  let next = 0;
  const task = async (): Promise<void> => {
    for (let k = 0; k < 20; k++) {
      writer.write(callEvent(next++));
      await new Promise((r) => setImmediate(r));
    }
  };
  await Promise.all(Array.from({ length: 50 }, task));
  await writer.close();
  const files = eventFiles(dir);
  t.is(files.length, 1);
  const lines = readLines(files[0] as string);
  t.is(lines[0]?.t, 'header');
  t.is(lines.at(-1)?.t, 'footer');
  const events = calls(lines);
  t.is(events.length, 1000);
  t.deepEqual(
    events.map((e) => e['seq']),
    events.map((_, i) => i + 1),
  );
  t.deepEqual(
    events.map((e) => e['event_id']),
    Array.from({ length: 1000 }, (_, i) => callEvent(i).event_id),
  );
  const footer = lines.at(-1) as Line;
  t.is(footer['lines'], lines.length - 1);
  t.is(footer['reason'], 'close');
  t.is((footer['stats'] as Record<string, number>)['events_written'], 1000);
});

test('the file is named after app, host, pid, start and file_seq, with a unique file_id header', async (t) => {
  const dir = tempDir(t);
  const writer = new EventWriter({ dir, app: 'my-app/x', host: 'h1' });
  writer.write(callEvent(0));
  await writer.close();
  const [file] = eventFiles(dir);
  t.regex(file ?? '', new RegExp(`/my_app_x-h1-${process.pid}-\\d+-0\\.ndjson$`));
  const header = readLines(file as string)[0] as Line;
  t.like(header, { t: 'header', v: 1, app: 'my-app/x', host: 'h1', pid: process.pid, file_seq: 0 });
  t.regex(String(header['file_id']), /^[0-9a-f-]{36}$/);
  t.like(header['emitter'] as object, { name: 'claudescope-node' });
});

test('two writers of one process started in the same millisecond write files of their own', async (t) => {
  const dir = tempDir(t);
  const ms = Date.now();
  const writers = [0, 1].map(() => new EventWriter({ dir, app: 'same', host: 'h1', now: () => ms }));
  for (let i = 0; i < 3; i++) for (const w of writers) w.write(callEvent(i));
  await Promise.all(writers.map((w) => w.close()));
  const files = eventFiles(dir);
  t.is(files.length, 2);
  const ids = new Set<unknown>();
  for (const file of files) {
    t.regex(file, new RegExp(`/same-h1-${process.pid}-\\d+-0\\.ndjson$`));
    const lines = readLines(file);
    t.deepEqual(lines.map((l) => l['t']), ['header', 'call', 'call', 'call', 'footer']);
    t.deepEqual(lines.slice(1, 4).map((l) => l['seq']), [1, 2, 3]);
    ids.add(lines[0]!['file_id']);
  }
  t.is(ids.size, 2);
});

test('creates nothing before the first write; the file is mode 0600 and a new folder 0700', async (t) => {
  const dir = `${tempDir(t)}/deep/events`;
  const writer = new EventWriter({ dir, app: 'perm' });
  await writer.flush();
  t.throws(() => statSync(dir));
  writer.write(callEvent(0));
  await writer.flush();
  t.is(statSync(dir).mode & 0o777, 0o700);
  const [file] = eventFiles(dir);
  t.is(statSync(file as string).mode & 0o777, 0o600);
  await writer.close();
});

test('rotation by size seals the file with a footer counting its lines and opens file_seq 1', async (t) => {
  const dir = tempDir(t);
  const writer = new EventWriter({ dir, app: 'rot', maxFileBytes: 20_000 });
  for (let i = 0; i < 60; i++) writer.write(callEvent(i));
  await writer.close();
  const files = eventFiles(dir);
  t.true(files.length >= 2);
  let total = 0;
  files.forEach((file, fileSeq) => {
    const lines = readLines(file);
    t.like(lines[0], { t: 'header', file_seq: fileSeq });
    const footer = lines.at(-1) as Line;
    t.is(footer.t, 'footer');
    t.is(footer['lines'], lines.length - 1);
    t.is(footer['reason'], fileSeq === files.length - 1 ? 'close' : 'rotate_size');
    t.is(footer['file_id'], lines[0]?.['file_id']);
    if (fileSeq < files.length - 1) t.true(statSync(file).size <= 20_000 + 1024);
    const events = calls(lines);
    t.deepEqual(
      events.map((e) => e['seq']),
      events.map((_, i) => i + 1),
    );
    total += events.length;
  });
  t.is(total, 60);
});

test('rotation by age seals with rotate_age and the next event opens the next file', async (t) => {
  const dir = tempDir(t);
  let now = 1_000_000;
  const writer = new EventWriter({ dir, app: 'age', maxFileAgeMs: 1000, now: () => now });
  writer.write(callEvent(0));
  writer.write(callEvent(1));
  now += 1000;
  writer.write(callEvent(2));
  await writer.close();
  const files = eventFiles(dir);
  t.is(files.length, 2);
  const first = readLines(files[0] as string);
  t.like(first.at(-1), { t: 'footer', reason: 'rotate_age', lines: 3 });
  const second = readLines(files[1] as string);
  t.like(second[0], { t: 'header', file_seq: 1 });
  t.like(second[1], { t: 'call', seq: 1, event_id: callEvent(2).event_id });
});

test('stats lines with the cumulative counters appear periodically', async (t) => {
  const dir = tempDir(t);
  const writer = new EventWriter({ dir, app: 'stats', statsIntervalMs: 20, flushIntervalMs: 5 });
  writer.write(callEvent(0));
  await new Promise((r) => setTimeout(r, 120));
  writer.write(callEvent(1));
  await writer.close();
  const lines = readLines(eventFiles(dir)[0] as string);
  const stats = lines.filter((l) => l.t === 'stats');
  t.true(stats.length >= 1);
  t.like(stats[0], { v: 1, file_id: lines[0]?.['file_id'] });
  t.like(stats[0]?.['stats'] as object, { events_written: 1, internal_errors: 0 });
  // seq counts every line of the file, stats lines included.
  const last = lines.at(-2) as Line;
  t.is(last['seq'], lines.length - 2);
});

test('past the folder cap new events are dropped and counted, never written', async (t) => {
  const dir = tempDir(t);
  const writer = new EventWriter({ dir, app: 'cap', maxDirBytes: 30_000 });
  for (let i = 0; i < 100; i++) writer.write(callEvent(i));
  await writer.close();
  const s = writer.stats();
  t.true(s.events_dropped_dir_cap > 0);
  t.is(s.events_written + s.events_dropped_dir_cap, 100);
  const written = eventFiles(dir).flatMap((f) => calls(readLines(f)));
  t.is(written.length, s.events_written);
  const total = eventFiles(dir).reduce((n, f) => n + statSync(f).size, 0);
  t.true(total <= 30_000 + 2048, `folder holds ${total} bytes`);
});

test('a new process id (fork) never appends to the parent file: a new file is used', async (t) => {
  const dir = tempDir(t);
  let pid = 1000;
  const writer = new EventWriter({ dir, app: 'fork', pid: () => pid });
  writer.write(callEvent(0));
  await writer.flush();
  pid = 2000;
  writer.write(callEvent(1));
  await writer.close();
  const files = eventFiles(dir);
  t.is(files.length, 2);
  const names = files.map((f) => f.slice(dir.length + 1));
  t.true(names.some((n) => n.startsWith('fork-') && n.includes('-1000-')));
  const child = files.find((f) => f.includes('-2000-')) as string;
  const lines = readLines(child);
  t.like(lines[0], { t: 'header', pid: 2000, file_seq: 0 });
  t.like(lines[1], { t: 'call', seq: 1, event_id: callEvent(1).event_id });
  const parent = readLines(files.find((f) => f.includes('-1000-')) as string);
  t.is(calls(parent).length, 1);
});

test('write() never throws, even for an event JSON cannot serialise, and counts it', async (t) => {
  const dir = tempDir(t);
  const writer = new EventWriter({ dir, app: 'bad' });
  const bad = { ...callEvent(0), content: { big: 10n } };
  t.notThrows(() => writer.write(bad));
  writer.write(callEvent(1));
  await writer.close();
  t.is(writer.stats().internal_errors, 1);
  t.is(calls(readLines(eventFiles(dir)[0] as string)).length, 1);
});

test('a write after close opens the next file rather than losing the event', async (t) => {
  const dir = tempDir(t);
  const writer = new EventWriter({ dir, app: 'reopen' });
  writer.write(callEvent(0));
  await writer.close();
  writer.write(callEvent(1));
  await writer.close();
  const files = eventFiles(dir);
  t.is(files.length, 2);
  t.like(readLines(files[1] as string)[1], { event_id: callEvent(1).event_id, seq: 1 });
});

test('invalid options fail at construction with a named field', (t) => {
  const err = t.throws(() => new EventWriter({ maxBufferBytes: -1 }), { instanceOf: WriterOptionsError });
  t.regex(err?.message ?? '', /maxBufferBytes/);
});
