/**
 * Rollups of calls: counts, unpriced counts, sums of every summable field and log-scale
 * histograms of latency and TTFT, one row per (period, dimension combination), at four levels:
 *
 * | table | period | keyed by |
 * |---|---|---|
 * | `rollup_minute` | minute | every dimension |
 * | `rollup_hour` | hour | every dimension |
 * | `rollup_core_minute` | minute | model, feature, status, error type |
 * | `rollup_core_hour` | hour | model, feature, status, error type |
 * | `rollup_outcome_minute` | minute | status, error type |
 * | `rollup_outcome_hour` | hour | status, error type |
 *
 * Per-minute rows keyed by every dimension barely compress when some dimension has many
 * values (hosts, workspaces, keys): a day could hold almost a row per call. The hourly levels
 * answer long windows with up to 60× fewer rows; the core levels the common filters and
 * groupings (the dashboard's, the default rules'), the outcome levels the totals, error counts
 * and percentiles of every call, with as many rows per period as there are combinations of
 * their few dimensions. The query side picks the smallest level that holds every dimension a
 * query filters or groups by.
 *
 * A batch accumulates in memory only the calls whose row was actually inserted (a replayed
 * event's INSERT OR IGNORE changes nothing, so it never reaches here) and appends its
 * per-minute groups to `rollup_minute_delta` in the same transaction as the rows, marking the
 * minutes it touched in `rollup_pending`. {@link foldPendingRollups} merges the deltas into
 * `rollup_minute` and rebuilds every coarser level from it over the periods holding a pending
 * minute (a late call rebuilds its old hour), in one transaction. So at every moment each level
 * equals `rollup_minute` aggregated, and `rollup_minute` plus the deltas equals the rows: a query
 * reads any level together with the deltas of its span ({@link withDeltas}) and its answer
 * equals the rows whatever was folded. Upserting six levels per batch cost more than the rows
 * when the calls of a batch spread over many minutes (a backlog, late events): almost every
 * call was its own group at every per-minute level.
 */
import type Database from 'better-sqlite3';
import { DIMENSION_COLUMNS, SUM_COLUMNS } from './migrations.js';
import { LogHistogram, histToBlob, registerHistogramAggregate } from './histogram.js';
import { buildFromMinutes } from './rollup-build.js';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

type DimensionColumn = (typeof DIMENSION_COLUMNS)[number];

/** The dimensions of the core levels: those the dashboard and the default rules filter and group by. */
export const CORE_DIMENSIONS: readonly DimensionColumn[] = ['model', 'feature', 'status', 'error_type'];
/** The dimensions of the outcome levels: what the dashboard's totals and error counts need. */
export const OUTCOME_DIMENSIONS: readonly DimensionColumn[] = ['status', 'error_type'];

/** One rollup table. */
export interface RollupLevel {
  table: string;
  /** Column holding the period start (epoch ms). */
  timeColumn: 'minute' | 'hour';
  periodMs: number;
  /** Dimension columns of the table (in {@link DIMENSION_COLUMNS} order), which its `gkey` lists. */
  dims: readonly DimensionColumn[];
  /** Positions of {@link dims} in {@link DIMENSION_COLUMNS}. */
  dimIndexes: readonly number[];
  /** Storage of the histograms: JSON (the per-minute level, as released first) or binary pairs. */
  hist: 'json' | 'blob';
  /** Keyed by every dimension. */
  full: boolean;
}

function level(table: string, timeColumn: 'minute' | 'hour', periodMs: number, dims: readonly DimensionColumn[], hist: 'json' | 'blob'): RollupLevel {
  return { table, timeColumn, periodMs, dims, dimIndexes: dims.map((d) => DIMENSION_COLUMNS.indexOf(d)), hist, full: dims.length === DIMENSION_COLUMNS.length };
}

