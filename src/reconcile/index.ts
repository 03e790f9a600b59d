/**
 * `claudescope reconcile`: what claudescope recorded against what Anthropic bills (the Admin
 * usage and cost reports), per bucket × model (× workspace × API key), with capture ratios
 * and the likely cause of each difference. See docs/reconcile.md.
 */
export { AdminClient, AdminApiError, redactKey, retryAfterMs } from './admin-client.js';
export type { AdminClientOptions, BilledCostRow, BilledGroupBy, BilledUsageRow, ProgressEvent } from './admin-client.js';
export { reconcile, DEFAULT_TOLERANCE } from './reconcile.js';
export type { ReconcileOptions } from './reconcile.js';
export { compareCells, summarize } from './compare.js';
export type { CompareOptions, LocalRates } from './compare.js';
export { ratesFromPricer } from './local-rates.js';
export { formatCsv, formatJson, formatTable } from './format.js';
export { latestRun, listRuns, runCells, saveResult } from './results-store.js';
export type { StoredRun } from './results-store.js';
export { centsToNanoUsd, nanoUsdToCents } from './money.js';
export type * from './types.js';
