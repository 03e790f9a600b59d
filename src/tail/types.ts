/**
 * The tailer's contract with the rest of the daemon: what it hands a sink, how it loads
 * checkpoints, its options and its health counters.
 */
import type { CallEvent, EmitterStats } from '../event/types.js';
import type { DeadLetterReason } from './dead-letter.js';

/** How far a file is durably consumed (same shape as the SQLite store's checkpoint rows). */
export interface Checkpoint {
  /** Header `file_id`, or `ino:<dev>:<ino>:<hash of first line>` without a valid header. */
  fileKey: string;
  path: string;
  /** Offset just past the last consumed line: never inside a line. */
  offset: number;
  /** See `checkHash` in file-identity.ts. */
  checkHash: string;
  /** The footer was consumed. */
  sealed: boolean;
}

/** The latest counters of one emitter process. */
export interface EmitterStatsRecord {
  /** `<host>/<pid>/<app>`. */
  writer: string;
  app: string;
  host: string;
  pid: number;
  fileId: string;
  ts: number;
  final: boolean;
  stats: EmitterStats;
}

/** Where a line sits: its file's key and path, its first byte and length (without `\n`). */
export interface LineSource {
  fileKey: string;
  path: string;
  offset: number;
  length: number;
}

/** What the tailer hands the sink: decoded calls and the checkpoints they complete. */
export interface TailBatch {
  calls: { event: CallEvent; raw: string; source?: LineSource }[];
  /** Commit these only together with the calls (same transaction), or after the calls are durable. */
  checkpoints: Checkpoint[];
  emitterStats: EmitterStatsRecord[];
  /**
   * Another batch follows at once: the tailer stopped reading at a batch limit, not at the end
   * of the files (there is a backlog), and hands the next batch over without waiting for this
   * one's acknowledgement. A sink may hold this batch back to make both durable in one
   * transaction. If this batch fails, the sink must fail every later batch up to and including
   * the next one not marked `more` (their checkpoints would otherwise pass lines never stored).
   */
  more?: boolean;
}

/**
 * Stores a batch durably, checkpoints included. Resolve only once durable, in the order the
 * batches were handed over; throw (or reject) on failure, and the tailer re-reads from the
 * last committed checkpoints after a pause. See {@link TailBatch.more}.
 */
export type TailSink = (batch: TailBatch) => void | Promise<void>;

/**
 * The `code` of a sink's rejection meaning the daemon is stopping and the sink gave the batch up
 * unwritten (a store that cannot be reached within the time a stop allows). Nothing is lost:
 * its checkpoints did not advance, so its lines are read again at the next start. A stopping
 * tailer takes it without counting or logging a failed commit; the sink says what it gave up.
 */
export const SINK_CLOSED = 'E_SINK_CLOSED';

/** True when `err`, or an error it was caused by, is a {@link SINK_CLOSED} rejection. */
export function isSinkClosed(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if ((e as { code?: unknown }).code === SINK_CLOSED) return true;
  }
  return false;
}

/** Where checkpoints are loaded from and forgotten (the SQLite store implements this). */
export interface CheckpointSource {
  loadCheckpoints(): Checkpoint[];
  forgetCheckpoint(fileKey: string): void;
}

/** What happens to a sealed (or dead-writer, idle) file once fully committed. */
export type RetentionMode = 'delete' | 'archive' | 'keep';

