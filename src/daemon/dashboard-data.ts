/**
 * The numbers the dashboard shows, computed only through the query interface (aggregate,
 * series, latestRateLimits, recentCalls, call), the configured budgets and the alert
 * engine's state. Each function returns plain JSON; `api-routes.ts` validates the request
 * and serves them. Documented in docs/dashboard.md.
 */
import type { Aggregate, CallFilter, QueryApi, RateLimitRow, SeriesRow, StoredCall, TimeWindow } from '../store/types.js';
import type { RuleEngine } from '../rules/index.js';
import { periodAt } from '../rules/budget-period.js';
import type { Budget } from './config.js';

export const MINUTE_MS = 60_000;

/** Calls that ended in error, by kind: 429 (rate_limit_error), 529 (overloaded_error), other. */
const ERRORS: Record<string, Aggregate> = {
  errors: { op: 'count_where', filter: { status: 'error' } },
  errors_429: { op: 'count_where', filter: { status: 'error', error_type: 'rate_limit_error' } },
  errors_529: { op: 'count_where', filter: { status: 'error', error_type: 'overloaded_error' } },
};

const TOKENS: Record<string, Aggregate> = {
  input_tokens: { op: 'sum', field: 'input_tokens' },
  output_tokens: { op: 'sum', field: 'output_tokens' },
  cache_read_tokens: { op: 'sum', field: 'cache_read_input_tokens' },
  cache_write_tokens: { op: 'sum', field: 'cache_write_input_tokens' },
};

const MONEY: Record<string, Aggregate> = {
  cost_usd: { op: 'sum', field: 'cost_usd' },
  cost_without_cache_usd: { op: 'sum', field: 'cost_without_cache_usd' },
  unpriced: { op: 'unpriced_count' },
};

const PERCENTILES = [50, 95, 99] as const;
const LATENCY: Record<string, Aggregate> = Object.fromEntries(PERCENTILES.flatMap((p) => [
  [`duration_p${p}`, { op: 'percentile', field: 'duration_ms', p }],
  [`ttft_p${p}`, { op: 'percentile', field: 'ttft_ms', p }],
]));

const num = (v: number | null | undefined): number => v ?? 0;
const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);

/** Cache hit ratio: cache reads over every prompt token (input + cache read + cache write). */
function cacheHitRatio(v: Record<string, number | null>): number | null {
  const read = num(v['cache_read_tokens']);
  return ratio(read, num(v['input_tokens']) + read + num(v['cache_write_tokens']));
}

export interface Headroom {
  /** remaining ÷ limit of the tightest model for this dimension. */
  ratio: number;
  model: string;
  dimension: RateLimitRow['dimension'];
  remaining: number;
  limit: number;
  /** When the headers were seen, epoch ms. */
  seen_at: number;
}

/** The tightest headroom per dimension over every model (null when no headers were seen). */
export function headroomOf(rows: RateLimitRow[], dims: RateLimitRow['dimension'][]): Headroom | null {
  let best: Headroom | null = null;
  for (const r of rows) {
    if (!dims.includes(r.dimension) || r.limit === null || r.remaining === null || r.limit <= 0) continue;
    const h: Headroom = { ratio: r.remaining / r.limit, model: r.model, dimension: r.dimension, remaining: r.remaining, limit: r.limit, seen_at: r.ts };
    if (best === null || h.ratio < best.ratio) best = h;
  }
  return best;
}

/**
 * The spend of the month's closed days, kept between requests: summing a month of rollups
 * costs far more than a day's. A call committed late (its time before the cached span's end,
 * e.g. after the daemon was down) drops the entry, so the figure is never stale.
 */
export class ClosedSpendCache {
  private entry: { start: number; end: number; values: Record<string, number | null> } | null = null;

