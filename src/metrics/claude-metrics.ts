/**
 * The `claude_*` metrics, fed with each call once it is committed to the store (never
 * before: a replayed event is not committed again, so it never doubles a counter).
 *
 * The names and labels of the common Claude-monitoring recipe are kept exactly, as the
 * minimum: `claude_requests_total{model,stop_reason,status}`, `claude_latency_seconds{model}`,
 * `claude_tokens_total{model,direction}`, `claude_cost_usd_total{model}`,
 * `claude_rate_limit_{remaining,limit}{model,dimension}`. Requests, tokens and cost also
 * carry `feature`, always present (one label set per metric): the call's `feature` tag when
 * it is in the allow-list, else `""` (tags are unbounded; labels must not be).
 *
 * Calls staged in a transaction not yet committed are counted into a {@link PendingClaudeMetrics}
 * (sums by label set, durations counted into the histograms' buckets, the latest rate-limit
 * headers), applied when it commits or dropped: what waits for the commit is that, not the
 * calls (a backlog's transaction holds thousands).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CallEvent, RateLimitDimension } from '../event/types.js';
import type { PriceResult } from '../pricing/types.js';
import type { RateLimitRow } from '../store/types.js';
import { BucketHistogram, type BucketCounts } from './bucket-histogram.js';

/** Seconds; the recipe's latency buckets. */
export const LATENCY_BUCKETS_S = [0.5, 1, 2, 5, 10, 30, 60];
/** Seconds; time to first token is usually well under the whole call. */
export const TTFT_BUCKETS_S = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30];
export const TOKEN_DIRECTIONS = ['input', 'output', 'cache_read', 'cache_write_5m', 'cache_write_1h', 'cache_write_unknown_ttl'] as const;
export type TokenDirection = (typeof TOKEN_DIRECTIONS)[number];
export const RATE_LIMIT_DIMENSIONS: readonly RateLimitDimension[] = ['requests', 'tokens', 'input_tokens', 'output_tokens'];
export type ErrorKind = 'rate_limit' | 'overloaded' | 'other';

/** What the metrics need of one committed call. */
export interface CommittedCall {
  event: CallEvent;
  price: PriceResult | null;
}

export interface ClaudeMetricsOptions {
  registry: Registry;
  /** Feature tags that may become the `feature` label. Default none. */
  featureLabelAllowlist?: readonly string[];
  /** Budgets exported as `claude_budget_usd{period,feature}`; null periods are not exported. */
  budgets?: { dailyUsd: number | null; monthlyUsd: number | null; perFeature?: Record<string, { dailyUsd: number | null; monthlyUsd: number | null }> };
}

/** Kind of a failed attempt or call: 429 rate_limit, 529 (or `overloaded_error`) overloaded, else other. */
export function errorKind(httpStatus: number | null, errorType: string | null): ErrorKind {
  if (httpStatus === 429 || errorType === 'rate_limit_error') return 'rate_limit';
  if (httpStatus === 529 || errorType === 'overloaded_error') return 'overloaded';
  return 'other';
}

const ok2xx = (s: number | null): boolean => s !== null && s >= 200 && s < 300;

/** The `model` label: the cost engine's canonical id, else the served, else the requested model. */
export function modelLabel(c: CommittedCall): string {
  return c.price?.model ?? c.event.model ?? c.event.model_requested ?? 'unknown';
}

/** The latest rate-limit headers of one model and dimension among a transaction's calls. */
interface RateLimitSeen {
  /** Time of the newest call seen (a call older than one before it is skipped, as the gauges skip it). */
  ts: number;
  /** The latest non-null values, and the time of the call each came from. */
  remaining: number | null;
  remainingTs: number;
  limit: number | null;
  limitTs: number;
}

