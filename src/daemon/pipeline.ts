/**
 * The ingestion pipeline: tailer → decode/validate → price → SQLite store, with each batch's
 * rows and checkpoints committed in one transaction.
 *
 * @example
 * const p = new Pipeline({ home: '/home/me/.claudescope', pricer });
 * await p.start();           // takes the data-folder lock, opens the store, starts tailing
 * p.health();                // counters for /metrics
 * await p.stop();            // final checkpoint, lock released
 */
import { join } from 'node:path';
import { makeDirsSync } from '../make-dirs.js';
import type { Pricer, PriceResult } from '../pricing/types.js';
import { SqliteStore, type PricedCall, type RetentionSettings } from '../store/sqlite-store.js';
import { StoreError } from '../store/migrations.js';
import type { QueryApi } from '../store/types.js';
import { acquireLock, type DataDirLock } from '../tail/lock-file.js';
import { Tailer } from '../tail/tailer.js';
import { isSinkClosed, type CheckpointSource, type EmitterStatsRecord, type TailBatch, type TailerHealth, type TailerOptions } from '../tail/types.js';
import type { InfluxSink, InfluxSinkHealth } from '../store/influx-sink.js';
import type { InfluxCheckpointFile } from '../store/influx-checkpoints.js';
import type { InfluxQueryApi } from '../store/influx-query.js';
import type { InfluxSettings } from '../store/influx-config.js';
import { instanceName } from './instance-name.js';

export interface PipelineOptions {
  /** `CLAUDESCOPE_HOME`: holds `events/` and `data/`. */
  home: string;
  pricer: Pricer;
  /** Tailer tuning (retention mode, poll interval, batch sizes, …); see {@link TailerOptions}. */
  tailer?: Partial<Omit<TailerOptions, 'eventsDir' | 'deadLetterPath' | 'checkpoints' | 'sink'>>;
  /** Row and rollup retention. Default: keep everything. */
  retention?: RetentionSettings;
  /** How often retention runs. Default 1 h. */
  retentionIntervalMs?: number;
  /**
   * How often the coarse rollup levels are rebuilt from the per-minute rollups the batches
   * changed (`SqliteStore.foldRollups`; also at start and stop). Queries are exact meanwhile:
   * they read every level with the per-minute deltas not yet folded. While a backlog is read (lag
   * above 0) it waits up to {@link FOLD_DURING_BACKLOG_MS} instead: the calls of a backlog
   * touch the same hours batch after batch, and each fold rebuilds them whole. A backlog's end
   * folds at once. Default 5000 ms.
   */
  rollupFoldIntervalMs?: number;
  /**
   * Fold at once, whatever the interval, once this many per-minute delta rows were appended
   * since the last fold: bounds the pause a fold makes (see FOLD_AFTER_DELTA_ROWS). Default 50,000.
   */
  rollupFoldAfterDeltaRows?: number;
  log?: TailerOptions['log'];
  /**
   * Makes an observer for each transaction: it sees each call the transaction stores for the
   * first time (replays excluded) while the transaction is open, and hears when it committed
   * (never, if it rolled back): the hook for metrics, so a replay never doubles a counter,
   * without holding the calls until the commit (a backlog's transaction holds thousands).
   * Exceptions are swallowed (an observer must not stop ingestion).
   */
  observeCommits?: () => CommitObserver;
  /**
   * Also (or only, with `embeddedStore: false`) ship calls to InfluxDB. Each sink keeps its own
   * checkpoints; the tailer resumes every file from the lower one. Default: none.
   */
  influx?: InfluxSettings | null;
}

/** See {@link PipelineOptions.observeCommits}. */
export interface CommitObserver {
  /** A call stored for the first time, in a transaction not committed yet. */
  add(call: PricedCall): void;
  /** The transaction committed: every call added is stored. */
  commit(): void;
}

export interface PipelineHealth extends TailerHealth {
  /** Calls stored for the first time. */
  eventsInserted: number;
  /** Calls already stored (replays after a restart or truncation). */
  eventsIgnored: number;
  /** Calls whose pricing threw: stored as unpriced. */
  pricingErrors: number;
  /** The InfluxDB sink's counters, when one is configured. */
  influx?: InfluxSinkHealth;
}

