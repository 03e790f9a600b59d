/**
 * The cost engine's health as `claudescope_*` metrics: how old the price catalog is, whether
 * it is stale, and the calls and warnings of models it cannot price. Unpriced calls
 * themselves are `claude_unpriced_requests_total{model}` (claude-metrics.ts).
 *
 * @example
 * const pm = registerPricingMetrics(registry, { catalogAsOf: '2026-11-26', version: '2026-11-26.2', isStale: () => pricer.isStale() });
 * pm.recordUnknownModel('claude-new-1', 3);  // counts committed calls flagged unknown_model
 * pm.recordWarnings(warnings);   // counts warnings by reason
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CommittedCall } from './claude-metrics.js';

/** What the pricing metrics read of the daemon's pricer. */
export interface PricingMetricsSource {
  /** The catalog's as-of date, `YYYY-MM-DD`; undefined when the pricer has no catalog (a test stand-in). */
  catalogAsOf?: string | undefined;
  /** The pricing version stamped on results. */
  version: string;
  /** Whether the catalog is stale now (60 days past its as-of date by default). */
  isStale?: (() => boolean) | undefined;
  /** Clock for the age, epoch ms. Default `Date.now`. */
  now?: () => number;
}

export interface PricingMetrics {
  /** Counts `n` committed calls of `model` the engine flagged `unknown_model` (see {@link isUnknownModel}). */
  recordUnknownModel(model: string, n: number): void;
  /** Counts warnings the engine reported (each model and reason once per daemon run). */
  recordWarnings(warnings: readonly { reason: string }[]): void;
}

/** Flag the cost engine sets on a call whose model it does not know. */
const UNKNOWN_MODEL_FLAG = 'unknown_model';

/** Whether the engine left `c` unpriced because it does not know its model. */
export function isUnknownModel(c: CommittedCall): boolean {
  const p = c.price;
  return p !== null && !p.priced && p.flags.includes(UNKNOWN_MODEL_FLAG);
}

export function registerPricingMetrics(registry: Registry, src: PricingMetricsSource): PricingMetrics {
  const registers = [registry];
  const now = src.now ?? Date.now;
  const asOfMs = src.catalogAsOf === undefined ? NaN : Date.parse(`${src.catalogAsOf}T00:00:00Z`);
  if (Number.isFinite(asOfMs)) {
    new Gauge({
      // Seconds, not days: Prometheus base units (promtool flags a `_days` name).
      name: 'claudescope_price_catalog_age_seconds', help: 'Time since the price catalog\'s prices were last checked (its as_of date); stale after 60 days (5184000 s)', registers,
      collect() {
        this.set((now() - asOfMs) / 1000);
      },
    });
    const info = new Gauge({ name: 'claudescope_price_catalog_info', help: 'The price catalog in use: its pricing version (with overrides) and as-of date; always 1', labelNames: ['version', 'as_of'], registers });
    info.set({ version: src.version, as_of: src.catalogAsOf ?? '' }, 1);
  }
  if (src.isStale) {
    const isStale = src.isStale;
    new Gauge({
      name: 'claudescope_price_catalog_stale', help: '1 when the price catalog is older than 60 days: check for new prices, update, then claudescope reprice', registers,
      collect() {
        this.set(isStale() ? 1 : 0);
      },
    });
  }
  const unknownModel = new Counter({ name: 'claudescope_unknown_model_events_total', help: 'Calls of a model the price catalog and overrides do not know (stored unpriced; add it under pricing.models)', labelNames: ['model'], registers });
  const warnings = new Counter({ name: 'claudescope_pricing_warnings_total', help: 'Pricing warnings logged (each model and reason once per daemon run)', labelNames: ['reason'], registers });
  return {
    recordUnknownModel(model, n) {
      unknownModel.inc({ model }, n);
    },
    recordWarnings(ws) {
      for (const w of ws) warnings.inc({ reason: w.reason });
    },
  };
}
