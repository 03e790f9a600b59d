/**
 * The embedded store: SQLite through better-sqlite3 12 in WAL mode, under
 * `<home>/data/claudescope.db`.
 *
 * One {@link SqliteStore.commitBatch} is one transaction holding the batch's call rows (INSERT
 * OR IGNORE on the unique `event_id`, so a replay changes nothing), the per-minute rollups of
 * the rows actually inserted (and the marks of the minutes they changed, from which
 * {@link SqliteStore.foldRollups} later derives the coarser levels), the latest rate-limit
 * headers, the emitter counters, and the tailer's checkpoints: rows and checkpoints are durable
 * together or not at all (exactly once). {@link SqliteStore.stageBatch} does the same for
 * several batches in one transaction.
 */
import type Database from 'better-sqlite3';
import { openDatabase } from './sqlite-driver.js';
import type { CallEvent, EmitterStats, RateLimitDimension } from '../event/types.js';
import type { PriceDimension, PriceResult } from '../pricing/types.js';
import type {
  AggregateQuery, AggregateRow, CallDimension, QueryApi, RateLimitRow, RecentCallsQuery, ReconciliationCaptureRow, SeriesQuery,
  SeriesRow, StoredCall, StoredCallDetail,
} from './types.js';
import { DIMENSION_COLUMNS, LATEST_RUN_FIRST, MIGRATIONS, SUM_COLUMNS, StoreError, migrate } from './migrations.js';
import { MINUTE_LEVEL, ROLLUP_LEVELS, RollupAdjuster, RollupWriter, foldPendingRollups, type RollupInput } from './rollups.js';
import { QueryEngine } from './query-sql.js';
import { CallLinesReader, CallLinesWriter, deleteLinesBefore, lineColumns } from './call-lines.js';
import type { Checkpoint as CheckpointRecord, EmitterStatsRecord } from '../tail/types.js';

/** One call ready to store: the decoded event, its line as read, and its price. */
export interface PricedCall {
  event: CallEvent;
  /** The line as read (without `\n`), kept for the detail view. */
  raw: string;
  /** Null when the cost engine failed on this event: stored as unpriced. */
  price: PriceResult | null;
}

/** The store keeps the tailer's checkpoints and emitter counters (the tailer's types). */
export type { Checkpoint as CheckpointRecord, EmitterStatsRecord } from '../tail/types.js';

export interface StoreBatch {
  calls: PricedCall[];
  checkpoints: CheckpointRecord[];
  emitterStats: EmitterStatsRecord[];
}

export interface CommitResult {
  inserted: number;
  /** Calls already stored (replays). */
  ignored: number;
}

export interface SqliteStoreOptions {
  /** Database file, e.g. `<home>/data/claudescope.db`. */
  path: string;
  /** Open for reading only (CLI commands while the daemon runs). Default false. */
  readonly?: boolean;
}

/** Retention of stored history; a missing setting keeps forever. */
export interface RetentionSettings {
  /** Age past which call rows are deleted. Default: keep. */
  rowsMaxAgeMs?: number;
  /** Age past which rollups (every level) are deleted (usually longer than rows). Default: keep. */
  rollupsMaxAgeMs?: number;
}