  async get(query: QueryApi, window: TimeWindow, aggregates: Record<string, Aggregate>): Promise<Record<string, number | null>> {
    const e = this.entry;
    if (e && e.start === window.start && e.end === window.end) return e.values;
    const [row] = await query.aggregate({ window, aggregates });
    const values = row?.values ?? {};
    this.entry = { start: window.start, end: window.end, values };
    return values;
  }

  /** Forgets the entry (stored costs were rewritten, e.g. by a reprice). */
  clear(): void {
    this.entry = null;
  }

  /** Called with the earliest time of calls just committed. */
  noteCommitted(minTs: number): void {
    if (this.entry && minTs < this.entry.end) this.entry = null;
  }
}

export interface SummaryInput {
  query: QueryApi;
  /** Caches the spend of the month's days before today. Default: none (computed each time). */
  closedSpend?: ClosedSpendCache;
  window: TimeWindow;
  now: number;
  budgets: Budget;
  engine: RuleEngine | null;
}

/** The headline: spend today and this month against the budgets, and the window's figures. */
export async function summary(i: SummaryInput) {
  const q = i.query;
  const day = periodAt(i.now, 'day');
  const month = periodAt(i.now, 'month');
  const spendAggs: Record<string, Aggregate> = { cost_usd: { op: 'sum', field: 'cost_usd' }, unpriced: { op: 'unpriced_count' }, calls: { op: 'count' } };
  const closed = { start: month.start, end: day.start };
  // Calls and cost by model and by feature: one pass over the window where the store can.
  const groupAggs: Record<string, Aggregate> = { calls: { op: 'count' }, cost_usd: { op: 'sum', field: 'cost_usd' } };
  const byDims = q.aggregateEach
    ? q.aggregateEach({ window: i.window, aggregates: groupAggs }, [['model'], ['feature']])
    : Promise.all([q.aggregate({ window: i.window, groupBy: ['model'], aggregates: groupAggs }), q.aggregate({ window: i.window, groupBy: ['feature'], aggregates: groupAggs })]);
  const [today, closedDays, win, [byModel = [], byFeature = []], limits] = await Promise.all([
    q.aggregate({ window: { start: day.start, end: i.now + 1 }, aggregates: spendAggs }),
    closed.end <= closed.start ? Promise.resolve({}) : (i.closedSpend ?? new ClosedSpendCache()).get(q, closed, spendAggs),
    q.aggregate({ window: i.window, aggregates: { calls: { op: 'count' }, ...ERRORS, ...TOKENS, ...MONEY, ...LATENCY } }),
    byDims,
    q.latestRateLimits(),
  ]);
  const t = today[0]?.values ?? {};
  // This month = its closed days + today (sums and counts add up).
  const m: Record<string, number> = Object.fromEntries(Object.keys(spendAggs).map((k) => [k, num((closedDays as Record<string, number | null>)[k]) + num(t[k])]));
  const w = win[0]?.values ?? {};
  // Spend whose every call lacks a price is unknown, not $0 (none at all is $0).
  const spendUsd = (v: Record<string, number | null | undefined>): number | null => (num(v['calls']) > 0 && num(v['unpriced']) >= num(v['calls']) ? null : num(v['cost_usd']));
  const monthUsd = spendUsd(m);
  const elapsed = i.now - month.start;
  const calls = num(w['calls']);
  const errors = num(w['errors']);
  const cost = w['cost_usd'] ?? null;
  const costNoCache = w['cost_without_cache_usd'] ?? null;
  const alerts = i.engine?.metrics();
  const groups = (rows: typeof byModel, dim: 'model' | 'feature') => rows
    .map((r) => ({ name: r.group[dim] ?? null, calls: num(r.values['calls']), cost_usd: r.values['cost_usd'] ?? null }))
    .sort((a, b) => b.calls - a.calls);
  return {
    window: { from: new Date(i.window.start).toISOString(), to: new Date(i.window.end).toISOString(), from_ms: i.window.start, to_ms: i.window.end },
    now: i.now,
    spend: {
      time_zone: 'UTC',
      today_usd: spendUsd(t),
      today_calls: num(t['calls']),
      today_unpriced_calls: num(t['unpriced']),
      month_usd: monthUsd,
      month_calls: num(m['calls']),
      month_unpriced_calls: num(m['unpriced']),
      budget_daily_usd: i.budgets.dailyUsd,
      budget_monthly_usd: i.budgets.monthlyUsd,
      // Spend so far at the month's average rate so far, carried to the month's end.
      projected_month_usd: monthUsd !== null && elapsed > 0 ? (monthUsd / elapsed) * (month.end - month.start) : monthUsd,
      day_start: day.start,
      month_start: month.start,
      month_end: month.end,
    },
    calls,
    errors,
    error_rate: ratio(errors, calls),
    errors_by_kind: { '429': num(w['errors_429']), '529': num(w['errors_529']), other: errors - num(w['errors_429']) - num(w['errors_529']) },
    latency_ms: Object.fromEntries(PERCENTILES.map((p) => [`p${p}`, w[`duration_p${p}`] ?? null])),
    ttft_ms: Object.fromEntries(PERCENTILES.map((p) => [`p${p}`, w[`ttft_p${p}`] ?? null])),
    cost_usd: cost,
    unpriced_calls: num(w['unpriced']),
    tokens: { input: num(w['input_tokens']), output: num(w['output_tokens']), cache_read: num(w['cache_read_tokens']), cache_write: num(w['cache_write_tokens']) },
    cache: {
      hit_ratio: cacheHitRatio(w),
      cost_without_cache_usd: costNoCache,
      saved_usd: cost !== null && costNoCache !== null ? costNoCache - cost : null,
    },
    headroom: {
      requests: headroomOf(limits, ['requests']),
      tokens: headroomOf(limits, ['tokens', 'input_tokens', 'output_tokens']),
    },
    alerts: { firing: alerts?.alertsFiring ?? 0, pending: alerts?.alertsPending ?? 0 },
    models: groups(byModel, 'model'),
    features: groups(byFeature, 'feature'),
  };
}