export class Pipeline {
  private store_: SqliteStore | undefined;
  private tailer: Tailer | undefined;
  private lock: DataDirLock | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private foldTimer: NodeJS.Timeout | undefined;
  private foldedAt = 0;
  /** A batch was cut at a size limit (more lines were waiting: a backlog) since the lag was last 0. */
  private inBacklog = false;
  private backlogCheck: NodeJS.Immediate | undefined;
  private influx_: { sink: InfluxSink; checkpoints: InfluxCheckpointFile; query: InfluxQueryApi; instance: string; healthTimer?: NodeJS.Timeout } | undefined;
  private readonly counts = { eventsInserted: 0, eventsIgnored: 0, pricingErrors: 0 };
  /** Batches staged in the store's open transaction (a run of batches marked `more`), not yet durable. */
  private group: StagedGroup | undefined;
  /** A batch of the current `more` run failed: the rest of the run fails too (see {@link TailBatch.more}). */
  private runFailure: { err: unknown } | undefined;
  /** InfluxDB pipelines commit one batch at a time, in order. */
  private serial: Promise<void> = Promise.resolve();
  /** Calls of the batches the InfluxDB sink gave up unwritten when the stop closed it. */
  private unsentAtStop = 0;
  /** The stop began: {@link query} hands out nothing more. */
  private stopped = false;

  constructor(private readonly o: PipelineOptions) {}

  get eventsDir(): string {
    return join(this.o.home, 'events');
  }
  get dataDir(): string {
    return join(this.o.home, 'data');
  }
  /**
   * The store's query interface (after start). From the stop on, StoreError `E_STORE_CLOSED`:
   * the store closes then, and InfluxDB's query interface too, which would otherwise be handed
   * out closed (its queries cancelled), or a caller told the pipeline was never started.
   */
  get query(): QueryApi {
    if (this.stopped) throw new StoreError('E_STORE_CLOSED', 'the pipeline is stopped: its store is closed to queries');
    const q = this.store_ ?? this.influx_?.query;
    if (!q) throw new Error('pipeline not started');
    return q;
  }
  /** The InfluxQL query interface, when an InfluxDB sink is configured (after start). */
  get influxQuery(): InfluxQueryApi | undefined {
    return this.influx_?.query;
  }
  get store(): SqliteStore | undefined {
    return this.store_;
  }

  /** Takes the data-folder lock (throws `E_DATA_DIR_LOCKED` if another daemon owns it) and starts. */
  async start(): Promise<void> {
    folder(this.eventsDir, 'the event files');
    folder(this.dataDir, 'its store');
    this.lock = acquireLock(join(this.dataDir, 'daemon.lock'));
    this.stopped = false;
    try {
      const influx = this.o.influx ?? null;
      const store = influx === null || influx.embeddedStore ? SqliteStore.open({ path: join(this.dataDir, 'claudescope.db') }) : undefined;
      this.store_ = store;
      let checkpoints: CheckpointSource | undefined = store;
      if (influx !== null) {
        // Loaded only when configured: the embedded-only daemon never loads the InfluxDB client.
        const [{ InfluxSink }, { InfluxCheckpointFile, LowerCheckpoints }, { InfluxQueryApi }] = await Promise.all([
          import('../store/influx-sink.js'), import('../store/influx-checkpoints.js'), import('../store/influx-query.js'),
        ]);
        const sink = new InfluxSink({
          connection: influx.connection, deadLetterPath: join(this.dataDir, 'dead-letter.ndjson'),
          minRetryDelayMs: influx.minRetryDelayMs, maxRetryDelayMs: influx.maxRetryDelayMs,
          ...(this.o.log ? { log: this.o.log } : {}),
        });
        const cps = new InfluxCheckpointFile(join(this.dataDir, 'influx-checkpoints.json'));
        const instance = instanceName(influx.instance, this.dataDir, (msg, fields) => this.o.log?.('warn', msg, fields));
        this.influx_ = { sink, checkpoints: cps, query: new InfluxQueryApi({ connection: influx.connection }), instance };
        checkpoints = store ? new LowerCheckpoints(store, cps) : cps;
        if (influx.healthIntervalMs > 0) {
          this.influx_.healthTimer = setInterval(() => void this.writeHealth(), influx.healthIntervalMs);
          this.influx_.healthTimer.unref();
        }
      }
      if (!checkpoints) throw new Error('no sink configured');
      this.tailer = new Tailer({
        // Without InfluxDB a batch's calls are written into the open transaction when handed
        // over, so a batch waiting for its acknowledgement holds only its checkpoints: up to 8
        // batches of a backlog commit together (one COMMIT per ~8 MiB of lines, not per 1 MiB),
        // and reads of 1 MiB instead of 256 KiB (a backlog read 9 % faster end to end; a batch
        // may then hold up to 2 MiB of lines while it is read).
        ...(influx === null ? { maxBatchesInFlight: STAGED_BATCHES, chunkBytes: STAGED_CHUNK_BYTES } : {}),
        ...this.o.tailer,
        ...(this.o.log ? { log: this.o.log } : {}),
        eventsDir: this.eventsDir,
        deadLetterPath: join(this.dataDir, 'dead-letter.ndjson'),
        checkpoints,
        sink: (batch) => this.sink(store, batch),
      });
      if (store) {
        this.fold(store);
        this.foldTimer = setInterval(() => {
          const backlog = (this.tailer?.health().lagBytes ?? 0) > 0;
          if (!backlog || Date.now() - this.foldedAt >= FOLD_DURING_BACKLOG_MS) this.fold(store);
        }, this.o.rollupFoldIntervalMs ?? 5000);
        this.foldTimer.unref();
      }
      await this.tailer.start();
      if (store && this.o.retention) {
        const retention = this.o.retention;
        store.applyRetention(retention);
        this.retentionTimer = setInterval(() => this.applyRetention(store, retention), this.o.retentionIntervalMs ?? 3_600_000);
        this.retentionTimer.unref();
      }
    } catch (err: unknown) {
      if (this.foldTimer) clearInterval(this.foldTimer);
      this.store_?.close();
      this.store_ = undefined;
      await this.closeInflux();
      this.lock.release();
      throw err;
    }
  }