const RATE_DIMS: RateLimitDimension[] = ['requests', 'tokens', 'input_tokens', 'output_tokens'];
const PART_DIMS: readonly PriceDimension[] = ['input', 'output', 'cache_read', 'cache_write_5m', 'cache_write_1h', 'cache_write_unknown_ttl', 'web_search'];
const INSERT_COLUMNS = [
  'event_id', 'ts', ...DIMENSION_COLUMNS, 'http_status', 'request_id',
  'input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_write_5m_input_tokens',
  'cache_write_1h_input_tokens', 'cache_write_input_tokens', 'web_search_requests',
  'cost_usd', 'cost_without_cache_usd', 'cost_nanousd', 'cost_without_cache_nanousd', ...PART_DIMS.map((d) => `cost_${d}_usd`),
  'pricing_version', 'price_flags', 'duration_ms', 'ttft_ms', 'attempts', 'retries', 'event_json', 'line_batch', 'line_index',
];
/** Where the INSERT takes a call's batch of lines and its place in it (see call-lines.ts). */
const LINE_BATCH_AT = INSERT_COLUMNS.indexOf('line_batch');
const LINE_INDEX_AT = INSERT_COLUMNS.indexOf('line_index');
const DELETE_CHUNK = 5000;
/** Page size of a new database. */
const PAGE_SIZE_BYTES = 8192;
/** The write connection's page cache (KiB). */
const PAGE_CACHE_KIB = 16384;
/** WAL pages between automatic checkpoints (× {@link PAGE_SIZE_BYTES} ≈ 32 MiB). */
const WAL_AUTOCHECKPOINT_PAGES = 4000;
/** The columns a reprice may rewrite: the canonical model and everything the price decides. */
const PRICE_COLUMNS = [
  'model', 'cost_usd', 'cost_without_cache_usd', 'cost_nanousd', 'cost_without_cache_nanousd',
  ...PART_DIMS.map((d) => `cost_${d}_usd`), 'pricing_version', 'price_flags',
];
const PRICE_COLUMN_INDEXES = PRICE_COLUMNS.map((c) => INSERT_COLUMNS.indexOf(c));

/** What a reprice saw and did to one stored call. */
export interface RepricedRow {
  event_id: string;
  ts: number;
  /** The stored `model` before and after (they differ when an alias now names another model). */
  model_before: string | null;
  model_after: string | null;
  /** Cost in nanodollars before and after; null = unpriced. */
  nano_before: number | null;
  nano_after: number | null;
  version_before: string | null;
  version_after: string | null;
  /** The row differs (price, parts, flags, version or model): rewritten unless a dry run. */
  changed: boolean;
  /** The stored event and its new price (null: the pricer failed on it), for other copies of the call (InfluxDB). */
  event: CallEvent;
  price: PriceResult | null;
}

/** Options of {@link SqliteStore.repriceChunk}. */
export interface RepriceChunkOptions {
  /** Calls with `since <= ts < until` (epoch ms). */
  since: number;
  until: number;
  /** Row id to continue after: 0 first, then the previous chunk's `lastId`. */
  afterId: number;
  /** Rows per chunk (one transaction). */
  limit: number;
  /** The new price of a stored event; null stores the call as unpriced (the pricer failed on it). */
  price: (event: CallEvent) => PriceResult | null;
  /** Compute only: change nothing. Default false. */
  dryRun?: boolean;
}

export interface RepriceChunkResult {
  rows: RepricedRow[];
  /** Id of the last row read, to pass as the next `afterId`; null when no row was left. */
  lastId: number | null;
}

export class SqliteStore implements QueryApi {
  readonly db: Database.Database;
  readonly readonly: boolean;
  private readonly query: QueryEngine;
  private writer: Writer | undefined;
  /** Batches are staged in the open transaction: whom to tell once they are durable (see {@link stageBatch}). */
  private staged: Set<() => void> | undefined;

  private constructor(db: Database.Database, readonly_: boolean) {
    this.db = db;
    this.readonly = readonly_;
    this.query = new QueryEngine(db);
  }

  /** Opens (creating and migrating unless read-only) the database. */
  static open(opts: SqliteStoreOptions): SqliteStore {
    const ro = opts.readonly ?? false;
    const db = openDatabase(opts.path, ro ? { readonly: true, fileMustExist: true } : {});
    db.pragma('busy_timeout = 5000');
    if (!ro) {
      // 8 KiB pages for a new database (an existing one keeps its size: changing it needs a
      // VACUUM): a call row is ~1.5-2 KiB, so 4 KiB pages waste a quarter of each page and
      // write more pages per batch; larger pages would cost more per random event_id index
      // insert (each dirties a whole page) once the table is large. Must precede WAL mode.
      db.pragma(`page_size = ${PAGE_SIZE_BYTES}`);
      db.pragma('journal_mode = WAL');
      // NORMAL in WAL: a process crash loses nothing committed; rows and checkpoints stay
      // consistent with each other even after power loss, which is what exactly-once needs.
      db.pragma('synchronous = NORMAL');
      // 16 MiB: a backlog's calls, interleaved in time, insert their index entries all over the
      // indexes' recent pages, and 4 or 8 MiB ingested 3-4 % slower (paired runs of 200,000 calls).
      db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
      // Checkpoint the WAL every ~32 MiB instead of every 1,000 pages: an index page rewritten
      // by several batches reaches the database file once per checkpoint, and each checkpoint
      // costs an fsync. A crash still loses nothing committed (the WAL is replayed on open).
      db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
      migrate(db);
    } else {
      const v = db.pragma('user_version', { simple: true }) as number;
      const latest = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
      if (v > latest) throw new StoreError('E_STORE_SCHEMA_TOO_NEW', `database schema version ${v} is newer than this release knows (${latest})`);
    }
    return new SqliteStore(db, ro);
  }

