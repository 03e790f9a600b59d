/**
 * The query interface: one read API over the embedded store and InfluxDB, used by rules,
 * reports and dashboards alike.
 */

/** A time window, epoch milliseconds, start inclusive and end exclusive. */
export interface TimeWindow {
  start: number;
  end: number;
}

/** Dimensions calls can be filtered and grouped by. */
export type CallDimension =
  | 'model'
  | 'feature'
  | 'app'
  | 'host'
  | 'status'
  | 'error_type'
  | 'stop_reason'
  | 'service_tier'
  | 'provider'
  | 'operation'
  /** The `anthropic-workspace-id` the call ran in (store schema 2+). */
  | 'workspace_id'
  /** The emitter's configured API key alias (store schema 2+). */
  | 'api_key_alias';

/** Equality filters; a list means any of. */
export type CallFilter = Partial<Record<CallDimension, string | string[]>>;

/** Numeric fields that can be summed or taken a percentile of. */
export type CallField =
  | 'cost_usd'
  | 'cost_without_cache_usd'
  | 'input_tokens'
  | 'output_tokens'
  | 'cache_read_input_tokens'
  | 'cache_write_5m_input_tokens'
  | 'cache_write_1h_input_tokens'
  | 'cache_write_input_tokens'
  | 'duration_ms'
  | 'ttft_ms'
  | 'attempts'
  | 'retries';

export type Aggregate =
  | { op: 'count' }
  | { op: 'count_where'; filter: CallFilter }
  | { op: 'sum'; field: CallField }
  | { op: 'percentile'; field: 'duration_ms' | 'ttft_ms'; p: number }
  | { op: 'unpriced_count' };

export interface AggregateQuery {
  window: TimeWindow;
  filter?: CallFilter;
  groupBy?: CallDimension[];
  aggregates: Record<string, Aggregate>;
}

export interface AggregateRow {
  group: Partial<Record<CallDimension, string | null>>;
  values: Record<string, number | null>;
}

export interface SeriesQuery extends AggregateQuery {
  /** Bucket width in ms (a multiple of 60 000). */
  stepMs: number;
}

export interface SeriesRow extends AggregateRow {
  /** Bucket start, epoch ms. */
  t: number;
}

export interface RateLimitRow {
  model: string;
  dimension: 'requests' | 'tokens' | 'input_tokens' | 'output_tokens';
  limit: number | null;
  remaining: number | null;
  reset: string | null;
  /** When these headers were seen, epoch ms. */
  ts: number;
}

export interface RecentCallsQuery {
  window?: TimeWindow;
  filter?: CallFilter;
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
}

/** A stored call: the event's summary fields plus its price. */
export interface StoredCall {
  event_id: string;
  ts: number;
  model: string | null;
  feature: string | null;
  app: string;
  status: string;
  error_type: string | null;
  http_status: number | null;
  stop_reason: string | null;
  request_id: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_write_input_tokens: number;
  cost_usd: number | null;
  duration_ms: number;
  ttft_ms: number | null;
  attempts: number;
}

export interface StoredCallDetail extends StoredCall {
  /** The full event as received, and its price result. */
  event: unknown;
  price: unknown;
}

/**
 * The ingestion pipeline's own health, cumulative since the daemon started (counters) or now
 * (the lag gauge); null where the source does not know it. Read by `pipeline_health` rules.
 */
export interface PipelineHealth {
  /** Bytes written to event files and not yet read. */
  tailLagBytes: number | null;
  /** Lines moved to dead letters. */
  deadLettersTotal: number | null;
  /** Events emitters reported dropping (buffer full, folder cap, write errors), summed. */
  emitterDroppedEventsTotal: number | null;
  /**
   * 1 when InfluxDB refused the daemon's credentials and its InfluxDB sink stopped (ingestion
   * waits on it), 0 when not; null without an InfluxDB sink. Only the daemon itself knows it:
   * a host InfluxDB refuses cannot report its health there either.
   */
  influxAuthFailed: number | null;
  /** Event files the daemon (each host's, summed) may not open: their calls go uncounted. Null when unknown. */
  unreadableEventFiles: number | null;
  /**
   * Shortages of file descriptors the daemon found (see `TailerHealth.descriptorShortages`), each
   * lowering how many event files it keeps open; summed over hosts. Null when unknown.
   */
  descriptorShortagesTotal: number | null;
  /**
   * A fleet's health (InfluxDB): each reporting host's own counters. Every host's counters
   * start at 0 when its daemon restarts, so increases are taken host by host: a fleet-wide sum
   * falls when one host restarts, which reads as a reset of the whole sum.
   */
  byHost?: Record<string, Pick<PipelineHealth, PipelineHostCounter>>;
}

/** The counters of {@link PipelineHealth} a fleet keeps host by host (`byHost`). */
export const PIPELINE_HOST_COUNTERS = ['deadLettersTotal', 'emitterDroppedEventsTotal', 'descriptorShortagesTotal'] as const;
export type PipelineHostCounter = (typeof PIPELINE_HOST_COUNTERS)[number];

/** A health that knows nothing yet: every figure null. */
export const UNKNOWN_PIPELINE_HEALTH: Readonly<PipelineHealth> = Object.freeze({
  tailLagBytes: null, deadLettersTotal: null, emitterDroppedEventsTotal: null, influxAuthFailed: null, unreadableEventFiles: null, descriptorShortagesTotal: null,
});

/** The capture ratio (local ÷ billed) per model of the latest reconciliation run. */
export interface ReconciliationCaptureRow {
  /** Null for billed spend no model carries (code execution, session hours). */
  model: string | null;
  tokenCapture: number | null;
  costCapture: number | null;
  /** When the run finished, epoch ms. */
  measuredAt: number;
}

/**
 * Options of one read. `signal` ends it when aborted (it rejects): a store that answers from
 * memory or a local file finishes anyway; one that waits on a server (InfluxDB) stops waiting.
 */
export interface QueryOptions {
  signal?: AbortSignal;
}

/** The read side every store implements. */
export interface QueryApi {
  aggregate(q: AggregateQuery, o?: QueryOptions): Promise<AggregateRow[]>;
  series(q: SeriesQuery, o?: QueryOptions): Promise<SeriesRow[]>;
  latestRateLimits(filter?: { model?: string }, o?: QueryOptions): Promise<RateLimitRow[]>;
  recentCalls(q: RecentCallsQuery, o?: QueryOptions): Promise<{ calls: StoredCall[]; nextCursor: string | null }>;
  call(eventId: string, o?: QueryOptions): Promise<StoredCallDetail | null>;
  /**
   * Optional: one window's aggregates under several groupings, as separate {@link aggregate}
   * calls would answer them (one result per grouping), in fewer passes over the data.
   */
  aggregateEach?(q: AggregateQuery, groupings: CallDimension[][], o?: QueryOptions): Promise<AggregateRow[][]>;
  /** Optional: the pipeline's health (the daemon adds it around its store). */
  pipelineHealth?(o?: QueryOptions): Promise<PipelineHealth>;
  /** Optional: the latest reconciliation's capture per model (`reconciliation_capture` rules). */
  reconciliationCapture?(o?: QueryOptions): Promise<ReconciliationCaptureRow[]>;
}