export const MINUTE_LEVEL = level('rollup_minute', 'minute', MINUTE_MS, DIMENSION_COLUMNS, 'json');
export const HOUR_LEVEL = level('rollup_hour', 'hour', HOUR_MS, DIMENSION_COLUMNS, 'blob');
export const CORE_MINUTE_LEVEL = level('rollup_core_minute', 'minute', MINUTE_MS, CORE_DIMENSIONS, 'blob');
export const CORE_HOUR_LEVEL = level('rollup_core_hour', 'hour', HOUR_MS, CORE_DIMENSIONS, 'blob');
export const OUTCOME_MINUTE_LEVEL = level('rollup_outcome_minute', 'minute', MINUTE_MS, OUTCOME_DIMENSIONS, 'blob');
export const OUTCOME_HOUR_LEVEL = level('rollup_outcome_hour', 'hour', HOUR_MS, OUTCOME_DIMENSIONS, 'blob');
/** Every level; the first is the per-minute one every other is derived from. */
export const ROLLUP_LEVELS: readonly RollupLevel[] = [MINUTE_LEVEL, HOUR_LEVEL, CORE_MINUTE_LEVEL, CORE_HOUR_LEVEL, OUTCOME_MINUTE_LEVEL, OUTCOME_HOUR_LEVEL];
/**
 * The levels of each period from smallest to largest: a query reads the first whose
 * dimensions hold every dimension it filters or groups by (the last holds them all).
 */
export const LEVELS_BY_PERIOD: Readonly<Record<'minute' | 'hour', readonly RollupLevel[]>> = {
  minute: [OUTCOME_MINUTE_LEVEL, CORE_MINUTE_LEVEL, MINUTE_LEVEL],
  hour: [OUTCOME_HOUR_LEVEL, CORE_HOUR_LEVEL, HOUR_LEVEL],
};

/** Dimension values of a level, and its group key, from a call's full dimension list. */
function levelDims(l: RollupLevel, dims: (string | null)[]): (string | null)[] {
  return l.full ? dims : l.dimIndexes.map((i) => dims[i] ?? null);
}

/**
 * Rebuilds every level but the per-minute one from `rollup_minute` over [from, to) (whole
 * periods), for tools that seed `rollup_minute` in bulk. Runs in one transaction.
 */
export function rebuildCoarseRollups(db: Database.Database, span: { from?: number; to?: number } = {}): void {
  db.transaction(() => {
    for (const l of ROLLUP_LEVELS) {
      if (l === MINUTE_LEVEL) continue;
      buildFromMinutes(db, { table: l.table, timeColumn: l.timeColumn, periodMs: l.periodMs, dims: l.dims, sums: SUM_COLUMNS, ...span });
    }
  }).immediate();
}

const COST_INDEXES = new Set(SUM_COLUMNS.flatMap((c, i) => (c.endsWith('_nanousd') ? [i] : [])));
const TTFT_INDEX = SUM_COLUMNS.indexOf('ttft_ms');

/** What a rollup needs of one inserted call. */
export interface RollupInput {
  ts: number;
  /** Values in {@link DIMENSION_COLUMNS} order. */
  dims: (string | null)[];
  /** Values in {@link SUM_COLUMNS} order; null for an unpriced cost or a missing TTFT. */
  sums: (number | null)[];
  durationMs: number;
  ttftMs: number | null;
}

interface Acc {
  /** Period start. */
  minute: number;
  gkey: string;
  dims: (string | null)[];
  count: number;
  unpriced: number;
  ttftCount: number;
  sums: (number | null)[];
  hDuration: LogHistogram;
  hTtft: LogHistogram;
}

type ExistingRow = Record<string, number | string | null>;

/**
 * SQL function merging two serialised histograms (`{"<bucket>":count,…}`, null = empty) into
 * one, registered by the fold: its upsert of the deltas merges a group's histogram in place
 * instead of reading the row back into JS and replacing it whole.
 */
export const HIST_MERGE_FUNCTION = 'claudescope_hist_merge';

function mergeHistJson(stored: unknown, add: unknown): string | null {
  if (typeof add !== 'string' || add === '') return typeof stored === 'string' && stored !== '' ? stored : null;
  if (typeof stored !== 'string' || stored === '') return add;
  const h = new LogHistogram();
  h.mergeJson(stored);
  h.mergeJson(add);
  return h.toJson();
}

/** `stored + added` where a NULL on either side is "nothing yet" (a cost sum over no priced call is NULL, as in SQL). */
const nullableSum = (c: string): string => `${c} = CASE WHEN excluded.${c} IS NULL THEN ${c} WHEN ${c} IS NULL THEN excluded.${c} ELSE ${c} + excluded.${c} END`;

const ROLLUP_COLUMNS = (l: RollupLevel): string[] =>
  [l.timeColumn, 'gkey', ...l.dims, 'count', 'unpriced_count', 'ttft_count', ...SUM_COLUMNS, 'hist_duration', 'hist_ttft'];

/**
 * Rebuilds every coarse level over the periods that hold a pending minute, from `rollup_minute`,
 * and clears the marks; in the caller's transaction, or one of its own. Returns the number of
 * minutes that were pending.
 */
