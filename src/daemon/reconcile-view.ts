/**
 * What `GET /api/reconcile/latest` answers: the latest reconciliation with Anthropic's bill as
 * it was stored, by the daemon's schedule or by `claudescope reconcile` (both write the
 * store's `reconciliation_runs` and `reconciliation` tables, which the metric and the rules
 * read too). Nothing is recomputed here and the Admin API is never called: opening the page
 * must not spend the reports' one-poll-a-minute allowance, and the page then shows the same
 * run the metric exports.
 */
import { latestRun, type StoredRun } from '../reconcile/results-store.js';
import type { ReconcileSettings } from '../reconcile/settings.js';
import type { SqliteStore } from '../store/sqlite-store.js';

export interface ReconcileViewContext {
  /** The embedded store, where runs are kept; undefined before start or with InfluxDB alone. */
  store: () => SqliteStore | undefined;
  /** The daemon's `reconcile:` settings; null without the block and without ANTHROPIC_ADMIN_KEY. */
  settings: ReconcileSettings | null;
}

export interface ReconcileView {
  /** The daemon's `reconcile.schedule`; null when only `claudescope reconcile` runs it. */
  schedule: string | null;
  /** Whether this daemon keeps an embedded store: without one no run can be stored. */
  embedded_store: boolean;
  /** The latest stored run (null before the first). */
  run: StoredRun | null;
}

/** The latest run with at most `flaggedLimit` of its flagged cells. Never the Admin API key. */
export function reconcileView(ctx: ReconcileViewContext, flaggedLimit: number): ReconcileView {
  const store = ctx.store();
  return {
    schedule: ctx.settings?.schedule ?? null,
    embedded_store: store !== undefined,
    run: store ? latestRun(store.db, flaggedLimit) : null,
  };
}
