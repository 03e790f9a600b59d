/**
 * `claude_reconciliation_*`: the latest reconciliation with Anthropic's usage and cost
 * reports, read from the store at each scrape (so a run made by the CLI shows up too).
 *
 * - `claude_reconciliation_capture_ratio{model}` — recorded ÷ billed tokens over the run's range;
 * - `claude_reconciliation_cost_capture_ratio{model}` — recorded ÷ billed USD;
 * - `claude_reconciliation_last_run_timestamp_seconds` — when that run finished.
 *
 * A model without billed tokens (ratio undefined) has no sample rather than a made-up value.
 */
import { Gauge, type Registry } from 'prom-client';

export interface ReconciliationMetricsRow {
  model: string | null;
  tokenCapture: number | null;
  costCapture: number | null;
  measuredAt: number;
}

/**
 * Registers the gauges; `source` and `lastRun` (when the latest run finished, epoch ms) are
 * read at each scrape (a fault there exports nothing). The time is read apart from the rows:
 * a run with nothing billed or recorded has no model, and was a run all the same.
 */
export function registerReconciliationMetrics(
  registry: Registry,
  source: () => ReconciliationMetricsRow[] | Promise<ReconciliationMetricsRow[]>,
  lastRun: () => number | null | Promise<number | null>,
): void {
  const read = async (): Promise<ReconciliationMetricsRow[]> => {
    try {
      return (await source()).filter((r) => r.model !== null);
    } catch {
      return [];
    }
  };
  new Gauge({
    name: 'claude_reconciliation_capture_ratio',
    help: 'Tokens claudescope recorded divided by the tokens Anthropic billed, per model, over the latest reconciliation range',
    labelNames: ['model'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await read()) if (r.tokenCapture !== null) this.set({ model: r.model! }, r.tokenCapture);
    },
  });
  new Gauge({
    name: 'claude_reconciliation_cost_capture_ratio',
    help: 'Cost claudescope computed divided by the amount Anthropic billed, per model, over the latest reconciliation range',
    labelNames: ['model'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await read()) if (r.costCapture !== null) this.set({ model: r.model! }, r.costCapture);
    },
  });
  new Gauge({
    name: 'claude_reconciliation_last_run_timestamp_seconds',
    help: 'When the latest reconciliation with the Admin usage and cost reports finished (Unix time)',
    registers: [registry],
    async collect() {
      this.reset();
      let t: number | null = null;
      try {
        t = await lastRun();
      } catch {
        t = null;
      }
      if (t !== null && t > 0) this.set(t / 1000);
    },
  });
}
