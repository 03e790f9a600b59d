/**
 * Reconciliation results in the SQLite store (tables `reconciliation_runs` and
 * `reconciliation`, schema version 2): one row per run with its per-model summary, one row
 * per compared cell. The dashboard's reconciliation view takes the latest run from here
 * ({@link latestRun}); the metric and the `reconciliation_capture` rule read its per-model
 * capture through the store (`SqliteStore.reconciliationCapture`), in the same order
 * ({@link LATEST_RUN_FIRST}).
 *
 * Writing touches only these two tables, in one short transaction, so a CLI run can store
 * its results while the daemon ingests (SQLite serialises the two writers; WAL keeps readers
 * unblocked).
 */
import type Database from 'better-sqlite3';
import { LATEST_RUN_FIRST } from '../store/migrations.js';
import { usdToNano } from './money.js';
import { iso } from './range.js';
import type { BucketWidth, CellDimension, ModelSummary, ReconciledCell, ReconciliationResult, ReportApi } from './types.js';

export function saveResult(db: Database.Database, r: ReconciliationResult): void {
  const run = db.prepare(`INSERT OR REPLACE INTO reconciliation_runs (run_id, started_at, finished_at, range_start, range_end, api, bucket, tolerance, data_refreshed_at, summary_json)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const cell = db.prepare(`INSERT INTO reconciliation (run_id, bucket_start, bucket_end, model, workspace_id, api_key, local_tokens, billed_tokens,
    local_cost_nanousd, billed_cost_nanousd, token_capture_ratio, cost_capture_ratio, flagged, causes, cell_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  db.transaction(() => {
    db.prepare('DELETE FROM reconciliation WHERE run_id = ?').run(r.run_id);
    run.run(r.run_id, Date.parse(r.started_at), Date.parse(r.finished_at), Date.parse(r.range.start), Date.parse(r.range.end), r.api, r.bucket, r.tolerance,
      r.data_refreshed_at, JSON.stringify({ models: r.models, total: r.total, flagged_cells: r.flagged_cells, split_by: r.split_by }));
    for (const c of r.cells) {
      cell.run(r.run_id, Date.parse(c.bucket_start), Date.parse(c.bucket_end), c.model, c.workspace ?? null, c.api_key ?? null,
        c.local.total_tokens, c.billed.total_tokens,
        c.local.cost_usd === null ? null : usdToNano(c.local.cost_usd), c.billed.cost_usd === null ? null : usdToNano(c.billed.cost_usd),
        c.capture.tokens, c.capture.cost, c.flagged ? 1 : 0, c.causes.map((x) => x.code).join(','), JSON.stringify(c));
    }
  }).immediate();
}

/** Runs, newest first. */
export function listRuns(db: Database.Database, limit = 20): { runId: string; finishedAt: number; rangeStart: number; rangeEnd: number; api: string; summary: unknown }[] {
  const rows = db.prepare('SELECT run_id, finished_at, range_start, range_end, api, summary_json FROM reconciliation_runs ORDER BY finished_at DESC LIMIT ?').all(limit) as
    { run_id: string; finished_at: number; range_start: number; range_end: number; api: string; summary_json: string }[];
  return rows.map((r) => ({ runId: r.run_id, finishedAt: r.finished_at, rangeStart: r.range_start, rangeEnd: r.range_end, api: r.api, summary: JSON.parse(r.summary_json) as unknown }));
}

/** The cells of one run, as compared. */
export function runCells(db: Database.Database, runId: string): unknown[] {
  return (db.prepare('SELECT cell_json FROM reconciliation WHERE run_id = ? ORDER BY bucket_start, model').all(runId) as { cell_json: string }[]).map((r) => JSON.parse(r.cell_json) as unknown);
}

/**
 * The latest run as stored: the run's settings, its per-model summary and total, and its
 * flagged cells (each as `claudescope reconcile --json` prints a cell). The cells within the
 * tolerance are left out: a run over a year of hourly buckets has thousands of them, and
 * what needs reading is what differs.
 */
export interface StoredRun extends Omit<ReconciliationResult, 'cells' | 'total'> {
  /** Null in a run stored without one (none is written so). */
  total: ModelSummary | null;
  /** Flagged cells, newest bucket first, at most the limit asked for (`flagged_cells` counts them all). */
  flagged: ReconciledCell[];
}

/** The latest run (see {@link LATEST_RUN_FIRST}) with at most `flaggedLimit` flagged cells; null before the first run. */
export function latestRun(db: Database.Database, flaggedLimit: number): StoredRun | null {
  const row = db.prepare(`SELECT run_id, started_at, finished_at, range_start, range_end, api, bucket, tolerance, data_refreshed_at, summary_json FROM reconciliation_runs ORDER BY ${LATEST_RUN_FIRST} LIMIT 1`).get() as
    { run_id: string; started_at: number; finished_at: number; range_start: number; range_end: number; api: ReportApi; bucket: BucketWidth; tolerance: number; data_refreshed_at: string | null; summary_json: string } | undefined;
  if (!row) return null;
  const s = JSON.parse(row.summary_json) as Partial<{ models: ModelSummary[]; total: ModelSummary; flagged_cells: number; split_by: CellDimension[] }>;
  // Counted rather than read from the summary, so the count always matches the rows listed.
  const { n } = db.prepare('SELECT COUNT(*) AS n FROM reconciliation WHERE run_id = ? AND flagged = 1').get(row.run_id) as { n: number };
  const flagged = (db.prepare('SELECT cell_json FROM reconciliation WHERE run_id = ? AND flagged = 1 ORDER BY bucket_start DESC, model IS NULL, model LIMIT ?')
    .all(row.run_id, flaggedLimit) as { cell_json: string }[]).map((r) => JSON.parse(r.cell_json) as ReconciledCell);
  return {
    run_id: row.run_id,
    started_at: new Date(row.started_at).toISOString(),
    finished_at: new Date(row.finished_at).toISOString(),
    api: row.api,
    bucket: row.bucket,
    split_by: s.split_by ?? [],
    range: { start: iso(row.range_start), end: iso(row.range_end) },
    tolerance: row.tolerance,
    data_refreshed_at: row.data_refreshed_at,
    models: s.models ?? [],
    total: s.total ?? null,
    flagged_cells: n,
    flagged,
  };
}
