/**
 * The tailer holds at most `maxOpenFiles` event files open, closing the longest idle and
 * opening them again when they grow: nothing lost, nothing doubled. (A daemon with fewer
 * descriptors than event files: test/e2e/daemon-cli.test.ts.)
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readdirSync, readlinkSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pipeline } from '../../src/daemon/pipeline.js';
import { descriptorLimit } from '../../src/tail/tailer.js';
import { call, footer, header, line, readDeadLetters, tempHome, waitFor, writeEventFile } from '../helpers/event-files.js';
import { testPricer } from '../helpers/test-pricer.js';
import { failInsertOnce } from '../helpers/store.js';
import { counts, kill, runner } from './runner-process.js';

/** What the descriptors of process `pid` name now (those closed while listed left out). */
function descriptors(pid: number | 'self'): string[] {
  const dir = `/proc/${pid}/fd`;
  const names: string[] = [];
  for (const fd of readdirSync(dir)) {
    try {
      names.push(readlinkSync(join(dir, fd)));
    } catch {
      // closed since the listing
    }
  }
  return names;
}

const inFolder = (names: string[], folder: string): number => names.filter((n) => n.startsWith(`${folder}/`)).length;

test('with a cap of 8, a daemon stores every event of 50 files appended to at once exactly once, holding at most 8 of them open', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const CAP = 8, FILES = 50, ROUNDS = 12, PER_ROUND = 3;
  const r = runner(h.home, { maxOpenFiles: CAP });
  t.teardown(() => r.child.kill('SIGKILL'));
  await waitFor(() => r.out().includes('ready'), 'the runner started');
  const pid = r.child.pid!;
  const baseline = descriptors(pid).length;
  let mostEventFiles = 0;
  let mostInAll = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const names = descriptors(pid);
      mostEventFiles = Math.max(mostEventFiles, inFolder(names, h.events));
      mostInAll = Math.max(mostInAll, names.length);
      await sleep(2);
    }
  })();

  const expected: string[] = [];
  const files = Array.from({ length: FILES }, (_, f) => ({ path: join(h.events, `app-${f}.ndjson`), header: header() }));
  for (const f of files) writeFileSync(f.path, line(f.header));
  for (let round = 0; round < ROUNDS; round++) {
    for (const f of files) {
      const calls = Array.from({ length: PER_ROUND }, () => call());
      expected.push(...calls.map((c) => c.event_id));
      appendFileSync(f.path, calls.map(line).join(''));
    }
    await sleep(30);
  }
  // Half are sealed (the daemon lets go of them), half stay open to their writers.
  for (const f of files.slice(0, FILES / 2)) appendFileSync(f.path, line(footer(f.header.file_id, ROUNDS * PER_ROUND + 1)));
  await waitFor(() => counts(h.data).rows >= expected.length, 'every event stored', 60_000);
  sampling = false;
  await sampler;
  await kill(r.child, 'SIGTERM');
  t.is(r.child.exitCode, 0);

  const c = counts(h.data);
  t.is(c.rows, expected.length, 'each event stored once');
  t.deepEqual([...c.ids].sort(), [...expected].sort());
  t.is(c.rollup, expected.length, 'rollups count every event once');
  t.deepEqual(readDeadLetters(h.data), []);
  t.log(`event files open at most: ${mostEventFiles}; descriptors: ${baseline} at start, ${mostInAll} at most`);
  t.true(mostEventFiles > 0, 'the sampling saw event files open');
  t.true(mostEventFiles <= CAP, `at most ${CAP} event files open (saw ${mostEventFiles})`);
  t.true(mostInAll <= baseline + CAP + 16, `at most the cap and a margin of descriptors more than at start (saw ${mostInAll}, ${baseline} at start)`);
});

/** The soft limit on descriptors of process `pid` ({@link descriptorLimit}), after setting it with `prlimit` (util-linux). */
function softNofile(pid: number, set?: number): number {
  if (set !== undefined) execFileSync('prlimit', ['--pid', String(pid), `--nofile=${set}:`]);
  const limit = descriptorLimit(pid);
  if (limit === null) throw new Error(`no descriptor limit in /proc/${pid}/limits`);
  return limit;
}

