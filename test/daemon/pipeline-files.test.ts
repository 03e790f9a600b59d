import test, { type ExecutionContext } from 'ava';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Pipeline, type CommitObserver, type PipelineOptions } from '../../src/daemon/pipeline.js';
import { appendLines, call, emptyStats, footer, header, line, readDeadLetters, statsLine, tempHome, waitFor, writeEventFile, type TempHome } from '../helpers/event-files.js';
import { testPricer } from '../helpers/test-pricer.js';
import { failInsertOnce } from '../helpers/store.js';

type Ctx = { teardown(fn: () => void | Promise<void>): void };

type Over = Partial<Omit<PipelineOptions, 'home' | 'pricer'>>;

/** A pipeline over `h` with the tests' tailer (quick polls, files kept); `over` says what differs, its `tailer` merged into theirs. */
const pipelineOptions = (h: TempHome, over: Over = {}): PipelineOptions =>
  ({ home: h.home, pricer: testPricer(), ...over, tailer: { pollIntervalMs: 50, maxEofBackoffMs: 20, retention: 'keep', ...over.tailer } });

/** Starts a pipeline (see {@link pipelineOptions}) over `home`, or over a fresh one removed at teardown, and stops it at teardown. */
async function startPipeline(t: Ctx, over: Over = {}, home?: TempHome): Promise<{ p: Pipeline; h: TempHome }> {
  const h = home ?? tempHome();
  if (!home) t.teardown(h.cleanup);
  const p = new Pipeline(pipelineOptions(h, over));
  await p.start();
  t.teardown(() => p.stop());
  return { p, h };
}

const ids = (p: Pipeline): string[] => (p.store!.db.prepare('SELECT event_id FROM calls ORDER BY ts, id').all() as { event_id: string }[]).map((r) => r.event_id).sort();
/** Calls in the per-minute rollups, once the batches' deltas are folded in. */
const rollupTotal = (p: Pipeline): number => (p.store!.foldRollups(), p.store!.db.prepare('SELECT COALESCE(SUM(count), 0) AS n FROM rollup_minute').get() as { n: number }).n;
const sorted = (a: { event_id: string }[]): string[] => a.map((c) => c.event_id).sort();
/** Batches small enough that a few hundred calls are a backlog of runs of batches marked `more`. */
const smallBatches = { chunkBytes: 4096, maxBatchBytes: 8192 };

/** An observer per transaction (`observeCommits`) handing `onCommit` the event ids of its new calls once it committed. */
function observeInto(onCommit: (eventIds: string[]) => void): () => CommitObserver {
  return () => {
    const added: string[] = [];
    return { add: (c) => added.push(c.event.event_id), commit: () => onCommit(added) };
  };
}

test('a corrupted line is dead-lettered by file id and offset while the lines around it are stored', async (t) => {
  const { p, h } = await startPipeline(t);
  const hd = header();
  const good = [call(), call(), call()];
  const bad = { ...call(), usage: 'lots' };
  const lines = [line(hd), line(good[0]), '{"t":"call","v":1,"event_id":\n', line(good[1]), line({ ...call(), v: 2 }), line(bad), line(good[2])];
  const path = join(h.events, 'a.ndjson');
  writeFileSync(path, lines.join(''));
  await waitFor(() => ids(p).length === 3 && p.health().deadLettered.invalid_schema === 1, 'good lines stored');
  t.deepEqual(ids(p), sorted(good));
  const offsetOf = (i: number): number => Buffer.byteLength(lines.slice(0, i).join(''));
  const dl = readDeadLetters(h.data).map((d) => [d['reason'], d['file_id'], d['offset'], d['length']]);
  t.deepEqual(dl, [
    ['malformed_json', hd.file_id, offsetOf(2), Buffer.byteLength(lines[2]!) - 1],
    ['unknown_version', hd.file_id, offsetOf(4), Buffer.byteLength(lines[4]!) - 1],
    ['invalid_schema', hd.file_id, offsetOf(5), Buffer.byteLength(lines[5]!) - 1],
  ]);
  t.like(p.health().deadLettered, { malformed_json: 1, unknown_version: 1, invalid_schema: 1, oversize: 0 });
});

