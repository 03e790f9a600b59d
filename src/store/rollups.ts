/**
 * Per-minute rollups of calls: counts, unpriced counts, sums of every summable field and
 * log-scale histograms of latency and TTFT, one row per (minute, dimension combination).
 *
 * A batch accumulates in memory only the calls whose row was actually inserted (a replayed
 * event's INSERT OR IGNORE changes nothing, so it never reaches here) and is merged into the
 * table in the same transaction as the rows: rollups and rows never disagree.
 */
import type Database from 'better-sqlite3';
import { DIMENSION_COLUMNS, SUM_COLUMNS } from './migrations.js';
import { LogHistogram } from './histogram.js';

export const MINUTE_MS = 60_000;
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
 * one, registered on the writing connection only: the upsert merges a group's histogram in
 * place instead of reading the row back into JS and replacing it whole.
 */
export const HIST_MERGE_FUNCTION = 'claudescope_hist_merge';

function mergeHistJson(stored: unknown, add: unknown): string | null {
  if (typeof add !== 'string' || add === '') return typeof stored === 'string' && stored !== '' ? stored : null;
  if (typeof stored !== 'string' || stored === '') return add;
  const a = JSON.parse(stored) as Record<string, number>;
  const b = JSON.parse(add) as Record<string, number>;
  for (const k in b) a[k] = (a[k] ?? 0) + (b[k] ?? 0);
  return JSON.stringify(a);
}

/** `stored + added` where a NULL on either side is "nothing yet" (a cost sum over no priced call is NULL, as in SQL). */
const nullableSum = (c: string): string => `${c} = CASE WHEN excluded.${c} IS NULL THEN ${c} WHEN ${c} IS NULL THEN excluded.${c} ELSE ${c} + excluded.${c} END`;

export class RollupWriter {
  private readonly upsert: Database.Statement;

  constructor(db: Database.Database) {
    db.function(HIST_MERGE_FUNCTION, { deterministic: true }, mergeHistJson);
    const cols = ['minute', 'gkey', ...DIMENSION_COLUMNS, 'count', 'unpriced_count', 'ttft_count', ...SUM_COLUMNS, 'hist_duration', 'hist_ttft'];
    // One statement per group and batch: new groups are inserted, existing ones updated in place
    // (no read back into JS, no delete-and-insert of the whole row as INSERT OR REPLACE does).
    this.upsert = db.prepare(`INSERT INTO rollup_minute (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})
      ON CONFLICT (minute, gkey) DO UPDATE SET
        count = count + excluded.count, unpriced_count = unpriced_count + excluded.unpriced_count, ttft_count = ttft_count + excluded.ttft_count,
        ${SUM_COLUMNS.map(nullableSum).join(', ')},
        hist_duration = ${HIST_MERGE_FUNCTION}(hist_duration, excluded.hist_duration),
        hist_ttft = ${HIST_MERGE_FUNCTION}(hist_ttft, excluded.hist_ttft)`);
  }

  /** A new accumulator for one batch. */
  batch(): RollupBatch {
    return new RollupBatch(this);
  }

  /** Merges one accumulated group into its stored row (must run inside the batch's transaction). */
  write(acc: Acc): void {
    this.upsert.run(acc.minute, acc.gkey, ...acc.dims, acc.count, acc.unpriced, acc.ttftCount, ...acc.sums, acc.hDuration.toJson(), acc.hTtft.toJson());
  }
}

export class RollupBatch {
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
    acc.hDuration.add(c.durationMs);
    if (c.ttftMs !== null) {
      acc.ttftCount++;
      acc.hTtft.add(c.ttftMs);
    }
  }

  flush(): void {
    for (const acc of this.groups.values()) this.writer.write(acc);
    this.groups.clear();
  }
}

/**
 * Changes already-rolled-up calls in place (repricing): each changed call is taken out of its
 * rollup group as it was stored and put back as it is now, so rollups stay equal to the rows'
 * sums. When only the price changed (same minute, same dimensions), only the cost sums and the
 * unpriced count move, and no other sum is touched (no float drift on durations); when a
 * dimension changed (a model relabelled by a new alias), the call moves between groups whole:
 * count, sums and histogram buckets. Must run inside the rows' transaction.
 */
export class RollupAdjuster {
  private readonly select: Database.Statement;
  private readonly upsert: Database.Statement;
  private readonly remove: Database.Statement;
  private readonly groups = new Map<string, AdjustAcc>();

  constructor(db: Database.Database) {
    this.select = db.prepare('SELECT * FROM rollup_minute WHERE minute = ? AND gkey = ?');
    const cols = ['minute', 'gkey', ...DIMENSION_COLUMNS, 'count', 'unpriced_count', 'ttft_count', ...SUM_COLUMNS, 'hist_duration', 'hist_ttft'];
    this.upsert = db.prepare(`INSERT OR REPLACE INTO rollup_minute (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
    this.remove = db.prepare('DELETE FROM rollup_minute WHERE minute = ? AND gkey = ?');
  }

  /** Records that a stored call `before` is now `after`. */
  change(before: RollupInput, after: RollupInput): void {
    const mb = Math.floor(before.ts / MINUTE_MS) * MINUTE_MS;
    const ma = Math.floor(after.ts / MINUTE_MS) * MINUTE_MS;
    const gb = JSON.stringify(before.dims);
    const ga = JSON.stringify(after.dims);
    if (mb === ma && gb === ga) {
      const acc = this.acc(mb, gb, before.dims);
      acc.unpriced += (after.sums[0] === null ? 1 : 0) - (before.sums[0] === null ? 1 : 0);
      for (const i of COST_INDEXES) acc.sums[i] = (acc.sums[i] ?? 0) + (after.sums[i] ?? 0) - (before.sums[i] ?? 0);
      return;
    }
    this.move(this.acc(mb, gb, before.dims), before, -1);
    this.move(this.acc(ma, ga, after.dims), after, 1);
  }

  /** Writes every adjusted group; groups left without calls are deleted. */
  flush(): void {
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
      hDuration.mergeJson((old?.['hist_duration'] as string | null | undefined) ?? null);
      const hTtft = new LogHistogram();
      hTtft.mergeJson((old?.['hist_ttft'] as string | null | undefined) ?? null);
      for (const [v, n] of a.durations) hDuration.add(v, n);
      for (const [v, n] of a.ttfts) hTtft.add(v, n);
      this.upsert.run(a.minute, a.gkey, ...a.dims, count, unpriced, ttftCount, ...sums, histJson(hDuration), histJson(hTtft));
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

/** A histogram's JSON without emptied buckets (null when empty). */
function histJson(h: LogHistogram): string | null {
  for (const [b, n] of h.counts) if (n === 0) h.counts.delete(b);
  return h.toJson();
}
