/**
 * Scheduled reconciliation inside the daemon: a node-cron job (`reconcile.schedule`) that
 * compares the last `lookback_days` with the Admin reports and stores the result, where the
 * metric and the `reconciliation_capture` rules read it. A run still going when the next is
 * due is skipped; a failed run is logged (key redacted) and retried at the next tick.
 */
import cron from 'node-cron';
import type { Pricer } from '../pricing/types.js';
import type { SqliteStore } from '../store/sqlite-store.js';
import { runReconciliation } from './job.js';
import type { ReconcileSettings } from './settings.js';
import type { ReconciliationResult } from './types.js';

export interface ReconcileJobOptions {
  settings: ReconcileSettings & { schedule: string };
  /** The daemon's store (null while not started). */
  store: () => SqliteStore | undefined;
  pricer?: Pricer;
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export interface ReconcileJob {
  /** One run now (what the schedule does); resolves with the result, or null when skipped or failed. */
  runNow(): Promise<ReconciliationResult | null>;
  stop(): Promise<void>;
}

export function startReconcileJob(o: ReconcileJobOptions): ReconcileJob {
  if (!cron.validate(o.settings.schedule)) throw new Error(`reconcile.schedule: not a cron expression: ${JSON.stringify(o.settings.schedule)}`);
  if (o.settings.adminKey === null) throw new Error('reconcile.schedule is set but there is no Admin API key: set ANTHROPIC_ADMIN_KEY or reconcile.admin_key');
  let running: Promise<ReconciliationResult | null> | null = null;
  const runNow = (): Promise<ReconciliationResult | null> => {
    if (running) return Promise.resolve(null);
    const store = o.store();
    if (!store) return Promise.resolve(null);
    running = runReconciliation({ settings: o.settings, query: store, resultsStore: store, ...(o.pricer ? { pricer: o.pricer } : {}) })
      .then((r) => {
        o.log(r.flagged_cells > 0 ? 'warn' : 'info', `reconciliation: ${r.flagged_cells} cell(s) beyond the ${(r.tolerance * 100).toFixed(1)} % tolerance`, {
          run: r.run_id, range: `${r.range.start}..${r.range.end}`, token_capture: r.total.token_capture, cost_capture: r.total.cost_capture,
        });
        return r;
      })
      .catch((err: unknown) => {
        // The client's messages are already redacted; nothing here carries the key.
        o.log('error', `reconciliation failed: ${err instanceof Error ? err.message : String(err)}`);
        return null;
      })
      .finally(() => { running = null; });
    return running;
  };
  const task = cron.schedule(o.settings.schedule, () => void runNow(), { name: 'claudescope-reconcile' });
  return {
    runNow,
    async stop() {
      await task.stop();
      await task.destroy();
      await running;
    },
  };
}