  /**
   * Stores a batch and its checkpoints in one transaction. Replayed calls are ignored.
   * `onInserted` is called, inside the transaction, for each call actually inserted (not a
   * replay); collect them and act only once this returns (the transaction committed).
   */
  commitBatch(batch: StoreBatch, onInserted?: (call: PricedCall) => void): CommitResult {
    if (this.readonly) throw new StoreError('E_STORE_READONLY', 'the store was opened read-only');
    this.writer ??= new Writer(this.db);
    this.commitStagedFirst();
    return this.writer.commit(batch, onInserted);
  }

  /**
   * Writes a batch into the open transaction, opening one (BEGIN IMMEDIATE) when none is:
   * several batches then become durable together at {@link commitStaged}, which costs one
   * COMMIT instead of one per batch (each COMMIT writes every page the batch dirtied to the WAL,
   * and a page shared by several batches' index entries is written once). A batch that fails
   * is rolled back alone (it runs in a savepoint); the caller decides whether to roll back the
   * rest. Other statements on this connection meanwhile see the staged rows, other connections
   * do not.
   *
   * `onDurable` is called once, when the staged batches become durable: at {@link commitStaged},
   * or earlier when another write of this store (a fold, retention, a reprice chunk, forgetting a
   * checkpoint) commits them first. Such a write never runs inside the staged transaction,
   * where a later batch's failure would roll it back after it reported success, and where an
   * error that makes SQLite end the transaction would drop the staged batches unnoticed.
   *
   * @throws StoreError `E_STORE_STAGED_LOST` when the transaction of the batches staged before
   * ended without their commit (SQLite rolls a transaction back by itself after some errors,
   * e.g. disk full or I/O): they are not stored, and neither is this batch.
   */
  stageBatch(batch: StoreBatch, onInserted?: (call: PricedCall) => void, onDurable?: () => void): CommitResult {
    if (this.readonly) throw new StoreError('E_STORE_READONLY', 'the store was opened read-only');
    this.writer ??= new Writer(this.db);
    if (this.staged === undefined) {
      this.db.prepare('BEGIN IMMEDIATE').run();
      this.staged = new Set();
    } else {
      this.checkStaged();
    }
    if (onDurable) this.staged.add(onDurable);
    return this.writer.commit(batch, onInserted);
  }

  /**
   * Makes every staged batch durable (no-op when nothing is staged).
   * @throws StoreError `E_STORE_STAGED_LOST` as {@link stageBatch}.
   */
  commitStaged(): void {
    const staged = this.staged;
    if (staged === undefined) return;
    this.checkStaged();
    this.db.prepare('COMMIT').run();
    this.staged = undefined;
    for (const f of staged) f();
  }

  /** Drops every staged batch. */
  rollbackStaged(): void {
    this.staged = undefined;
    if (this.db.inTransaction) this.db.prepare('ROLLBACK').run();
  }

  /** Throws when the staged batches' transaction ended without their commit (see {@link stageBatch}). */
  private checkStaged(): void {
    if (this.db.inTransaction) return;
    this.staged = undefined;
    throw new StoreError('E_STORE_STAGED_LOST', 'the transaction of the staged batches ended before their commit (SQLite rolled it back after an error): they were not stored');
  }

  /**
   * Runs `fn` with the writing connection, for writes outside the store's own (reconciliation
   * results): staged batches are committed first, so `fn`'s writes are never part of a
   * transaction a later batch could roll back.
   */
  exclusive<T>(fn: (db: Database.Database) => T): T {
    if (this.readonly) throw new StoreError('E_STORE_READONLY', 'the store was opened read-only');
    this.commitStagedFirst();
    return fn(this.db);
  }