  private async closeInflux(): Promise<void> {
    const i = this.influx_;
    if (!i) return;
    if (i.healthTimer) clearInterval(i.healthTimer);
    // Dashboard requests still reading InfluxDB end now (503) rather than at their timeout_ms.
    i.query.close();
    await i.sink.close();
  }

  /** Writes this daemon's pipeline health to InfluxDB, tagged with its instance name (fleet-wide health rules read it). */
  async writeHealth(): Promise<boolean> {
    const i = this.influx_;
    const t = this.tailer?.health();
    if (!i || !t) return false;
    const sinkH = i.sink.health();
    const dropped = this.emitterStats().reduce((a, r) => a + r.stats.events_dropped_buffer + r.stats.events_dropped_dir_cap + r.stats.events_dropped_write_error, 0);
    return i.sink.writeHealth({
      host: i.instance, ts: Date.now(), lagBytes: t.lagBytes, oldestUnackedAgeSeconds: t.oldestUnackedAgeMs / 1000,
      deadLettersTotal: Object.values(t.deadLettered).reduce((a, b) => a + b, 0) + sinkH.deadLettered,
      emitterDroppedEventsTotal: dropped, eventsCommittedTotal: t.eventsCommitted, sinkRetriesTotal: sinkH.retries, sinkAuthFailed: sinkH.authFailed,
      unreadableFiles: t.filesUnreadable,
      descriptorShortagesTotal: t.descriptorShortages,
    });
  }

  /** Stops reading, commits in-flight batches and the final checkpoint, closes the store, releases the lock. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    if (this.foldTimer) clearInterval(this.foldTimer);
    if (this.backlogCheck) clearImmediate(this.backlogCheck);
    // A sink retrying a down InfluxDB gets a bounded time to finish before the stop wins.
    const i = this.influx_;
    const giveUp = i ? setTimeout(() => void i.sink.close(), this.o.influx?.stopTimeoutMs ?? 5000) : undefined;
    await this.tailer?.stop();
    clearTimeout(giveUp);
    await this.closeInflux();
    if (this.unsentAtStop > 0) {
      this.o.log?.('warn', `${this.unsentAtStop} call(s) not written before the stop: InfluxDB did not take them within influxdb.stop_timeout_ms. Nothing is lost: their checkpoints did not advance, so they are sent again at the next start`, { calls: this.unsentAtStop, stop_timeout_ms: this.o.influx?.stopTimeoutMs ?? 5000 });
      this.unsentAtStop = 0;
    }
    if (this.store_) this.fold(this.store_);
    this.store_?.close();
    this.store_ = undefined;
    this.lock?.release();
  }

  /** Rebuilds the coarse rollups of pending minutes; a failure is logged and retried next time (queries stay exact). */
  private fold(store: SqliteStore): void {
    this.foldedAt = Date.now();
    try {
      store.foldRollups();
    } catch (err: unknown) {
      this.o.log?.('warn', 'could not fold the per-minute rollups into the coarse levels; queries read the unfolded deltas meanwhile', { err: String(err) });
    }
  }

  /** A fold's pause grows with the deltas it merges: during a long backlog, folds before it would be long. */
  private foldIfDue(store: SqliteStore): void {
    if (store.unfoldedDeltaRows >= (this.o.rollupFoldAfterDeltaRows ?? FOLD_AFTER_DELTA_ROWS)) this.fold(store);
    // Once the tailer heard of this commit: the end of a backlog folds at once, not at the next tick.
    if (!this.backlogCheck) {
      this.backlogCheck = setImmediate(() => {
        this.backlogCheck = undefined;
        this.foldIfBacklogRead(store);
      });
    }
  }