/** Sums of one model's calls (the metrics labelled by model alone, and the model's feature sums). */
interface ModelSums {
  /** Durations and times to first token, in seconds, counted into the histograms' buckets. */
  latency: BucketCounts;
  ttft: BucketCounts;
  attempts: number;
  retries: number;
  /** Whether any call reported usage (the cache and prompt token counters then get a sample). */
  usage: boolean;
  cacheRead: number;
  cacheWrite: number;
  promptTokens: number;
  unpriced: number;
  /** Null until a call priced without cache adds to it. */
  costWithoutCache: number | null;
  /** By `feature` label. */
  features: Map<string, FeatureSums>;
  /** By {@link RATE_LIMIT_DIMENSIONS} index. */
  rateLimits: (RateLimitSeen | undefined)[];
}

/** Sums of one model's calls with one `feature` label (requests, tokens and cost). */
interface FeatureSums {
  /** Calls by status, then stop reason. */
  requests: Map<string, Map<string, number>>;
  /** By {@link TOKEN_DIRECTIONS}; null until a call reports usage. */
  tokens: number[] | null;
  /** Null until a priced call adds to it. */
  cost: number | null;
}

/** A model's sums for one `feature` label, made on first use. */
function featureSums(m: ModelSums, feature: string): FeatureSums {
  let f = m.features.get(feature);
  if (!f) {
    f = { requests: new Map(), tokens: null, cost: null };
    m.features.set(feature, f);
  }
  return f;
}

/**
 * The counts of calls not applied to the metrics yet ({@link ClaudeMetrics.pending}): numbers
 * summed per label set, durations counted into buckets, the latest rate-limit headers. A few
 * numbers per label set, where the calls themselves take kilobytes; and no garbage per call
 * (label sets are looked up in nested maps by the values the calls hold, never by a key built
 * for each call), which at a backlog's rate would grow the heap.
 */
export class PendingClaudeMetrics {
  readonly models = new Map<string, ModelSums>();
  readonly errors = new Map<string, { model: string; errorType: string; kind: ErrorKind; n: number }>();

  constructor(private readonly histograms: { latency: BucketHistogram<'model'>; ttft: BucketHistogram<'model'> }) {}

  model(model: string): ModelSums {
    let m = this.models.get(model);
    if (!m) {
      m = {
        latency: this.histograms.latency.counts(), ttft: this.histograms.ttft.counts(), attempts: 0, retries: 0, usage: false,
        cacheRead: 0, cacheWrite: 0, promptTokens: 0, unpriced: 0, costWithoutCache: null, features: new Map(), rateLimits: [],
      };
      this.models.set(model, m);
    }
    return m;
  }

  /** The models with calls counted into `claude_unpriced_requests_total`. */
  unpricedModels(): string[] {
    const out: string[] = [];
    for (const [model, m] of this.models) if (m.unpriced > 0) out.push(model);
    return out;
  }

  error(model: string, errorType: string, kind: ErrorKind): void {
    const key = `${model}\u0000${errorType}\u0000${kind}`;
    const e = this.errors.get(key);
    if (e) e.n++;
    else this.errors.set(key, { model, errorType, kind, n: 1 });
  }
}

export class ClaudeMetrics {
  private readonly allow: ReadonlySet<string>;
  private readonly requests: Counter<'model' | 'stop_reason' | 'status' | 'feature'>;
  private readonly latency: BucketHistogram<'model'>;
  private readonly ttft: BucketHistogram<'model'>;
  private readonly tokens: Counter<'model' | 'direction' | 'feature'>;
  private readonly cost: Counter<'model' | 'feature'>;
  private readonly costWithoutCache: Counter<'model'>;
  private readonly unpriced: Counter<'model'>;
  private readonly attempts: Counter<'model'>;
  private readonly retries: Counter<'model'>;
  private readonly errors: Counter<'model' | 'error_type' | 'kind'>;
  private readonly cacheRead: Counter<'model'>;
  private readonly cacheWrite: Counter<'model'>;
  private readonly promptTokens: Counter<'model'>;
  private readonly rlRemaining: Gauge<'model' | 'dimension'>;
  private readonly rlLimit: Gauge<'model' | 'dimension'>;
  /** Time of the headers behind each rate-limit gauge, so an older call never overwrites a newer one. */
  private readonly rlSeen = new Map<string, number>();