  /**
   * Before a write that is not a staged batch's: commits the staged batches (see
   * {@link stageBatch}). When their transaction is gone there is nothing to commit: the write
   * goes on, and the stager learns of the loss at its next stageBatch or commitStaged.
   */
  private commitStagedFirst(): void {
    if (this.staged !== undefined && this.db.inTransaction) this.commitStaged();
  }

  /**
   * Brings the rollup levels up to date: merges the batches' per-minute deltas into
   * `rollup_minute` and rebuilds every coarser period holding a minute they changed (see
   * rollups.ts). Queries are exact without it (they read every level with the deltas not yet
   * folded); it keeps them cheap. The daemon's pipeline runs it every few seconds. Commits the
   * staged batches first (see {@link stageBatch}). Returns the number of minutes that were pending.
   */
  foldRollups(): number {
    if (this.readonly) throw new StoreError('E_STORE_READONLY', 'the store was opened read-only');
    this.commitStagedFirst();
    return this.fold();
  }

  /** Folds the deltas, whoever asks (a fold, retention, a reprice): the count of unfolded rows starts again. */
  private fold(): number {
    const minutes = foldPendingRollups(this.db);
    this.writer?.resetDeltaRows();
    return minutes;
  }

  /**
   * About how many per-minute delta rows this process appended since the last fold (a fold's
   * pause grows with them): the pipeline folds early past a bound. Rolled-back ones count too.
   */
  get unfoldedDeltaRows(): number {
    return this.writer?.deltaRows ?? 0;
  }

  loadCheckpoints(): CheckpointRecord[] {
    const rows = this.db.prepare('SELECT file_key, path, offset, check_hash, sealed FROM checkpoints').all() as {
      file_key: string; path: string; offset: number; check_hash: string; sealed: number;
    }[];
    return rows.map((r) => ({ fileKey: r.file_key, path: r.path, offset: r.offset, checkHash: r.check_hash, sealed: r.sealed === 1 }));
  }

  /** Drops the checkpoint of a file that was deleted or archived. */
  forgetCheckpoint(fileKey: string): void {
    this.commitStagedFirst();
    this.db.prepare('DELETE FROM checkpoints WHERE file_key = ?').run(fileKey);
  }

  /** The latest counters per emitter process, for metrics. */
  emitterStats(): EmitterStatsRecord[] {
    const rows = this.db.prepare('SELECT * FROM emitter_stats').all() as {
      writer: string; app: string; host: string; pid: number; file_id: string; ts: number; final: number; stats_json: string;
    }[];
    return rows.map((r) => ({ writer: r.writer, app: r.app, host: r.host, pid: r.pid, fileId: r.file_id, ts: r.ts, final: r.final === 1, stats: JSON.parse(r.stats_json) as EmitterStats }));
  }

  /** Deletes rows and rollups past their retention, in small transactions so writers are not blocked long. */
  applyRetention(settings: RetentionSettings, now = Date.now()): { rowsDeleted: number; rollupsDeleted: number } {
    let rowsDeleted = 0;
    let rollupsDeleted = 0;
    this.commitStagedFirst();
    if (settings.rowsMaxAgeMs !== undefined) {
      const cutoff = now - settings.rowsMaxAgeMs;
      const st = this.db.prepare('DELETE FROM calls WHERE id IN (SELECT id FROM calls WHERE ts < ? LIMIT ?)');
      for (;;) {
        const n = st.run(cutoff, DELETE_CHUNK).changes;
        rowsDeleted += n;
        if (n < DELETE_CHUNK) break;
      }
      // Then the batches of lines those calls were the last of (every call of a batch is older than its max_ts).
      deleteLinesBefore(this.db, cutoff, DELETE_CHUNK);
    }
    if (settings.rollupsMaxAgeMs !== undefined) {
      // Every level; a period is deleted only once wholly past the cutoff (a partly kept hour
      // stays whole, and so does the minute holding the cutoff at every per-minute level, or the
      // levels would disagree on it), and only the per-minute rows are counted. Pending minutes
      // are folded first, so the hour holding the cutoff is built while all its minutes are there.
      const cutoff = now - settings.rollupsMaxAgeMs;
      this.fold();
      this.db.transaction(() => {
        for (const l of ROLLUP_LEVELS) {
          const n = this.db.prepare(`DELETE FROM ${l.table} WHERE ${l.timeColumn} < ?`).run(Math.floor(cutoff / l.periodMs) * l.periodMs).changes;
          if (l === MINUTE_LEVEL) rollupsDeleted = n;
        }
      })();
    }
    return { rowsDeleted, rollupsDeleted };
  }