export function foldPendingRollups(db: Database.Database): number {
  return db.transaction(() => {
    const minutes = db.prepare(`SELECT minute FROM ${PENDING_TABLE} ORDER BY minute`).pluck().all() as number[];
    if (minutes.length === 0) return 0;
    mergeDeltas(db);
    for (const l of ROLLUP_LEVELS) {
      if (l === MINUTE_LEVEL) continue;
      for (const [from, to] of runsOf(minutes, l.periodMs)) {
        buildFromMinutes(db, { table: l.table, timeColumn: l.timeColumn, periodMs: l.periodMs, dims: l.dims, sums: SUM_COLUMNS, from, to });
      }
    }
    db.prepare(`DELETE FROM ${PENDING_TABLE} WHERE minute <= ?`).run(minutes[minutes.length - 1]);
    return minutes.length;
  }).immediate();
}

const DELTA_HIST_FUNCTION = 'claudescope_delta_hist';

/** Merges the delta rows into `rollup_minute`, a statement for all, and empties the delta table. */
function mergeDeltas(db: Database.Database): void {
  db.function(HIST_MERGE_FUNCTION, { deterministic: true }, mergeHistJson);
  registerHistogramAggregate(db, DELTA_HIST_FUNCTION, 'json', 'json');
  const l = MINUTE_LEVEL;
  const cols = ROLLUP_COLUMNS(l);
  const dims = l.dims.join(', ');
  // `WHERE true`: an upsert of a SELECT needs a WHERE, or SQLite reads ON as a join's.
  db.prepare(`INSERT INTO ${l.table} (${cols.join(', ')})
    SELECT minute, gkey, ${dims}, SUM(count), SUM(unpriced_count), SUM(ttft_count), ${SUM_COLUMNS.map((c) => `SUM(${c})`).join(', ')},
      ${DELTA_HIST_FUNCTION}(hist_duration), ${DELTA_HIST_FUNCTION}(hist_ttft)
    FROM ${DELTA_TABLE} WHERE true GROUP BY minute, gkey
    ON CONFLICT (${l.timeColumn}, gkey) DO UPDATE SET
      count = count + excluded.count, unpriced_count = unpriced_count + excluded.unpriced_count, ttft_count = ttft_count + excluded.ttft_count,
      ${SUM_COLUMNS.map(nullableSum).join(', ')},
      hist_duration = ${HIST_MERGE_FUNCTION}(hist_duration, excluded.hist_duration),
      hist_ttft = ${HIST_MERGE_FUNCTION}(hist_ttft, excluded.hist_ttft)`).run();
  db.prepare(`DELETE FROM ${DELTA_TABLE}`).run();
}

/** Contiguous spans of whole periods holding the (sorted) minutes, as [from, to). */
export function runsOf(minutes: readonly number[], periodMs: number): [number, number][] {
  const out: [number, number][] = [];
  for (const m of minutes) {
    const p = Math.floor(m / periodMs) * periodMs;
    const last = out[out.length - 1];
    if (last && p <= last[1]) last[1] = Math.max(last[1], p + periodMs);
    else out.push([p, p + periodMs]);
  }
  return out;
}

/** Minutes whose per-minute rollups changed since the coarse levels were last built (schema 4). */
export const PENDING_TABLE = 'rollup_pending';
/** Per-minute groups of batches not yet merged into `rollup_minute` (schema 4): same columns, several rows per group. */
export const DELTA_TABLE = 'rollup_minute_delta';
/**
 * A level as a query must read it: its rows as last folded and the per-minute deltas the
 * batches appended since, which hold every dimension, so they add to any level (a delta's
 * minute falls in its hour). The time column is `period`; SQLite pushes a range on it into both.
 */
export function withDeltas(l: RollupLevel): string {
  const cols = [...l.dims, 'count', 'unpriced_count', 'ttft_count', ...SUM_COLUMNS, 'hist_duration', 'hist_ttft'].join(', ');
  return `(SELECT ${l.timeColumn} AS period, ${cols} FROM ${l.table} UNION ALL SELECT minute AS period, ${cols} FROM ${DELTA_TABLE})`;
}

export class RollupWriter {
  private readonly append: Database.Statement;
  private readonly markPending: Database.Statement;
  /** Delta rows appended since the counter was last reset (a fold); rolled-back ones included. */
  deltaRows = 0;

