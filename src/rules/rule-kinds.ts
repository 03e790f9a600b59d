/**
 * Evaluation of each rule kind through the query interface alone, so the same rules run on
 * the embedded store and on InfluxDB. Each kind returns one {@link RuleSample} per group.
 */
import type { AggregateRow, CallDimension, CallFilter, PipelineHealth, QueryApi, QueryOptions } from '../store/types.js';
import { periodAt } from './budget-period.js';
import { PIPELINE_METRICS } from './rule-types.js';
import { formatUsd } from '../pricing/money.js';
import { humanize, humanizeDuration, humanizePercentage, readableNumber } from './template.js';
import type {
  BudgetRule, Budgets, ErrorRateRule, LatencyRule, PipelineHealthRule, RateLimitHeadroomRule, ReconciliationCaptureRule, Rule, RuleSample,
  SpikeRule, StopReasonShareRule, ThresholdRule,
} from './rule-types.js';

const MINUTE_MS = 60_000;

export interface EvalContext {
  query: QueryApi;
  now: number;
  budgets: Budgets;
  health: HealthHistory;
  /** Options of every read of the evaluation: its signal (the engine stopping) ends them. */
  read?: QueryOptions;
}

/** Evaluates one rule at `ctx.now`. */
export async function evaluateRule(rule: Rule, ctx: EvalContext): Promise<RuleSample[]> {
  switch (rule.kind) {
    case 'error_rate': return errorRate(rule, ctx);
    case 'latency': return latency(rule, ctx);
    case 'budget': return budget(rule, ctx);
    case 'rate_limit_headroom': return headroom(rule, ctx);
    case 'spike': return spike(rule, ctx);
    case 'stop_reason_share': return stopReasonShare(rule, ctx);
    case 'pipeline_health': return pipelineHealth(rule, ctx);
    case 'threshold': return threshold(rule, ctx);
    case 'reconciliation_capture': return reconciliationCapture(rule, ctx);
    default: {
      const never: never = rule;
      throw new Error(`unknown rule kind ${JSON.stringify(never)}`);
    }
  }
}

function window(rule: Rule, now: number): { start: number; end: number } {
  return { start: now - rule.windowMs, end: now };
}

/** A group's labels: its dimension values, nulls left out (as Prometheus drops empty labels). */
export function groupLabels(row: AggregateRow, groupBy: CallDimension[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of groupBy) {
    const v = row.group[d];
    if (v !== null && v !== undefined) out[d] = v;
  }
  return out;
}

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : null;
}

async function errorRate(rule: ErrorRateRule, ctx: EvalContext): Promise<RuleSample[]> {
  const errFilter = rule.errorTypes.length > 0 ? { status: 'error', error_type: rule.errorTypes } : { status: 'error' };
  const rows = await ctx.query.aggregate({
    window: window(rule, ctx.now), filter: rule.filter, groupBy: rule.groupBy,
    aggregates: { calls: { op: 'count' }, errors: { op: 'count_where', filter: errFilter } },
  }, ctx.read);
  return rows.map((r) => ({ labels: groupLabels(r, rule.groupBy), value: ratio(r.values['errors'], r.values['calls']), calls: r.values['calls'] ?? 0 }));
}

async function latency(rule: LatencyRule, ctx: EvalContext): Promise<RuleSample[]> {
  const rows = await ctx.query.aggregate({
    window: window(rule, ctx.now), filter: rule.filter, groupBy: rule.groupBy,
    aggregates: { calls: { op: 'count' }, p: { op: 'percentile', field: rule.field, p: rule.percentile } },
  }, ctx.read);
  return rows.map((r) => {
    const p = r.values['p'];
    return { labels: groupLabels(r, rule.groupBy), value: typeof p === 'number' ? p / 1000 : null, calls: r.values['calls'] ?? 0 };
  });
}

async function stopReasonShare(rule: StopReasonShareRule, ctx: EvalContext): Promise<RuleSample[]> {
  const rows = await ctx.query.aggregate({
    window: window(rule, ctx.now), filter: rule.filter, groupBy: rule.groupBy,
    aggregates: { calls: { op: 'count' }, hits: { op: 'count_where', filter: { stop_reason: rule.stopReasons } } },
  }, ctx.read);
  return rows.map((r) => ({ labels: groupLabels(r, rule.groupBy), value: ratio(r.values['hits'], r.values['calls']), calls: r.values['calls'] ?? 0 }));
}

