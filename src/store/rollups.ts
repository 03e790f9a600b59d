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

export class RollupWriter {
  private readonly select: Database.Statement;
  private readonly upsert: Database.Statement;

  constructor(db: Database.Database) {
    this.select = db.prepare('SELECT * FROM rollup_minute WHERE minute = ? AND gkey = ?');
    const cols = ['minute', 'gkey', ...DIMENSION_COLUMNS, 'count', 'unpriced_count', 'ttft_count', ...SUM_COLUMNS, 'hist_duration', 'hist_ttft'];
    this.upsert = db.prepare(`INSERT OR REPLACE INTO rollup_minute (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
  }

  /** A new accumulator for one batch. */
  batch(): RollupBatch {
    return new RollupBatch(this);
  }

  /** Merges one accumulated group into its stored row (must run inside the batch's transaction). */
  write(acc: Acc): void {
    const old = this.select.get(acc.minute, acc.gkey) as ExistingRow | undefined;
    if (old) {
      acc.count += Number(old['count']);
      acc.unpriced += Number(old['unpriced_count']);
      acc.ttftCount += Number(old['ttft_count']);
      SUM_COLUMNS.forEach((c, i) => {
        const prev = old[c] as number | null;
        const cur = acc.sums[i] ?? null;
        acc.sums[i] = prev === null ? cur : cur === null ? prev : prev + cur;
      });
      acc.hDuration.mergeJson(old['hist_duration'] as string | null);
      acc.hTtft.mergeJson(old['hist_ttft'] as string | null);
    }
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
