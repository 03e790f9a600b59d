/**
 * The point schema of claudescope in InfluxDB (documented in docs/influxdb.md).
 *
 * - `claude_call`: one point per call. Tags, a small bounded set: `api_key_alias`, `app`,
 *   `error_type`, `feature`, `host`, `model`, `operation`, `provider`, `service_tier`,
 *   `status`, `stop_reason`, `workspace_id`. Everything else is a field; unbounded values (event id, request id) are
 *   string fields, never tags, so the series count stays bounded and exactly-once can be
 *   checked by counting `event_id`.
 * - `claudescope_pipeline`: the pipeline's own health, one point per host per interval.
 *
 * Timestamps are nanoseconds: the event's `ts` (ms) and, in the sub-millisecond digits,
 * `(fnv1a(file_id) + seq) mod 1e6`. A replay of an event lands on the same key (same tags,
 * same time) and overwrites itself; two events of one file never share a key (their `seq`
 * differ by less than 1e6); see docs/influxdb.md for the residual odds across writers.
 */
import type { CallEvent, RateLimitDimension } from '../event/types.js';
import type { PriceDimension, PriceResult } from '../pricing/types.js';
import { LineBuilder } from './influx-line-protocol.js';

export const CALL_MEASUREMENT = 'claude_call';
export const HEALTH_MEASUREMENT = 'claudescope_pipeline';
/** Sub-millisecond slots of a nanosecond timestamp. */
export const NANO_SLOTS = 1_000_000;

/** Tag keys of `claude_call`, in the (sorted) order they are written. */
export const CALL_TAGS = ['api_key_alias', 'app', 'error_type', 'feature', 'host', 'model', 'operation', 'provider', 'service_tier', 'status', 'stop_reason', 'workspace_id'] as const;
export type CallTag = (typeof CALL_TAGS)[number];

/** The rate-limit dimensions a call's point carries, each as `rl_<dim>_limit`, `_remaining` and `_reset` (the dashboards read them). */
export const RATE_DIMS: readonly RateLimitDimension[] = ['requests', 'tokens', 'input_tokens', 'output_tokens'];
const PART_DIMS: readonly PriceDimension[] = ['input', 'output', 'cache_read', 'cache_write_5m', 'cache_write_1h', 'cache_write_unknown_ttl', 'web_search'];

/** 32-bit FNV-1a of a string (the file id): spreads writers over the sub-millisecond slots. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The point's timestamp in nanoseconds, as decimal text (a JS number cannot hold it exactly,
 * and the client's `Point.timestamp` wants a string or number, never a BigInt).
 */
export function callTimestampNs(tsMs: number, fileHash: number, seq: number): string {
  const ms = Math.floor(tsMs);
  const slot = (fileHash + seq) % NANO_SLOTS;
  return `${ms}${String(slot).padStart(6, '0')}`;
}

/**
 * The `operation` tag: recognised operations as they are; `other:<METHOD> <path>` (whose
 * path may hold ids, an unbounded set) becomes `other`, the full text kept in the
 * `operation_detail` field.
 */
export function operationTag(op: string): string {
  return op.startsWith('other:') ? 'other' : op;
}

/** The model a call is counted under: the cost engine's canonical id, else the served, else the requested one. */
export function modelOf(event: CallEvent, price: PriceResult | null): string | null {
  return price?.model ?? event.model ?? event.model_requested;
}

/**
 * What the schema adds to a point: {@link LineBuilder} writes line protocol, and a reprice
 * collects the same tags and fields to compare them with a stored point (one encoding).
 */
export interface PointFields {
  tag(key: string, value: string | null | undefined): this;
  intField(key: string, v: number | null | undefined): this;
  floatField(key: string, v: number | null | undefined): this;
  stringField(key: string, v: string | null | undefined): this;
}

/**
 * The `claude_call` fields the price decides (a reprice may change, add or drop each of them);
 * with the `model` tag, everything of a point a reprice can change.
 */
export const PRICE_FIELDS = [
  'unpriced', 'pricing_version', 'cost_nanousd', 'cost_usd', 'cost_without_cache_nanousd', 'cost_without_cache_usd', 'cache_savings_usd',
  ...PART_DIMS.map((d) => `cost_${d}_usd`),
] as const;

/** The tags of a call's point, in key order. */
export function callTags<B extends PointFields>(b: B, e: CallEvent, price: PriceResult | null): B {
  return b
    .tag('api_key_alias', e.api_key_alias)
    .tag('app', e.app)
    .tag('error_type', e.error_type)
    .tag('feature', e.tags['feature'])
    .tag('host', e.host)
    .tag('model', modelOf(e, price))
    .tag('operation', operationTag(e.operation))
    .tag('provider', e.provider)
    .tag('service_tier', e.usage?.service_tier)
    .tag('status', e.status)
    .tag('stop_reason', e.stop_reason)
    .tag('workspace_id', e.workspace_id);
}