test('a number past a double\'s range (1e999, read as Infinity) makes its line invalid, dead-lettered, never stored', async (t) => {
  const { p, h } = await startPipeline(t);
  const hd = header();
  const good = call();
  const huge = line(call()).replace(/"duration_ms":[0-9.]+,"ttft_ms"/, '"duration_ms":1e999,"ttft_ms"');
  t.regex(huge, /"duration_ms":1e999/);
  writeFileSync(join(h.events, 'a.ndjson'), [line(hd), huge, line(good)].join(''));
  await waitFor(() => ids(p).length === 1 && p.health().deadLettered.invalid_schema === 1, 'good line stored');
  t.deepEqual(ids(p), [good.event_id]);
  t.deepEqual(readDeadLetters(h.data).map((d) => d['reason']), ['invalid_schema']);
});

test('a 10 MB line is skipped and dead-lettered by offset and length, and the next lines are stored', async (t) => {
  const { p, h } = await startPipeline(t);
  const hd = header();
  const before = call();
  const after = [call(), call()];
  const path = join(h.events, 'big.ndjson');
  const head = line(hd) + line(before);
  writeFileSync(path, head);
  await waitFor(() => ids(p).length === 1, 'first call');
  // The long line arrives in two writes: its first part is already over the limit and unterminated.
  const big = `{"t":"call","v":1,"pad":"${'x'.repeat(10 * 1024 * 1024)}"}`;
  appendFileSync(path, big.slice(0, 6 * 1024 * 1024));
  await new Promise((r) => setTimeout(r, 200));
  appendFileSync(path, `${big.slice(6 * 1024 * 1024)}\n${after.map(line).join('')}`);
  await waitFor(() => ids(p).length === 3, 'calls after the long line');
  t.deepEqual(ids(p), sorted([before, ...after]));
  const dl = readDeadLetters(h.data);
  t.is(dl.length, 1);
  t.like(dl[0], { reason: 'oversize', file_id: hd.file_id, offset: Buffer.byteLength(head), length: Buffer.byteLength(big) });
  t.false('excerpt' in dl[0]!, 'the oversize line content is not copied');
  t.is(p.health().deadLettered.oversize, 1);
});

test('a partial last line waits until it is completed', async (t) => {
  const { p, h } = await startPipeline(t);
  const c1 = call();
  const c2 = call();
  const path = join(h.events, 'partial.ndjson');
  const text2 = line(c2);
  writeFileSync(path, line(header()) + line(c1) + text2.slice(0, 100));
  await waitFor(() => ids(p).length === 1, 'first call');
  await new Promise((r) => setTimeout(r, 300)); // several polls and EOF retries
  t.deepEqual(ids(p), [c1.event_id]);
  t.deepEqual(readDeadLetters(h.data), []);
  const cp = p.store!.loadCheckpoints()[0]!;
  t.is(cp.offset, readFileSync(path).length - 100, 'the checkpoint stops before the partial line');
  appendFileSync(path, text2.slice(100));
  await waitFor(() => ids(p).length === 2, 'completed call');
  t.deepEqual(ids(p), sorted([c1, c2]));
});

/**
 * A pipeline with `batchIntervalMs` over a file holding a header, read and idle past the
 * interval; `committedAt` maps each call stored to when its commit was observed.
 */
async function idlePipeline(t: ExecutionContext, batchIntervalMs: number, tailer: Record<string, unknown> = {}, idleMs = batchIntervalMs + 100) {
  const committedAt = new Map<string, number>();
  const { p, h } = await startPipeline(t, { observeCommits: observeInto((ids) => ids.forEach((id) => committedAt.set(id, Date.now()))), tailer: { batchIntervalMs, ...tailer } });
  const path = join(h.events, 'a.ndjson');
  writeFileSync(path, line(header()));
  await waitFor(() => p.store!.loadCheckpoints().length === 1, 'header read');
  await new Promise((r) => setTimeout(r, idleMs));
  return { p, path, committedAt };
}

/** After idle, appends a call, waits until it is stored, appends another at once: when each was committed. */
async function twoAppends(t: ExecutionContext, batchIntervalMs: number): Promise<{ first: number; gap: number }> {
  const { p, path, committedAt } = await idlePipeline(t, batchIntervalMs);
  const [c1, c2] = [call(), call()];
  const t0 = Date.now();
  appendFileSync(path, line(c1));
  await waitFor(() => committedAt.has(c1.event_id), 'first call');
  appendFileSync(path, line(c2));
  await waitFor(() => committedAt.has(c2.event_id), 'second call');
  t.deepEqual(ids(p), sorted([c1, c2]));
  const at1 = committedAt.get(c1.event_id)!;
  return { first: at1 - t0, gap: committedAt.get(c2.event_id)! - at1 };
}

