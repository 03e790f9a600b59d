/**
 * The daemon's Prometheus registry: its own `Registry` (never prom-client's global one), the
 * `claude_*` call metrics and the `claudescope_*` health metrics.
 *
 * @example
 * const m = createMetrics({ featureLabelAllowlist: ['search'], health: pipelineSource });
 * m.claude.record(committedCalls);
 * res.end(await m.registry.metrics());
 */
import { Registry, collectDefaultMetrics } from 'prom-client';
import { ClaudeMetrics, type ClaudeMetricsOptions } from './claude-metrics.js';
import { registerPipelineMetrics, type PipelineMetricsSource } from './pipeline-metrics.js';
import { registerRuleMetrics, type RuleMetricsSnapshot } from './rule-metrics.js';

export { ClaudeMetrics, errorKind, modelLabel, LATENCY_BUCKETS_S, TTFT_BUCKETS_S, TOKEN_DIRECTIONS, RATE_LIMIT_DIMENSIONS } from './claude-metrics.js';
export type { CommittedCall, ErrorKind, TokenDirection } from './claude-metrics.js';
export { registerPipelineMetrics } from './pipeline-metrics.js';
export type { PipelineHealthSnapshot, EmitterStatsSnapshot, PipelineMetricsSource } from './pipeline-metrics.js';
export { registerRuleMetrics } from './rule-metrics.js';
export type { RuleMetricsSnapshot } from './rule-metrics.js';
export { registerPricingMetrics } from './pricing-metrics.js';
export type { PricingMetrics, PricingMetricsSource } from './pricing-metrics.js';

const MISNAMED_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export interface MetricsOptions extends Omit<ClaudeMetricsOptions, 'registry'> {
  /** The pipeline's health, read at each scrape. Default: no health metrics. */
  health?: PipelineMetricsSource;
  /** The alert engine's counters, read at each scrape (null while none runs). Default: no rule metrics. */
  rules?: () => RuleMetricsSnapshot | null;
  /** Node.js process metrics (`claudescope_process_*`). Default true. */
  processMetrics?: boolean;
}

export interface Metrics {
  readonly registry: Registry;
  readonly claude: ClaudeMetrics;
  /** The exposition text and its content type. */
  exposition(): Promise<{ contentType: string; body: string }>;
}

export function createMetrics(o: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const claude = new ClaudeMetrics({ ...o, registry });
  if (o.health) registerPipelineMetrics(registry, o.health);
  if (o.rules) registerRuleMetrics(registry, o.rules);
  if (o.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: 'claudescope_' });
    // prom-client names these gauges `…_total`, which Prometheus reserves for counters
    // (promtool flags them); the handle counts are not worth a misleading name.
    for (const name of MISNAMED_DEFAULT_METRICS) registry.removeSingleMetric(`claudescope_${name}`);
  }
  return {
    registry,
    claude,
    async exposition() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