test('a shortage of descriptors that passes: the cap halves while the process may open few, then doubles back to max_open_files once it may open more, and every event is stored once', async (t) => {
  t.timeout(240_000);
  const h = tempHome();
  t.teardown(h.cleanup);
  const CAP = 64, FILES = 100, ROOM = 12;
  // Its log on stderr: what the tailer said, should this fail.
  const r = runner(h.home, { maxOpenFiles: CAP, descriptorRecoveryMs: 1000, log: true });
  t.teardown(() => r.child.kill('SIGKILL'));
  await waitFor(() => r.out().includes('ready'), 'the runner started');
  const pid = r.child.pid!;
  const original = softNofile(pid);
  // Room for ROOM event files beside what the runner holds now, and a few to spare for its store.
  const limit = descriptors(pid).length + ROOM + 4;
  t.is(softNofile(pid, limit), limit);

  const expected: string[] = [];
  const files = Array.from({ length: FILES }, (_, f) => ({ path: join(h.events, `app-${f}.ndjson`), header: header() }));
  for (const f of files) writeFileSync(f.path, line(f.header));
  /** Appends a call to every file, `rounds` times; the most event files the runner held at once meanwhile. */
  const appendRounds = async (rounds: number): Promise<number> => {
    let most = 0;
    for (let round = 0; round < rounds; round++) {
      for (const f of files) {
        const c = call();
        expected.push(c.event_id);
        appendFileSync(f.path, line(c));
      }
      for (let i = 0; i < 10; i++) {
        most = Math.max(most, inFolder(descriptors(pid), h.events));
        await sleep(20);
      }
    }
    return most;
  };
  const short = await appendRounds(6);
  // A commit the store could not make for want of a descriptor is retried after a backoff of up to 30 s.
  await waitFor(() => counts(h.data).rows >= expected.length, 'every event stored while short of descriptors', 90_000);
  // The room, give or take the few descriptors the runner held for a moment when it was counted.
  t.true(short <= ROOM + 8, `while short, about the room the limit leaves (saw ${short})`);
  // The tailer let go of an event file given a descriptor that close to the limit, before any
  // store commit found none; and the cap never rose into descriptors the process did not have
  // (it may double back to what the room holds).
  const whileShort = r.err();
  t.regex(whileShort, /out of file descriptors \(descriptor \d+ of a limit of \d+\)/);
  t.false(whileShort.includes('batch commit failed'), whileShort);
  const raised = [...whileShort.matchAll(/no shortage of file descriptors for \d+ s: the daemon now keeps at most (\d+)/g)].map((m) => Number(m[1]));
  t.true(raised.every((cap) => cap <= ROOM), `raised to ${raised.join(', ')} with room for ${ROOM}:\n${whileShort}`);

  // The limit raised again: the cap doubles back, and more files than the room above are held at once.
  softNofile(pid, original);
  const after = await appendRounds(40);
  await waitFor(() => counts(h.data).rows >= expected.length, 'every event stored', 90_000);
  t.log(`event files open at most: ${short} while short, ${after} after`);
  t.true(after >= 40, `the cap rose again (saw ${after} event files open at most, the room was ${ROOM})`);
  t.true(after <= CAP, `never more than max_open_files (saw ${after})`);
  await kill(r.child, 'SIGTERM');
  t.is(r.child.exitCode, 0);
  const c = counts(h.data);
  t.is(c.rows, expected.length, 'each event stored once');
  t.deepEqual([...c.ids].sort(), [...expected].sort());
  t.deepEqual(readDeadLetters(h.data), []);
});

/**
 * Fills this process up to its limit on descriptors but `leave` (the highest): returns what
 * gives them back and restores the limit, which the test's teardown also does. The limit is
 * lowered first, leaving room above the highest descriptor for the pipes of the child process
 * that sets it (the lowest free descriptors may all be taken); the fillers take that room.
 */