test('once caught up, lines wait out the batch interval (one commit per interval, not per append); a line after idle goes at once', async (t) => {
  const batched = await twoAppends(t, 1500);
  // The second call's commit waits out the interval from the end of the pass that read the first.
  // The gap runs from the first commit's end, which the interval's start precedes by that
  // commit's duration (tens of ms, more on a loaded machine): 300 ms of slack for it.
  t.true(batched.gap >= 1200, `second call committed ${batched.gap} ms after the first`);
  // Read at once after idle: passes that find nothing new do not start the interval again.
  t.true(batched.first < 1000, `first call committed ${batched.first} ms after its append`);
  const eager = await twoAppends(t, 0);
  t.true(eager.gap < 1450, `without an interval, ${eager.gap} ms`);
});

test('stop() does not wait out the batch interval', async (t) => {
  // Just past the header's commit: the read loop sleeps out the interval.
  const { p, path } = await idlePipeline(t, 10_000, {}, 100);
  appendFileSync(path, line(call()));
  const t0 = Date.now();
  await p.stop();
  t.true(Date.now() - t0 < 5000, `stop took ${Date.now() - t0} ms`);
});

test('a file truncated and rewritten past the offset read, between two scans, is re-read from its first byte: nothing lost', async (t) => {
  // No scan in the meantime (a long poll, no watcher): the rewrite is seen when its lines are read.
  const h = tempHome();
  t.teardown(h.cleanup);
  const path = join(h.events, 'rewritten.ndjson');
  const before = Array.from({ length: 5 }, () => call());
  writeFileSync(path, line(header()) + before.map(line).join(''));
  const { p } = await startPipeline(t, { tailer: { pollIntervalMs: 60_000, watch: false } }, h);
  await waitFor(() => ids(p).length === 5, 'the first file');
  const after = Array.from({ length: 30 }, () => call());
  truncateSync(path, 0);
  // A header of another length: the old offset falls inside a line of the new bytes.
  appendFileSync(path, line(header({ app: 'another-app-with-a-longer-name' })) + after.map(line).join(''));
  await waitFor(() => ids(p).length === 35, 'every call of the file written in its place');
  t.deepEqual(ids(p), sorted([...before, ...after]));
  t.is(p.health().truncations, 1);
  t.is(Object.values(p.health().deadLettered).reduce((a, b) => a + b, 0), 0, 'no line read at an old offset is dead-lettered');
  t.deepEqual(readDeadLetters(h.data), []);
  await waitFor(() => p.health().lagBytes === 0, 'caught up');
});

test('a dead letter the dead-letter file refused is written (and counted) once it can be, not lost', async (t) => {
  const { p, h } = await startPipeline(t, { tailer: { commitRetryMs: 20 } });
  const deadLetterPath = join(h.data, 'dead-letter.ndjson');
  mkdirSync(deadLetterPath); // unwritable as a file
  const good = call();
  writeFileSync(join(h.events, 'e.ndjson'), line(header()) + '{"t":"call","v":1,"event_id":\n' + line(good));
  await waitFor(() => p.health().checkpointErrors >= 2, 'the batch refused while its dead letter cannot be written');
  rmSync(deadLetterPath, { recursive: true });
  await waitFor(() => ids(p).length === 1, 'the batch, once its dead letter could be written');
  t.is(readDeadLetters(h.data).length, 1);
  t.is(Object.values(p.health().deadLettered).reduce((a, b) => a + b, 0), 1);
});

test('a file deleted by someone else once read leaves no checkpoint behind', async (t) => {
  const { p, h } = await startPipeline(t);
  const hd = header();
  const path = join(h.events, 'deleted.ndjson');
  writeFileSync(path, line(hd) + line(call()));
  await waitFor(() => ids(p).length === 1, 'the file');
  const checkpoint = () => p.store!.db.prepare('SELECT 1 FROM checkpoints WHERE file_key = ?').get(hd.file_id);
  t.truthy(checkpoint());
  rmSync(path);
  const cache = (p as unknown as { tailer: { checkpointCache: Map<string, unknown> } }).tailer.checkpointCache;
  await waitFor(() => checkpoint() === undefined && !cache.has(hd.file_id), 'its checkpoint forgotten');
  t.is(p.health().filesTracked, 0);
});