export interface TimeseriesInput {
  query: QueryApi;
  window: TimeWindow;
  stepMs: number;
  /** What cost is stacked by. */
  stackBy: 'model' | 'feature';
}

/** Bucket starts covering the window, aligned as the store aligns them (multiples of the step). */
export function bucketStarts(window: TimeWindow, stepMs: number): number[] {
  const out: number[] = [];
  for (let t = Math.floor(window.start / stepMs) * stepMs; t < window.end; t += stepMs) out.push(t);
  return out;
}

/** Every chart's series over the window, one value per bucket (0 for counts in an empty bucket, null for percentiles). */
export async function timeseries(i: TimeseriesInput) {
  const t = bucketStarts(i.window, i.stepMs);
  const index = new Map(t.map((v, k) => [v, k]));
  const [totals, stacked] = await Promise.all([
    i.query.series({ window: i.window, stepMs: i.stepMs, aggregates: { calls: { op: 'count' }, ...ERRORS, ...TOKENS, ...MONEY, ...LATENCY } }),
    i.query.series({ window: i.window, stepMs: i.stepMs, groupBy: [i.stackBy], aggregates: { cost_usd: { op: 'sum', field: 'cost_usd' } } }),
  ]);
  const zeros = (): number[] => new Array<number>(t.length).fill(0);
  const nulls = (): (number | null)[] => new Array<number | null>(t.length).fill(null);
  const col = (rows: SeriesRow[], name: string, dflt: () => (number | null)[]) => {
    const out = dflt();
    for (const r of rows) {
      const k = index.get(r.t);
      if (k !== undefined) out[k] = r.values[name] ?? out[k] ?? null;
    }
    return out;
  };
  const calls = col(totals, 'calls', zeros) as number[];
  const errors = col(totals, 'errors', zeros) as number[];
  const e429 = col(totals, 'errors_429', zeros) as number[];
  const e529 = col(totals, 'errors_529', zeros) as number[];
  const input = col(totals, 'input_tokens', zeros) as number[];
  const cacheRead = col(totals, 'cache_read_tokens', zeros) as number[];
  const cacheWrite = col(totals, 'cache_write_tokens', zeros) as number[];
  const cost = col(totals, 'cost_usd', nulls);
  const costNoCache = col(totals, 'cost_without_cache_usd', nulls);
  const costBy: Record<string, (number | null)[]> = {};
  for (const r of stacked) {
    const name = r.group[i.stackBy] ?? '(none)';
    const k = index.get(r.t);
    if (k === undefined) continue;
    const s = (costBy[name] ??= nulls());
    // An unpriced group's cost is unknown (null), not $0: it stays null unless a priced part adds to it.
    const v = r.values['cost_usd'] ?? null;
    if (v !== null) s[k] = (s[k] ?? 0) + v;
  }
  return {
    step_ms: i.stepMs,
    t,
    cost_usd: { stack_by: i.stackBy, series: costBy, total: cost },
    tokens: { input, output: col(totals, 'output_tokens', zeros), cache_read: cacheRead, cache_write: cacheWrite },
    calls: {
      calls,
      errors_429: e429,
      errors_529: e529,
      errors_other: errors.map((e, k) => e - num(e429[k]) - num(e529[k])),
    },
    latency_ms: Object.fromEntries(PERCENTILES.map((p) => [`p${p}`, col(totals, `duration_p${p}`, nulls)])),
    ttft_ms: Object.fromEntries(PERCENTILES.map((p) => [`p${p}`, col(totals, `ttft_p${p}`, nulls)])),
    cache: {
      hit_ratio: t.map((_, k) => ratio(num(cacheRead[k]), num(input[k]) + num(cacheRead[k]) + num(cacheWrite[k]))),
      saved_usd: t.map((_, k) => (cost[k] !== null && costNoCache[k] !== null ? num(costNoCache[k]) - num(cost[k]) : null)),
    },
  };
}