export interface TailerOptions {
  /** The emitters' folder, `<home>/events`. */
  eventsDir: string;
  /** The dead-letter file, `<home>/data/dead-letter.ndjson`. */
  deadLetterPath: string;
  checkpoints: CheckpointSource;
  sink: TailSink;
  /** Default `'delete'`. */
  retention?: RetentionMode;
  /** Where `archive` moves files. Default `<eventsDir>/archive` (not scanned: not a `*.ndjson` at top level). */
  archiveDir?: string;
  /** Full folder scan period. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Longest wait before re-reading a file at its end. Default 500 ms. */
  maxEofBackoffMs?: number;
  /** Bytes per read. Default 256 KiB. */
  chunkBytes?: number;
  /** Longest line accepted (excluding `\n`). Default 1 MiB (`MAX_LINE_BYTES`). */
  maxLineBytes?: number;
  /** Lines per batch. Default 4000. */
  maxBatchLines?: number;
  /**
   * Bytes of lines per batch (a batch closes at whichever limit comes first; it may overshoot
   * by one read of `chunkBytes`). Bounds the memory a batch holds whatever the event size:
   * decoded, a 1.3 KB event line takes ~3 KB of heap until its batch commits. Default 1 MiB
   * (~800 such events): in the ingestion benchmark a daemon with 10 million stored calls peaked
   * at 129 MB RSS, against 158 MB with 2 MiB and 179 MB with 4,000-line batches, for ~10 % less
   * throughput than 4,000-line batches (more, smaller rollup upserts).
   */
  maxBatchBytes?: number;
  /**
   * Batches read but not yet acknowledged; when none is free, reading stops. This also bounds
   * how many batches a sink can gather into one transaction during a backlog (see
   * {@link TailBatch.more}). A batch handed over keeps only its checkpoints here; whether its
   * calls stay in memory until acknowledged is up to the sink (the SQLite pipeline writes them
   * into its open transaction at once and allows 8). Default 2.
   */
  maxBatchesInFlight?: number;
  /** A file whose writer is dead and idle this long is treated as sealed. Default 5 min. */
  deadWriterGraceMs?: number;
  /** Pause after a failed commit before re-reading. Default 1000 ms (doubles, capped at 30 s). */
  commitRetryMs?: number;
  /**
   * Least time between two batches while the files are read to their ends (a backlog's batches,
   * cut at a size limit, go at once). Every commit rewrites whole pages (the newest rows, each
   * index's newest entries, the rollups, the checkpoints) however few lines it holds: without
   * this, apps that flush every 100 ms make one commit per flush. Adds up to this much to the
   * time a line takes to become visible. Default 200 ms; 0 hands over each read at once.
   */
  batchIntervalMs?: number;
  /**
   * Most event files held open at once. Each tracked file (a writer's, a dead writer's waiting
   * out `deadWriterGraceMs`, one waiting for retention) would otherwise hold a descriptor, and a
   * few thousand of them exhaust the process's limit (ulimit -n, often 1024), failing the
   * store's and the HTTP server's opens too. Past it, the files idle the longest are closed and
   * opened again when they grow (a scan or a hint sees it), once their path is found to name
   * the same file still. A file with lines read and not yet committed, or being drained, keeps
   * its descriptor. Halved when an open fails with EMFILE or ENFILE, doubled back after
   * `descriptorRecoveryMs` without another. Default 256.
   */
  maxOpenFiles?: number;
  /**
   * After a shortage of descriptors lowered the cap, how long without another before it doubles
   * again, up to `maxOpenFiles`; ms, default 60,000. A shortage may pass (another process let
   * its descriptors go, the limit was raised): the tailer would otherwise stay at its lowest.
   */
  descriptorRecoveryMs?: number;
  /** Use chokidar hints. Default true. */
  watch?: boolean;
  /** Log sink. Default: nothing. */
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

/** Health counters, a plain object for the metrics part. Counters are cumulative since start. */
export interface TailerHealth {
  /** Bytes in tracked files not yet committed. */
  lagBytes: number;
  /** Age of the oldest bytes seen but not committed; 0 when caught up. */
  oldestUnackedAgeMs: number;
  linesRead: number;
  eventsCommitted: number;
  batchesCommitted: number;
  deadLettered: Record<DeadLetterReason, number>;
  /** Failed commits (rows and checkpoints together). */
  checkpointErrors: number;
  truncations: number;
  replacements: number;
  filesTracked: number;
  /** Event files in the folder the daemon may not open (EACCES and the like): their calls go uncounted. */
  filesUnreadable: number;
  /** Descriptors of event files held now. */
  filesOpen: number;
  /** Most held at once: `maxOpenFiles`, or less once the process ran out of descriptors. */
  maxOpenFiles: number;
  /**
   * Shortages of descriptors found (EMFILE, ENFILE): an event file or the folder that could not
   * be opened, an event file given one of the last descriptors under the limit, or too few left
   * after a failed commit; the cap is halved at each (see `maxOpenFiles`).
   */
  descriptorShortages: number;
  filesRetired: number;
}
