// Real child processes: exit, SIGKILL, and what importing the module does to a process.
import { existsSync, readFileSync, statSync } from 'node:fs';
import test from 'ava';
import { callEvent, eventFiles, readLines, runWriterChild as runChild, tempDir, type Line } from './file-writer-helpers.js';

test('a process that writes events then calls process.exit() loses none, and its file is sealed', async (t) => {
  const dir = tempDir(t);
  const n = 4000; // ~7 MB written in one synchronous burst: within the 8 MiB buffer
  const r = await runChild(['exit', dir, String(n)]);
  t.is(r.code, 0, r.stderr);
  const files = eventFiles(dir);
  t.is(files.length, 1);
  const lines = readLines(files[0] as string);
  const calls = lines.filter((l) => l.t === 'call');
  t.is(calls.length, n);
  t.deepEqual(
    calls.map((c) => c['event_id']),
    Array.from({ length: n }, (_, i) => callEvent(i).event_id),
  );
  const footer = lines.at(-1) as Line;
  t.like(footer, { t: 'footer', reason: 'close', lines: lines.length - 1 });
  t.like(footer['stats'] as object, { events_written: n, events_dropped_buffer: 0 });
});

test('a process killed with SIGKILL mid-stream leaves only complete lines', async (t) => {
  const dir = tempDir(t);
  const r = await runChild(['stream', dir], (out, kill) => {
    if (!out.includes('ready')) return;
    // Let it stream to disk a little longer, then kill it without warning.
    const wait = (): void => {
      // List again each time: the file may not exist yet when 'ready' is printed.
      const files = eventFiles(dir);
      const size = files[0] === undefined ? 0 : statSync(files[0]).size;
      if (size > 256 * 1024) kill();
      else setTimeout(wait, 5);
    };
    wait();
  });
  t.is(r.signal, 'SIGKILL');
  const files = eventFiles(dir);
  t.true(files.length >= 1);
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const complete = text.slice(0, text.lastIndexOf('\n') + 1);
    const lines = complete.split('\n').slice(0, -1).map((l) => JSON.parse(l) as Line);
    t.is(lines[0]?.t, 'header');
    const calls = lines.filter((l) => l.t === 'call');
    t.true(calls.length > 100);
    t.deepEqual(
      calls.map((c) => c['seq']),
      calls.map((_, i) => i + 1),
    );
    // At most one unterminated tail, and only from a short write: never a torn line inside.
    t.true(text.length - complete.length < 1024 * 1024);
  }
});

test('importing the writer adds no exit listener, starts no timer, creates no file', async (t) => {
  const home = tempDir(t);
  const r = await runChild(['import', home]);
  t.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as {
    before: { exit: number; resources: string[]; dirEntries: number };
    after: { exit: number; resources: string[]; dirEntries: number; eventsDirExists: boolean };
    afterWrite: { exit: number };
    afterClose: { exit: number; resources: string[] };
  };
  t.is(report.after.exit, report.before.exit, 'import and construction add no exit listener');
  t.deepEqual(report.after.resources, report.before.resources, 'no timer or handle');
  t.is(report.after.dirEntries, 0);
  t.false(report.after.eventsDirExists);
  t.is(report.afterWrite.exit, report.before.exit + 1, 'one listener once a file opens');
  t.is(report.afterClose.exit, report.before.exit, 'removed on close');
  t.false(report.afterClose.resources.includes('Timeout'), 'no timer left after close');
  t.is(eventFiles(`${home}/events`).length, 1);
});

test('a process whose events folder cannot be made (under /proc, where mkdir -p never returns) still exits at once', async (t) => {
  if (!existsSync('/proc/self')) {
    t.pass('no procfs here');
    return;
  }
  const r = await runChild(['exit', `/proc/claudescope-no-such-folder-${process.pid}/events`, '10']);
  t.is(r.signal, null, 'the child hung at exit and was killed');
  t.is(r.code, 0, r.stderr);
});