test('a folder named like an event file is skipped, and the files beside it are read', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  mkdirSync(join(h.events, 'a-folder.ndjson'));
  const { p } = await startPipeline(t, {}, h);
  const first = [call(), call()];
  writeFileSync(join(h.events, 'b.ndjson'), line(header()) + first.map(line).join(''));
  await waitFor(() => ids(p).length === 2, 'the file beside the folder');
  mkdirSync(join(h.events, 'another-folder.ndjson'));
  const later = call();
  writeFileSync(join(h.events, 'c.ndjson'), line(header()) + line(later));
  await waitFor(() => ids(p).length === 3, 'a file written after a second folder appeared');
  t.deepEqual(ids(p), sorted([...first, later]));
});

test('a failed commit re-reads its lines without dead-lettering or counting a bad line among them twice', async (t) => {
  const { p, h } = await startPipeline(t, { tailer: { commitRetryMs: 20 } });
  const victim = call();
  const tries = failInsertOnce(p.store!.db, victim.event_id);
  const good = call();
  writeFileSync(join(h.events, 'd.ndjson'), line(header()) + line(good) + '{"t":"call","v":1,"event_id":\n' + line(victim));
  await waitFor(() => ids(p).length === 2, 'both calls, once the insert no longer fails');
  t.is(tries(), 2);
  t.is(p.health().checkpointErrors, 1);
  t.is(Object.values(p.health().deadLettered).reduce((a, b) => a + b, 0), 1);
  t.is(readDeadLetters(h.data).length, 1);
});

test('lines whose commit failed are read again at once, not after the batch interval', async (t) => {
  const { p, path, committedAt } = await idlePipeline(t, 5000, { commitRetryMs: 20 });
  const victim = call();
  const tries = failInsertOnce(p.store!.db, victim.event_id);
  const t0 = Date.now();
  appendFileSync(path, line(victim));
  await waitFor(() => committedAt.has(victim.event_id), 'the call, once its insert no longer fails');
  t.is(tries(), 2);
  t.true(committedAt.get(victim.event_id)! - t0 < 3000, `stored ${committedAt.get(victim.event_id)! - t0} ms after its append`);
  t.deepEqual(ids(p), [victim.event_id]);
});

test('a file read to its end whose commit failed, then closed for the cap while the retry waits, is read again though it does not grow', async (t) => {
  // One file open at most, and a retry 1-2 s away: time for the second file to take the first one's descriptor.
  const { p, h } = await startPipeline(t, { tailer: { maxOpenFiles: 1, commitRetryMs: 2000 } });
  const first = [call(), call(), call()];
  const tries = failInsertOnce(p.store!.db, first[2]!.event_id);
  writeFileSync(join(h.events, 'a.ndjson'), line(header()) + first.map(line).join(''));
  await waitFor(() => p.health().checkpointErrors === 1, 'the first file\'s commit failed');
  const second = call();
  writeFileSync(join(h.events, 'b.ndjson'), line(header()) + line(second));
  await waitFor(() => ids(p).includes(second.event_id), 'the second file');
  await waitFor(() => ids(p).length === 4, 'the first file, read again though unchanged since its commit failed', 15_000);
  t.is(tries(), 2);
  t.deepEqual(ids(p), sorted([...first, second]));
  t.true(p.health().filesOpen <= 1);
});

test('a file truncated under the daemon is detected, counted and re-read without doubles', async (t) => {
  const { p, h } = await startPipeline(t);
  const hd = header();
  const first = Array.from({ length: 20 }, () => call());
  const path = join(h.events, 'trunc.ndjson');
  writeFileSync(path, line(hd) + first.map(line).join(''));
  await waitFor(() => ids(p).length === 20, 'first calls');
  const second = [call(), call()];
  truncateSync(path, 0);
  appendFileSync(path, line(hd) + [first[0]!, ...second, first[1]!].map(line).join(''));
  await waitFor(() => ids(p).length === 22, 'calls written after the truncation');
  t.is(p.health().truncations, 1);
  t.deepEqual(ids(p), sorted([...first, ...second]));
  await waitFor(() => p.health().lagBytes === 0, 'caught up');
  t.is(rollupTotal(p), 22, 'the replayed calls were not counted twice');
});