  constructor(db: Database.Database) {
    // A batch's groups are appended to the delta table, not merged into rollup_minute: an
    // append costs a fraction of an upsert at a random place of rollup_minute (whose merge also
    // parses and rewrites both histograms), and a group a backlog touches in many batches is
    // merged once per fold instead of once per batch.
    const cols = ROLLUP_COLUMNS(MINUTE_LEVEL);
    this.append = db.prepare(`INSERT INTO ${DELTA_TABLE} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
    this.markPending = db.prepare(`INSERT OR IGNORE INTO ${PENDING_TABLE} (minute) VALUES (?)`);
  }

  /** A new accumulator for one batch. */
  batch(): RollupBatch {
    return new RollupBatch(this);
  }

  /** Appends one accumulated per-minute group to the delta table (inside the batch's transaction). */
  write(acc: Acc): void {
    this.deltaRows++;
    this.append.run(acc.minute, acc.gkey, ...acc.dims, acc.count, acc.unpriced, acc.ttftCount, ...acc.sums, acc.hDuration.toJson(), acc.hTtft.toJson());
  }

  /** Marks a minute whose per-minute rollups changed (inside the batch's transaction). */
  pending(minute: number): void {
    this.markPending.run(minute);
  }
}

export class RollupBatch {
  /** Groups of the per-minute level, by `<minute>|<gkey>`. */
  private readonly groups = new Map<string, Acc>();

  constructor(private readonly writer: RollupWriter) {}

  add(c: RollupInput): void {
    const minute = Math.floor(c.ts / MINUTE_MS) * MINUTE_MS;
    const gkey = JSON.stringify(c.dims);
    const key = `${minute}|${gkey}`;
    let acc = this.groups.get(key);
    if (!acc) {
      acc = {
        minute, gkey, dims: c.dims, count: 0, unpriced: 0, ttftCount: 0,
        // Costs start null (SUM of nothing priced is NULL, as in SQL); other sums start at 0.
        sums: SUM_COLUMNS.map((_, i) => (COST_INDEXES.has(i) || i === TTFT_INDEX ? null : 0)),
        hDuration: new LogHistogram(), hTtft: new LogHistogram(),
      };
      this.groups.set(key, acc);
    }
    acc.count++;
    if (c.sums[0] === null) acc.unpriced++;
    for (let i = 0; i < c.sums.length; i++) {
      const v = c.sums[i];
      if (v === null || v === undefined) continue;
      const prev = acc.sums[i];
      acc.sums[i] = prev === null || prev === undefined ? v : prev + v;
    }
    acc.hDuration.add(c.durationMs, 1);
    if (c.ttftMs !== null) {
      acc.ttftCount++;
      acc.hTtft.add(c.ttftMs, 1);
    }
  }

  /** Appends the groups to the delta table and marks their minutes pending for the fold. */
  flush(): void {
    const minutes = new Set<number>();
    for (const acc of this.groups.values()) {
      this.writer.write(acc);
      minutes.add(acc.minute);
    }
    for (const m of minutes) this.writer.pending(m);
    this.groups.clear();
  }
}

/**
 * Changes already-rolled-up calls in place (repricing): each changed call is taken out of its
 * rollup group as it was stored and put back as it is now, at every level, so every level
 * stays equal to the rows' sums. When only the price changed (same period, same dimensions of
 * the level), only the cost sums and the unpriced count move, and no other sum is touched (no
 * float drift on durations); when a dimension of the level changed (a model relabelled by a
 * new alias), the call moves between groups whole: count, sums and histogram buckets. Must run
 * inside the rows' transaction.
 */
export class RollupAdjuster {
  private readonly levels: LevelAdjuster[];

  constructor(db: Database.Database) {
    this.levels = ROLLUP_LEVELS.map((l) => new LevelAdjuster(db, l));
  }

  /** Records that a stored call `before` is now `after`. */
  change(before: RollupInput, after: RollupInput): void {
    for (const l of this.levels) l.change(before, after);
  }

  /** Writes every adjusted group; groups left without calls are deleted. */
  flush(): void {
    for (const l of this.levels) l.flush();
  }
}

class LevelAdjuster {
  private readonly select: Database.Statement;
  private readonly upsert: Database.Statement;
  private readonly remove: Database.Statement;
  private readonly groups = new Map<string, AdjustAcc>();

  constructor(db: Database.Database, private readonly level: RollupLevel) {
    const { table, timeColumn } = level;
    this.select = db.prepare(`SELECT * FROM ${table} WHERE ${timeColumn} = ? AND gkey = ?`);
    const cols = ROLLUP_COLUMNS(level);
    this.upsert = db.prepare(`INSERT OR REPLACE INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
    this.remove = db.prepare(`DELETE FROM ${table} WHERE ${timeColumn} = ? AND gkey = ?`);
  }

  change(before: RollupInput, after: RollupInput): void {
    const p = this.level.periodMs;
    const mb = Math.floor(before.ts / p) * p;
    const ma = Math.floor(after.ts / p) * p;
    const db = levelDims(this.level, before.dims);
    const da = levelDims(this.level, after.dims);
    const gb = JSON.stringify(db);
    const ga = JSON.stringify(da);
    if (mb === ma && gb === ga) {
      const acc = this.acc(mb, gb, db);
      acc.unpriced += (after.sums[0] === null ? 1 : 0) - (before.sums[0] === null ? 1 : 0);
      for (const i of COST_INDEXES) acc.sums[i] = (acc.sums[i] ?? 0) + (after.sums[i] ?? 0) - (before.sums[i] ?? 0);
      return;
    }
    this.move(this.acc(mb, gb, db), before, -1);
    this.move(this.acc(ma, ga, da), after, 1);
  }

  flush(): void {
    const json = this.level.hist === 'json';
    for (const a of this.groups.values()) {
      const old = this.select.get(a.minute, a.gkey) as ExistingRow | undefined;
      const count = Number(old?.['count'] ?? 0) + a.count;
      if (count <= 0) {
        if (old) this.remove.run(a.minute, a.gkey);
        continue;
      }
      const unpriced = Number(old?.['unpriced_count'] ?? 0) + a.unpriced;
      const ttftCount = Number(old?.['ttft_count'] ?? 0) + a.ttftCount;
      const sums = SUM_COLUMNS.map((c, i) => {
        const prev = (old?.[c] as number | null | undefined) ?? null;
        const d = a.sums[i] ?? 0;
        // As in SQL and RollupBatch: a cost sum over no priced call is NULL, so is a TTFT sum over no TTFT.
        if (COST_INDEXES.has(i) && count - unpriced === 0) return null;
        if (i === TTFT_INDEX && ttftCount === 0) return null;
        return d === 0 ? prev ?? 0 : (prev ?? 0) + d;
      });
      const hDuration = new LogHistogram();
      const hTtft = new LogHistogram();
      if (json) {
        hDuration.mergeJson((old?.['hist_duration'] as string | null | undefined) ?? null);
        hTtft.mergeJson((old?.['hist_ttft'] as string | null | undefined) ?? null);
      } else {
        hDuration.mergeBlob((old?.['hist_duration'] as Uint8Array | null | undefined) ?? null);
        hTtft.mergeBlob((old?.['hist_ttft'] as Uint8Array | null | undefined) ?? null);
      }
      for (const [v, n] of a.durations) hDuration.add(v, n);
      for (const [v, n] of a.ttfts) hTtft.add(v, n);
      this.upsert.run(a.minute, a.gkey, ...a.dims, count, unpriced, ttftCount, ...sums,
        json ? hDuration.toJson() : histToBlob(hDuration.counts), json ? hTtft.toJson() : histToBlob(hTtft.counts));
    }
    this.groups.clear();
  }

  private acc(minute: number, gkey: string, dims: (string | null)[]): AdjustAcc {
    const key = `${minute}|${gkey}`;
    let a = this.groups.get(key);
    if (!a) {
      a = { minute, gkey, dims, count: 0, unpriced: 0, ttftCount: 0, sums: SUM_COLUMNS.map(() => 0), durations: [], ttfts: [] };
      this.groups.set(key, a);
    }
    return a;
  }

  private move(a: AdjustAcc, c: RollupInput, sign: 1 | -1): void {
    a.count += sign;
    if (c.sums[0] === null) a.unpriced += sign;
    for (let i = 0; i < c.sums.length; i++) a.sums[i] = (a.sums[i] ?? 0) + sign * (c.sums[i] ?? 0);
    a.durations.push([c.durationMs, sign]);
    if (c.ttftMs !== null) {
      a.ttftCount += sign;
      a.ttfts.push([c.ttftMs, sign]);
    }
  }
}

interface AdjustAcc {
  /** Period start. */
  minute: number;
  gkey: string;
  dims: (string | null)[];
  /** Signed changes. */
  count: number;
  unpriced: number;
  ttftCount: number;
  sums: number[];
  /** Values added (+1) to or removed (−1) from the histograms. */
  durations: [number, number][];
  ttfts: [number, number][];
}