  constructor(o: ClaudeMetricsOptions) {
    const registers = [o.registry];
    this.allow = new Set(o.featureLabelAllowlist ?? []);
    this.requests = new Counter({ name: 'claude_requests_total', help: 'Claude API calls (one per SDK call, retries included), by outcome', labelNames: ['model', 'stop_reason', 'status', 'feature'], registers });
    this.latency = new BucketHistogram({ name: 'claude_latency_seconds', help: 'Duration of whole Claude API calls (retries and backoff included)', labelNames: ['model'], buckets: LATENCY_BUCKETS_S, registers });
    this.ttft = new BucketHistogram({ name: 'claude_ttft_seconds', help: 'Time to the first content delta of streamed calls', labelNames: ['model'], buckets: TTFT_BUCKETS_S, registers });
    this.tokens = new Counter({ name: 'claude_tokens_total', help: 'Tokens as Anthropic reports them; input excludes cache reads and writes', labelNames: ['model', 'direction', 'feature'], registers });
    this.cost = new Counter({ name: 'claude_cost_usd_total', help: 'Cost of priced calls in USD (unpriced calls are in claude_unpriced_requests_total, never $0)', labelNames: ['model', 'feature'], registers });
    this.costWithoutCache = new Counter({ name: 'claude_cost_without_cache_usd_total', help: 'What the priced calls would have cost at uncached input prices, USD', labelNames: ['model'], registers });
    this.unpriced = new Counter({ name: 'claude_unpriced_requests_total', help: 'Calls the cost engine could not price (unknown model or price)', labelNames: ['model'], registers });
    this.attempts = new Counter({ name: 'claude_attempts_total', help: 'HTTP attempts made by Claude API calls', labelNames: ['model'], registers });
    this.retries = new Counter({ name: 'claude_retries_total', help: 'Retried attempts (attempts beyond the first of each call)', labelNames: ['model'], registers });
    this.errors = new Counter({ name: 'claude_errors_total', help: 'Failed attempts and mid-stream errors; kind is rate_limit (429), overloaded (529) or other', labelNames: ['model', 'error_type', 'kind'], registers });
    this.cacheRead = new Counter({ name: 'claude_cache_read_input_tokens_total', help: 'Input tokens read from the prompt cache', labelNames: ['model'], registers });
    this.cacheWrite = new Counter({ name: 'claude_cache_write_input_tokens_total', help: 'Input tokens written to the prompt cache (all TTLs)', labelNames: ['model'], registers });
    this.promptTokens = new Counter({ name: 'claude_prompt_input_tokens_total', help: 'All prompt tokens: uncached input plus cache reads and writes (the cache hit ratio denominator)', labelNames: ['model'], registers });
    this.rlRemaining = new Gauge({ name: 'claude_rate_limit_remaining', help: 'Remaining in the rate-limit bucket, from the latest response headers', labelNames: ['model', 'dimension'], registers });
    this.rlLimit = new Gauge({ name: 'claude_rate_limit_limit', help: 'Size of the rate-limit bucket, from the latest response headers', labelNames: ['model', 'dimension'], registers });
    const budget = new Gauge({ name: 'claude_budget_usd', help: 'Configured spending budget in USD per period (feature="" for the whole)', labelNames: ['period', 'feature'], registers });
    const b = o.budgets;
    if (b) {
      if (b.dailyUsd !== null) budget.set({ period: 'daily', feature: '' }, b.dailyUsd);
      if (b.monthlyUsd !== null) budget.set({ period: 'monthly', feature: '' }, b.monthlyUsd);
      for (const [feature, fb] of Object.entries(b.perFeature ?? {})) {
        if (fb.dailyUsd !== null) budget.set({ period: 'daily', feature }, fb.dailyUsd);
        if (fb.monthlyUsd !== null) budget.set({ period: 'monthly', feature }, fb.monthlyUsd);
      }
    }
  }