/** The {@link PRICE_FIELDS} of a call's point: costs absent when unpriced, never 0. */
export function priceFields<B extends PointFields>(b: B, price: PriceResult | null): B {
  const priced = price !== null && price.priced && price.cost_usd !== null;
  b.intField('unpriced', priced ? 0 : 1);
  if (price) b.stringField('pricing_version', price.pricing_version);
  if (priced) {
    const nano = price.cost_nanousd ?? Math.round((price.cost_usd ?? 0) * 1e9);
    b.intField('cost_nanousd', nano).floatField('cost_usd', nano / 1e9);
    const noCache = price.cost_without_cache_usd;
    if (noCache !== null) {
      const nanoNoCache = price.cost_without_cache_nanousd ?? Math.round(noCache * 1e9);
      b.intField('cost_without_cache_nanousd', nanoNoCache).floatField('cost_without_cache_usd', nanoNoCache / 1e9)
        .floatField('cache_savings_usd', (nanoNoCache - nano) / 1e9);
    }
    const parts = new Map<PriceDimension, number>();
    for (const p of price.parts) parts.set(p.dimension, (parts.get(p.dimension) ?? 0) + p.cost_usd);
    for (const d of PART_DIMS) {
      const v = parts.get(d);
      if (v !== undefined) b.floatField(`cost_${d}_usd`, v);
    }
  }
  return b;
}

/** One call as a line of `claude_call`. */
export function callLine(event: CallEvent, price: PriceResult | null, fileHash: number): string {
  return callLineAt(event, price, callTimestampNs(event.ts, fileHash, event.seq));
}

/**
 * One call as a line of `claude_call` at a given timestamp (ns, decimal text): a reprice
 * rewrites a stored point at the time InfluxDB holds it (the file id that chose its
 * sub-millisecond digits is not stored with the call).
 */
export function callLineAt(event: CallEvent, price: PriceResult | null, timestampNs: string): string {
  const e = event;
  const u = e.usage;
  const b = callTags(new LineBuilder(CALL_MEASUREMENT), e, price);
  b.stringField('event_id', e.event_id)
    .stringField('request_id', e.request_id)
    .intField('http_status', e.http_status)
    .intField('input_tokens', u?.input_tokens ?? 0)
    .intField('output_tokens', u?.output_tokens ?? 0)
    .intField('cache_read_input_tokens', u?.cache_read_input_tokens ?? 0)
    .intField('cache_write_5m_input_tokens', u?.cache_write_5m_input_tokens ?? 0)
    .intField('cache_write_1h_input_tokens', u?.cache_write_1h_input_tokens ?? 0)
    .intField('cache_write_unknown_ttl_input_tokens', u?.cache_write_unknown_ttl_input_tokens ?? 0)
    .intField('cache_write_input_tokens', u?.cache_creation_input_tokens ?? 0)
    .intField('thinking_tokens', u?.thinking_tokens)
    .intField('web_search_requests', u?.web_search_requests ?? 0)
    .floatField('duration_ms', e.duration_ms)
    .floatField('ttft_ms', e.ttft_ms)
    .floatField('output_tokens_per_second', e.output_tokens_per_second)
    .intField('attempts', e.attempts)
    .intField('retries', e.attempts > 1 ? e.attempts - 1 : 0);
  if (e.operation.startsWith('other:')) b.stringField('operation_detail', e.operation);
  priceFields(b, price);
  const rl = e.rate_limits;
  if (rl) {
    for (const d of RATE_DIMS) {
      const bucket = rl[d];
      if (!bucket) continue;
      b.intField(`rl_${d}_limit`, bucket.limit).intField(`rl_${d}_remaining`, bucket.remaining).stringField(`rl_${d}_reset`, bucket.reset);
    }
  }
  return b.line(timestampNs);
}

/** The pipeline health one host reports. */
export interface HealthPoint {
  host: string;
  ts: number;
  lagBytes: number;
  oldestUnackedAgeSeconds: number;
  deadLettersTotal: number;
  emitterDroppedEventsTotal: number;
  eventsCommittedTotal: number;
  sinkRetriesTotal: number;
  sinkAuthFailed: boolean;
  /** Event files this host's daemon may not open. */
  unreadableFiles: number;
  /** Shortages of descriptors this host's daemon found (see PipelineHealth.descriptorShortagesTotal). */
  descriptorShortagesTotal: number;
}

/** One health sample as a line of `claudescope_pipeline` (timestamp in ns, at whole ms). */
export function healthLine(h: HealthPoint): string {
  return new LineBuilder(HEALTH_MEASUREMENT)
    .tag('host', h.host)
    .intField('lag_bytes', h.lagBytes)
    .floatField('oldest_unacked_age_seconds', h.oldestUnackedAgeSeconds)
    .intField('dead_letters_total', h.deadLettersTotal)
    .intField('emitter_dropped_events_total', h.emitterDroppedEventsTotal)
    .intField('events_committed_total', h.eventsCommittedTotal)
    .intField('sink_retries_total', h.sinkRetriesTotal)
    .intField('sink_auth_failed', h.sinkAuthFailed ? 1 : 0)
    .intField('unreadable_files', h.unreadableFiles)
    .intField('descriptor_shortages_total', h.descriptorShortagesTotal)
    .line(`${Math.floor(h.ts)}000000`);
}
