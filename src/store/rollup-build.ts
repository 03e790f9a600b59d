/**
 * Builds a coarser rollup table (longer period and/or fewer dimensions) from the per-minute
 * rollups by SQL: used by the fold that keeps the coarse levels up to date (rollups.ts), by the
 * migration that introduced them (for databases written before it) and by benchmarks that
 * bulk-seed the tables.
 *
 * Built from `rollup_minute`, not from the call rows: rows may already be past their retention
 * while the per-minute rollups are kept, and the per-minute rollups are equal to the rows
 * they summarise, so the coarse level is equal to them too.
 *
 * Depends on nothing of the store but the histogram code, so a migration can call it with
 * its own frozen column lists.
 */
import type Database from 'better-sqlite3';
import { registerHistogramAggregate } from './histogram.js';

/** What to build. */
export interface CoarseBuild {
  table: string;
  /** Time column of `table` ('minute' or 'hour'). */
  timeColumn: string;
  /** Period of `table`, a multiple of a minute. */
  periodMs: number;
  /** Dimension columns of `table`, in the order its `gkey` lists them. */
  dims: readonly string[];
  /** Summable columns (nullable sums: SUM of only NULLs is NULL, as the writer keeps them). */
  sums: readonly string[];
  /** Only minutes in [from, to) (epoch ms); default all. Existing rows of that span are replaced. */
  from?: number;
  to?: number;
}

const GKEY_FUNCTION = 'claudescope_build_gkey';
const HIST_FUNCTION = 'claudescope_build_hist';

/** Replaces `b.table`'s rows of the span with the sums of `rollup_minute` over them. Run inside a transaction. */
export function buildFromMinutes(db: Database.Database, b: CoarseBuild): number {
  // The group key exactly as the writer computes it (JSON.stringify of the dimension values).
  db.function(GKEY_FUNCTION, { deterministic: true, varargs: true }, (...vals: unknown[]) => JSON.stringify(vals.map((v) => v ?? null)));
  registerHistogramAggregate(db, HIST_FUNCTION, 'json', 'blob');
  const from = b.from ?? Number.MIN_SAFE_INTEGER;
  const to = b.to ?? Number.MAX_SAFE_INTEGER;
  const fromP = Math.floor(from / b.periodMs) * b.periodMs;
  db.prepare(`DELETE FROM ${b.table} WHERE ${b.timeColumn} >= ? AND ${b.timeColumn} < ?`).run(fromP, to);
  const dims = b.dims.join(', ');
  const t = `CAST(minute / ${b.periodMs} AS INTEGER) * ${b.periodMs}`;
  const gkey = b.dims.length > 0 ? `${GKEY_FUNCTION}(${dims})` : "'[]'";
  const sql = `INSERT INTO ${b.table} (${b.timeColumn}, gkey${b.dims.length ? `, ${dims}` : ''}, count, unpriced_count, ttft_count, ${b.sums.join(', ')}, hist_duration, hist_ttft)
    SELECT ${t} AS p, ${gkey}${b.dims.length ? `, ${dims}` : ''}, SUM(count), SUM(unpriced_count), SUM(ttft_count), ${b.sums.map((c) => `SUM(${c})`).join(', ')},
      ${HIST_FUNCTION}(hist_duration), ${HIST_FUNCTION}(hist_ttft)
    FROM rollup_minute WHERE minute >= ? AND minute < ?
    GROUP BY p${b.dims.length ? `, ${dims}` : ''}`;
  return db.prepare(sql).run(fromP, to).changes;
}