test('a file replaced at the same path (new file_id) is read from its start', async (t) => {
  const { p, h } = await startPipeline(t);
  const path = join(h.events, 'same-name.ndjson');
  const a = [call(), call(), call()];
  writeEventFile({ dir: h.events, name: 'same-name.ndjson', calls: a });
  await waitFor(() => ids(p).length === 3, 'first file');
  const b = [call(), call()];
  writeEventFile({ dir: h.events, name: 'tmp.new', calls: b });
  renameSync(join(h.events, 'tmp.new'), path);
  await waitFor(() => ids(p).length === 5, 'replacement file');
  t.deepEqual(ids(p), sorted([...a, ...b]));
  t.is(p.health().replacements, 1);
});

for (const retention of ['delete', 'archive', 'keep'] as const) {
  test(`a sealed, fully committed file is retired by retention '${retention}' and its counters kept`, async (t) => {
    const { p, h } = await startPipeline(t, { tailer: { retention } });
    const hd = header();
    const calls = [call(), call()];
    const path = join(h.events, 'sealed.ndjson');
    writeFileSync(path, line(hd) + line(calls[0]) + line(statsLine(hd.file_id, emptyStats({ events_written: 1 }))) + line(calls[1]) + line(footer(hd.file_id, 4, emptyStats({ events_written: 2, events_dropped_buffer: 7 }))));
    await waitFor(() => p.health().filesRetired === 1, 'file retired');
    t.deepEqual(ids(p), sorted(calls));
    t.is(existsSync(path), retention === 'keep');
    t.is(existsSync(join(h.events, 'archive', 'sealed.ndjson')), retention === 'archive');
    // A file deleted or archived leaves no checkpoint behind, in the store or in the tailer's memory.
    const cache = (p as unknown as { tailer: { checkpointCache: Map<string, unknown> } }).tailer.checkpointCache;
    t.is(cache.has(hd.file_id), retention === 'keep');
    const stats = p.emitterStats();
    t.is(stats.length, 1);
    t.like(stats[0], { fileId: hd.file_id, final: true, stats: { events_written: 2, events_dropped_buffer: 7 } });
    // An unsealed file next to it stays.
    const open = writeEventFile({ dir: h.events, calls: [call()] });
    await waitFor(() => ids(p).length === 3, 'open file read');
    await new Promise((r) => setTimeout(r, 200));
    t.true(existsSync(open.path));
  });
}

test('a file whose writer died is treated as sealed once idle past the grace period', async (t) => {
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const deadPid = Number(dead.stdout);
  const { p, h } = await startPipeline(t, { tailer: { retention: 'delete', deadWriterGraceMs: 0 } });
  const c = call();
  const path = join(h.events, 'orphan.ndjson');
  writeFileSync(path, line(header({ pid: deadPid })) + line(c) + '{"t":"call","v":1,"ev');
  await waitFor(() => p.health().filesRetired === 1, 'orphan retired');
  t.deepEqual(ids(p), [c.event_id]);
  t.false(existsSync(path));
  t.like(readDeadLetters(h.data)[0], { reason: 'unterminated_line', length: 21 });
});

test('a file whose writer died in the middle of an oversize line is retired too, the line dead-lettered once', async (t) => {
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const deadPid = Number(dead.stdout);
  const { p, h } = await startPipeline(t, { tailer: { retention: 'delete', deadWriterGraceMs: 0, maxLineBytes: 4096, chunkBytes: 4096 } });
  const c = call();
  const path = join(h.events, 'orphan-big.ndjson');
  // Longer than a line may be and than a read: the reader skips it, waiting for its newline.
  writeFileSync(path, line(header({ pid: deadPid })) + line(c) + '{"t":"call","v":1,"x":"' + 'y'.repeat(10_000));
  await waitFor(() => p.health().filesRetired === 1, 'orphan retired');
  t.deepEqual(ids(p), [c.event_id]);
  t.false(existsSync(path));
  const letters = readDeadLetters(h.data);
  t.is(letters.length, 1);
  t.like(letters[0], { reason: 'unterminated_line', length: 10_000 + '{"t":"call","v":1,"x":"'.length });
});