/** The latest reconciliation's capture per model (a store without reconciliations has no samples). */
async function reconciliationCapture(rule: ReconciliationCaptureRule, ctx: EvalContext): Promise<RuleSample[]> {
  const rows = (await ctx.query.reconciliationCapture?.(ctx.read)) ?? [];
  const mf = rule.filter.model;
  const models = mf === undefined ? null : new Set(Array.isArray(mf) ? mf : [mf]);
  return rows
    .filter((r) => r.model !== null && (models === null || models.has(r.model)) && r.measuredAt >= ctx.now - rule.maxAgeMs)
    .map((r) => ({ labels: { model: r.model!, measure: rule.measure }, value: rule.measure === 'cost' ? r.costCapture : r.tokenCapture, calls: 0 }));
}

async function threshold(rule: ThresholdRule, ctx: EvalContext): Promise<RuleSample[]> {
  const rows = await ctx.query.aggregate({
    window: window(rule, ctx.now), filter: rule.filter, groupBy: rule.groupBy,
    aggregates: { calls: { op: 'count' }, v: rule.value, ...(rule.per ? { per: rule.per } : {}) },
  }, ctx.read);
  return rows.map((r) => {
    let v: number | null = r.values['v'] ?? null;
    if (rule.per) v = ratio(v, r.values['per']);
    if (rule.perMinute && v !== null) v = v / (rule.windowMs / MINUTE_MS);
    return { labels: groupLabels(r, rule.groupBy), value: v, calls: r.values['calls'] ?? 0 };
  });
}

async function spike(rule: SpikeRule, ctx: EvalContext): Promise<RuleSample[]> {
  // Whole minutes only: the window is the last `window` of complete minutes, the baseline the span before it.
  const end = Math.floor(ctx.now / MINUTE_MS) * MINUTE_MS;
  const winStart = end - Math.ceil(rule.windowMs / MINUTE_MS) * MINUTE_MS;
  const baseMinutes = Math.ceil(rule.baselineMs / MINUTE_MS);
  const baseStart = winStart - baseMinutes * MINUTE_MS;
  const rows = await ctx.query.series({
    window: { start: baseStart, end }, filter: rule.filter, groupBy: rule.groupBy, stepMs: MINUTE_MS,
    aggregates: { m: rule.measure, calls: { op: 'count' } },
  }, ctx.read);
  const groups = new Map<string, { labels: Record<string, string>; cur: number; calls: number; base: Map<number, number> }>();
  for (const r of rows) {
    const labels = groupLabels(r, rule.groupBy);
    const key = JSON.stringify(labels);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { labels, cur: 0, calls: 0, base: new Map() }));
    const m = r.values['m'] ?? 0;
    if (r.t >= winStart) {
      g.cur += m;
      g.calls += r.values['calls'] ?? 0;
    } else g.base.set(r.t, (g.base.get(r.t) ?? 0) + m);
  }
  const winMinutes = (end - winStart) / MINUTE_MS;
  return [...groups.values()].map((g) => {
    // Minutes without calls count as zero in the baseline.
    const perMinute: number[] = [];
    for (let t = baseStart; t < winStart; t += MINUTE_MS) perMinute.push(g.base.get(t) ?? 0);
    const base = rule.baselineStat === 'median' ? median(perMinute) : perMinute.reduce((a, b) => a + b, 0) / Math.max(1, perMinute.length);
    const cur = g.cur / winMinutes;
    return { labels: g.labels, value: base > 0 ? cur / base : null, calls: g.calls, ...(base > 0 ? {} : { note: 'no baseline (zero in the baseline span)' }) };
  });
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