  /** The `feature` label of a call: its tag if allow-listed, else "". */
  featureLabel(e: CallEvent): string {
    const f = e.tags['feature'];
    return f !== undefined && this.allow.has(f) ? f : '';
  }

  /** Counts calls just committed to the store. */
  record(calls: readonly CommittedCall[]): void {
    const pending = this.pending();
    for (const c of calls) this.stage(pending, c);
    this.apply(pending);
  }

  /** A pending set of counts for calls whose transaction has not committed yet ({@link stage}, {@link apply}). */
  pending(): PendingClaudeMetrics {
    return new PendingClaudeMetrics({ latency: this.latency, ttft: this.ttft });
  }

  /** Counts a call stored in a transaction not committed yet into `pending`. */
  stage(pending: PendingClaudeMetrics, c: CommittedCall): void {
    const e = c.event;
    const model = modelLabel(c);
    const m = pending.model(model);
    const f = featureSums(m, this.featureLabel(e));
    let byStop = f.requests.get(e.status);
    if (!byStop) f.requests.set(e.status, (byStop = new Map()));
    const stopReason = e.stop_reason ?? '';
    byStop.set(stopReason, (byStop.get(stopReason) ?? 0) + 1);
    m.latency.observe(e.duration_ms / 1000);
    if (e.ttft_ms !== null) m.ttft.observe(e.ttft_ms / 1000);
    m.attempts += e.attempts;
    m.retries += Math.max(0, e.attempts - 1);

    const u = e.usage;
    if (u) {
      const t = (f.tokens ??= [0, 0, 0, 0, 0, 0]);
      // TOKEN_DIRECTIONS order.
      t[0]! += u.input_tokens;
      t[1]! += u.output_tokens;
      t[2]! += u.cache_read_input_tokens;
      t[3]! += u.cache_write_5m_input_tokens;
      t[4]! += u.cache_write_1h_input_tokens;
      t[5]! += u.cache_write_unknown_ttl_input_tokens ?? 0;
      m.usage = true;
      m.cacheRead += u.cache_read_input_tokens;
      m.cacheWrite += u.cache_creation_input_tokens;
      m.promptTokens += u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens;
    }

    const p = c.price;
    if (p && p.priced && p.cost_usd !== null) {
      f.cost = (f.cost ?? 0) + p.cost_usd;
      if (p.cost_without_cache_usd !== null) m.costWithoutCache = (m.costWithoutCache ?? 0) + p.cost_without_cache_usd;
    } else {
      m.unpriced++;
    }

    // Every failed attempt counts (a 429 the SDK retried successfully is still an error to see),
    // plus a call that failed after a 2xx (an `event: error` mid-stream).
    let lastOk = false;
    for (const a of e.attempt_log) {
      lastOk = ok2xx(a.status);
      if (!lastOk) pending.error(model, a.error_type ?? (a.status === null ? 'connection_error' : `http_${a.status}`), errorKind(a.status, a.error_type));
    }
    if (e.status === 'error' && (lastOk || e.attempt_log.length === 0)) {
      pending.error(model, e.error_type ?? 'unknown', errorKind(e.http_status !== null && !ok2xx(e.http_status) ? e.http_status : null, e.error_type));
    }

    const rl = e.rate_limits;
    if (rl) {
      for (let d = 0; d < RATE_LIMIT_DIMENSIONS.length; d++) {
        const bucket = rl[RATE_LIMIT_DIMENSIONS[d]!];
        if (!bucket) continue;
        // As the gauges take headers (see apply): a call older than one before it is skipped.
        let seen = m.rateLimits[d];
        if (!seen) m.rateLimits[d] = seen = { ts: e.ts, remaining: null, remainingTs: -Infinity, limit: null, limitTs: -Infinity };
        else if (seen.ts > e.ts) continue;
        seen.ts = e.ts;
        if (bucket.remaining !== null) {
          seen.remaining = bucket.remaining;
          seen.remainingTs = e.ts;
        }
        if (bucket.limit !== null) {
          seen.limit = bucket.limit;
          seen.limitTs = e.ts;
        }
      }
    }
  }