/** The latest rate-limit headers per model and dimension, with their headroom. */
export async function rateLimits(query: QueryApi) {
  const rows = await query.latestRateLimits();
  return {
    rows: rows.map((r) => ({
      model: r.model, dimension: r.dimension, limit: r.limit, remaining: r.remaining, reset: r.reset, seen_at: r.ts,
      headroom: r.limit !== null && r.remaining !== null && r.limit > 0 ? r.remaining / r.limit : null,
    })),
  };
}

/** One page of recent calls, newest first. */
export async function recentCalls(query: QueryApi, o: { window: TimeWindow; filter: CallFilter; limit: number; cursor?: string }): Promise<{ calls: StoredCall[]; next_cursor: string | null }> {
  const r = await query.recentCalls({ window: o.window, filter: o.filter, limit: o.limit, ...(o.cursor !== undefined ? { cursor: o.cursor } : {}) });
  return { calls: r.calls, next_cursor: r.nextCursor };
}

/** Usage field holding the quantity of each price part. */
const PART_QUANTITY: Record<string, string> = {
  input: 'input_tokens', output: 'output_tokens', cache_read: 'cache_read_input_tokens',
  cache_write_5m: 'cache_write_5m_input_tokens', cache_write_1h: 'cache_write_1h_input_tokens',
  cache_write_unknown_ttl: 'cache_write_unknown_ttl_input_tokens', web_search: 'web_search_requests',
};

/** Event fields the detail shows; anything else (opted-in content above all) is left out. */
const EVENT_FIELDS = [
  'ts_start', 'ts', 'app', 'env', 'host', 'pid', 'tags', 'provider', 'operation', 'model_requested', 'model', 'stream', 'max_tokens',
  'tool_count', 'status', 'http_status', 'error_type', 'error_code', 'stop_reason', 'request_id', 'message_id', 'attempts',
  'duration_ms', 'ttft_ms', 'output_tokens_per_second', 'complete', 'usage', 'rate_limits',
] as const;