  /**
   * Reprices the next chunk of stored calls in `[since, until)`, in id order, in one
   * transaction: each row whose price (or canonical model) changed is rewritten, and its
   * per-minute rollup group adjusted by the difference, so rollups stay equal to the rows'
   * sums. Call again with `afterId: lastId` until `lastId` is null; between chunks the writer
   * (the daemon's pipeline) can commit.
   */
  repriceChunk(o: RepriceChunkOptions): RepriceChunkResult {
    if (this.readonly && !o.dryRun) throw new StoreError('E_STORE_READONLY', 'the store was opened read-only');
    const run = (): RepriceChunkResult => this.repricer().chunk(o);
    if (!o.dryRun) {
      this.commitStagedFirst();
      // The adjuster moves calls between stored groups: every level must hold every call first.
      this.fold();
    }
    // A dry run reads in a transaction too: a row's line is read by another statement than the
    // row, and on a read-only connection retention (the daemon's) could delete both in between.
    return o.dryRun ? this.db.transaction(run).deferred() : this.db.transaction(run).immediate();
  }

  private repricer_: Repricer | undefined;
  private repricer(): Repricer {
    this.repricer_ ??= new Repricer(this.db, this.readonly);
    return this.repricer_;
  }

  close(): void {
    // Staged and never committed: rolled back, as a crash would.
    if (this.db.open) this.rollbackStaged();
    this.db.close();
  }

  /**
   * A query's answer; once the store is closed, a rejection with StoreError `E_STORE_CLOSED`
   * (what a caller holding the store past the daemon's stop can tell apart and answer 503),
   * rather than the driver's TypeError "The database connection is not open". A query that
   * fails rejects too (it does not throw).
   */
  private answer<T>(read: (q: QueryEngine) => T): Promise<T> {
    if (!this.db.open) return Promise.reject(new StoreError('E_STORE_CLOSED', 'the store is closed: it answers no more queries'));
    try {
      return Promise.resolve(read(this.query));
    } catch (err: unknown) {
      return Promise.reject(err);
    }
  }

  // QueryApi
  aggregate(q: AggregateQuery): Promise<AggregateRow[]> {
    return this.answer((e) => e.aggregate(q));
  }
  aggregateEach(q: AggregateQuery, groupings: CallDimension[][]): Promise<AggregateRow[][]> {
    return this.answer((e) => e.aggregateEach(q, groupings));
  }
  series(q: SeriesQuery): Promise<SeriesRow[]> {
    return this.answer((e) => e.series(q));
  }
  latestRateLimits(filter?: { model?: string }): Promise<RateLimitRow[]> {
    return this.answer((e) => e.latestRateLimits(filter));
  }
  recentCalls(q: RecentCallsQuery): Promise<{ calls: StoredCall[]; nextCursor: string | null }> {
    return this.answer((e) => e.recentCalls(q));
  }
  call(eventId: string): Promise<StoredCallDetail | null> {
    return this.answer((e) => e.call(eventId));
  }
  /** When the latest reconciliation run finished, epoch ms (null before the first), whatever models it had. */
  reconciliationLastRun(): Promise<number | null> {
    return this.answer(() => {
      const row = this.db.prepare('SELECT MAX(finished_at) AS t FROM reconciliation_runs').get() as { t: number | null } | undefined;
      return row?.t ?? null;
    });
  }
  /** The per-model capture of the latest `claudescope reconcile` run, its window the latest (empty before the first). */
  reconciliationCapture(): Promise<ReconciliationCaptureRow[]> {
    return this.answer(() => {
      const row = this.db.prepare(`SELECT finished_at, summary_json FROM reconciliation_runs ORDER BY ${LATEST_RUN_FIRST} LIMIT 1`).get() as
        { finished_at: number; summary_json: string } | undefined;
      if (!row) return [];
      const s = JSON.parse(row.summary_json) as { models?: { model: string | null; token_capture: number | null; cost_capture: number | null }[] };
      return (s.models ?? []).map((m) => ({ model: m.model, tokenCapture: m.token_capture, costCapture: m.cost_capture, measuredAt: row.finished_at }));
    });
  }
}