  /**
   * Sets the rate-limit gauges from the headers the store kept (at start: until new calls come
   * they would be missing, and headroom queries on them silent). A bucket's size is taken
   * whatever its age; what remained only while its reset is still ahead (after it the bucket
   * has refilled, and an old low value would read as no headroom). Headers a call already
   * brought to the gauges are newer and stay.
   */
  seedRateLimits(rows: readonly RateLimitRow[], now: number): void {
    for (const r of rows) {
      const key = `${r.model}\u0000${r.dimension}`;
      if ((this.rlSeen.get(key) ?? -Infinity) > r.ts) continue;
      this.rlSeen.set(key, r.ts);
      const labels = { model: r.model, dimension: r.dimension };
      if (r.limit !== null) this.rlLimit.set(labels, r.limit);
      const reset = r.reset === null ? Number.NaN : Date.parse(r.reset);
      if (r.remaining !== null && reset > now) this.rlRemaining.set(labels, r.remaining);
    }
  }

  /** The transaction of `pending`'s calls committed: counts them, as {@link record} does. */
  apply(pending: PendingClaudeMetrics): void {
    for (const [model, m] of pending.models) {
      const labels = { model };
      this.latency.add(labels, m.latency);
      this.ttft.add(labels, m.ttft);
      this.attempts.inc(labels, m.attempts);
      this.retries.inc(labels, m.retries);
      if (m.usage) {
        this.cacheRead.inc(labels, m.cacheRead);
        this.cacheWrite.inc(labels, m.cacheWrite);
        this.promptTokens.inc(labels, m.promptTokens);
      }
      if (m.unpriced > 0) this.unpriced.inc(labels, m.unpriced);
      if (m.costWithoutCache !== null) this.costWithoutCache.inc(labels, m.costWithoutCache);
      for (const [feature, f] of m.features) {
        for (const [status, byStop] of f.requests) {
          for (const [stopReason, n] of byStop) this.requests.inc({ model, stop_reason: stopReason, status, feature }, n);
        }
        if (f.tokens) for (let i = 0; i < TOKEN_DIRECTIONS.length; i++) this.tokens.inc({ model, direction: TOKEN_DIRECTIONS[i]!, feature }, f.tokens[i]!);
        if (f.cost !== null) this.cost.inc({ model, feature }, f.cost);
      }
      for (let d = 0; d < RATE_LIMIT_DIMENSIONS.length; d++) {
        const seen = m.rateLimits[d];
        if (!seen) continue;
        const dimension = RATE_LIMIT_DIMENSIONS[d]!;
        const key = `${model}\u0000${dimension}`;
        // An older call never overwrites newer headers: the calls older than the last applied
        // are skipped, and so are values that came only from them.
        const before = this.rlSeen.get(key) ?? -Infinity;
        if (before > seen.ts) continue;
        this.rlSeen.set(key, seen.ts);
        // Never export a sentinel as "remaining": a missing value leaves the gauge as it was.
        if (seen.remaining !== null && seen.remainingTs >= before) this.rlRemaining.set({ model, dimension }, seen.remaining);
        if (seen.limit !== null && seen.limitTs >= before) this.rlLimit.set({ model, dimension }, seen.limit);
      }
    }
    for (const e of pending.errors.values()) this.errors.inc({ model: e.model, error_type: e.errorType, kind: e.kind }, e.n);

  }
}
