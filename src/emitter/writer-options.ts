/**
 * Options of the NDJSON event writer, their defaults, and the file-system seam it writes
 * through. Options are validated once, when the writer is built (fail fast at
 * construction); the hot path never re-checks them.
 */
import * as nodeFs from 'node:fs';
import { hostname, homedir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { makeDirs, makeDirsSync } from '../make-dirs.js';

/** Flush the buffer once it holds this many bytes (sonic-boom's `minLength` idea). */
export const FLUSH_THRESHOLD_BYTES = 64 * 1024;
/** Largest single `fs.write`: bounds the memory copied per write and the work per syscall. */
export const MAX_WRITE_BYTES = 1024 * 1024;
/** Default: flush buffered lines at least this often. */
export const FLUSH_INTERVAL_MS = 100;
/**
 * Default: the longest `flush()` and `close()` wait for the disk. A write that never completes
 * (a hung network file system) must not hold an app's shutdown that awaits them for ever.
 */
export const FLUSH_TIMEOUT_MS = 10_000;
/** Default: append a stats line this often while a file is open. */
export const STATS_INTERVAL_MS = 60_000;
/** Default: seal a file and open the next one past this size. */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;
/** Default: seal a file and open the next one past this age. */
export const MAX_FILE_AGE_MS = 60 * 60 * 1000;
/** Default: stop accepting events while the events folder holds more than this. */
export const MAX_DIR_BYTES = 1024 * 1024 * 1024;
/** Default: drop new events while this many bytes wait in memory for the disk. */
export const MAX_BUFFER_BYTES = 8 * 1024 * 1024;
/** Re-measure the events folder after this many bytes were appended (never per event). */
export const DIR_SCAN_EVERY_BYTES = 8 * 1024 * 1024;
/** While over the folder cap, re-measure at most this often so writing resumes once the daemon frees space. */
export const DIR_SCAN_WHILE_CAPPED_MS = 5_000;
/** Wait before retrying after EAGAIN (sonic-boom waits 100 ms on EAGAIN/EBUSY). */
export const RETRY_BUSY_MS = 10;

type Cb<T> = (err: NodeJS.ErrnoException | null, value: T) => void;

/**
 * The file-system calls the writer makes: a seam for fault injection (ENOSPC, EAGAIN, slow
 * disks). Defaults to `node:fs`; a test can pass `{ ...fs, write: failingWrite }`.
 */
export interface WriterFs {
  open(path: string, flags: string, mode: number, cb: Cb<number>): void;
  write(fd: number, buf: Uint8Array, offset: number, length: number, position: null, cb: Cb<number>): void;
  close(fd: number, cb: (err: NodeJS.ErrnoException | null) => void): void;
  mkdir(path: string, options: { recursive: true; mode: number }, cb: (err: NodeJS.ErrnoException | null) => void): void;
  readdir(path: string, cb: Cb<string[]>): void;
  stat(path: string, cb: Cb<{ size: number; isFile(): boolean }>): void;
  openSync(path: string, flags: string, mode: number): number;
  writeSync(fd: number, buf: Uint8Array, offset: number, length: number, position: null): number;
  closeSync(fd: number): void;
  fstatSync(fd: number): { size: number };
  mkdirSync(path: string, options: { recursive: true; mode: number }): unknown;
}

/** Options of {@link EventWriter}. Every field is optional. */
export interface WriterOptions {
  /**
   * Folder of the events files, created (mode 0700, recursive) when the first file opens.
   * @default `$CLAUDESCOPE_HOME/events`, with `CLAUDESCOPE_HOME` defaulting to `~/.claudescope`
   * @example { dir: '/var/lib/claudescope/events' }
   */
  dir?: string;
  /**
   * Application name, in the file name and the header. Characters other than letters,
   * digits, `_` and `.` become `_` in the file name (the name's fields are split on `-`).
   * @default the main script's base name without extension, else `node`
   */
  app?: string;
  /** Host name for the file name and the header. @default `os.hostname()` */
  host?: string;
  /**
   * Seal the file (footer `rotate_size`) and open the next once it would pass this size;
   * a file may pass it by its footer. @default 64 MiB
   */
  maxFileBytes?: number;
  /** Seal the file (footer `rotate_age`) once it is this old. @default 1 hour */
  maxFileAgeMs?: number;
  /**
   * Cap on the events folder's total size. Measured when a file opens and after every
   * 8 MiB appended (not per event); past it new events are dropped and counted in
   * `events_dropped_dir_cap`. @default 1 GiB
   */
  maxDirBytes?: number;
  /**
   * Cap on bytes waiting in memory for the disk (lines as encoded for the file, UTF-8).
   * When the disk is slow or failing and the buffer is full, new events are dropped and
   * counted in `events_dropped_buffer`; the writer never blocks. @default 8 MiB
   */
  maxBufferBytes?: number;
  /** Buffered lines are written at least this often (the timer is unref'd). @default 100 */
  flushIntervalMs?: number;
  /**
   * The longest `flush()` and `close()` wait for the disk: past it they resolve with the events
   * still buffered (written if the disk recovers, or at exit), so a write that never completes
   * (a hung network file system) never holds the app's shutdown. @default 10000
   * @example { flushTimeoutMs: 2000 }
   */
  flushTimeoutMs?: number;
  /** A stats line is appended this often while a file is open (unref'd timer). @default 60000 */
  statsIntervalMs?: number;
  /** File-system seam; any call left out comes from `node:fs`. @default node:fs */
  fs?: Partial<WriterFs>;
  /** Emitter name and version written in each header. @default claudescope's own */
  emitter?: { name: string; version: string };
  /**
   * Returns the current process id. A seam for tests of the fork rule (a process whose pid
   * changed never appends to its parent's file). @default () => process.pid
   */
  pid?: () => number;
  /** Clock in epoch ms, a seam for tests of age rotation. @default Date.now */
  now?: () => number;
}

/** Options after defaults and validation. */
export interface ResolvedWriterOptions {
  dir: string;
  app: string;
  host: string;
  maxFileBytes: number;
  maxFileAgeMs: number;
  maxDirBytes: number;
  maxBufferBytes: number;
  flushIntervalMs: number;
  flushTimeoutMs: number;
  statsIntervalMs: number;
  fs: WriterFs;
  emitter: { name: string; version: string };
  pid: () => number;
  now: () => number;
}

/** The version written in headers unless `emitter` is given. Kept in step with package.json. */
export const EMITTER_NAME = 'claudescope-node';
export const EMITTER_VERSION = '0.1.0';

/** Thrown at construction for an invalid option; never thrown after start. */
export class WriterOptionsError extends Error {
  readonly code = 'E_WRITER_OPTIONS';
  constructor(field: string, message: string) {
    super(`claudescope writer option "${field}": ${message}`);
    this.name = 'WriterOptionsError';
  }
}

function positive(field: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new WriterOptionsError(field, `must be a positive finite number, got ${String(value)}`);
  }
  return value;
}