test('restarting resumes from the checkpoints: nothing re-stored, new lines read', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const a = [call(), call()];
  const { path } = writeEventFile({ dir: h.events, calls: a });
  const p1 = new Pipeline(pipelineOptions(h));
  await p1.start();
  await waitFor(() => ids(p1).length === 2, 'first run');
  await p1.stop();
  const b = call();
  appendLines(path, b);
  const { p } = await startPipeline(t, {}, h);
  await waitFor(() => ids(p).length === 3, 'second run');
  await waitFor(() => p.health().lagBytes === 0, 'caught up');
  t.is(p.health().eventsIgnored, 0, 'no line before the checkpoint was read again');
  t.is(rollupTotal(p), 3);
});

test('a batch holds at most maxBatchBytes of lines (plus one read), and every event is still stored once', async (t) => {
  const { p, h } = await startPipeline(t, { tailer: smallBatches });
  const calls = Array.from({ length: 60 }, () => call());
  const { path } = writeEventFile({ dir: h.events, calls });
  await waitFor(() => ids(p).length === 60 && p.health().lagBytes === 0, 'all calls');
  const bytes = readFileSync(path).length;
  t.true(p.health().batchesCommitted >= Math.floor(bytes / (8192 + 4096)), `${p.health().batchesCommitted} batches for ${bytes} bytes`);
  t.deepEqual(ids(p), sorted(calls));
  t.is(rollupTotal(p), 60);
});

test('a write failing mid-way through a backlog committed in one transaction loses and doubles nothing', async (t) => {
  // Small batches, so a backlog is handed over as runs of batches marked `more` that the
  // pipeline stages in one transaction; one insert in the middle fails once.
  // The rolled-back transaction's calls are seen by its observer, which never hears a commit.
  const observed: string[] = [];
  const { p, h } = await startPipeline(t, {
    tailer: { ...smallBatches, commitRetryMs: 20 },
    observeCommits: observeInto((ids) => observed.push(...ids)),
  });
  const calls = Array.from({ length: 300 }, () => call());
  const victim = calls[170]!.event_id;
  const db = p.store!.db;
  const tries = failInsertOnce(db, victim);
  // Every checkpoint made durable, with whether the victim's row was stored in the same transaction.
  db.exec(`CREATE TEMP TABLE seen (offset INTEGER, victim INTEGER);
    CREATE TEMP TRIGGER cp_insert AFTER INSERT ON checkpoints BEGIN INSERT INTO seen SELECT NEW.offset, (SELECT COUNT(*) FROM calls WHERE event_id = '${victim}'); END;
    CREATE TEMP TRIGGER cp_update AFTER UPDATE ON checkpoints BEGIN INSERT INTO seen SELECT NEW.offset, (SELECT COUNT(*) FROM calls WHERE event_id = '${victim}'); END;`);
  const { path } = writeEventFile({ dir: h.events, calls });
  await waitFor(() => ids(p).length === 300 && p.health().lagBytes === 0, 'all calls');
  const text = readFileSync(path);
  const victimEnd = text.indexOf(10, text.indexOf(victim)) + 1;
  const seen = db.prepare('SELECT offset, victim FROM temp.seen').all() as { offset: number; victim: number }[];
  t.true(seen.some((r) => r.offset < victimEnd) && seen.some((r) => r.offset >= victimEnd), 'checkpoints before and past the failed line');
  t.deepEqual(seen.filter((r) => r.offset >= victimEnd && r.victim === 0), [], 'no durable checkpoint passed the line that failed');
  t.true(tries() >= 1);
  t.true(p.health().checkpointErrors >= 1, 'the failed transaction is counted');
  t.deepEqual(ids(p), sorted(calls));
  t.is(rollupTotal(p), 300);
  t.is(p.health().eventsInserted, 300);
  t.deepEqual([...observed].sort(), sorted(calls), 'every call observed once, after its commit');
});