  /**
   * Folds as soon as a backlog has been read: its deltas (folded at most every
   * {@link FOLD_DURING_BACKLOG_MS} meanwhile) are what queries read until then, thousands of rows.
   */
  private foldIfBacklogRead(store: SqliteStore): void {
    if (this.store_ !== store || !this.inBacklog || (this.tailer?.health().lagBytes ?? 0) > 0) return;
    this.inBacklog = false;
    if (store.unfoldedDeltaRows > 0) this.fold(store);
  }

  /** Deletes what is past its retention; a failure is logged and retried next time (a timer's exception would end the daemon). */
  private applyRetention(store: SqliteStore, retention: RetentionSettings): void {
    try {
      store.applyRetention(retention);
    } catch (err: unknown) {
      this.o.log?.('warn', 'could not apply the retention of stored calls and rollups; retried at the next interval', { err: String(err) });
    }
  }

  health(): PipelineHealth {
    const t = this.tailer?.health();
    if (!t) throw new Error('pipeline not started');
    const i = this.influx_?.sink.health();
    if (!i) return { ...t, ...this.counts };
    // The sink's dead letters (refused points) join the tailer's, by reason.
    const deadLettered = { ...t.deadLettered };
    deadLettered.sink_rejected += i.deadLettered;
    return { ...t, deadLettered, ...this.counts, influx: i };
  }

  /** The latest counters each emitter process reported (drops, internal errors). */
  emitterStats(): EmitterStatsRecord[] {
    return this.store_?.emitterStats() ?? this.tailer?.emitterStats() ?? [];
  }