/** One call: its summary, its attempts, its price part by part (as stored when it was priced). */
export async function callDetail(query: QueryApi, eventId: string) {
  const d = await query.call(eventId);
  if (!d) return null;
  const { event: rawEvent, price: rawPrice, ...call } = d;
  const event = (rawEvent ?? {}) as Record<string, unknown>;
  const usage = (event['usage'] ?? {}) as Record<string, unknown>;
  const price = (rawPrice ?? {}) as { cost_usd?: number | null; cost_without_cache_usd?: number | null; priced?: boolean; pricing_version?: string | null; flags?: string[]; parts?: Record<string, number | null> };
  const parts = Object.entries(price.parts ?? {}).filter(([, v]) => v !== null && v !== undefined).map(([dimension, cost]) => {
    const field = PART_QUANTITY[dimension];
    const q = field !== undefined && typeof usage[field] === 'number' ? (usage[field] as number) : null;
    return {
      dimension,
      quantity: q,
      unit: dimension === 'web_search' ? 'requests' : 'tokens',
      cost_usd: cost as number,
      // USD per million tokens (per request for web search), as charged after multipliers.
      rate_usd: q !== null && q > 0 ? (dimension === 'web_search' ? (cost as number) / q : ((cost as number) / q) * 1e6) : null,
    };
  });
  return {
    call,
    attempts: Array.isArray(event['attempt_log']) ? event['attempt_log'] : [],
    price: {
      priced: price.priced ?? false,
      cost_usd: price.cost_usd ?? null,
      cost_without_cache_usd: price.cost_without_cache_usd ?? null,
      pricing_version: price.pricing_version ?? null,
      flags: price.flags ?? [],
      parts,
    },
    event: Object.fromEntries(EVENT_FIELDS.filter((k) => k in event).map((k) => [k, event[k]])),
  };
}

/** Every loaded rule with its state and last value, the active alerts, the active silences. */
export function alertsView(engine: RuleEngine | null, now: number) {
  if (!engine) return { evaluated_at: null, rules: [], alerts: [], silences: [] };
  const alerts = engine.alerts(now);
  const last = engine.lastResults();
  const results = new Map(last.rules.map((r) => [r.rule, r]));
  const rank = { inactive: 0, resolved: 0, pending: 1, firing: 2 } as const;
  const rules = engine.rules.map((rule) => {
    const r = results.get(rule.name);
    const mine = alerts.filter((a) => a.name === rule.name);
    let state: 'inactive' | 'pending' | 'firing' = 'inactive';
    for (const a of mine) if (rank[a.state] > rank[state]) state = a.state === 'resolved' ? state : a.state;
    // The last value: of the worst sample (firing, then pending, then the largest value).
    const samples = (r?.samples ?? []).map((s) => ({ labels: s.labels, value: s.value, state: s.state, calls: s.calls }));
    const worst = [...samples].sort((a, b) => (rank[b.state] - rank[a.state]) || (num(b.value) - num(a.value)))[0];
    return {
      name: rule.name, kind: rule.kind, severity: rule.severity, comparison: rule.comparison, threshold: rule.threshold,
      window_ms: rule.windowMs, summary: rule.annotations['summary'] ?? null,
      state, value: worst?.value ?? null, samples, error: r?.error ?? null,
    };
  });
  return {
    evaluated_at: last.at,
    rules,
    alerts: alerts.map((a) => ({ name: a.name, state: a.state, labels: a.labels, annotations: a.annotations, value: a.value, active_at: a.activeAt, fired_at: a.firedAt, silenced_by: a.silencedBy })),
    silences: engine.silences().filter((s) => s.endsAt > now),
  };
}