/** The prepared write path, built on first commit (a read-only store never prepares it). */
class Writer {
  private readonly insert: Database.Statement;
  private readonly rollups: RollupWriter;

  get deltaRows(): number {
    return this.rollups.deltaRows;
  }

  resetDeltaRows(): void {
    this.rollups.deltaRows = 0;
  }

  private readonly upsertRate: Database.Statement;
  private readonly lines: CallLinesWriter;
  private readonly upsertCheckpoint: Database.Statement;
  private readonly upsertStats: Database.Statement;
  private readonly tx: Database.Transaction<(batch: StoreBatch, onInserted?: (call: PricedCall) => void) => CommitResult>;

  constructor(db: Database.Database) {
    this.insert = db.prepare(`INSERT OR IGNORE INTO calls (${INSERT_COLUMNS.join(', ')}) VALUES (${INSERT_COLUMNS.map(() => '?').join(', ')})`);
    this.rollups = new RollupWriter(db);
    this.lines = new CallLinesWriter(db);
    this.upsertRate = db.prepare(`INSERT INTO rate_limits (model, dimension, "limit", remaining, reset, ts) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (model, dimension) DO UPDATE SET "limit" = excluded."limit", remaining = excluded.remaining, reset = excluded.reset, ts = excluded.ts
      WHERE excluded.ts >= rate_limits.ts`);
    this.upsertCheckpoint = db.prepare(`INSERT INTO checkpoints (file_key, path, offset, check_hash, sealed, updated_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (file_key) DO UPDATE SET path = excluded.path, offset = excluded.offset, check_hash = excluded.check_hash, sealed = excluded.sealed, updated_at = excluded.updated_at`);
    this.upsertStats = db.prepare(`INSERT INTO emitter_stats (writer, app, host, pid, file_id, ts, final, stats_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (writer) DO UPDATE SET file_id = excluded.file_id, ts = excluded.ts, final = excluded.final, stats_json = excluded.stats_json
      WHERE excluded.ts >= emitter_stats.ts`);
    this.tx = db.transaction((batch: StoreBatch, onInserted?: (call: PricedCall) => void) => this.write(batch, onInserted));
  }

  /**
   * Writes a batch in a transaction of its own, or in a savepoint of the open one: with its
   * per-minute rollups in either case, so every statement on this connection, even between
   * the staged batches of a transaction, sees rollups equal to the rows.
   */
  commit(batch: StoreBatch, onInserted?: (call: PricedCall) => void): CommitResult {
    return this.tx.immediate(batch, onInserted);
  }

  private write(batch: StoreBatch, onInserted?: (call: PricedCall) => void): CommitResult {
    const rollup = this.rollups.batch();
    const latestRate = new Map<string, [string, string, number | null, number | null, string | null, number]>();
    let inserted = 0;
    const params: unknown[] = new Array(INSERT_COLUMNS.length);
    const calls = byTime(batch.calls);
    const linesId = calls.length === 0 ? null : this.lines.add(calls.map((c) => c.raw), calls[calls.length - 1]!.event.ts);
    params[LINE_BATCH_AT] = linesId;
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i]!;
      const r = rowOf(c, params);
      params[LINE_INDEX_AT] = i;
      if (this.insert.run(...params).changes === 1) {
        inserted++;
        rollup.add(r);
        onInserted?.(c);
        const rl = c.event.rate_limits;
        const model = r.dims[0];
        if (rl && model !== null && model !== undefined) {
          for (const d of RATE_DIMS) {
            const b = rl[d];
            if (!b) continue;
            const key = `${model}|${d}`;
            const prev = latestRate.get(key);
            if (!prev || prev[5] <= c.event.ts) latestRate.set(key, [model, d, b.limit ?? null, b.remaining ?? null, b.reset ?? null, c.event.ts]);
          }
        }
      }
    }
    // Every call was stored already (a replay): no row refers to the batch.
    if (linesId !== null && inserted === 0) this.lines.drop(linesId);
    rollup.flush();
    for (const v of latestRate.values()) this.upsertRate.run(v);
    const now = Date.now();
    for (const cp of batch.checkpoints) this.upsertCheckpoint.run(cp.fileKey, cp.path, cp.offset, cp.checkHash, cp.sealed ? 1 : 0, now);
    for (const s of batch.emitterStats) {
      this.upsertStats.run(s.writer, s.app, s.host, s.pid, s.fileId, s.ts, s.final ? 1 : 0, JSON.stringify(s.stats));
    }
    return { inserted, ignored: batch.calls.length - inserted };
  }
}