async function headroom(rule: RateLimitHeadroomRule, ctx: EvalContext): Promise<RuleSample[]> {
  const modelFilter = rule.filter.model;
  const models = modelFilter === undefined ? null : new Set(Array.isArray(modelFilter) ? modelFilter : [modelFilter]);
  const limits = (await ctx.query.latestRateLimits(undefined, ctx.read)).filter((r) =>
    (models === null || models.has(r.model)) && rule.dimensions.includes(r.dimension) && r.ts >= ctx.now - rule.windowMs
    && (r.reset === null || !(Date.parse(r.reset) < ctx.now)));
  if (limits.length === 0) return [];
  const counts = await ctx.query.aggregate({ window: window(rule, ctx.now), filter: rule.filter, groupBy: ['model'], aggregates: { calls: { op: 'count' } } }, ctx.read);
  const callsBy = new Map(counts.map((r) => [r.group.model ?? null, r.values['calls'] ?? 0]));
  return limits.map((r) => ({
    labels: { model: r.model, dimension: r.dimension },
    value: ratio(r.remaining, r.limit),
    calls: callsBy.get(r.model) ?? 0,
  }));
}

async function budget(rule: BudgetRule, ctx: EvalContext): Promise<RuleSample[]> {
  const key = rule.period === 'day' ? 'daily' : 'monthly';
  const period = periodAt(ctx.now, rule.period, ctx.budgets.timeZone ?? 'UTC');
  const targets: { labels: Record<string, string>; budget: number; feature: string | null }[] = [];
  if (rule.scope === 'total') {
    const b = ctx.budgets[key];
    if (b !== undefined && b > 0) targets.push({ labels: { period: rule.period }, budget: b, feature: null });
  } else {
    for (const [feature, fb] of Object.entries(ctx.budgets.features ?? {})) {
      const b = fb[key];
      if (b !== undefined && b > 0) targets.push({ labels: { period: rule.period, feature }, budget: b, feature });
    }
  }
  if (targets.length === 0) return [];
  const groupBy: CallDimension[] = rule.scope === 'feature' ? ['feature'] : [];
  const aggs = { calls: { op: 'count' }, spend: { op: 'sum', field: 'cost_usd' } } as const;
  const rows = await ctx.query.aggregate({ window: { start: period.start, end: ctx.now }, filter: rule.filter, groupBy, aggregates: aggs }, ctx.read);
  // Spend is unknown only for answered calls without a price (a model the catalog lacks). A call
  // that failed or was aborted before any usage came (a dropped connection, a 529) is unpriced
  // too, for want of usage, but the API bills nothing it did not report: it leaves spend known.
  const okFilter = answeredOnly(rule.filter);
  const unpricedRows = okFilter === null ? []
    : await ctx.query.aggregate({ window: { start: period.start, end: ctx.now }, filter: okFilter, groupBy, aggregates: { unpriced: { op: 'unpriced_count' } } }, ctx.read);
  // The burn rate of the last burn window, even where it began in the previous period: the few
  // minutes of a new month, carried over the whole month, would project any spend far past it.
  const burn = rule.check === 'projected'
    ? await ctx.query.aggregate({ window: { start: ctx.now - rule.burnWindowMs, end: ctx.now }, filter: rule.filter, groupBy, aggregates: aggs }, ctx.read)
    : [];
  const pick = (list: AggregateRow[], feature: string | null): AggregateRow | undefined =>
    feature === null ? list[0] : list.find((r) => r.group.feature === feature);
  return targets.map((tgt) => {
    const r = pick(rows, tgt.feature);
    const spend = r?.values['spend'] ?? 0;
    const unpriced = pick(unpricedRows, tgt.feature)?.values['unpriced'] ?? 0;
    const calls = r?.values['calls'] ?? 0;
    let value = spend / tgt.budget;
    if (rule.check === 'projected') {
      const b = pick(burn, tgt.feature);
      const rate = rule.burnWindowMs > 0 ? (b?.values['spend'] ?? 0) / rule.burnWindowMs : 0;
      value = (spend + rate * (period.end - ctx.now)) / tgt.budget;
    }
    const labels = { ...tgt.labels, budget_usd: String(tgt.budget) };
    if (unpriced > 0) {
      // Significant digits below a cent, cents above: a few calls' spend is a fraction of a cent, and $0.00 would read as nothing spent.
      const note = `${unpriced} call(s) this ${rule.period} have no price: spend is unknown (priced part ${formatUsd(spend)} of $${tgt.budget})`;
      const fires = compare(value, rule.comparison, rule.threshold);
      // Unknown spend never passes silently: a warning fires even when the priced part is below the threshold.
      return fires
        ? { labels, value, calls, note }
        : { labels: { ...labels, severity: 'warning', spend: 'unknown' }, value: null, calls, forceActive: true, note };
    }
    return { labels, value, calls };
  });
}