  private sink(store: SqliteStore | undefined, batch: TailBatch): Promise<void> {
    // Cut at a size limit: more lines were waiting.
    if (batch.more) this.inBacklog = true;
    if (this.influx_ || !store) {
      const p = this.serial.then(async () => {
        try {
          this.takeRunFailure(batch);
          try {
            await this.commit(store, batch);
          } catch (err: unknown) {
            if (batch.more) this.runFailure = { err };
            throw err;
          }
        } catch (err: unknown) {
          // The stop closed the sink (InfluxDB did not take the points in time): counted for the
          // stop's report; the batches after it in the same run fail with it, unwritten too.
          if (isSinkClosed(err)) this.unsentAtStop += batch.calls.length;
          throw err;
        }
      });
      this.serial = p.catch(() => undefined);
      return p;
    }
    try {
      this.takeRunFailure(batch);
      return this.stage(store, batch);
    } catch (err: unknown) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Throws the failure of an earlier batch of this `more` run; the run ends with a batch not marked `more`. */
  private takeRunFailure(batch: TailBatch): void {
    const f = this.runFailure;
    if (!f) return;
    if (!batch.more) this.runFailure = undefined;
    throw new Error('an earlier batch of the same transaction failed', { cause: f.err });
  }

  /**
   * Writes a batch into the store's open transaction; the transaction commits with the last
   * batch of a run (the first not marked `more`), or earlier when another write of the store (a
   * fold, retention, a reprice chunk) commits it first, and every batch in it is acknowledged
   * then. A failure rolls back the transaction and fails every batch in it and the rest of the run.
   */
  private stage(store: SqliteStore, batch: TailBatch): Promise<void> {
    let g = this.group;
    if (!g) {
      const group: StagedGroup = { acks: [], inserted: 0, ignored: 0, observer: this.observer(), durable: () => this.settle(group) };
      g = this.group = group;
    }
    const ack = new Promise<void>((resolve, reject) => g.acks.push({ resolve, reject }));
    try {
      const calls = this.price(batch);
      const r = store.stageBatch({ calls, checkpoints: batch.checkpoints, emitterStats: batch.emitterStats }, g.observer?.add, g.durable);
      g.inserted += r.inserted;
      g.ignored += r.ignored;
      if (!batch.more) {
        // Settles the group (g.durable), unless another write committed it already.
        store.commitStaged();
        this.foldIfDue(store);
      }
    } catch (err: unknown) {
      if (this.group === g) this.group = undefined;
      if (batch.more) this.runFailure = { err };
      try {
        store.rollbackStaged();
      } catch {
        // The transaction is gone either way.
      }
      for (const a of g.acks) a.reject(err);
    }
    return ack;
  }

  /** The batches of a group are durable: counted, observed and acknowledged, once. */
  private settle(g: StagedGroup): void {
    if (this.group === g) this.group = undefined;
    this.committed(g.inserted, g.ignored, g.observer);
    for (const a of g.acks) a.resolve();
  }

  private price(batch: TailBatch): PricedCall[] {
    const calls: PricedCall[] = new Array(batch.calls.length);
    for (let i = 0; i < batch.calls.length; i++) {
      const c = batch.calls[i]!;
      let price: PriceResult | null;
      try {
        price = this.o.pricer.price(c.event);
      } catch {
        // A pricer fault must not stop ingestion: the call is stored as unpriced and counted.
        this.counts.pricingErrors++;
        price = null;
      }
      calls[i] = { event: c.event, raw: c.raw, price };
    }
    return calls;
  }

  /** An observer for one transaction (see {@link PipelineOptions.observeCommits}), or none; its faults are swallowed. */
  private observer(): CommitObserver | undefined {
    let made: CommitObserver | undefined;
    try {
      made = this.o.observeCommits?.();
    } catch {
      return undefined;
    }
    if (!made) return undefined;
    const observer = made;
    return {
      add: (c) => {
        try {
          observer.add(c);
        } catch {
          // An observer's fault must not fail the batch (this runs inside its transaction).
        }
      },
      commit: () => observer.commit(),
    };
  }

  /** Counts and observes calls that just became durable. */
  private committed(inserted: number, ignored: number, observer: CommitObserver | undefined): void {
    this.counts.eventsInserted += inserted;
    this.counts.eventsIgnored += ignored;
    try {
      observer?.commit();
    } catch {
      // An observer's fault must not fail a batch that is already durable.
    }
  }

  /** One batch in its own transaction (pipelines with InfluxDB). */
  private async commit(store: SqliteStore | undefined, batch: TailBatch): Promise<void> {
    const calls = this.price(batch);
    const influx = this.influx_;
    if (influx) {
      // Acknowledged (or dead-lettered) by InfluxDB before its checkpoints advance.
      await influx.sink.writeCalls(calls.map((c, i) => ({ event: c.event, price: c.price, source: batch.calls[i]?.source })));
      influx.checkpoints.save(batch.checkpoints);
    }
    const observer = this.observer();
    if (store) {
      const r = store.commitBatch({ calls, checkpoints: batch.checkpoints, emitterStats: batch.emitterStats }, observer?.add);
      this.committed(r.inserted, r.ignored, observer);
      this.foldIfDue(store);
    } else {
      // InfluxDB alone cannot tell a replay (it overwrites it); replays happen only after a crash.
      if (observer) for (const c of calls) observer.add(c);
      this.committed(calls.length, 0, observer);
    }
  }
}

/** Makes a folder the daemon needs (`what` it keeps there); a file in its place, or a file system that refuses it, is said so, rather than `EEXIST … mkdir`. */
function folder(path: string, what: string): void {
  try {
    makeDirsSync(path, 0o700);
  } catch (err: unknown) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw Object.assign(new Error(`${path} is a file (or lies under one), where the daemon keeps ${what} in a folder: move it aside or choose another --home`, { cause: err }), { code });
    }
    if (code === 'ENOENT') {
      // Its parent exists (the folders above were made): a file system that takes no new folders (procfs).
      throw Object.assign(new Error(`cannot make ${path}, where the daemon keeps ${what}: its file system takes no new folders there (ENOENT); choose another --home`, { cause: err }), { code });
    }
    throw err;
  }
}

/**
 * Per-minute delta rows past which the pipeline folds at once, whatever the interval: a fold
 * merges them at a few µs each and rebuilds the periods they touched, and the daemon (its HTTP
 * API included) waits meanwhile, so this bounds that pause to a fraction of a second. Dense
 * backlogs (calls of the same few minutes) rarely reach it; calls spread over a day do.
 */
const FOLD_AFTER_DELTA_ROWS = 50_000;
/** Longest wait between two folds of the coarse rollups while a backlog is read. */
const FOLD_DURING_BACKLOG_MS = 60_000;

/** Batches a store-only pipeline gathers into one transaction during a backlog (the tailer's slots). */
const STAGED_BATCHES = 8;
/** Bytes per read of a store-only pipeline's tailer. */
const STAGED_CHUNK_BYTES = 1024 * 1024;

interface StagedGroup {
  acks: { resolve: () => void; reject: (err: unknown) => void }[];
  inserted: number;
  ignored: number;
  /** Sees the calls stored for the first time, and the commit (see PipelineOptions.observeCommits). */
  observer: CommitObserver | undefined;
  /** Given to the store with each batch: called once the group's transaction committed. */
  durable: () => void;
}