/**
 * A batch's calls in time order (a stable sort: calls of the same time keep their order). A
 * backlog is read from several files at once, each batch a run of lines of each, so its calls
 * arrive interleaved in time; stored in that order, a minute's calls would lie scattered over
 * the table, and a query reading them row by row (the partial minutes at a window's edges)
 * would read a page for each. In time order, each batch stores them side by side.
 */
function byTime(calls: readonly PricedCall[]): readonly PricedCall[] {
  for (let i = 1; i < calls.length; i++) {
    if (calls[i]!.event.ts < calls[i - 1]!.event.ts) return [...calls].sort((a, b) => a.event.ts - b.event.ts);
  }
  return calls;
}

/** The reprice path: reads a chunk of rows, prices their events again, rewrites what changed. */
class Repricer {
  /** The select of a chunk, with the line columns it was prepared for (see {@link chunk}). */
  private select: { lineColumns: string; st: Database.Statement } | undefined;
  private readonly update: Database.Statement | undefined;
  private readonly rollups: RollupAdjuster | undefined;

  constructor(private readonly db: Database.Database, readonly_: boolean) {
    if (!readonly_) {
      this.update = db.prepare(`UPDATE calls SET ${PRICE_COLUMNS.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`);
      this.rollups = new RollupAdjuster(db);
    }
  }

  chunk(o: RepriceChunkOptions): RepriceChunkResult {
    // Checked at each chunk: a read-only connection opened on a database of schema 4 sees the
    // daemon migrate it to schema 5, after which new rows hold their line in a batch.
    const cols = lineColumns(this.db);
    if (this.select?.lineColumns !== cols) {
      this.select = {
        lineColumns: cols,
        st: this.db.prepare(`SELECT id, ts, event_id, ${[...new Set([...DIMENSION_COLUMNS, ...SUM_COLUMNS, ...PRICE_COLUMNS])].join(', ')}, ${cols}
      FROM calls WHERE id > ? AND ts >= ? AND ts < ? ORDER BY id LIMIT ?`),
      };
    }
    const rows = this.select.st.all(o.afterId, o.since, o.until, o.limit) as Record<string, unknown>[];
    const out: RepricedRow[] = [];
    const params: unknown[] = new Array(INSERT_COLUMNS.length);
    const write = !o.dryRun && this.update !== undefined && this.rollups !== undefined;
    // A reader for this chunk only: a batch it keeps is one this transaction reads. Kept across
    // chunks, it could be a staged batch that a dry run read and that was then rolled back,
    // whose id the next batch stored takes again (the AUTOINCREMENT step is rolled back too).
    const lines = new CallLinesReader(this.db);
    for (const row of rows) {
      const raw = lines.lineOf(row);
      const event = JSON.parse(raw) as CallEvent;
      let price: PriceResult | null;
      try {
        price = o.price(event);
      } catch {
        price = null;
      }
      const after = rowOf({ event, raw, price }, params);
      const newValues = PRICE_COLUMN_INDEXES.map((i) => params[i] ?? null);
      const changed = PRICE_COLUMNS.some((c, k) => !sameValue(row[c], newValues[k]));
      const nanoBefore = (row['cost_nanousd'] as number | null) ?? null;
      const nanoAfter = (after.sums[0] ?? null);
      out.push({
        event_id: row['event_id'] as string, ts: row['ts'] as number,
        model_before: (row['model'] as string | null) ?? null, model_after: (newValues[0] as string | null) ?? null,
        nano_before: nanoBefore, nano_after: nanoAfter,
        version_before: (row['pricing_version'] as string | null) ?? null, version_after: (newValues[newValues.length - 2] as string | null) ?? null,
        changed, event, price,
      });
      if (!changed || !write) continue;
      this.update!.run(...newValues, row['id']);
      const before: RollupInput = {
        ts: row['ts'] as number,
        dims: DIMENSION_COLUMNS.map((c) => (row[c] as string | null) ?? null),
        sums: SUM_COLUMNS.map((c) => (row[c] as number | null) ?? null),
        durationMs: row['duration_ms'] as number,
        ttftMs: (row['ttft_ms'] as number | null) ?? null,
      };
      if (!sameValue(before.sums[0], after.sums[0]) || !sameValue(before.sums[1], after.sums[1]) || before.dims.some((d, i) => d !== after.dims[i])) {
        this.rollups!.change(before, after);
      }
    }
    if (write) this.rollups!.flush();
    const last = rows[rows.length - 1];
    return { rows: out, lastId: last === undefined ? null : (last['id'] as number) };
  }
}

