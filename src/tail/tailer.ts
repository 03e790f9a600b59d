/**
 * The tailer: reads the emitters' files losing nothing and doubling nothing
 * (see the tailer rules: identity from the writer, checkpoints only after the sink
 * acknowledged, lines are bytes, truncation detection, polling as the truth, bounded memory).
 */
import { fstatSync, readFileSync, statSync } from 'node:fs';
import { open, stat, unlink, rename, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { makeDirs } from '../make-dirs.js';
import type { FileHeader } from '../event/types.js';
import { lineDecoder, type LineDecoder } from '../event/validate.js';
import { DeadLetterFile, DEAD_LETTER_REASONS, MAX_EXCERPT_CHARS, type DeadLetter, type DeadLetterReason } from './dead-letter.js';
import { listEventFiles, watchHints } from './file-discovery.js';
import { checkHash, HEAD_BYTES, identify } from './file-identity.js';
import { pidAlive } from './lock-file.js';
import { readRecords, type LineRecord, type ReaderPosition } from './line-reader.js';
import { isSinkClosed, type Checkpoint, type EmitterStatsRecord, type TailBatch, type TailerHealth, type TailerOptions } from './types.js';

interface FileState {
  key: string;
  path: string;
  /** Null while closed to keep under `maxOpenFiles`: opened again at `path` when needed, if it still names this file. */
  fh: FileHandle | null;
  dev: number;
  ino: number;
  header: FileHeader | null;
  size: number;
  mtimeMs: number;
  pos: ReaderPosition;
  committed: number;
  committedHash: string;
  /** Bumped when reading restarts (truncation, failed commit): voids checkpoints read before. */
  generation: number;
  footerEnd: number | null;
  sealedCommitted: boolean;
  inFlight: number;
  nextReadAt: number;
  backoffMs: number;
  unackedSince: number | null;
  /** The path no longer names this file: drain it through the open descriptor, then drop it. */
  gone: boolean;
  dropped: boolean;
  /** The last read found no complete line past `pos`. */
  atEof: boolean;
  /** Bytes of the first line, and their check hash: what names the file, checked before each checkpoint. */
  firstLineBytes: number;
  firstLineHash: string;
  /** Lines before this offset were dead-lettered already (a re-read after a failed commit must not again). */
  deadLetteredTo: number;
  /** When a read last found new lines (or the file was opened): the longest idle are closed first. */
  lastDataAt: number;
}

interface PendingCheckpoint { state: FileState; generation: number; offset: number; sealed: boolean; hash: string }

interface Batch {
  calls: TailBatch['calls'];
  checkpoints: Map<FileState, PendingCheckpoint>;
  stats: Map<string, EmitterStatsRecord>;
  deadLetters: { state: FileState; letter: DeadLetter }[];
  /** Per file, the offset past which its lines were dead-lettered in this batch (applied once written). */
  deadLetteredTo: Map<FileState, number>;
  lines: number;
  /** Bytes of the lines read into the batch, `\n` included. */
  bytes: number;
}

const DEFAULTS = {
  retention: 'delete', pollIntervalMs: 1000, maxEofBackoffMs: 500, chunkBytes: 256 * 1024,
  maxLineBytes: 1024 * 1024, maxBatchLines: 4000, maxBatchBytes: 1024 * 1024, maxBatchesInFlight: 2, deadWriterGraceMs: 5 * 60_000,
  commitRetryMs: 1000, watch: true, batchIntervalMs: 200, maxOpenFiles: 256, descriptorRecoveryMs: 60_000,
} as const;
/** Bytes read from one file before the others get a turn. */
const FAIR_SHARE_BYTES = 4 * 1024 * 1024;
/**
 * Descriptors the tailer leaves the rest of the daemon: after a failed commit the process must
 * be able to open this many more, or the tailer takes it for a shortage of its making; and its
 * cap doubles back only with this many to spare beside what the larger cap may take.
 */
const DESCRIPTOR_RESERVE = 4;

/**
 * A process's limit on descriptors (its soft `RLIMIT_NOFILE`, which `prlimit` may change while
 * it runs; this process's by default), read from /proc; null where there is none to read or no limit.
 */
export function descriptorLimit(pid: number | 'self' = 'self'): number | null {
  let limits: string;
  try {
    limits = readFileSync(`/proc/${pid}/limits`, 'latin1');
  } catch {
    return null;
  }
  const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
  return soft === undefined ? null : Number(soft);
}

export class Tailer {
  private readonly o: Required<Omit<TailerOptions, 'log' | 'archiveDir'>> & Pick<TailerOptions, 'log'> & { archiveDir: string };
  private readonly decode: LineDecoder = lineDecoder();
  private readBuf: Buffer | undefined;
  private readonly deadLetters: DeadLetterFile;
  private readonly byKey = new Map<string, FileState>();
  private readonly byPath = new Map<string, FileState>();
  private readonly keptPaths = new Map<string, number>();
  private readonly latestStats = new Map<string, EmitterStatsRecord>();
  private checkpointCache = new Map<string, Checkpoint>();
  private readonly inFlight: Promise<void>[] = [];
  /** Settles once the last submitted batch's acknowledgement has been processed. */
  private chain: Promise<void> = Promise.resolve();
  /** Settles once the next batch may be handed to the sink (see {@link submit}). */
  private handoff: Promise<void> = Promise.resolve();
  /** The last batch submitted was marked `more`: another must follow before the tailer waits. */
  private owesNext = false;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private scanRequested = true;
  private nextScanAt = 0;
  /** No read before this (`performance.now()`): a failed commit's backoff, or the batch interval once caught up. */
  private pauseUntil = 0;
  private failureStreak = 0;
  /** Ends the read loop's sleep early: stop(), a rewind, or a hint once no pause holds the loop. */
  private wakeUp: (() => void) | undefined;
  private watcher: { close(): Promise<void> } | undefined;
  private readonly host = hostname();
  /** Event files in the folder this process may not open, by path, with the error code: warned about once each. */
  private readonly unreadable = new Map<string, string>();
  /** Files holding a descriptor (see {@link makeRoom}). */
  private readonly opened = new Set<FileState>();
  /** Descriptors of event files held: those of `opened`, and one being identified. */
  private held = 0;
  /** Most descriptors held at once: `maxOpenFiles`, halved at each EMFILE or ENFILE, doubled again after `descriptorRecoveryMs` without one. */
  private cap: number;
  /** When the cap last changed for a shortage of descriptors (halved, or doubled back): `performance.now()`. */
  private capChangedAt = 0;
  /** An open failed for want of descriptors: no other is tried before the next scan. */
  private descriptorsShort = false;
  /** A commit failed: the read loop checks that the process has descriptors to spare (see {@link checkDescriptorReserve}). */
  private commitFailed = false;
  private readonly counters = {
    linesRead: 0, eventsCommitted: 0, batchesCommitted: 0, checkpointErrors: 0, truncations: 0, replacements: 0, filesRetired: 0, descriptorShortages: 0,
    deadLettered: Object.fromEntries(DEAD_LETTER_REASONS.map((r) => [r, 0])) as Record<DeadLetterReason, number>,
  };

  constructor(opts: TailerOptions) {
    this.o = { ...DEFAULTS, ...opts, archiveDir: opts.archiveDir ?? join(opts.eventsDir, 'archive') } as typeof this.o;
    if (this.o.chunkBytes < 1024 || this.o.maxLineBytes < 1024) throw new RangeError('chunkBytes and maxLineBytes must be at least 1024');
    if (!Number.isInteger(this.o.maxOpenFiles) || this.o.maxOpenFiles < 1) throw new RangeError('maxOpenFiles must be an integer of at least 1');
    this.cap = this.o.maxOpenFiles;
    this.deadLetters = new DeadLetterFile(opts.deadLetterPath);
  }

  /** Starts reading; resolves once the first scan is done. */
  async start(): Promise<void> {
    this.checkpointCache = new Map(this.o.checkpoints.loadCheckpoints().map((c) => [c.fileKey, c]));
    await this.scan();
    if (this.o.watch) this.watcher = watchHints(this.o.eventsDir, (h) => this.hint(h.kind, h.path));
    this.loop = this.run().catch((err: unknown) => this.log('error', 'tailer loop failed', { err: String(err) }));
  }

  /** Stops reading, commits what was read, waits for in-flight batches (the final checkpoint). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    await this.loop;
    // A batch marked `more` is always followed by another: the sink may hold it until then.
    if (this.owesNext) await this.submit(newBatch(), false);
    await Promise.allSettled(this.inFlight);
    await this.chain;
    await this.watcher?.close();
    for (const s of [...this.opened]) await this.release(s)?.close().catch(() => undefined);
    this.byKey.clear();
    this.byPath.clear();
  }

  health(now = Date.now()): TailerHealth {
    let lag = 0;
    let oldest: number | null = null;
    for (const s of this.byKey.values()) {
      // While a sink is down the read loop waits and does not scan: ask the descriptor, so
      // the lag keeps growing with the backlog (what the lag alert is for).
      let size = s.size;
      try {
        // A file closed to keep under the cap is asked by its path, while that still names it.
        const st = s.fh !== null ? fstatSync(s.fh.fd) : statSync(s.path);
        if (st.dev === s.dev && st.ino === s.ino) size = Math.max(size, st.size);
      } catch {
        // closed or gone meanwhile: keep the last known size
      }
      lag += Math.max(0, size - s.committed);
      if (s.unackedSince !== null && (oldest === null || s.unackedSince < oldest)) oldest = s.unackedSince;
    }
    return { ...this.counters, deadLettered: { ...this.counters.deadLettered }, lagBytes: lag, oldestUnackedAgeMs: oldest === null ? 0 : now - oldest, filesTracked: this.byKey.size, filesUnreadable: this.unreadable.size, filesOpen: this.held, maxOpenFiles: this.cap };
  }

  /** The latest counters per emitter process seen since start. */
  emitterStats(): EmitterStatsRecord[] {
    return [...this.latestStats.values()];
  }

  private hint(kind: 'added' | 'changed' | 'removed', path: string): void {
    const s = this.byPath.get(path);
    if (kind === 'changed' && s) {
      s.nextReadAt = 0;
      s.backoffMs = 0;
    } else {
      this.scanRequested = true;
    }
    if (performance.now() >= this.pauseUntil) this.wakeUp?.();
  }

  private log(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void {
    this.o.log?.(level, msg, fields);
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let now = Date.now();
      if (this.commitFailed) await this.checkDescriptorReserve();
      if (this.scanRequested || now >= this.nextScanAt) await this.scan();
      const pause = this.pauseUntil - performance.now();
      if (pause > 0) {
        await this.sleep(pause);
        continue;
      }
      now = Date.now();
      let batch = newBatch();
      let progressed = false;
      let cutShort = false;
      for (const s of [...this.byKey.values()]) {
        if (this.stopping) break;
        if (s.dropped || s.nextReadAt > now) continue;
        if (s.fh === null) {
          // Every descriptor the cap allows may be held by files whose lines this batch holds:
          // hand it over, so that they may be closed once it is acknowledged.
          if (this.held >= this.cap && this.victim() === undefined && (batch.lines > 0 || batch.checkpoints.size > 0 || this.owesNext)) {
            await this.submit(batch, false);
            batch = newBatch();
          }
          if ((await this.reopen(s)) === null) continue;
        }
        let share = 0;
        for (;;) {
          if (s.dropped || s.fh === null) break;
          if (this.stopping || performance.now() < this.pauseUntil || share >= FAIR_SHARE_BYTES) {
            // Not at the file's end: more may be waiting.
            cutShort = true;
            break;
          }
          const before = s.pos.cursor;
          const n = await this.readInto(s, batch);
          if (n === 0 || s.pos.cursor === before) {
            // End of file (or only a partial line): back off, chokidar or the scan wakes us sooner.
            s.atEof = true;
            s.backoffMs = Math.min(this.o.maxEofBackoffMs, Math.max(10, s.backoffMs * 2));
            s.nextReadAt = Date.now() + s.backoffMs;
            break;
          }
          progressed = true;
          s.atEof = false;
          s.backoffMs = 0;
          s.lastDataAt = Date.now();
          share += n;
          if (batch.lines >= this.o.maxBatchLines || batch.bytes >= this.o.maxBatchBytes) {
            // Cut at a limit, not at the end of the files: another batch follows at once.
            await this.submit(batch, true);
            batch = newBatch();
          }
        }
      }
      // Caught up: what the files get next waits out the batch interval, hints or not. A pass that
      // found nothing new leaves the pause as it was: lines after idle go at once.
      // (Set before the hand-over: a failed commit's backoff replaces it.)
      if (progressed && !cutShort) this.pauseUntil = Math.max(this.pauseUntil, performance.now() + this.o.batchIntervalMs);
      if (batch.lines > 0 || batch.checkpoints.size > 0 || this.owesNext) await this.submit(batch, false);
      if (!progressed && !this.stopping) {
        let wake = this.nextScanAt;
        for (const s of this.byKey.values()) wake = Math.min(wake, s.nextReadAt);
        await this.sleep(Math.max(1, wake - Date.now()));
      }
    }
  }

  /** Sleeps `ms`, or until {@link wakeUp}. */
  private sleep(ms: number): Promise<void> {
    // stop() may have come while the loop was not asleep (during a scan).
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** Reads one chunk of a file into the batch; returns bytes read. */
  private async readInto(s: FileState, batch: Batch): Promise<number> {
    const fh = s.fh;
    if (fh === null) return 0;
    const generation = s.generation;
    const records: LineRecord[] = [];
    const pos = s.pos;
    // One read at a time (the loop awaits each), so one buffer serves every file.
    this.readBuf ??= Buffer.allocUnsafe(this.o.chunkBytes);
    const n = await readRecords(fh, pos, this.o, records, this.readBuf);
    // A truncation or failed commit restarted this file while we read: drop what we read.
    if (s.dropped || s.generation !== generation || s.pos !== pos) return 0;
    if (pos.cursor > s.size) s.size = pos.cursor;
    if (s.unackedSince === null && s.size > s.committed) s.unackedSince = Date.now();
    for (const r of records) {
      batch.lines++;
      batch.bytes += r.end - r.offset;
      this.counters.linesRead++;
      // A line dead-lettered once (and counted) is not again when a failed commit re-reads it.
      const fresh = r.offset >= s.deadLetteredTo;
      if (r.kind === 'oversize') {
        if (fresh) deadLetter(batch, s, { reason: 'oversize', file_id: s.key, path: s.path, offset: r.offset, length: r.length });
        continue;
      }
      const d = this.decode(r.text);
      if (!d.ok) {
        if (fresh) deadLetter(batch, s, { reason: d.reason, file_id: s.key, path: s.path, offset: r.offset, length: r.end - 1 - r.offset, detail: d.detail, excerpt: r.text.slice(0, MAX_EXCERPT_CHARS) });
        continue;
      }
      const line = d.line;
      switch (line.t) {
        case 'call':
          batch.calls.push({ event: line, raw: r.text, source: { fileKey: s.key, path: s.path, offset: r.offset, length: r.end - 1 - r.offset } });
          break;
        case 'header':
          break;
        case 'stats':
        case 'footer': {
          const h = s.header;
          if (line.t === 'footer') s.footerEnd = r.end;
          if (!h) break;
          const writer = `${h.host}/${h.pid}/${h.app}`;
          const ts = line.t === 'stats' ? line.ts : Date.parse(line.sealed_at) || Date.now();
          const rec: EmitterStatsRecord = { writer, app: h.app, host: h.host, pid: h.pid, fileId: h.file_id, ts, final: line.t === 'footer', stats: line.stats };
          batch.stats.set(writer, rec);
          const prev = this.latestStats.get(writer);
          if (!prev || prev.ts <= ts) this.latestStats.set(writer, rec);
          break;
        }
        default: {
          const never: never = line;
          void never;
        }
      }
    }
    if (records.length > 0) {
      const sealed = s.footerEnd !== null && pos.lineOffset >= s.footerEnd;
      batch.checkpoints.set(s, { state: s, generation, offset: pos.lineOffset, sealed, hash: '' });
    }
    return n;
  }

  /**
   * Dead-letters, then hands the batch to the sink behind the previous ones (commit order =
   * read order). `more`: the reading stopped at a batch limit, not at the end of the files.
   *
   * A batch is handed over as soon as the previous one was, when that one was marked `more`
   * (the sink may then commit them in one transaction), else once the previous one's
   * acknowledgement has been processed. Batches linked by `more` therefore reach the sink
   * before any of their failures is known, and the sink fails every later batch of such a run
   * once one failed (no checkpoint may become durable past lines that are not); the first
   * batch after a run's last sees every rewind its failures caused. A batch is marked `more`
   * only when a slot stays free for the next, so the tailer never waits on an acknowledgement
   * the sink holds back for a batch that would not come.
   */
  private async submit(batch: Batch, more: boolean): Promise<void> {
    for (const cp of [...batch.checkpoints.values()]) {
      const s = cp.state;
      if (s.dropped || s.generation !== cp.generation) {
        // Voided since it was read (a rewind): the commit leaves it out.
        s.inFlight++;
        continue;
      }
      // A file with lines read and not committed keeps its descriptor (see victim()): this
      // opens nothing, unless the file is gone or replaced since.
      const fh = await this.reopen(s);
      const truncated = fh !== null && (await this.truncated(s, fh));
      if (fh === null || truncated) {
        // Truncated and rewritten past what was read since the last scan: the checkpoint would
        // pair this file's key with another file's bytes. Start it again from its first byte
        // (what was read of it is stored by its event ids, so nothing is doubled; its bad
        // lines were read at old offsets in new bytes, and are not recorded). Without a
        // descriptor, its lines go without their checkpoint and are read again.
        batch.checkpoints.delete(s);
        batch.deadLetters = batch.deadLetters.filter((d) => d.state !== s);
        batch.deadLetteredTo.delete(s);
        if (truncated) await this.reread(s);
        else if (!s.dropped) this.rewind(s, s.committed);
        continue;
      }
      cp.hash = await checkHash(fh, cp.offset);
      s.inFlight++;
    }
    const linked = more && !this.stopping && this.inFlight.length + 2 <= this.o.maxBatchesInFlight;
    const prevHanded = this.handoff;
    const prevDone = this.chain;
    let handed!: () => void;
    const handedNow = new Promise<void>((resolve) => (handed = resolve));
    const p = prevHanded.then(() => this.commit(batch, linked, prevDone, handed));
    this.chain = p;
    // The next batch waits for this one to be handed over, or for its acknowledgement.
    this.handoff = linked ? handedNow : p;
    this.owesNext = linked;
    this.inFlight.push(p);
    void p.finally(() => {
      const i = this.inFlight.indexOf(p);
      if (i >= 0) this.inFlight.splice(i, 1);
    });
    // Bounded memory: when every batch slot is taken, stop reading until the oldest commits.
    while (this.inFlight.length >= this.o.maxBatchesInFlight) await this.inFlight[0];
  }

  private async commit(batch: Batch, more: boolean, prevDone: Promise<void>, handed: () => void): Promise<void> {
    const live = [...batch.checkpoints.values()].filter((c) => !c.state.dropped && c.state.generation === c.generation);
    let ack: Promise<void>;
    try {
      this.deadLetters.write(batch.deadLetters.map((d) => d.letter));
      // Written: counted, and not written again when a failed commit re-reads their lines.
      for (const d of batch.deadLetters) this.counters.deadLettered[d.letter.reason]++;
      for (const [s, to] of batch.deadLetteredTo) s.deadLetteredTo = Math.max(s.deadLetteredTo, to);
      ack = Promise.resolve(this.o.sink({
        calls: batch.calls,
        checkpoints: live.map((c) => ({ fileKey: c.state.key, path: c.state.path, offset: c.offset, checkHash: c.hash, sealed: c.sealed })),
        emitterStats: [...batch.stats.values()],
        more,
      }));
    } catch (err: unknown) {
      ack = Promise.reject(err);
    }
    handed();
    // Handed over: the decoded events are the sink's now (a slot waiting for its
    // acknowledgement keeps only the checkpoints).
    const calls = batch.calls.length;
    batch.calls = [];
    let failure: { err: unknown } | undefined;
    try {
      await ack;
    } catch (err: unknown) {
      failure = { err };
    }
    // Acknowledgements are processed in read order.
    await prevDone;
    if (failure) {
      // A batch a closing sink gave up for the stop did not fail: its lines are read again at
      // the next start, and the sink reports what it gave up.
      if (!(this.stopping && isSinkClosed(failure.err))) {
        this.counters.checkpointErrors++;
        this.failureStreak++;
        const wait = Math.min(30_000, this.o.commitRetryMs * 2 ** (this.failureStreak - 1));
        this.pauseUntil = performance.now() + wait * (0.5 + Math.random() / 2);
        this.log('error', 'batch commit failed; re-reading from the last checkpoint', { err: String(failure.err), retryInMs: wait });
        this.commitFailed = true;
      }
      for (const c of batch.checkpoints.values()) {
        c.state.inFlight--;
        this.rewind(c.state, c.state.committed);
      }
      return;
    }
    this.failureStreak = 0;
    this.counters.batchesCommitted++;
    this.counters.eventsCommitted += calls;
    for (const c of batch.checkpoints.values()) c.state.inFlight--;
    for (const c of live) {
      const s = c.state;
      if (s.generation !== c.generation) continue;
      s.committed = c.offset;
      s.committedHash = c.hash;
      if (c.sealed) s.sealedCommitted = true;
      // Still behind: the oldest unacknowledged bytes are now at most as old as this commit.
      s.unackedSince = s.committed >= s.size ? null : Date.now();
      this.checkpointCache.set(s.key, { fileKey: s.key, path: s.path, offset: c.offset, checkHash: c.hash, sealed: s.sealedCommitted });
    }
  }

  /**
   * Whether the file was truncated or rewritten under us. The read loop and commits go on
   * while this runs, so it works on a consistent snapshot: the position read and the
   * committed offset with its hash are taken first, the size after them (fstat on the open
   * descriptor). An append-only file is then never shorter than what was read, and a commit
   * landing during the hash read cannot pair a new hash with an old offset: either would
   * report a truncation that did not happen and re-read, and so re-deliver, the whole file.
   */
  private async truncated(s: FileState, fh: FileHandle): Promise<boolean> {
    const cursor = s.pos.cursor;
    const committed = s.committed;
    const committedHash = s.committedHash;
    const size = (await fh.stat()).size;
    if (size < cursor || size < committed) return true;
    if (committed > 0 && (await checkHash(fh, committed)) !== committedHash) return true;
    // The first line it was opened with: the committed bytes' hash covers it once they hold it
    // (a hash covers the first KiB), else it is checked on its own.
    const covered = committed >= s.firstLineBytes && s.firstLineBytes <= HEAD_BYTES;
    return !covered && (await checkHash(fh, s.firstLineBytes)) !== s.firstLineHash;
  }

  /** Reads a truncated or rewritten file again from its first byte, as the file its path now names. */
  private async reread(s: FileState): Promise<void> {
    this.counters.truncations++;
    this.log('warn', 'file truncated or rewritten under the daemon; re-reading from 0', { path: s.path, offset: s.committed });
    const { path, gone } = s;
    this.drop(s);
    if (!gone) await this.track(path, true);
  }

  /** Restarts reading a file at `offset`, voiding whatever was read past it. */
  private rewind(s: FileState, offset: number): void {
    s.generation++;
    s.pos = { lineOffset: offset, cursor: offset, skipFrom: null };
    if (s.footerEnd !== null && s.footerEnd > offset) s.footerEnd = null;
    // Behind its end again: closed for the cap before it is read, it is opened again by the read
    // loop, not left for a change of size that may never come (see evict).
    s.atEof = false;
    s.nextReadAt = 0;
    this.wakeUp?.();
  }

  /** One pass over the folder: new files, replaced files, truncations, retention. */
  private async scan(): Promise<void> {
    this.scanRequested = false;
    this.nextScanAt = Date.now() + this.o.pollIntervalMs;
    this.descriptorsShort = false;
    await this.recoverCap();
    let paths: string[];
    try {
      paths = await listEventFiles(this.o.eventsDir);
    } catch (err: unknown) {
      this.log('warn', 'cannot list the events folder', { err: String(err) });
      // Listing takes a descriptor too: the tailer's own may be what the process lacks.
      if (isDescriptorShortage(err)) await this.outOfDescriptors((err as NodeJS.ErrnoException).code!, { path: this.o.eventsDir });
      return;
    }
    const present = new Set(paths);
    for (const path of this.unreadable.keys()) if (!present.has(path)) this.unreadable.delete(path);
    for (const path of paths) {
      const st = await stat(path).catch((err: unknown) => {
        this.cannotOpen(path, err);
        return null;
      });
      // Gone since the listing, or not a file (a folder named *.ndjson): nothing to read.
      if (!st || !st.isFile()) continue;
      if (this.keptPaths.get(path) === st.ino) continue;
      const cur = this.byPath.get(path);
      if (cur && cur.ino === st.ino && cur.dev === st.dev) {
        if (st.size !== cur.size || st.mtimeMs !== cur.mtimeMs) {
          // A file closed to keep under the cap is opened again to be checked (and read). Gone,
          // replaced or no descriptor to be had: the next scan looks again.
          const fh = await this.reopen(cur);
          if (fh === null) continue;
          cur.mtimeMs = st.mtimeMs;
          cur.nextReadAt = 0;
          cur.atEof = false;
          if (await this.truncated(cur, fh)) {
            await this.reread(cur);
            continue;
          }
          cur.size = st.size;
          if (cur.unackedSince === null && cur.size > cur.committed) cur.unackedSince = Date.now();
        }
        continue;
      }
      if (cur) {
        // Another file now has this path: drain the old one through its descriptor.
        this.counters.replacements++;
        this.log('info', 'file replaced at the same path', { path, oldFileId: cur.key });
        cur.gone = true;
        this.byPath.delete(path);
      }
      await this.track(path, false);
    }
    for (const [path, s] of this.byPath) {
      if (!present.has(path)) {
        s.gone = true;
        this.byPath.delete(path);
      }
    }
    for (const s of [...this.byKey.values()]) await this.maybeRetire(s);
  }

  /** Opens and identifies a file, resuming from its checkpoint when it still matches. */
  private async track(path: string, fromZero: boolean): Promise<void> {
    let fh: FileHandle | null;
    try {
      fh = await this.openCapped(path);
    } catch (err: unknown) {
      this.cannotOpen(path, err);
      return;
    }
    // No descriptor to be had now: not tracked yet, so the next scan tries again.
    if (fh === null) return;
    if (this.unreadable.delete(path)) this.log('info', 'an event file that could not be opened is read now', { path });
    let kept = false;
    try {
      kept = await this.follow(path, fh, fromZero);
    } catch (err: unknown) {
      // Unreadable (not a regular file, an I/O error): the other files go on; the next scan tries again.
      this.log('warn', 'cannot read an event file', { path, err: String(err) });
    }
    if (!kept) await this.closeHandle(fh);
  }

  /**
   * Opens an event file within `maxOpenFiles`, closing others first when it is reached (see
   * {@link makeRoom}). Null when no descriptor can be had now: the caller tries again at the
   * next scan. Errors other than a want of descriptors are thrown.
   */
  private async openCapped(path: string): Promise<FileHandle | null> {
    if (this.descriptorsShort || !(await this.makeRoom())) return null;
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err: unknown) {
      if (!isDescriptorShortage(err)) throw err;
      await this.outOfDescriptors((err as NodeJS.ErrnoException).code!, { path });
      return null;
    }
    // The lowest free descriptor is the one given: every one below it is taken, so fewer than
    // the reserve are left above it when it is that close to the limit. Let go of it before the
    // store's next commit finds none, unless the tailer holds no other: it reads one file at a
    // time rather than none while the rest of the process holds what the limit allows.
    const limit = descriptorLimit();
    const fd = fh.fd;
    if (limit !== null && fd >= limit - DESCRIPTOR_RESERVE && this.held > 0) {
      await fh.close().catch(() => undefined);
      await this.outOfDescriptors(`descriptor ${fd} of a limit of ${limit}`, { path, reserve: DESCRIPTOR_RESERVE });
      return null;
    }
    this.held++;
    return fh;
  }

  /**
   * The process is out of descriptors (EMFILE: its own limit, ulimit -n; ENFILE: the system's).
   * The rest of the daemon needs them too (the store, the HTTP server's sockets, the log), and
   * more event files than the limit allows would never all be read if the tailer kept what it
   * holds: it lowers its cap to half the descriptors it holds, closes what it may down to that,
   * and opens nothing more before the next scan. Counted, and said each time the cap drops.
   */
  private async outOfDescriptors(code: string, fields: Record<string, unknown>): Promise<void> {
    this.counters.descriptorShortages++;
    this.descriptorsShort = true;
    const cap = Math.max(1, Math.floor(this.held / 2));
    this.capChangedAt = performance.now();
    if (cap < this.cap) {
      this.cap = cap;
      this.log('warn', `out of file descriptors (${code}): the daemon now keeps at most ${cap} event files open (tail.max_open_files is ${this.o.maxOpenFiles}); raise its limit (ulimit -n, LimitNOFILE=) or lower tail.max_open_files`, fields);
    }
    // Files with lines in flight are closed later, as others are opened (makeRoom).
    for (let s = this.victim(); this.held > this.cap && s !== undefined; s = this.victim()) await this.evict(s);
  }

  /**
   * After a failed commit: the store may have failed for want of a descriptor the event files
   * took (SQLite reports it only as "unable to open database file"). The process must be able
   * to open {@link DESCRIPTOR_RESERVE} more; when it cannot, the tailer lowers its cap as for
   * an event file it could not open, and the retry finds descriptors free.
   */
  private async checkDescriptorReserve(): Promise<void> {
    this.commitFailed = false;
    const probe = await this.probeDescriptors(DESCRIPTOR_RESERVE);
    if (probe.short !== null) await this.outOfDescriptors(probe.short, { after: 'a failed commit', free: probe.opened, reserve: DESCRIPTOR_RESERVE });
  }

  /**
   * Whether the process can open `n` more descriptors now: opens that many (of the events
   * folder) and closes them. `short`: the code of the open refused for want of them, else null
   * (an open failing otherwise tells nothing of descriptors, and ends the probe as passed).
   */
  private async probeDescriptors(n: number): Promise<{ short: string | null; opened: number }> {
    const probes: FileHandle[] = [];
    let short: string | null = null;
    try {
      while (probes.length < n) probes.push(await open(this.o.eventsDir, 'r'));
    } catch (err: unknown) {
      if (isDescriptorShortage(err)) short = (err as NodeJS.ErrnoException).code!;
    } finally {
      await Promise.all(probes.map((fh) => fh.close().catch(() => undefined)));
    }
    return { short, opened: probes.length };
  }

  /**
   * A cap lowered for want of descriptors doubles back, up to `maxOpenFiles`, once
   * `descriptorRecoveryMs` passed without another shortage, and only into descriptors the
   * process has: those the larger cap may take and {@link DESCRIPTOR_RESERVE} more must open
   * first (else it waits as long again). Doubling blind took every descriptor a limit still
   * low left, and the store's next commit failed for want of one. At the next shortage it halves again.
   */
  private async recoverCap(): Promise<void> {
    if (this.cap >= this.o.maxOpenFiles || performance.now() - this.capChangedAt < this.o.descriptorRecoveryMs) return;
    const cap = Math.min(this.o.maxOpenFiles, this.cap * 2);
    const probe = await this.probeDescriptors(cap - this.held + DESCRIPTOR_RESERVE);
    this.capChangedAt = performance.now();
    if (probe.short !== null) return;
    this.cap = cap;
    this.log('info', `no shortage of file descriptors for ${Math.round(this.o.descriptorRecoveryMs / 1000)} s: the daemon now keeps at most ${this.cap} event files open (tail.max_open_files is ${this.o.maxOpenFiles})`);
  }

  /**
   * Closes files until one more descriptor fits under the cap, the longest idle first (see
   * {@link victim}). When every open file has lines in flight, waits for their batches to be
   * acknowledged first (not when the sink may hold the last batch for the next one: the
   * caller hands its batch over before). False when none may be closed.
   */
  private async makeRoom(): Promise<boolean> {
    while (this.held >= this.cap) {
      let s = this.victim();
      if (s === undefined && !this.owesNext && this.inFlight.length > 0) {
        await this.chain;
        s = this.victim();
      }
      if (s === undefined) return false;
      await this.evict(s);
    }
    return true;
  }

  /**
   * The open file to close first, if any may be: one whose every line read is committed, with
   * no batch in flight (so its reading resumes where it stopped, and a failed commit rewinds
   * nothing it would need), and not drained through its descriptor (gone); files at their end
   * before files with more to read, then the longest without new lines.
   */
  private victim(): FileState | undefined {
    let best: FileState | undefined;
    for (const s of this.opened) {
      if (s.gone || s.dropped || s.inFlight > 0 || s.pos.lineOffset !== s.committed) continue;
      if (best === undefined || (s.atEof !== best.atEof ? s.atEof : s.lastDataAt < best.lastDataAt)) best = s;
    }
    return best;
  }

  /** Closes a file's descriptor to keep under the cap; a file at its end is read again once a scan or a hint sees it change. */
  private async evict(s: FileState): Promise<void> {
    const fh = this.release(s);
    if (s.atEof) s.nextReadAt = Infinity;
    await fh?.close().catch(() => undefined);
  }

  /** Takes a file's descriptor from it (the caller closes it). */
  private release(s: FileState): FileHandle | null {
    const fh = s.fh;
    if (fh === null) return null;
    s.fh = null;
    this.opened.delete(s);
    this.held--;
    return fh;
  }

  /** Closes a descriptor no file holds. */
  private async closeHandle(fh: FileHandle): Promise<void> {
    this.held--;
    await fh.close().catch(() => undefined);
  }

  private adopt(s: FileState, fh: FileHandle): void {
    s.fh = fh;
    s.lastDataAt = Date.now();
    this.opened.add(s);
  }

  /**
   * The descriptor of a tracked file, opened again at its path if it was closed to keep under
   * the cap, once the path is found to name the same file still: the same device and inode,
   * and the same first line (which holds its `file_id`; an inode is reused once freed). A file
   * gone or replaced meanwhile is handled as a scan handles it (a replacement counted, the new
   * file tracked by the next scan); one truncated or rewritten is read again from its first
   * byte. Null when it cannot be read now (gone, replaced, no descriptor to be had: the next
   * scan tries again).
   */
  private async reopen(s: FileState): Promise<FileHandle | null> {
    if (s.fh !== null) return s.fh;
    // Its path names another file, or none: only a scan finding it again (a rename) brings it back.
    if (s.gone) {
      s.nextReadAt = Infinity;
      return null;
    }
    let fh: FileHandle | null = null;
    try {
      fh = await this.openCapped(s.path);
    } catch (err: unknown) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.lost(s);
      else this.cannotOpen(s.path, err);
    }
    if (fh === null) {
      s.nextReadAt = Math.max(s.nextReadAt, this.nextScanAt);
      return null;
    }
    const st = await fh.stat().catch(() => null);
    if (st === null || st.dev !== s.dev || st.ino !== s.ino || (await checkHash(fh, s.firstLineBytes)) !== s.firstLineHash) {
      await this.closeHandle(fh);
      this.counters.replacements++;
      this.log('info', 'file replaced at the same path', { path: s.path, oldFileId: s.key });
      this.lost(s);
      return null;
    }
    if (this.unreadable.delete(s.path)) this.log('info', 'an event file that could not be opened is read now', { path: s.path });
    this.adopt(s, fh);
    if (await this.truncated(s, fh)) {
      await this.reread(s);
      return null;
    }
    return fh;
  }

  /**
   * A file closed to keep under the cap whose path no longer names it: let go of at the next
   * scan (see maybeRetire), which first tracks what the path names now, and finds the file
   * again if it was only renamed.
   */
  private lost(s: FileState): void {
    s.gone = true;
    if (this.byPath.get(s.path) === s) this.byPath.delete(s.path);
    this.scanRequested = true;
  }

  /**
   * An event file the daemon may not open (EACCES and the like; ENOENT is a file gone since
   * the listing). Its calls are not counted while this lasts: said once per file and cause, and
   * kept in health() for the claudescope_tail_unreadable_files gauge; each scan tries again.
   */
  private cannotOpen(path: string, err: unknown): void {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    if (code === 'ENOENT') {
      this.unreadable.delete(path);
      return;
    }
    if (this.unreadable.get(path) === code) return;
    this.unreadable.set(path, code);
    const access = code === 'EACCES' || code === 'EPERM' ? "; give the daemon's user read access to it (see 'Running it as a service' in docs/daemon.md)" : '';
    this.log('warn', `cannot open an event file (${code}): its calls are not counted until the daemon can read it${access}`, { path, err: String(err) });
  }

  /** Identifies the file `fh` opened at `path` and follows it; false when it did not keep `fh` (the caller closes it). */
  private async follow(path: string, fh: FileHandle, fromZero: boolean): Promise<boolean> {
    const st = await fh.stat();
    if (!st.isFile()) return false;
    const id = await identify(fh, st, this.decode);
    if (!id) return false; // no complete first line yet: look again next scan
    const same = this.byKey.get(id.key);
    if (same && !same.dropped) {
      // Another file under the identity of one closed to keep under the cap (a copy): not it.
      if (same.fh === null && (same.dev !== st.dev || same.ino !== st.ino)) return false;
      // Same file under a new name (a rename): follow it.
      if (!same.gone) this.byPath.delete(same.path);
      same.path = path;
      same.gone = false;
      this.byPath.set(path, same);
      if (same.fh !== null) return false;
      this.adopt(same, fh);
      same.nextReadAt = 0;
      return true;
    }
    let offset = 0;
    let hash = '';
    let sealed = false;
    const cp = fromZero ? undefined : this.checkpointCache.get(id.key);
    if (cp) {
      if (st.size >= cp.offset && (await checkHash(fh, cp.offset)) === cp.checkHash) {
        offset = cp.offset;
        hash = cp.checkHash;
        sealed = cp.sealed;
      } else {
        this.counters.truncations++;
        this.log('warn', 'checkpoint no longer matches the file (truncated or replaced); re-reading from 0', { path, fileId: id.key });
      }
    }
    const s: FileState = {
      key: id.key, path, fh: null, dev: st.dev, ino: st.ino, header: id.header, size: st.size, mtimeMs: st.mtimeMs,
      pos: { lineOffset: offset, cursor: offset, skipFrom: null }, committed: offset, committedHash: hash, generation: 0,
      footerEnd: sealed ? offset : null, sealedCommitted: sealed, inFlight: 0, nextReadAt: 0, backoffMs: 0,
      unackedSince: st.size > offset ? Date.now() : null, gone: false, dropped: false, atEof: false,
      firstLineBytes: id.firstLineBytes, firstLineHash: await checkHash(fh, id.firstLineBytes), deadLetteredTo: 0, lastDataAt: Date.now(),
    };
    this.byKey.set(s.key, s);
    this.byPath.set(path, s);
    this.adopt(s, fh);
    return true;
  }

  private drop(s: FileState): void {
    s.dropped = true;
    s.generation++;
    this.byKey.delete(s.key);
    if (this.byPath.get(s.path) === s) this.byPath.delete(s.path);
    void this.release(s)?.close().catch(() => undefined);
  }

  /** Lets go of a file that is sealed (or whose writer is dead and idle) once fully committed. */
  /** A file deleted or archived: its checkpoint is forgotten, in the store and here (memory stays bounded). */
  private forget(key: string): void {
    this.o.checkpoints.forgetCheckpoint(key);
    this.checkpointCache.delete(key);
  }

  private async maybeRetire(s: FileState): Promise<void> {
    if (s.dropped || s.inFlight > 0) return;
    if (s.fh === null && s.gone) {
      // Closed to keep under the cap (every line read committed), then deleted, moved away or
      // replaced: no descriptor to drain it through. Let go of as a drained file is.
      this.drop(s);
      this.forget(s.key);
      return;
    }
    // A closed file is not opened to be looked at: each scan stats its path (same file, else it is gone).
    const st = s.fh === null ? { size: s.size, mtimeMs: s.mtimeMs } : await s.fh.stat().catch(() => null);
    if (!st) return;
    s.size = Math.max(s.size, st.size);
    // Every complete line read is committed (the reader may be skipping an oversize one).
    const upToDate = s.pos.lineOffset === s.committed;
    const drained = s.pos.skipFrom === null && upToDate;
    const now = Date.now();
    const h = s.header;
    const writerDead = h !== null && h.host === this.host && h.pid !== process.pid && !pidAlive(h.pid) && now - st.mtimeMs > this.o.deadWriterGraceMs;
    if (writerDead && upToDate && s.atEof && !s.sealedCommitted && st.size > s.committed) {
      // Its writer died mid-line (an oversize one included, which the reader was skipping to
      // its newline): the rest will never be completed. Record it and move past (a checkpoint
      // is hashed through the file's descriptor, held until it is committed).
      if ((await this.reopen(s)) === null) return;
      const batch = newBatch();
      deadLetter(batch, s, { reason: 'unterminated_line', file_id: s.key, path: s.path, offset: s.committed, length: st.size - s.committed });
      s.pos = { lineOffset: st.size, cursor: st.size, skipFrom: null };
      batch.checkpoints.set(s, { state: s, generation: s.generation, offset: st.size, sealed: false, hash: '' });
      await this.submit(batch, false);
      return;
    }
    if (!drained || s.committed < st.size) return;
    if (s.gone) {
      // Deleted, moved away or replaced by someone else, and drained: nothing left to read, and
      // nothing to keep its checkpoint for (were it ever put back, its calls are stored by
      // their event ids, so reading it again doubles nothing).
      this.drop(s);
      this.forget(s.key);
      return;
    }
    if (!s.sealedCommitted && !writerDead) return;
    this.drop(s);
    try {
      // The path may name another file by now (copied or moved in): that one is not done with.
      const atPath = this.o.retention === 'keep' ? null : await stat(s.path).catch(() => null);
      if (this.o.retention !== 'keep' && (atPath === null || atPath.ino !== s.ino || atPath.dev !== s.dev)) return;
      switch (this.o.retention) {
        case 'delete':
          await unlink(s.path);
          this.forget(s.key);
          break;
        case 'archive':
          await makeDirs(this.o.archiveDir);
          await rename(s.path, join(this.o.archiveDir, basename(s.path)));
          this.forget(s.key);
          break;
        case 'keep':
          this.keptPaths.set(s.path, s.ino);
          break;
      }
      // Counted once the retention action is done, so a reader of the counter sees its effect.
      this.counters.filesRetired++;
    } catch (err: unknown) {
      this.log('warn', 'could not apply retention to a finished file', { path: s.path, err: String(err) });
    }
  }
}

/** EMFILE (the process's descriptor limit reached) or ENFILE (the system's). */
function isDescriptorShortage(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EMFILE' || code === 'ENFILE';
}

function newBatch(): Batch {
  return { calls: [], checkpoints: new Map(), stats: new Map(), deadLetters: [], deadLetteredTo: new Map(), lines: 0, bytes: 0 };
}

/** Adds a dead letter of `s` to the batch; once it is written, `s` will not dead-letter its line again. */
function deadLetter(batch: Batch, s: FileState, letter: DeadLetter): void {
  batch.deadLetters.push({ state: s, letter });
  batch.deadLetteredTo.set(s, Math.max(batch.deadLetteredTo.get(s) ?? 0, letter.offset + 1));
}