/** `filter` narrowed to answered (`ok`) calls; null when it excludes them. */
function answeredOnly(filter: CallFilter): CallFilter | null {
  const status = filter.status;
  if (status === undefined) return { ...filter, status: 'ok' };
  const allowed = Array.isArray(status) ? status : [status];
  return allowed.includes('ok') ? { ...filter, status: 'ok' } : null;
}

/** Samples of the pipeline's health kept in memory to compute counter increases over a window. */
export class HealthHistory {
  private samples: { ts: number; h: PipelineHealth }[] = [];
  constructor(private readonly retainMs: number) {}
  record(ts: number, h: PipelineHealth): void {
    this.samples.push({ ts, h });
    while (this.samples.length > 2 && (this.samples[1]?.ts ?? ts) <= ts - this.retainMs) this.samples.shift();
  }
  latest(): { ts: number; h: PipelineHealth } | undefined {
    return this.samples[this.samples.length - 1];
  }
  /** The newest sample at or before `t`, else the oldest one. */
  at(t: number): { ts: number; h: PipelineHealth } | undefined {
    let best = this.samples[0];
    for (const s of this.samples) if (s.ts <= t) best = s;
    return best;
  }
}

function pipelineHealth(rule: PipelineHealthRule, ctx: EvalContext): RuleSample[] {
  const last = ctx.health.latest();
  if (!last) return [];
  const { field, gauge } = PIPELINE_METRICS[rule.metric];
  const cur = last.h[field];
  if (cur === null) return [];
  if (gauge) return [{ labels: {}, value: cur, calls: 0 }];
  const past = ctx.health.at(ctx.now - rule.windowMs)?.h;
  // A counter that went down was reset (daemon restart): count from zero.
  const increase = (c: number, t: number | null | undefined): number => (t === null || t === undefined ? c : c >= t ? c - t : c);
  if (last.h.byHost && past?.byHost) {
    // A fleet: host by host (one host restarting resets its counters only), then summed; a
    // host first seen since then counts from zero, one no longer reporting adds nothing.
    let value = 0;
    for (const [host, c] of Object.entries(last.h.byHost)) {
      const now = c[field];
      if (now === null) continue;
      const before = past.byHost[host];
      value += before === undefined ? now : increase(now, before[field]);
    }
    return [{ labels: {}, value, calls: 0 }];
  }
  return [{ labels: {}, value: increase(cur, past?.[field] ?? cur), calls: 0 }];
}

/**
 * A rule's value as its kind reads it, for notification texts: a share as a percentage
 * (36.36%), a latency in seconds (12.35s, 250ms), a spike as a multiple (3.2×), a tail lag in
 * bytes (52.43MB); any other value as a plain number (0.3636, 0.000123), never with float
 * noise and never a small value rounded to 0.
 */
export function formatRuleValue(rule: Rule, value: number | null): string {
  if (value === null) return 'unknown';
  switch (rule.kind) {
    case 'error_rate':
    case 'stop_reason_share':
    case 'rate_limit_headroom':
    case 'budget':
    case 'reconciliation_capture':
      return humanizePercentage(value);
    case 'latency':
      // Whole seconds (as humanizeDuration prints them from 1 s up) would show 10.4 s as 10s
      // against a 10 s threshold: up to a minute, seconds keep their decimals.
      return Math.abs(value) >= 1 && Math.abs(value) < 60 ? `${readableNumber(value)}s` : humanizeDuration(value);
    case 'spike':
      return `${readableNumber(value)}×`;
    case 'pipeline_health':
      return rule.metric === 'tail_lag_bytes' ? `${humanize(value)}B` : readableNumber(value);
    case 'threshold':
      return readableNumber(value);
    default: {
      const never: never = rule;
      throw new Error(`unknown rule kind ${JSON.stringify(never)}`);
    }
  }
}

export function compare(v: number, op: Rule['comparison'], t: number): boolean {
  switch (op) {
    case '>': return v > t;
    case '>=': return v >= t;
    case '<': return v < t;
    case '<=': return v <= t;
    default: {
      const never: never = op;
      throw new Error(`unknown comparison ${String(never)}`);
    }
  }
}