function holdDescriptors(t: ExecutionContext, leave: number): () => void {
  const original = softNofile(process.pid);
  const fillers: number[] = [];
  let lowered = false;
  const release = (): void => {
    for (const fd of fillers.splice(0)) closeSync(fd);
    if (lowered) softNofile(process.pid, original);
    lowered = false;
  };
  t.teardown(release);
  const fds = readdirSync('/proc/self/fd').map(Number);
  lowered = true;
  softNofile(process.pid, Math.max(...fds) + 32);
  for (;;) {
    try {
      fillers.push(openSync('/dev/null', 'r'));
    } catch (err: unknown) {
      if ((err as NodeJS.ErrnoException).code === 'EMFILE') break;
      throw err;
    }
  }
  for (const fd of fillers.splice(-leave, leave)) closeSync(fd);
  return release;
}

// Serial: they lower this process's own limit, which the tests running beside them would hit.
test.serial('with the rest of the process holding all but 3 of its descriptors, the tailer reads its event files one at a time rather than none', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const p = new Pipeline({ home: h.home, pricer: testPricer(), log: () => undefined, tailer: { pollIntervalMs: 50, maxEofBackoffMs: 20, retention: 'keep', maxOpenFiles: 8, commitRetryMs: 200 } });
  await p.start();
  t.teardown(() => p.stop());
  const ids = (): string[] => (p.store!.db.prepare('SELECT event_id FROM calls').all() as { event_id: string }[]).map((r) => r.event_id).sort();
  // Every descriptor an open may be given is one of the last 4 the limit allows (and the store
  // may find none for a commit, retried once the tailer let go of what it holds).
  holdDescriptors(t, 3);
  const first = [call()];
  writeEventFile({ dir: h.events, name: 'a.ndjson', calls: first });
  await waitFor(() => ids().length === 1, 'the first file read, though given one of the last descriptors', 30_000);
  const second = [call(), call()];
  writeEventFile({ dir: h.events, name: 'b.ndjson', calls: second });
  await waitFor(() => ids().length === 3, 'the second file read once the first was let go of', 30_000);
  t.deepEqual(ids(), [...first, ...second].map((c) => c.event_id).sort(), 'each event once');
  t.true(p.health().descriptorShortages >= 1, 'holding one, it let go of the next rather than take the last descriptors');
  t.true(p.health().filesOpen <= 1, `one file at a time (${p.health().filesOpen} open)`);
});