/** SQLite's value and the one a reprice would write are the same (integers come back as numbers). */
function sameValue(a: unknown, b: unknown): boolean {
  return (a ?? null) === (b ?? null);
}

/** Fills the INSERT parameters of one call and returns what its rollup needs. */
function rowOf(c: PricedCall, p: unknown[]): RollupInput {
  const e = c.event;
  const u = e.usage;
  const price = c.price;
  const model = price?.model ?? e.model ?? e.model_requested;
  const dims: (string | null)[] = [
    model, e.tags['feature'] ?? null, e.app, e.host, e.status, e.error_type,
    e.stop_reason, u?.service_tier ?? null, e.provider, e.operation,
    e.workspace_id ?? null, e.api_key_alias ?? null,
  ];
  const input = u?.input_tokens ?? 0;
  const output = u?.output_tokens ?? 0;
  const cacheRead = u?.cache_read_input_tokens ?? 0;
  const w5 = u?.cache_write_5m_input_tokens ?? 0;
  const w1 = u?.cache_write_1h_input_tokens ?? 0;
  const wAll = u?.cache_creation_input_tokens ?? 0;
  const cost = price && price.priced ? price.cost_usd : null;
  const costNoCache = price && price.priced ? price.cost_without_cache_usd : null;
  // Money is summed in whole nanodollars, exactly; USD floats are only for display.
  const nano = cost === null ? null : (price?.cost_nanousd ?? Math.round(cost * 1e9));
  const nanoNoCache = costNoCache === null ? null : (price?.cost_without_cache_nanousd ?? Math.round(costNoCache * 1e9));
  const retries = e.attempts > 1 ? e.attempts - 1 : 0;
  let i = 0;
  p[i++] = e.event_id;
  p[i++] = e.ts;
  for (const d of dims) p[i++] = d;
  p[i++] = e.http_status;
  p[i++] = e.request_id;
  p[i++] = input;
  p[i++] = output;
  p[i++] = cacheRead;
  p[i++] = w5;
  p[i++] = w1;
  p[i++] = wAll;
  p[i++] = u?.web_search_requests ?? 0;
  p[i++] = cost;
  p[i++] = costNoCache;
  p[i++] = nano;
  p[i++] = nanoNoCache;
  const partsStart = i;
  for (let k = 0; k < PART_DIMS.length; k++) p[i++] = null;
  if (price && cost !== null) {
    for (const part of price.parts) {
      const k = PART_DIMS.indexOf(part.dimension);
      if (k >= 0) p[partsStart + k] = ((p[partsStart + k] as number | null) ?? 0) + part.cost_usd;
    }
  }
  p[i++] = price?.pricing_version ?? null;
  p[i++] = price && price.flags.length > 0 ? price.flags.join(',') : null;
  p[i++] = e.duration_ms;
  p[i++] = e.ttft_ms;
  p[i++] = e.attempts;
  p[i++] = retries;
  // The line is stored with its batch's (see call-lines.ts); `line_batch` and `line_index` are the writer's.
  p[i++] = '';
  return {
    ts: e.ts,
    dims,
    // SUM_COLUMNS order.
    sums: [nano, nanoNoCache, input, output, cacheRead, w5, w1, wAll, e.duration_ms, e.ttft_ms, e.attempts, retries],
    durationMs: e.duration_ms,
    ttftMs: e.ttft_ms,
  };
}