function defaultDir(): string {
  const home = process.env['CLAUDESCOPE_HOME'];
  return join(home !== undefined && home !== '' ? home : join(homedir(), '.claudescope'), 'events');
}

function defaultApp(): string {
  const main = process.argv[1];
  if (main === undefined || main === '') return 'node';
  const name = basename(main, extname(main));
  return name === '' ? 'node' : name;
}

/** Keeps a file-name field to `[A-Za-z0-9_.]` so `<app>-<host>-…` splits unambiguously. */
export function fileNameField(value: string): string {
  const cleaned = value.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, 64);
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? '_' : cleaned;
}

const defaultFs: WriterFs = {
  open: (p, f, m, cb) => nodeFs.open(p, f, m, cb),
  write: (fd, b, o, l, pos, cb) => nodeFs.write(fd, b, o, l, pos, cb),
  close: (fd, cb) => nodeFs.close(fd, cb),
  mkdir: (p, o, cb) => void makeDirs(p, o.mode).then(() => cb(null), cb),
  readdir: (p, cb) => nodeFs.readdir(p, cb),
  stat: (p, cb) => nodeFs.stat(p, cb),
  openSync: (p, f, m) => nodeFs.openSync(p, f, m),
  writeSync: (fd, b, o, l, pos) => nodeFs.writeSync(fd, b, o, l, pos),
  closeSync: (fd) => nodeFs.closeSync(fd),
  fstatSync: (fd) => nodeFs.fstatSync(fd),
  mkdirSync: (p, o) => makeDirsSync(p, o.mode),
};

/** Applies defaults and validates; throws {@link WriterOptionsError} on a bad option. */
export function resolveWriterOptions(options: WriterOptions = {}): ResolvedWriterOptions {
  for (const field of ['dir', 'app', 'host'] as const) {
    const v = options[field];
    if (v !== undefined && (typeof v !== 'string' || v === '')) {
      throw new WriterOptionsError(field, 'must be a non-empty string');
    }
  }
  const emitter = options.emitter ?? { name: EMITTER_NAME, version: EMITTER_VERSION };
  if (typeof emitter.name !== 'string' || typeof emitter.version !== 'string') {
    throw new WriterOptionsError('emitter', 'must be { name: string, version: string }');
  }
  return {
    dir: options.dir ?? defaultDir(),
    app: options.app ?? defaultApp(),
    host: options.host ?? hostname(),
    maxFileBytes: positive('maxFileBytes', options.maxFileBytes, MAX_FILE_BYTES),
    maxFileAgeMs: positive('maxFileAgeMs', options.maxFileAgeMs, MAX_FILE_AGE_MS),
    maxDirBytes: positive('maxDirBytes', options.maxDirBytes, MAX_DIR_BYTES),
    maxBufferBytes: positive('maxBufferBytes', options.maxBufferBytes, MAX_BUFFER_BYTES),
    flushIntervalMs: positive('flushIntervalMs', options.flushIntervalMs, FLUSH_INTERVAL_MS),
    flushTimeoutMs: positive('flushTimeoutMs', options.flushTimeoutMs, FLUSH_TIMEOUT_MS),
    statsIntervalMs: positive('statsIntervalMs', options.statsIntervalMs, STATS_INTERVAL_MS),
    fs: { ...defaultFs, ...options.fs },
    emitter: { name: emitter.name, version: emitter.version },
    pid: options.pid ?? (() => process.pid),
    now: options.now ?? Date.now,
  };
}
