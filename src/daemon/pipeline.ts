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
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Pricer, PriceResult } from '../pricing/types.js';
import { SqliteStore, type PricedCall, type RetentionSettings } from '../store/sqlite-store.js';
import type { QueryApi } from '../store/types.js';
import { acquireLock, type DataDirLock } from '../tail/lock-file.js';
import { Tailer } from '../tail/tailer.js';
import type { EmitterStatsRecord, TailBatch, TailerHealth, TailerOptions } from '../tail/types.js';

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
  log?: TailerOptions['log'];
  /**
   * Called after each batch's transaction committed, with the calls it stored for the first
   * time (replays excluded): the hook for metrics, so a replay never doubles a counter.
   * Exceptions are swallowed (an observer must not stop ingestion).
   */
  onCommitted?: (calls: PricedCall[]) => void;
}

export interface PipelineHealth extends TailerHealth {
  /** Calls stored for the first time. */
  eventsInserted: number;
  /** Calls already stored (replays after a restart or truncation). */
  eventsIgnored: number;
  /** Calls whose pricing threw: stored as unpriced. */
  pricingErrors: number;
}

export class Pipeline {
  private store_: SqliteStore | undefined;
  private tailer: Tailer | undefined;
  private lock: DataDirLock | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private readonly counts = { eventsInserted: 0, eventsIgnored: 0, pricingErrors: 0 };

  constructor(private readonly o: PipelineOptions) {}

  get eventsDir(): string {
    return join(this.o.home, 'events');
  }
  get dataDir(): string {
    return join(this.o.home, 'data');
  }
  /** The store's query interface (after start). */
  get query(): QueryApi {
    if (!this.store_) throw new Error('pipeline not started');
    return this.store_;
  }
  get store(): SqliteStore | undefined {
    return this.store_;
  }

  /** Takes the data-folder lock (throws `E_DATA_DIR_LOCKED` if another daemon owns it) and starts. */
  async start(): Promise<void> {
    mkdirSync(this.eventsDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    this.lock = acquireLock(join(this.dataDir, 'daemon.lock'));
    try {
      const store = SqliteStore.open({ path: join(this.dataDir, 'claudescope.db') });
      this.store_ = store;
      this.tailer = new Tailer({
        ...this.o.tailer,
        ...(this.o.log ? { log: this.o.log } : {}),
        eventsDir: this.eventsDir,
        deadLetterPath: join(this.dataDir, 'dead-letter.ndjson'),
        checkpoints: store,
        sink: (batch) => this.commit(store, batch),
      });
      await this.tailer.start();
      if (this.o.retention) {
        const retention = this.o.retention;
        store.applyRetention(retention);
        this.retentionTimer = setInterval(() => store.applyRetention(retention), this.o.retentionIntervalMs ?? 3_600_000);
        this.retentionTimer.unref();
      }
    } catch (err: unknown) {
      this.store_?.close();
      this.store_ = undefined;
      this.lock.release();
      throw err;
    }
  }

  /** Stops reading, commits in-flight batches and the final checkpoint, closes the store, releases the lock. */
  async stop(): Promise<void> {
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    await this.tailer?.stop();
    this.store_?.close();
    this.store_ = undefined;
    this.lock?.release();
  }

  health(): PipelineHealth {
    const t = this.tailer?.health();
    if (!t) throw new Error('pipeline not started');
    return { ...t, ...this.counts };
  }

  /** The latest counters each emitter process reported (drops, internal errors). */
  emitterStats(): EmitterStatsRecord[] {
    return this.store_?.emitterStats() ?? this.tailer?.emitterStats() ?? [];
  }

  private commit(store: SqliteStore, batch: TailBatch): void {
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
    const fresh: PricedCall[] | undefined = this.o.onCommitted ? [] : undefined;
    const r = store.commitBatch({ calls, checkpoints: batch.checkpoints, emitterStats: batch.emitterStats }, fresh ? (c) => fresh.push(c) : undefined);
    this.counts.eventsInserted += r.inserted;
    this.counts.eventsIgnored += r.ignored;
    if (fresh && fresh.length > 0) {
      try {
        this.o.onCommitted?.(fresh);
      } catch {
        // An observer's fault must not fail a batch that is already durable.
      }
    }
  }
}
