/**
 * The emitter's NDJSON file writer. It runs inside the application's process, so it
 * follows the host contract: `write()` returns at once and never throws, memory is bounded,
 * and a failing or slow disk costs dropped (and counted) events, never a blocked or broken
 * app. Modelled on sonic-boom: one serialisation per event, an in-memory buffer flushed by
 * asynchronous appends of whole lines (one write in flight), `flushSync` on exit. A call
 * event is written as UTF-8 JSON straight into bytes ({@link CallEventEncoder}) and the buffer
 * holds lines as bytes ({@link LineQueue}), not strings.
 *
 * Files follow the event contract: `<dir>/<app>-<host>-<pid>-<startMs>-<fileSeq>.ndjson`,
 * mode 0600, a header first, a footer when sealed (close, rotation, exit); never renamed or
 * truncated.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { CallEvent, EmitterStats, FileFooter, FileHeader, StatsLine } from '../event/types.js';
import { CALL_LINE_HEAD, CallEventEncoder, JsonBytes } from './call-event-json.js';
import { registerExitFlush, unregisterExitFlush } from './exit-hook.js';
import { BlockPool, LineQueue } from './line-queue.js';
import { WARNING_CODES, warnOnce } from './warnings.js';
import {
  DIR_SCAN_EVERY_BYTES,
  DIR_SCAN_WHILE_CAPPED_MS,
  FLUSH_THRESHOLD_BYTES,
  MAX_WRITE_BYTES,
  RETRY_BUSY_MS,
  fileNameField,
  resolveWriterOptions,
  type ResolvedWriterOptions,
  type WriterOptions,
} from './writer-options.js';

export type { WriterOptions, WriterFs } from './writer-options.js';

/** A call event as handed to the writer: `seq` is assigned by the writer. */
export type CallEventInput = Omit<CallEvent, 'seq'> & { seq?: number };

/** Builds a call's event when the writer gets to it ({@link EventWriter.defer}). */
export type EventBuilder = () => CallEventInput;

/**
 * Deferred calls ({@link EventWriter.defer}) past which their events are built in a task of
 * their own, not in the path of the call that made the count (it would wait for them all).
 */
const BUILD_DEFERRED_AT = 64;
/**
 * Deferred calls past which their events are built at once, whatever else runs: bounds the
 * memory they hold (each keeps its response until then).
 */
const MAX_DEFERRED = 1024;
/** Names tried for a file whose name another writer took (see `#renameTaken`). */
const MAX_NAME_TRIES = 100;

type SealReason = FileFooter['reason'];

/** Errors after which the descriptor is unusable: stop writing (sonic-boom's EPIPE rule). */
const FATAL_CODES = new Set(['EPIPE']);
/** Transient errors: retry the same bytes shortly. */
const BUSY_CODES = new Set(['EAGAIN', 'EBUSY', 'EINTR']);
/** The disk or quota is full: it may free up. */
const SPACE_CODES = new Set(['ENOSPC', 'EDQUOT']);
/** Failed writes of a footer, for other reasons, before its file is closed unsealed. */
const MAX_FOOTER_FAILURES = 5;
/** Synchronous retries of EAGAIN in flushSync before giving up (1 ms apart). */
const SYNC_BUSY_RETRIES = 100;

/** One file of the writer's sequence, from its header to its footer. */
interface FileSlot {
  /** Set when the slot is made; moved on, before the file exists, if another writer took the name. */
  path: string;
  readonly fileId: string;
  readonly fileSeq: number;
  readonly openedAtMs: number;
  readonly headerLine: string;
  fd: number | null;
  /** Lines waiting for the disk, encoded; their exact size in bytes is `pending.bytes`. */
  readonly pending: LineQueue;
  /** Lines assigned to this file so far, header included: the next line's `seq`. */
  lines: number;
  /** Bytes assigned to this file so far (on disk or waiting), exact. */
  bytes: number;
  headerOnDisk: boolean;
  linesOnDisk: number;
  bytesOnDisk: number;
  /** A failed write left an unterminated fragment at the end of the file. */
  torn: boolean;
  seal: SealReason | null;
  footerDone: boolean;
  /** Writes of the footer that failed (other than for space). */
  footerFailures: number;
  done: Array<() => void>;
}

/** Bytes being written by the one write in flight. */
interface Chunk {
  readonly slot: FileSlot;
  readonly kind: 'lines' | 'footer';
  readonly buf: Buffer;
  off: number;
  /** Lines this chunk completes in the file (a torn fragment's terminator counts as one). */
  readonly lines: number;
  readonly events: number;
  /** Lines before the first buffered one: a torn fragment's terminator, the header. */
  readonly prefixLines: number;
  readonly headerBytes: number;
  /** Buffer accounting to release when the chunk settles (written or dropped). */
  readonly accounted: number;
  /** The pooled block `buf` is a view of: reusable once the write has called back. */
  readonly block: Buffer | null;
}

interface FlushWaiter {
  readonly target: number;
  readonly resolve: () => void;
}

type Op = 'idle' | 'open' | 'write' | 'wait' | 'close';

