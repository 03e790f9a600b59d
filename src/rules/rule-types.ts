/**
 * Alert rules as loaded from YAML: one common part (window, minimum calls, filters, grouping,
 * `for`, labels, annotations) and one part per kind.
 */
import type { Aggregate, CallDimension, CallFilter, PipelineHealth } from '../store/types.js';

export type Comparison = '>' | '>=' | '<' | '<=';
export type Severity = 'critical' | 'warning' | 'info';

/** Fields every rule kind shares. */
export interface RuleCommon {
  /** CamelCase alert name, unique across the loaded files; the `alertname` label. */
  name: string;
  /** Evaluation window, ms. Default 5m. */
  windowMs: number;
  /** Below this many calls in the window the rule does not fire. Default 0 (1 for ratios). */
  minCalls: number;
  filter: CallFilter;
  groupBy: CallDimension[];
  /** How long the condition must hold before firing (pending until then), ms. Default 0. */
  forMs: number;
  /** How long a firing alert keeps firing after the condition cleared, ms. Default 0. */
  keepFiringForMs: number;
  severity: Severity;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  comparison: Comparison;
  threshold: number;
  /** Overrides the notifier's repeat interval for this rule, ms. */
  repeatIntervalMs: number | null;
  /** Where it was defined, for messages. */
  source: { file: string; line: number };
}

export interface ErrorRateRule extends RuleCommon {
  kind: 'error_rate';
  /** Count only these `error_type`s as errors (e.g. `overloaded_error`); empty: every error. */
  errorTypes: string[];
}

export interface LatencyRule extends RuleCommon {
  kind: 'latency';
  field: 'duration_ms' | 'ttft_ms';
  /** 0–100. */
  percentile: number;
  /** The value and threshold are in seconds. */
}

export interface BudgetRule extends RuleCommon {
  kind: 'budget';
  period: 'day' | 'month';
  /** `share`: spend so far ÷ budget; `projected`: spend at the end of the period at the current burn rate ÷ budget. */
  check: 'share' | 'projected';
  /** `total`, or `feature` for every feature with a budget of its own. */
  scope: 'total' | 'feature';
  /** Burn-rate window of a projected check, ms. Default 1h. */
  burnWindowMs: number;
}

export interface RateLimitHeadroomRule extends RuleCommon {
  kind: 'rate_limit_headroom';
  dimensions: ('requests' | 'tokens' | 'input_tokens' | 'output_tokens')[];
}

export interface SpikeRule extends RuleCommon {
  kind: 'spike';
  /** What is counted per minute. */
  measure: Aggregate & { op: 'count' | 'sum' | 'count_where' };
  /** Baseline span right before the window, ms. Default 1h. */
  baselineMs: number;
  baselineStat: 'median' | 'mean';
}

export interface StopReasonShareRule extends RuleCommon {
  kind: 'stop_reason_share';
  stopReasons: string[];
}

/**
 * The `pipeline_health` metrics: the {@link PipelineHealth} field each reads, and whether it is a
 * gauge (its latest value is compared) or a counter (its increase over the window is).
 */
export const PIPELINE_METRICS = {
  tail_lag_bytes: { field: 'tailLagBytes', gauge: true },
  dead_letters: { field: 'deadLettersTotal', gauge: false },
  emitter_dropped_events: { field: 'emitterDroppedEventsTotal', gauge: false },
  influx_auth_failed: { field: 'influxAuthFailed', gauge: true },
  unreadable_event_files: { field: 'unreadableEventFiles', gauge: true },
  descriptor_shortages: { field: 'descriptorShortagesTotal', gauge: false },
} as const satisfies Record<string, { field: keyof PipelineHealth; gauge: boolean }>;

export type PipelineMetric = keyof typeof PIPELINE_METRICS;

export interface PipelineHealthRule extends RuleCommon {
  kind: 'pipeline_health';
  metric: PipelineMetric;
}

export interface ThresholdRule extends RuleCommon {
  kind: 'threshold';
  value: Aggregate;
  /** Divides `value` (a ratio) when set. */
  per: Aggregate | null;
  /** Divides by the window's minutes (a per-minute rate). */
  perMinute: boolean;
}

/** Capture of the latest reconciliation with Anthropic's reports (local ÷ billed), per model. */
export interface ReconciliationCaptureRule extends RuleCommon {
  kind: 'reconciliation_capture';
  /** Tokens (calls missing) or cost (calls missing or prices out of date). Default tokens. */
  measure: 'tokens' | 'cost';
  /** A run older than this is not evaluated (no sample). Default 3 days. */
  maxAgeMs: number;
}

export type Rule =
  | ReconciliationCaptureRule
  | ErrorRateRule
  | LatencyRule
  | BudgetRule
  | RateLimitHeadroomRule
  | SpikeRule
  | StopReasonShareRule
  | PipelineHealthRule
  | ThresholdRule;

export type RuleKind = Rule['kind'];

export const RULE_KINDS: readonly RuleKind[] = [
  'error_rate', 'latency', 'budget', 'rate_limit_headroom', 'spike', 'stop_reason_share', 'pipeline_health', 'threshold', 'reconciliation_capture',
];

/** Budgets from the daemon's configuration, USD. */
export interface Budgets {
  daily?: number;
  monthly?: number;
  /** Per feature tag. */
  features?: Record<string, { daily?: number; monthly?: number }>;
  /** IANA time zone of days and months. Default `UTC`. */
  timeZone?: string;
}

/** One evaluated series of a rule: its labels, value and the calls behind it. */
export interface RuleSample {
  labels: Record<string, string>;
  /** Null when there is no value (no data, unknown spend). */
  value: number | null;
  /** Calls in the window behind this value (for `min_calls`). */
  calls: number;
  /** Forces the condition (e.g. unknown spend fires a warning). */
  forceActive?: boolean;
  /** Extra annotations (e.g. why the value is unknown). */
  note?: string;
}