test.serial('a commit that fails while the process has no descriptor to spare lowers the cap, so that the store finds descriptors free when it retries', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const logs: string[] = [];
  // A poll of an hour: listing the folder (which takes a descriptor) never finds the shortage first.
  const p = new Pipeline({ home: h.home, pricer: testPricer(), log: (level, msg, fields) => logs.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`), tailer: { pollIntervalMs: 3_600_000, maxEofBackoffMs: 20, retention: 'keep', maxOpenFiles: 8, commitRetryMs: 500 } });
  // Found by the first scan.
  const files = Array.from({ length: 8 }, (_, i) => writeEventFile({ dir: h.events, name: `app-${i}.ndjson`, calls: [call()] }).path);
  await p.start();
  t.teardown(() => p.stop());
  const stored = (): number => (p.store!.db.prepare('SELECT COUNT(*) AS n FROM calls').get() as { n: number }).n;
  await waitFor(() => stored() === 8 && p.health().filesOpen === 8, 'every file stored, each held open');

  const victim = call();
  const tries = failInsertOnce(p.store!.db, victim.event_id);
  // Opened now: appending takes no descriptor once there is none.
  const appender = openSync(files[0]!, 'a');
  t.teardown(() => closeSync(appender));
  // The process filled up to its limit: not one descriptor more to be had.
  const release = holdDescriptors(t, 0);
  writeSync(appender, line(victim));
  await waitFor(() => p.health().descriptorShortages === 1, 'the shortage found after the failed commit', 20_000);
  // Counted as it is found; the files are closed after.
  await waitFor(() => p.health().filesOpen <= 4, 'half the event files closed', 20_000);
  release();
  await waitFor(() => stored() === 9, 'the call whose commit failed, stored when retried');
  t.is(tries(), 2);
  t.is(p.health().checkpointErrors, 1);
  t.true(logs.some((l) => l.includes('out of file descriptors (EMFILE)') && l.includes('"after":"a failed commit"')), logs.join('\n'));
  const ids = (p.store!.db.prepare('SELECT event_id FROM calls').all() as { event_id: string }[]).map((r) => r.event_id);
  t.is(new Set(ids).size, 9);
  t.true(ids.includes(victim.event_id));
});

/**
 * A pipeline holding at most 2 files open over `a.ndjson` (5 calls) and two more files appended
 * to until `a.ndjson`, idle the longest, is closed; `expected` counts the calls written.
 */
async function withFirstClosed(t: ExecutionContext) {
  const h = tempHome();
  t.teardown(h.cleanup);
  const p = new Pipeline({ home: h.home, pricer: testPricer(), tailer: { pollIntervalMs: 50, maxEofBackoffMs: 20, retention: 'keep', maxOpenFiles: 2 } });
  await p.start();
  t.teardown(() => p.stop());
  const state = { p, path: join(h.events, 'a.ndjson'), home: h.home, events: h.events, expected: 0, stored: (): number => (p.store!.db.prepare('SELECT COUNT(*) AS n FROM calls').get() as { n: number }).n };
  const first = Array.from({ length: 5 }, () => call());
  writeEventFile({ dir: h.events, name: 'a.ndjson', calls: first });
  state.expected = first.length;
  await waitFor(() => state.stored() === state.expected, 'the first file stored');
  const others = Array.from({ length: 2 }, (_, i) => writeEventFile({ dir: h.events, name: `b${i}.ndjson`, calls: [call()] }).path);
  state.expected += others.length;
  for (let round = 0; round < 3; round++) {
    await waitFor(() => state.stored() === state.expected, 'the other files stored');
    for (const o of others) appendFileSync(o, line(call()));
    state.expected += others.length;
  }
  await waitFor(() => state.stored() === state.expected, 'the appends stored');
  t.false(descriptors('self').includes(state.path), 'the first file is closed');
  t.true(p.health().filesOpen <= 2);
  return state;
}

test('a file replaced while its descriptor was closed for the cap is taken for a replacement: both files are stored, once each', async (t) => {
  const s = await withFirstClosed(t);
  // Replaced (another file, with its own header, moved over it), then grown.
  const replacement = Array.from({ length: 4 }, () => call());
  const tmp = join(s.home, 'a.tmp');
  writeFileSync(tmp, line(header()) + replacement.map(line).join(''));
  renameSync(tmp, s.path);
  s.expected += replacement.length;
  await waitFor(() => s.stored() === s.expected && s.p.health().replacements === 1, 'the replacement stored');
  appendFileSync(s.path, line(call()));
  s.expected += 1;
  await waitFor(() => s.stored() === s.expected, 'the replacement read as it grows');
  t.like(s.p.health(), { replacements: 1, truncations: 0, eventsIgnored: 0 });
  t.true(s.p.health().filesOpen <= 2);
});

test('a file renamed while its descriptor was closed for the cap is followed under its new name, not read again', async (t) => {
  const s = await withFirstClosed(t);
  const moved = join(s.events, 'a-renamed.ndjson');
  renameSync(s.path, moved);
  appendFileSync(moved, line(call()));
  s.expected += 1;
  await waitFor(() => s.stored() === s.expected, 'the line appended after the rename stored');
  t.like(s.p.health(), { replacements: 0, truncations: 0, eventsIgnored: 0 });
  t.deepEqual(s.p.store!.loadCheckpoints().map((c) => c.path).filter((p) => p.includes('/a')), [moved]);
});