test('batches that another write commits before the end of their run are acknowledged and observed once, a later batch of the run failing', async (t) => {
  const observed: string[] = [];
  let observers = 0;
  const observe = observeInto((ids) => observed.push(...ids));
  const { p, h } = await startPipeline(t, {
    observeCommits: () => {
      observers++;
      return observe();
    },
    tailer: { ...smallBatches, commitRetryMs: 20 },
  });
  const calls = Array.from({ length: 600 }, () => call());
  const db = p.store!.db;
  const tries = failInsertOnce(db, calls[430]!.event_id);
  // Whenever a run's transaction is open, a write of another kind (a fold here; retention and
  // reprice chunks do the same) runs, as the daemon's timers and API may at any moment.
  let early = 0;
  let polling = true;
  const poll = (): void => {
    if (!polling) return;
    if (db.inTransaction) {
      early++;
      p.store!.foldRollups();
    }
    setImmediate(poll);
  };
  poll();
  t.teardown(() => void (polling = false));
  writeEventFile({ dir: h.events, calls });
  await waitFor(() => ids(p).length === 600 && p.health().lagBytes === 0, 'all calls');
  polling = false;
  t.true(early > 0, 'writes landed while batches were staged');
  t.true(tries() >= 1);
  t.deepEqual(ids(p), sorted(calls));
  t.deepEqual([...observed].sort(), sorted(calls), 'every call observed once, after its commit');
  t.true(observers > 1);
  t.is(p.health().eventsInserted, 600);
  t.is(rollupTotal(p), 600);
});

test('a retention run that fails is logged and retried, and ingestion goes on', async (t) => {
  const logs: string[] = [];
  const { p, h } = await startPipeline(t, {
    retention: { rowsMaxAgeMs: 86_400_000 }, retentionIntervalMs: 20,
    log: (level, msg) => void (level !== 'info' && logs.push(msg)),
  });
  p.store!.db.exec(`CREATE TEMP TRIGGER no_delete BEFORE DELETE ON calls BEGIN SELECT RAISE(ABORT, 'injected retention failure'); END`);
  const old = call({ ts: Date.now() - 3 * 86_400_000 });
  const calls = [old, call(), call()];
  writeEventFile({ dir: h.events, calls });
  await waitFor(() => ids(p).length === 3 && logs.some((m) => m.includes('retention')), 'calls stored and the failure logged');
  p.store!.db.exec('DROP TRIGGER temp.no_delete');
  await waitFor(() => ids(p).length === 2, 'retention retried');
  t.deepEqual(ids(p), sorted(calls.slice(1)));
});

test('the end of a backlog folds the deltas at once; live lines wait for the fold interval', async (t) => {
  const { p, h } = await startPipeline(t, { rollupFoldIntervalMs: 3_600_000, rollupFoldAfterDeltaRows: 1_000_000_000 });
  // Several batches' worth of lines at once: a backlog.
  const now = Date.now();
  const calls = Array.from({ length: 6000 }, (_, i) => call({ ts: now - (i % 600) * 60_000 }));
  const { path } = writeEventFile({ dir: h.events, calls });
  t.true(readFileSync(path).length > 4 * 1024 * 1024);
  t.is(p.store!.unfoldedDeltaRows, 0);
  await waitFor(() => ids(p).length === 6000 && p.health().lagBytes === 0, 'all calls');
  await waitFor(() => p.store!.unfoldedDeltaRows === 0, 'the deltas folded once the backlog was read');
  t.is((p.store!.db.prepare('SELECT COUNT(*) FROM rollup_minute_delta').pluck().get() as number), 0);
  // A few live lines: no backlog, no fold before the interval.
  appendLines(path, call(), call());
  await waitFor(() => ids(p).length === 6002, 'the live calls');
  await new Promise((r) => setTimeout(r, 500));
  t.true(p.store!.unfoldedDeltaRows > 0, 'live calls stay in the deltas until the fold interval');
  t.is(rollupTotal(p), 6002);
});

test('during a backlog the pipeline folds as soon as the unfolded deltas reach their bound, whatever the interval', async (t) => {
  const { p, h } = await startPipeline(t, {
    rollupFoldIntervalMs: 3_600_000, rollupFoldAfterDeltaRows: 100, tailer: { chunkBytes: 8192, maxBatchBytes: 16384 },
  });
  // One call a minute over 10 hours: every call its own per-minute delta row.
  const now = Date.now();
  const calls = Array.from({ length: 600 }, (_, i) => call({ ts: now - i * 60_000 }));
  writeEventFile({ dir: h.events, calls });
  await waitFor(() => ids(p).length === 600 && p.health().lagBytes === 0, 'all calls');
  const hours = (p.store!.db.prepare('SELECT COUNT(*) FROM rollup_hour').pluck().get() as number);
  t.true(hours > 0, 'the hourly level was built by a fold before any timer could run one');
  t.true(p.store!.unfoldedDeltaRows < 600, `${p.store!.unfoldedDeltaRows} delta rows left unfolded`);
  t.is(rollupTotal(p), 600);
});