function errCode(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Appends call events to NDJSON files, one file per process at a time.
 *
 * @example
 * const writer = new EventWriter({ app: 'billing' });
 * writer.write(event);        // returns at once, never throws
 * await writer.close();       // footer, fd closed
 */
/** Every counter of {@link EmitterStats} at zero. */
export function zeroStats(): Required<EmitterStats> {
  return {
    events_written: 0,
    events_dropped_buffer: 0,
    events_dropped_dir_cap: 0,
    events_dropped_write_error: 0,
    internal_errors: 0,
    bytes_written: 0,
    files_opened: 0,
    write_errors: 0,
  };
}

export class EventWriter {
  readonly #o: ResolvedWriterOptions;
  readonly #appField: string;
  readonly #hostField: string;
  #ownerPid: number;
  #startMs: number | null = null;
  #nextFileSeq = 0;
  /** Slots not yet closed, oldest first; the last may be `#current`. */
  #queue: FileSlot[] = [];
  #current: FileSlot | null = null;
  #op: Op = 'idle';
  #inFlight: Chunk | null = null;
  /** Bumped when async work must be forgotten (flushSync, fork). */
  #gen = 0;
  #stopped = false;
  #bufferedBytes = 0;
  #enqueued = 0;
  #settled = 0;
  #flushWaiters: FlushWaiter[] = [];
  #flushTimer: NodeJS.Timeout | null = null;
  #statsTimer: NodeJS.Timeout | null = null;
  #hooked = false;
  /** Calls whose events are built at the next write: {@link defer}. */
  #deferred: EventBuilder[] = [];
  /** What the builds in {@link #deferred} hold (their `heldBytes`). */
  #deferredBytes = 0;
  #buildTask: NodeJS.Immediate | null = null;
  #dirMeasured = 0;
  #sinceScan = 0;
  #scanning = false;
  #lastScanMs = 0;
  #stats: Required<EmitterStats> = zeroStats();
  readonly #pool = new BlockPool();
  readonly #json = new JsonBytes();
  readonly #encoder = new CallEventEncoder();
  /** The queue of the next file, where a line is staged (sized) before that file exists. */
  #nextQueue: LineQueue | null = null;

  /** Validates the options (throws {@link WriterOptionsError}); opens nothing, starts nothing. */
  constructor(options: WriterOptions = {}) {
    this.#o = resolveWriterOptions(options);
    this.#appField = fileNameField(this.#o.app);
    this.#hostField = fileNameField(this.#o.host);
    this.#ownerPid = this.#o.pid();
  }

  /** The application name written in headers (the option, or its default). */
  get app(): string {
    return this.#o.app;
  }

  /** The host name written in headers (the option, or `os.hostname()`). */
  get host(): string {
    return this.#o.host;
  }

  /** Counts a fault the caller caught on the emitter's side; it appears in stats lines and footers. */
  countInternalError(): void {
    this.#stats.internal_errors++;
  }

  /** Cumulative counters of this process's writer (a copy). */
  stats(): EmitterStats {
    return { ...this.#stats };
  }

  /** Path of the file receiving events now, or null before the first write / after close. */
  currentPath(): string | null {
    return this.#current?.path ?? null;
  }

  /**
   * Appends one call event, written with its line in the current file as `seq` (the header is
   * 0; the object given is left as it is), encoded once and buffered. Returns at once, never
   * throws; an event that cannot be kept is counted in {@link stats}.
   */
  write(event: CallEventInput): void {
    try {
      if (this.#o.pid() !== this.#ownerPid) this.#afterFork();
      if (this.#stopped) {
        this.#stats.events_dropped_write_error++;
        return;
      }
      let slot = this.#current;
      if (slot !== null && this.#o.now() - slot.openedAtMs >= this.#o.maxFileAgeMs) {
        this.#seal(slot, 'rotate_age');
        slot = null;
      }
      let queue = slot === null ? this.#spareQueue() : slot.pending;
      let bytes = this.#stageEvent(queue, event, slot === null ? 1 : slot.lines);
      if (this.#bufferedBytes + bytes > this.#o.maxBufferBytes) {
        this.#stats.events_dropped_buffer++;
        return;
      }
      if (this.#dirMeasured + this.#sinceScan + bytes > this.#o.maxDirBytes) {
        this.#stats.events_dropped_dir_cap++;
        if (this.#o.now() - this.#lastScanMs >= DIR_SCAN_WHILE_CAPPED_MS) this.#scanDir();
        return;
      }
      if (slot !== null && slot.lines > 1 && slot.bytes + bytes > this.#o.maxFileBytes) {
        this.#seal(slot, 'rotate_size');
        slot = null;
        queue = this.#spareQueue();
        bytes = this.#stageEvent(queue, event, 1);
      }
      slot ??= this.#newSlot();
      slot.lines++;
      this.#stats.events_written++;
      this.#enqueue(slot, bytes, 1);
      this.#sinceScan += bytes;
      if (this.#sinceScan >= DIR_SCAN_EVERY_BYTES) this.#scanDir();
    } catch {
      this.#stats.internal_errors++;
    }
  }

  /**
   * Takes a call whose event `build` makes later: at the writer's flush interval, on
   * `flush()`, `close()` and exit, or in a task of its own once {@link BUILD_DEFERRED_AT}
   * calls wait (at once past {@link MAX_DEFERRED}). Their lines reach the disk by the flush
   * interval, the latest a written line does (written lines that fill 64 KiB go at once;
   * deferred ones wait for the interval or for {@link BUILD_DEFERRED_AT} calls). Building
   * events in a row, rather than one between each two pieces of the app's work, costs the
   * app's thread less (its caches stay warm: ~10 µs less per call in
   * scripts/bench-emitter.ts). A `build` that throws is counted as an internal error. Returns
   * at once, never throws. `heldBytes`: what `build` holds until then (a call's redacted
   * content); once those of the calls waiting pass half `maxBufferBytes` they are built at
   * once, where the buffer's cap counts them: 63 calls each with 4 MiB of content (just under
   * the content's bound) held 250 MiB for as long as the flush interval.
   */
  defer(build: EventBuilder, heldBytes = 0): void {
    try {
      if (this.#o.pid() !== this.#ownerPid) this.#afterFork();
      const waiting = this.#deferred.push(build);
      this.#deferredBytes += heldBytes;
      this.#hookExit();
      if (waiting >= MAX_DEFERRED || this.#deferredBytes > this.#o.maxBufferBytes / 2) this.#buildDeferred();
      else if (waiting >= BUILD_DEFERRED_AT) this.#buildDeferredSoon();
      else if (this.#flushTimer === null) this.#startFlushTimer();
    } catch {
      this.#stats.internal_errors++;
    }
  }

  /**
   * Resolves once every event buffered (or deferred) before the call was written or
   * dropped, or after `flushTimeoutMs` with them still buffered (a disk that never answers).
   * Never rejects.
   */
  flush(): Promise<void> {
    try {
      this.#buildDeferred();
      if (this.#settled >= this.#enqueued) return Promise.resolve();
      const target = this.#enqueued;
      return new Promise<void>((resolve) => {
        const giveUp = this.#giveUpAfterTimeout(() => {
          this.#flushWaiters = this.#flushWaiters.filter((w) => w !== waiter);
          resolve();
        });
        const waiter: FlushWaiter = {
          target,
          resolve: () => {
            clearTimeout(giveUp);
            resolve();
          },
        };
        this.#flushWaiters.push(waiter);
        this.#pump();
      });
    } catch {
      this.#stats.internal_errors++;
      return Promise.resolve();
    }
  }

  /**
   * Writes what is buffered, seals the file with a footer (reason `close`) and closes it;
   * stops the timers and the exit listener. A later `write()` opens a new file. Never
   * rejects.
   */
  close(): Promise<void> {
    try {
      this.#buildDeferred();
      if (this.#current !== null) this.#seal(this.#current, 'close');
      const last = this.#queue[this.#queue.length - 1];
      if (last === undefined) {
        this.#stopIfIdle();
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        // The file stays open with its write in flight: sealed if the disk recovers, else at exit.
        const giveUp = this.#giveUpAfterTimeout(resolve);
        last.done.push(() => {
          clearTimeout(giveUp);
          this.#stopIfIdle();
          resolve();
        });
        this.#pump();
      });
    } catch {
      this.#stats.internal_errors++;
      return Promise.resolve();
    }
  }

  /**
   * Synchronously writes everything buffered, seals every open file with a footer (reason
   * `close`, or the rotation reason of a file already sealed) and closes it. Called by the
   * process `exit` listener, when the process is done with its files. A later `write()`
   * opens a new file. Never throws.
   *
   * A write in flight when this runs is completed from the file's actual size (fstat), so
   * nothing is lost; if the thread pool performs that same write after this point, its
   * lines appear twice, which the daemon ignores (events are deduplicated by `event_id`).
   */
  flushSync(): void {
    try {
      if (this.#o.pid() !== this.#ownerPid) {
        this.#afterFork();
        return;
      }
      this.#gen++;
      this.#clearTimers();
      const inFlight = this.#inFlight;
      const op = this.#op;
      // The deferred calls' lines are written below with the rest: built with the pump held,
      // as a write it started now would race the synchronous ones (and could land after them).
      this.#op = 'wait';
      this.#buildDeferred();
      this.#inFlight = null;
      this.#op = 'idle';
      for (const slot of this.#queue) {
        this.#sealSync(slot, inFlight !== null && inFlight.slot === slot ? inFlight : null, op);
        for (const done of slot.done.splice(0)) done();
      }
      this.#queue = [];
      this.#current = null;
      this.#bufferedBytes = 0;
      this.#settled = this.#enqueued;
      this.#resolveFlushWaiters();
      this.#stopIfIdle();
    } catch {
      this.#stats.internal_errors++;
    }
  }

  // ---- hot-path helpers -------------------------------------------------------------

  /** Stages the event's line in `queue` (encoded in place); returns its size in bytes. */
  #stageEvent(queue: LineQueue, event: CallEventInput, seq: number): number {
    queue.openLine(this.#json);
    this.#encoder.encode(this.#json, event, seq);
    return queue.closeLine(this.#json);
  }

  /** A queue for the next file; {@link #newSlot} gives it to that file. */
  #spareQueue(): LineQueue {
    this.#nextQueue ??= new LineQueue(this.#pool);
    return this.#nextQueue;
  }

  /** Commits the line last staged in `slot.pending`, of `bytes` bytes (`events`: 1 for a call event). */
  #enqueue(slot: FileSlot, bytes: number, events: number): void {
    slot.pending.commit(bytes, events);
    slot.bytes += bytes;
    this.#bufferedBytes += bytes;
    this.#enqueued += bytes;
    if (this.#queue[0] === slot && slot.pending.bytes >= FLUSH_THRESHOLD_BYTES) this.#pump();
    else if (this.#flushTimer === null) {
      this.#startFlushTimer();
    }
  }

  #startFlushTimer(): void {
    this.#flushTimer = setTimeout(() => {
      this.#buildDeferred();
      this.#flushTimer = null;
      this.#pump();
    }, this.#o.flushIntervalMs);
    this.#flushTimer.unref();
  }

  #buildDeferredSoon(): void {
    if (this.#buildTask !== null) return;
    this.#buildTask = setImmediate(() => {
      this.#buildTask = null;
      this.#buildDeferred();
    });
    this.#buildTask.unref();
  }

  /** Builds and writes the events of the calls {@link defer} holds, oldest first. */
  #buildDeferred(): void {
    const builds = this.#deferred;
    if (builds.length === 0) return;
    this.#deferred = [];
    this.#deferredBytes = 0;
    for (const build of builds) {
      let event: CallEventInput;
      try {
        event = build();
      } catch {
        this.#stats.internal_errors++;
        continue;
      }
      this.write(event);
    }
  }

  #hookExit(): void {
    if (!this.#hooked) {
      registerExitFlush(this);
      this.#hooked = true;
    }
  }

  #newSlot(): FileSlot {
    const now = this.#o.now();
    this.#startMs ??= now;
    const fileSeq = this.#nextFileSeq++;
    const fileId = randomUUID();
    const pid = this.#ownerPid;
    const header: FileHeader = {
      t: 'header',
      v: 1,
      file_id: fileId,
      app: this.#o.app,
      host: this.#o.host,
      pid,
      started_at: new Date(now).toISOString(),
      file_seq: fileSeq,
      emitter: this.#o.emitter,
    };
    const headerLine = JSON.stringify(header) + '\n';
    const pending = this.#spareQueue();
    this.#nextQueue = null;
    const slot: FileSlot = {
      path: this.#pathOf(fileSeq),
      fileId,
      fileSeq,
      openedAtMs: now,
      headerLine,
      fd: null,
      pending,
      lines: 1,
      bytes: Buffer.byteLength(headerLine, 'utf8'),
      headerOnDisk: false,
      linesOnDisk: 0,
      bytesOnDisk: 0,
      torn: false,
      seal: null,
      footerDone: false,
      footerFailures: 0,
      done: [],
    };
    this.#queue.push(slot);
    this.#current = slot;
    this.#hookExit();
    if (this.#statsTimer === null) {
      this.#statsTimer = setInterval(() => this.#statsTick(), this.#o.statsIntervalMs);
      this.#statsTimer.unref();
    }
    return slot;
  }

  #seal(slot: FileSlot, reason: SealReason): void {
    slot.seal = reason;
    if (this.#current === slot) this.#current = null;
    this.#pump();
  }

  #statsTick(): void {
    try {
      if (this.#o.pid() !== this.#ownerPid) return;
      const slot = this.#current;
      if (slot === null || this.#stopped) return;
      if (this.#o.now() - slot.openedAtMs >= this.#o.maxFileAgeMs) {
        this.#seal(slot, 'rotate_age');
        return;
      }
      const line: StatsLine = { t: 'stats', v: 1, file_id: slot.fileId, ts: this.#o.now(), stats: this.stats() };
      const bytes = slot.pending.stage(JSON.stringify(line));
      if (this.#bufferedBytes + bytes > this.#o.maxBufferBytes) return;
      slot.lines++;
      this.#enqueue(slot, bytes, 0);
    } catch {
      this.#stats.internal_errors++;
    }
  }

  // ---- the asynchronous pump: one operation at a time ----------------------------------

  #pump(): void {
    if (this.#op !== 'idle') return;
    try {
      for (;;) {
        const slot = this.#queue[0];
        if (slot === undefined) return;
        if (this.#stopped) {
          this.#dropAll();
          return;
        }
        if (slot.fd === null) {
          if (slot.pending.bytes > 0) return this.#open(slot);
          if (slot.seal === null) return;
          this.#finishSlot(slot); // sealed before anything reached the disk: no file
          continue;
        }
        if (slot.pending.bytes > 0 || (!slot.headerOnDisk && slot.linesOnDisk === 0 && !slot.torn && slot.seal === null)) {
          return this.#startWrite(this.#linesChunk(slot));
        }
        if (slot.seal !== null) {
          // Nothing ever reached this file (the disk refused even the header): a footer
          // alone would not be a valid file, so just close it.
          if (!slot.headerOnDisk && slot.linesOnDisk === 0) return this.#closeSlot(slot);
          return this.#startWrite(this.#footerChunk(slot));
        }
        return;
      }
    } catch {
      this.#stats.internal_errors++;
      this.#op = 'idle';
    }
  }

  #open(slot: FileSlot): void {
    this.#op = 'open';
    const gen = this.#gen;
    const fs = this.#o.fs;
    try {
      this.#mkdirAndOpen(slot, gen);
    } catch (err: unknown) {
      this.#stats.internal_errors++;
      this.#openFailed(slot, err);
    }
  }

  /**
   * Says once that no event file can be created. At once: a warning on the next tick would be
   * lost at exit, or when the app's flush() resolves first and it then exits.
   */
  #warnCannotCreate(err: unknown): void {
    warnOnce(WARNING_CODES.eventsDirUnwritable, `cannot create an event file in ${this.#o.dir} (${errCode(err) || String(err)}): calls are not recorded (dropped and counted) until it can; give the app write access to that folder, or choose another with CLAUDESCOPE_EVENTS_DIR, CLAUDESCOPE_HOME or the dir option`, 'now');
  }

  /** `<app>-<host>-<pid>-<start>-<file_seq>.ndjson` in the events folder. */
  #pathOf(fileSeq: number): string {
    return join(this.#o.dir, `${this.#appField}-${this.#hostField}-${this.#ownerPid}-${this.#startMs}-${fileSeq}.ndjson`);
  }

  /**
   * A file's path is taken by another writer (another emitter or worker thread of this process,
   * started in the same millisecond): this writer's start moves on a millisecond, and the file
   * takes the name that gives. Files are created exclusively, so two writers never share one.
   */
  #renameTaken(slot: FileSlot): void {
    this.#startMs = (this.#startMs ?? 0) + 1;
    slot.path = this.#pathOf(slot.fileSeq);
  }

  #mkdirAndOpen(slot: FileSlot, gen: number): void {
    const fs = this.#o.fs;
    fs.mkdir(this.#o.dir, { recursive: true, mode: 0o700 }, (mkErr) => {
      if (gen !== this.#gen) return;
      if (mkErr !== null) return this.#openFailed(slot, mkErr);
      const attempt = (tries: number): void => {
        fs.open(slot.path, 'ax', 0o600, (err, fd) => {
          if (gen !== this.#gen) {
            if (err === null) fs.close(fd, () => {});
            return;
          }
          if (err !== null && errCode(err) === 'EEXIST' && tries < MAX_NAME_TRIES) {
            this.#renameTaken(slot);
            return attempt(tries + 1);
          }
          if (err !== null) return this.#openFailed(slot, err);
          slot.fd = fd;
          this.#stats.files_opened++;
          this.#op = 'idle';
          this.#scanDir();
          this.#pump();
        });
      };
      attempt(1);
    });
  }

  /**
   * The file cannot be created: its buffered events are the bytes that failed. Said once: the
   * counters alone are in no file either, so a folder the app may not write (a daemon's home
   * without write access, a path under a file) would leave every call unrecorded unseen.
   */
  #openFailed(slot: FileSlot, err: unknown): void {
    this.#warnCannotCreate(err);
    this.#stats.write_errors++;
    this.#dropPending(slot);
    if (slot.seal !== null) this.#finishSlot(slot);
    this.#retryLater(this.#o.flushIntervalMs);
  }

  #linesChunk(slot: FileSlot): Chunk {
    const prefix = (slot.torn ? '\n' : '') + (slot.headerOnDisk ? '' : slot.headerLine);
    const taken = slot.pending.take(MAX_WRITE_BYTES, prefix);
    const prefixLines = (slot.torn ? 1 : 0) + (slot.headerOnDisk ? 0 : 1);
    return {
      slot,
      kind: 'lines',
      buf: taken.buf,
      off: 0,
      lines: taken.lines + prefixLines,
      events: taken.events,
      prefixLines,
      headerBytes: slot.headerOnDisk ? 0 : Buffer.byteLength(prefix),
      accounted: taken.bytes,
      block: taken.block,
    };
  }

  #footerLine(slot: FileSlot): string {
    const footer: FileFooter = {
      t: 'footer',
      v: 1,
      file_id: slot.fileId,
      lines: slot.linesOnDisk + (slot.torn ? 1 : 0),
      sealed_at: new Date(this.#o.now()).toISOString(),
      reason: slot.seal ?? 'close',
      stats: this.stats(),
    };
    return (slot.torn ? '\n' : '') + JSON.stringify(footer) + '\n';
  }

  #footerChunk(slot: FileSlot): Chunk {
    const buf = Buffer.from(this.#footerLine(slot), 'utf8');
    const prefixLines = slot.torn ? 1 : 0;
    return { slot, kind: 'footer', buf, off: 0, lines: 1 + prefixLines, events: 0, prefixLines, headerBytes: 0, accounted: 0, block: null };
  }

  #startWrite(chunk: Chunk): void {
    this.#op = 'write';
    this.#inFlight = chunk;
    const gen = this.#gen;
    const fd = chunk.slot.fd as number;
    try {
      this.#o.fs.write(fd, chunk.buf, chunk.off, chunk.buf.length - chunk.off, null, (err, n) =>
        this.#written(gen, chunk, err, n),
      );
    } catch (err: unknown) {
      // A file system that throws instead of calling back (a bug in an injected fs, a
      // closed fd in some runtimes) is a failed write, never an exception for the app.
      this.#stats.internal_errors++;
      this.#writeFailed(chunk, err as NodeJS.ErrnoException);
    }
  }

  #written(gen: number, chunk: Chunk, err: NodeJS.ErrnoException | null, n: number): void {
    {
      if (gen !== this.#gen) return;
      try {
        if (err !== null) return this.#writeFailed(chunk, err);
        chunk.off += n;
        chunk.slot.bytesOnDisk += n;
        this.#stats.bytes_written += n;
        // A short write: continue from the remaining bytes, never re-send written ones.
        if (chunk.off < chunk.buf.length) return this.#startWrite(chunk);
        this.#inFlight = null;
        this.#op = 'idle';
        this.#chunkWritten(chunk);
        // Only here (and after a failed write called back) is no write reading the block:
        // a write flushSync gave up on may still run in the thread pool.
        if (chunk.block !== null) this.#pool.put(chunk.block);
        if (chunk.kind === 'footer') return this.#closeSlot(chunk.slot);
        this.#afterWrite(chunk.slot);
      } catch {
        this.#stats.internal_errors++;
        this.#op = 'idle';
      }
    }
  }

  /**
   * After a write: lines that arrived meanwhile go out with the next timer tick rather than
   * at once, so a steady trickle of calls costs one write per interval, not one per call
   * (each asynchronous write costs the app's thread a round trip to the thread pool). Flush,
   * close, rotation and a full threshold still write at once.
   */
  #afterWrite(slot: FileSlot): void {
    const urgent =
      this.#flushWaiters.length > 0 ||
      slot.seal !== null ||
      this.#queue.length > 1 ||
      slot.pending.bytes >= FLUSH_THRESHOLD_BYTES ||
      (!slot.headerOnDisk && slot.linesOnDisk === 0);
    if (urgent) return this.#pump();
    if (slot.pending.bytes > 0 && this.#flushTimer === null) {
      this.#startFlushTimer();
    }
  }

  #chunkWritten(chunk: Chunk): void {
    const slot = chunk.slot;
    slot.linesOnDisk += chunk.lines;
    slot.torn = false;
    if (chunk.kind === 'footer') slot.footerDone = true;
    else slot.headerOnDisk = true;
    this.#settle(chunk.accounted);
  }

  #writeFailed(chunk: Chunk, err: NodeJS.ErrnoException): void {
    const code = errCode(err);
    this.#stats.write_errors++;
    if (BUSY_CODES.has(code)) {
      this.#op = 'wait';
      setTimeout(() => {
        if (this.#inFlight !== chunk) return;
        this.#startWrite(chunk);
      }, RETRY_BUSY_MS).unref();
      return;
    }
    this.#inFlight = null;
    this.#dropChunk(chunk);
    if (chunk.block !== null) this.#pool.put(chunk.block);
    if (code === 'EBADF') return this.#abandon(chunk.slot);
    if (FATAL_CODES.has(code)) {
      this.#stopped = true;
      this.#op = 'idle';
      this.#pump();
      return;
    }
    if (chunk.kind === 'footer') {
      // A file is let go of by the daemon once sealed: its footer is written again later (after
      // a fragment, if part of it landed), for as long as the disk is full, a few times after
      // other errors; after those the file stays unsealed (the daemon lets it go once this
      // process is gone).
      const slot = chunk.slot;
      if (SPACE_CODES.has(code) || ++slot.footerFailures < MAX_FOOTER_FAILURES) return this.#retryLater(this.#o.flushIntervalMs);
      return this.#closeSlot(slot);
    }
    // ENOSPC, EIO, EDQUOT…: these bytes are lost; try again with the next ones later.
    this.#retryLater(this.#o.flushIntervalMs);
  }

  #dropChunk(chunk: Chunk): void {
    const slot = chunk.slot;
    let landedEvents = 0;
    if (chunk.off > 0) {
      // Whole lines before the failure are in the file; only the rest was lost. Of those, the
      // call events are the lines that begin as one (a stats line may be among them).
      let landedLines = 0;
      let start = 0;
      for (let i = chunk.buf.indexOf(10); i !== -1 && i < chunk.off; i = chunk.buf.indexOf(10, i + 1)) {
        landedLines++;
        if (landedLines > chunk.prefixLines && i - start >= CALL_LINE_HEAD.length && chunk.buf.compare(CALL_LINE_HEAD, 0, CALL_LINE_HEAD.length, start, start + CALL_LINE_HEAD.length) === 0) landedEvents++;
        start = i + 1;
      }
      landedEvents = Math.min(chunk.events, landedEvents);
      slot.linesOnDisk += landedLines;
    }
    this.#stats.events_dropped_write_error += chunk.events - landedEvents;
    if (chunk.off > 0) {
      // A fragment at the end: the next write starts with "\n" so it ends as its own line.
      slot.torn = chunk.buf[chunk.off - 1] !== 10;
      if (chunk.headerBytes > 0) slot.headerOnDisk = true; // too late for it to be line 0
    }
    this.#settle(chunk.accounted);
  }

  #retryLater(ms: number): void {
    this.#op = 'wait';
    const gen = this.#gen;
    setTimeout(() => {
      if (gen !== this.#gen) return;
      this.#op = 'idle';
      this.#pump();
    }, ms).unref();
  }

  #closeSlot(slot: FileSlot): void {
    this.#op = 'close';
    const gen = this.#gen;
    const fd = slot.fd;
    slot.fd = null;
    const after = (): void => {
      if (gen !== this.#gen) return;
      this.#op = 'idle';
      this.#finishSlot(slot);
      this.#pump();
    };
    if (fd === null) return after();
    try {
      this.#o.fs.close(fd, after);
    } catch {
      this.#stats.internal_errors++;
      after();
    }
  }

  #finishSlot(slot: FileSlot): void {
    if (this.#queue[0] === slot) this.#queue.shift();
    else this.#queue = this.#queue.filter((s) => s !== slot);
    if (this.#current === slot) this.#current = null;
    for (const done of slot.done.splice(0)) done();
  }

  /**
   * The file's descriptor was closed under the writer (by the app, or by a library closing
   * descriptors it does not own): its number is no longer the writer's and is never written
   * or closed again (the app may have it by now). The file's buffered events are dropped and
   * counted, and the next ones go to a new file.
   */
  #abandon(slot: FileSlot): void {
    slot.fd = null;
    this.#dropPending(slot);
    this.#finishSlot(slot);
    this.#retryLater(this.#o.flushIntervalMs);
  }

  #dropPending(slot: FileSlot): void {
    const dropped = slot.pending.drop();
    this.#stats.events_dropped_write_error += dropped.events;
    this.#settle(dropped.bytes);
  }

  /** After EPIPE: nothing more reaches a file; every buffered event is dropped. */
  #dropAll(): void {
    for (const slot of this.#queue.splice(0)) {
      this.#dropPending(slot);
      if (slot.fd !== null) this.#o.fs.close(slot.fd, () => {});
      slot.fd = null;
      for (const done of slot.done.splice(0)) done();
    }
    this.#current = null;
  }

  #settle(bytes: number): void {
    this.#bufferedBytes -= bytes;
    this.#settled += bytes;
    this.#resolveFlushWaiters();
  }

  /**
   * Runs `giveUp` once `flushTimeoutMs` have passed. Not unref'd: it exists only while the app
   * awaits a flush that the disk has not answered, and the app then gets its answer.
   */
  #giveUpAfterTimeout(giveUp: () => void): NodeJS.Timeout {
    return setTimeout(giveUp, this.#o.flushTimeoutMs);
  }

  #resolveFlushWaiters(): void {
    if (this.#flushWaiters.length === 0) return;
    const keep: FlushWaiter[] = [];
    for (const w of this.#flushWaiters) {
      if (this.#settled >= w.target) w.resolve();
      else keep.push(w);
    }
    this.#flushWaiters = keep;
  }

  #clearTimers(): void {
    if (this.#buildTask !== null) clearImmediate(this.#buildTask);
    this.#buildTask = null;
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    if (this.#statsTimer !== null) clearInterval(this.#statsTimer);
    this.#flushTimer = null;
    this.#statsTimer = null;
  }

  /** With no file open or pending, a closed writer holds no timer and no exit listener. */
  #stopIfIdle(): void {
    if (this.#queue.length > 0 || this.#deferred.length > 0) return;
    this.#clearTimers();
    this.#pool.clear();
    this.#nextQueue = null;
    if (this.#hooked) {
      unregisterExitFlush(this);
      this.#hooked = false;
    }
  }

  // ---- the events folder's size cap ---------------------------------------------------

  /** Measures the folder in the background, one `stat` at a time (the thread pool is the app's). */
  #scanDir(): void {
    if (this.#scanning) return;
    this.#scanning = true;
    this.#lastScanMs = this.#o.now();
    const gen = this.#gen;
    const sinceAtStart = this.#sinceScan;
    const notOnDiskAtStart = this.#bufferedBytes;
    const fs = this.#o.fs;
    const done = (total: number | null): void => {
      this.#scanning = false;
      if (gen !== this.#gen || total === null) return;
      this.#dirMeasured = total + notOnDiskAtStart;
      this.#sinceScan = Math.max(0, this.#sinceScan - sinceAtStart);
    };
    try {
      this.#readDirSizes(done);
    } catch {
      this.#stats.internal_errors++;
      this.#scanning = false;
    }
  }

  #readDirSizes(done: (total: number | null) => void): void {
    const fs = this.#o.fs;
    fs.readdir(this.#o.dir, (err, names) => {
      if (err !== null) return done(err.code === 'ENOENT' ? 0 : null);
      let total = 0;
      let i = 0;
      const next = (): void => {
        const name = names[i++];
        if (name === undefined) return done(total);
        fs.stat(join(this.#o.dir, name), (statErr, st) => {
          if (statErr === null && st.isFile()) total += st.size;
          next();
        });
      };
      next();
    });
  }

  // ---- process changes ----------------------------------------------------------------

  /**
   * The pid changed (a fork): the buffered lines, the deferred calls and the open files are
   * the parent's, which writes them itself. Forget them and start over with files of this
   * process.
   */
  #afterFork(): void {
    this.#gen++;
    this.#clearTimers();
    for (const slot of this.#queue) {
      if (slot.fd !== null) this.#o.fs.close(slot.fd, () => {});
      for (const done of slot.done.splice(0)) done();
    }
    this.#queue = [];
    this.#current = null;
    this.#deferred = [];
    this.#deferredBytes = 0;
    this.#inFlight = null;
    this.#op = 'idle';
    this.#stopped = false;
    this.#bufferedBytes = 0;
    this.#settled = this.#enqueued;
    this.#resolveFlushWaiters();
    this.#ownerPid = this.#o.pid();
    this.#startMs = null;
    this.#nextFileSeq = 0;
    this.#dirMeasured = 0;
    this.#sinceScan = 0;
    this.#scanning = false;
    this.#stats = zeroStats();
  }

  #sealSync(slot: FileSlot, inFlight: Chunk | null, op: Op): void {
    const fs = this.#o.fs;
    try {
      if (slot.footerDone) {
        if (slot.fd !== null && op !== 'close') fs.closeSync(slot.fd);
        return;
      }
      if (slot.fd === null) {
        if (slot.pending.bytes === 0 && inFlight === null) return; // nothing ever reached a file
        fs.mkdirSync(this.#o.dir, { recursive: true, mode: 0o700 });
        // An open in flight may have created this slot's file already: it is this writer's.
        for (let tries = 1; slot.fd === null; tries++) {
          try {
            slot.fd = fs.openSync(slot.path, op === 'open' ? 'a' : 'ax', 0o600);
          } catch (err: unknown) {
            if (errCode(err) !== 'EEXIST' || tries >= MAX_NAME_TRIES) throw err;
            this.#renameTaken(slot);
          }
        }
        this.#stats.files_opened++;
      }
      const fd = slot.fd;
      if (inFlight !== null) {
        let from = inFlight.off;
        if (op === 'write') {
          // The async write may have landed (wholly or partly) already: resume from the
          // file's real size rather than write its bytes twice.
          const landed = fs.fstatSync(fd).size - slot.bytesOnDisk;
          if (landed >= 0 && landed <= inFlight.buf.length - inFlight.off) from = inFlight.off + landed;
          slot.bytesOnDisk += from - inFlight.off;
          this.#stats.bytes_written += from - inFlight.off;
          inFlight.off = from;
        }
        if (!this.#writeAllSync(slot, inFlight)) {
          this.#dropChunk(inFlight);
        } else {
          this.#chunkWritten(inFlight);
          if (inFlight.kind === 'footer') {
            fs.closeSync(fd);
            slot.fd = null;
            return;
          }
        }
      }
      while (slot.pending.bytes > 0 || (!slot.headerOnDisk && !slot.torn && slot.linesOnDisk === 0)) {
        const chunk = this.#linesChunk(slot);
        if (this.#writeAllSync(slot, chunk)) this.#chunkWritten(chunk);
        else this.#dropChunk(chunk);
      }
      this.#writeAllSync(slot, this.#footerChunk(slot));
      slot.footerDone = true;
      fs.closeSync(fd);
      slot.fd = null;
    } catch (err: unknown) {
      // Without a descriptor here, the folder or the file could not be made.
      if (slot.fd === null) this.#warnCannotCreate(err);
      this.#stats.internal_errors++;
      this.#dropPending(slot);
      if (slot.fd !== null) {
        try {
          fs.closeSync(slot.fd);
        } catch {
          // already unusable
        }
        slot.fd = null;
      }
    }
  }

  /** Writes the rest of `chunk` synchronously; false when the disk refused it. */
  #writeAllSync(slot: FileSlot, chunk: Chunk): boolean {
    let busy = 0;
    while (chunk.off < chunk.buf.length) {
      try {
        const n = this.#o.fs.writeSync(slot.fd as number, chunk.buf, chunk.off, chunk.buf.length - chunk.off, null);
        chunk.off += n;
        slot.bytesOnDisk += n;
        this.#stats.bytes_written += n;
      } catch (err: unknown) {
        this.#stats.write_errors++;
        if (BUSY_CODES.has(errCode(err)) && busy++ < SYNC_BUSY_RETRIES) {
          sleepSync(1);
          continue;
        }
        return false;
      }
    }
    return true;
  }
}

/** Builds an {@link EventWriter}; throws only for invalid options. */
export function createEventWriter(options: WriterOptions = {}): EventWriter {
  return new EventWriter(options);
}
