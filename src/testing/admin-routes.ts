/**
 * The Admin usage and cost reports, answered from the fake's {@link BillingLedger}:
 *
 * - `GET /v1/organizations/usage_report/messages` and `GET /v1/organizations/cost_report`
 *   (the older reports): UTC-snapped buckets, empty buckets listed, `limit` buckets a page
 *   (usage: 7/31 by day, 24/168 by hour, 60/1440 by minute, default/max; cost: by day only,
 *   7/31), `has_more` + `next_page`, `group_by[]`, amounts as decimal strings in cents.
 * - `GET /v1/organizations/analytics/usage` and `/analytics/cost` (beta; needs the
 *   `anthropic-beta: analytics-usage-cost-2026-08-24` header): `starting_at` from
 *   2026-01-01 and within 365 days, ranges of at most 31 days (24 h by minute) else 400,
 *   one row per bucket and group with usage, `limit` 1–1000 (default 20), `next_page`
 *   cursors and `data_refreshed_at`.
 *
 * Admin routes accept only admin keys (`sk-ant-admin…`).
 */
import type { Route, RouteContext } from './router.js';
import { BILLED_TOKEN_TYPES, type BilledUsage } from './billing-ledger.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const WIDTH_MS: Record<string, number> = { '1m': MINUTE_MS, '1h': HOUR_MS, '1d': DAY_MS };
const LEGACY_LIMITS: Record<string, [number, number]> = { '1d': [7, 31], '1h': [24, 168], '1m': [60, 1440] };
const LEGACY_USAGE_GROUPS = ['account_id', 'api_key_id', 'context_window', 'inference_geo', 'model', 'service_account_id', 'service_tier', 'speed', 'workspace_id'];
const ANALYTICS_GROUPS = ['api_key_id', 'context_window', 'inference_geo', 'model', 'service_tier', 'speed', 'workspace_id', 'actor', 'actor_type', 'agent_id',
  'deployment_id', 'environment_id', 'organization_id', 'product', 'rbac_group_id', 'session_id', 'slack_channel_id', 'user_profile_id'];
const ANALYTICS_BETA = 'analytics-usage-cost-2026-08-24';
const ANALYTICS_EARLIEST = Date.parse('2026-01-01T00:00:00Z');
const MAX_SPAN_MS = 31 * DAY_MS;

const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
const centsOf = (nano: number): string => {
  const n = Math.round(nano);
  const whole = Math.floor(Math.abs(n) / 10_000_000);
  const frac = String(Math.abs(n) % 10_000_000).padStart(7, '0').replace(/0+$/, '');
  return `${n < 0 ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
};
const encodePage = (v: number): string => Buffer.from(JSON.stringify({ v }), 'utf8').toString('base64url');
function decodePage(s: string): number | null {
  try {
    const o = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as { v?: unknown };
    return typeof o.v === 'number' ? o.v : null;
  } catch {
    return null;
  }
}

/** An admin key, else a 401 sent and false. */
function admin(ctx: RouteContext): boolean {
  const auth = ctx.req.headers['authorization'];
  const key = ctx.req.headers['x-api-key'] ?? (typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : undefined);
  if (typeof key === 'string' && key.startsWith('sk-ant-admin')) return true;
  ctx.error(401, { type: 'authentication_error', message: 'invalid x-api-key: the Admin API requires an Admin API key (sk-ant-admin…)' });
  return false;
}

function time(ctx: RouteContext, name: string, required: boolean): number | null | undefined {
  const v = ctx.query.get(name);
  if (v === null) {
    if (required) ctx.error(400, { message: `${name}: Field required` });
    return required ? undefined : null;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t) || !/^\d{4}-\d{2}-\d{2}T/.test(v)) {
    ctx.error(400, { message: `${name}: Input should be a valid datetime (RFC 3339), got ${JSON.stringify(v)}` });
    return undefined;
  }
  return t;
}

function list(ctx: RouteContext, name: string): string[] {
  return [...ctx.query.getAll(`${name}[]`), ...ctx.query.getAll(name)];
}

function groupOf(u: { [k: string]: unknown }, dims: readonly string[]): Record<string, string | null> {
  const field: Record<string, string> = { model: 'model', service_tier: 'serviceTier', workspace_id: 'workspaceId', api_key_id: 'apiKeyId', context_window: 'contextWindow', inference_geo: 'inferenceGeo', speed: 'speed' };
  const g: Record<string, string | null> = {};
  for (const d of dims) {
    const f = field[d];
    g[d] = f ? ((u[f] as string | null | undefined) ?? null) : null;
  }
  return g;
}

function filtered(ctx: RouteContext, entries: readonly BilledUsage[]): BilledUsage[] {
  const models = list(ctx, 'models');
  const ws = list(ctx, 'workspace_ids');
  const keys = list(ctx, 'api_key_ids');
  const tiers = list(ctx, 'service_tiers');
  return entries.filter((u) => (models.length === 0 || models.includes(u.model)) && (ws.length === 0 || ws.includes(u.workspaceId ?? ''))
    && (keys.length === 0 || keys.includes(u.apiKeyId ?? '')) && (tiers.length === 0 || tiers.includes(u.serviceTier)));
}

interface UsageSums { uncached_input_tokens: number; cache_read_input_tokens: number; ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number; output_tokens: number; web_search_requests: number; requests: number }
const zero = (): UsageSums => ({ uncached_input_tokens: 0, cache_read_input_tokens: 0, ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0, output_tokens: 0, web_search_requests: 0, requests: 0 });
function addUsage(s: UsageSums, u: BilledUsage): void {
  for (const k of Object.keys(s) as (keyof UsageSums)[]) s[k] += u[k];
}
const usageBody = (s: UsageSums): Record<string, unknown> => ({
  uncached_input_tokens: s.uncached_input_tokens,
  cache_read_input_tokens: s.cache_read_input_tokens,
  cache_creation: { ephemeral_5m_input_tokens: s.ephemeral_5m_input_tokens, ephemeral_1h_input_tokens: s.ephemeral_1h_input_tokens },
  output_tokens: s.output_tokens,
  server_tool_use: { web_search_requests: s.web_search_requests },
});
const total = (s: UsageSums): number => s.uncached_input_tokens + s.cache_read_input_tokens + s.ephemeral_5m_input_tokens + s.ephemeral_1h_input_tokens + s.output_tokens;

// ---- the older reports ----

function legacyWindow(ctx: RouteContext, widths: string[], limits: Record<string, [number, number]>): { width: string; first: number; end: number; limit: number } | null {
  if (!admin(ctx)) return null;
  const width = ctx.query.get('bucket_width') ?? '1d';
  if (!widths.includes(width)) {
    ctx.error(400, { message: `bucket_width: Input should be ${widths.map((w) => `'${w}'`).join(' or ')}` });
    return null;
  }
  const start = time(ctx, 'starting_at', true);
  if (start === undefined || start === null) return null;
  const endQ = time(ctx, 'ending_at', false);
  if (endQ === undefined) return null;
  const [dflt, max] = limits[width]!;
  const limitQ = ctx.query.get('limit');
  const limit = limitQ === null ? dflt : Number(limitQ);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    ctx.error(400, { message: `limit: Input should be between 1 and ${max} for bucket_width ${width}` });
    return null;
  }
  const w = WIDTH_MS[width]!;
  const snappedStart = Math.floor(start / w) * w;
  const end = endQ === null ? Math.ceil(Date.now() / w) * w : endQ;
  if (!(end > start)) {
    ctx.error(400, { message: 'ending_at must be after starting_at' });
    return null;
  }
  const pageQ = ctx.query.get('page');
  let first = snappedStart;
  if (pageQ !== null) {
    const p = decodePage(pageQ);
    if (p === null || p < snappedStart) {
      ctx.error(400, { message: 'page: invalid page token' });
      return null;
    }
    first = p;
  }
  return { width, first, end, limit };
}

function legacyUsage(ctx: RouteContext): void {
  const win = legacyWindow(ctx, ['1d', '1h', '1m'], LEGACY_LIMITS);
  if (!win) return;
  const groupBy = list(ctx, 'group_by');
  for (const g of groupBy) if (!LEGACY_USAGE_GROUPS.includes(g)) return ctx.error(400, { message: `group_by: unknown dimension '${g}'` });
  const w = WIDTH_MS[win.width]!;
  const entries = filtered(ctx, ctx.billing.usage);
  const data: unknown[] = [];
  let t = win.first;
  for (; t < win.end && data.length < win.limit; t += w) {
    const groups = new Map<string, { group: Record<string, string | null>; sums: UsageSums }>();
    for (const u of entries) {
      if (u.at < t || u.at >= t + w) continue;
      const group = groupOf(u as unknown as Record<string, unknown>, groupBy);
      const k = JSON.stringify(group);
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { group, sums: zero() }));
      addUsage(g.sums, u);
    }
    const results = [...groups.values()].map((g) => ({
      ...usageBody(g.sums),
      api_key_id: null, workspace_id: null, model: null, service_tier: null, context_window: null, inference_geo: null, speed: null, account_id: null, service_account_id: null,
      ...g.group,
    }));
    data.push({ starting_at: iso(t), ending_at: iso(t + w), results });
  }
  const hasMore = t < win.end;
  ctx.json(200, { data, has_more: hasMore, next_page: hasMore ? encodePage(t) : null });
}

function legacyCost(ctx: RouteContext): void {
  const win = legacyWindow(ctx, ['1d'], { '1d': [7, 31] });
  if (!win) return;
  const groupBy = list(ctx, 'group_by');
  for (const g of groupBy) if (g !== 'workspace_id' && g !== 'description') return ctx.error(400, { message: `group_by: unknown dimension '${g}' (workspace_id, description)` });
  const byDesc = groupBy.includes('description');
  const byWs = groupBy.includes('workspace_id');
  const data: unknown[] = [];
  let t = win.first;
  for (; t < win.end && data.length < win.limit; t += DAY_MS) {
    const items = new Map<string, Record<string, unknown> & { nano: number }>();
    const add = (key: Record<string, unknown>, nano: number): void => {
      const k = JSON.stringify(key);
      const it = items.get(k);
      if (it) it.nano += nano;
      else items.set(k, { ...key, nano });
    };
    for (const u of ctx.billing.usage) {
      if (u.at < t || u.at >= t + DAY_MS) continue;
      for (const row of ctx.billing.costRows(u)) {
        add(byDesc
          ? { description: `${u.model} ${row.label}${u.serviceTier === 'batch' ? ' (Batch)' : ''}`, cost_type: row.costType, token_type: row.tokenType, model: u.model,
            service_tier: u.serviceTier, context_window: u.contextWindow, inference_geo: u.inferenceGeo, workspace_id: byWs ? u.workspaceId : null }
          : { description: null, cost_type: null, token_type: null, model: null, service_tier: null, context_window: null, inference_geo: null, workspace_id: byWs ? u.workspaceId : null },
        row.nanoUsd);
      }
    }
    for (const c of ctx.billing.costs) {
      if (c.at < t || c.at >= t + DAY_MS) continue;
      add(byDesc
        ? { description: c.costType === 'code_execution' ? 'Code Execution Usage' : c.costType === 'session_usage' ? 'Session Usage' : 'Web Search', cost_type: c.costType, token_type: null,
          model: c.model, service_tier: null, context_window: null, inference_geo: null, workspace_id: byWs ? c.workspaceId : null }
        : { description: null, cost_type: null, token_type: null, model: null, service_tier: null, context_window: null, inference_geo: null, workspace_id: byWs ? c.workspaceId : null },
      Math.round(c.amountUsd * 1e9));
    }
    const results = [...items.values()].map(({ nano, ...rest }) => ({ currency: 'USD', amount: centsOf(nano), ...rest }));
    data.push({ starting_at: iso(t), ending_at: iso(t + DAY_MS), results });
  }
  const hasMore = t < win.end;
  ctx.json(200, { data, has_more: hasMore, next_page: hasMore ? encodePage(t) : null });
}

// ---- the analytics API ----

interface AnalyticsQuery { start: number; end: number; width: number | null; groupBy: string[]; limit: number; offset: number; byTime: boolean; asc: boolean }

function analyticsQuery(ctx: RouteContext, costFanOut: boolean): AnalyticsQuery | null {
  if (!admin(ctx)) return null;
  const beta = String(ctx.req.headers['anthropic-beta'] ?? '');
  if (!beta.split(',').map((s) => s.trim()).includes(ANALYTICS_BETA)) {
    ctx.error(400, { message: `this endpoint is in beta: send the header anthropic-beta: ${ANALYTICS_BETA}` });
    return null;
  }
  const start = time(ctx, 'starting_at', true);
  if (start === undefined || start === null) return null;
  const now = Date.now();
  if (start < ANALYTICS_EARLIEST || start < now - 365 * DAY_MS) {
    ctx.error(400, { message: 'starting_at: must be within the last 365 days and no earlier than 2026-01-01T00:00:00Z' });
    return null;
  }
  const widthQ = ctx.query.get('time_bucket_width');
  if (widthQ !== null && !(widthQ in WIDTH_MS)) {
    ctx.error(400, { message: "time_bucket_width: Input should be '1d', '1h' or '1m'" });
    return null;
  }
  const endQ = time(ctx, 'ending_at', widthQ !== null);
  if (endQ === undefined) return null;
  const end = endQ ?? Math.floor(Math.min(now, start + MAX_SPAN_MS) / HOUR_MS) * HOUR_MS;
  if (!(end > start)) {
    ctx.error(400, { message: 'ending_at must be after starting_at' });
    return null;
  }
  const maxSpan = widthQ === '1m' ? DAY_MS : MAX_SPAN_MS;
  if (end - start > maxSpan) {
    ctx.error(400, { message: `the range from starting_at to ending_at may span at most ${widthQ === '1m' ? '24 hours with time_bucket_width 1m' : '31 days'}` });
    return null;
  }
  const groupBy = list(ctx, 'group_by');
  const counted = groupBy.filter((g) => !(costFanOut && (g === 'cost_type' || g === 'token_type')));
  for (const g of counted) if (!ANALYTICS_GROUPS.includes(g)) {
    ctx.error(400, { message: `group_by: unknown dimension '${g}'` });
    return null;
  }
  if (counted.length > 5) {
    ctx.error(400, { message: 'group_by: at most 5 dimensions' });
    return null;
  }
  const limitQ = ctx.query.get('limit');
  const limit = limitQ === null ? 20 : Number(limitQ);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    ctx.error(400, { message: 'limit: Input should be between 1 and 1000' });
    return null;
  }
  const pageQ = ctx.query.get('page');
  const offset = pageQ === null ? 0 : decodePage(pageQ);
  if (offset === null) {
    ctx.error(400, { message: 'page: invalid page token' });
    return null;
  }
  return {
    start, end, width: widthQ === null ? null : WIDTH_MS[widthQ]!, groupBy, limit, offset,
    byTime: ctx.query.get('order_by') === 'time' && widthQ !== null, asc: ctx.query.get('order') === 'asc',
  };
}

function bucketOf(q: AnalyticsQuery, at: number): [number, number] {
  if (q.width === null) return [Math.floor(q.start / HOUR_MS) * HOUR_MS, q.end];
  const s = Math.floor(at / q.width) * q.width;
  return [s, s + q.width];
}

function page<T extends { start: number; rank: number }>(ctx: RouteContext, q: AnalyticsQuery, rows: T[], body: (r: T) => unknown): void {
  rows.sort((a, b) => (q.byTime ? (q.asc ? a.start - b.start : b.start - a.start) || b.rank - a.rank : q.asc ? a.rank - b.rank : b.rank - a.rank));
  const slice = rows.slice(q.offset, q.offset + q.limit);
  const more = q.offset + q.limit < rows.length;
  ctx.json(200, { data: slice.map(body), has_more: more, next_page: more ? encodePage(q.offset + q.limit) : null, data_refreshed_at: iso(Math.floor(Date.now() / 1000) * 1000) });
}

const ALL_GROUP_KEYS = ['actor', 'actor_type', 'agent_id', 'api_key_id', 'claude_tag_category', 'claude_tag_user_id', 'context_window', 'deployment_id', 'environment_id',
  'inference_geo', 'model', 'organization_id', 'product', 'rbac_group_id', 'service_tier', 'session_id', 'slack_channel_id', 'speed', 'user_profile_id', 'workspace_id'];
const nullGroup = (): Record<string, string | null> => Object.fromEntries(ALL_GROUP_KEYS.map((k) => [k, null]));

function analyticsUsage(ctx: RouteContext): void {
  const q = analyticsQuery(ctx, false);
  if (!q) return;
  const rows = new Map<string, { start: number; end: number; group: Record<string, string | null>; sums: UsageSums; rank: number }>();
  for (const u of filtered(ctx, ctx.billing.usage)) {
    if (u.at < q.start || u.at >= q.end) continue;
    const [s, e] = bucketOf(q, u.at);
    const group = { ...nullGroup(), ...groupOf(u as unknown as Record<string, unknown>, q.groupBy) };
    const k = JSON.stringify([s, group]);
    let r = rows.get(k);
    if (!r) rows.set(k, (r = { start: s, end: e, group, sums: zero(), rank: 0 }));
    addUsage(r.sums, u);
    r.rank = total(r.sums);
  }
  page(ctx, q, [...rows.values()], (r) => ({
    starting_at: iso(r.start), ending_at: iso(r.end), group: r.group,
    usage: { ...usageBody(r.sums), requests: r.sums.requests, total_tokens: total(r.sums) },
  }));
}

function analyticsCost(ctx: RouteContext): void {
  const q = analyticsQuery(ctx, true);
  if (!q) return;
  const byCostType = q.groupBy.includes('cost_type');
  const byTokenType = q.groupBy.includes('token_type');
  const dims = q.groupBy.filter((g) => g !== 'cost_type' && g !== 'token_type');
  const rows = new Map<string, { start: number; end: number; group: Record<string, string | null>; nano: number; requests: number; rank: number }>();
  const add = (at: number, src: Record<string, unknown>, costType: string, tokenType: string | null, nano: number, requests: number): void => {
    if (at < q.start || at >= q.end) return;
    const [s, e] = bucketOf(q, at);
    const group = { ...nullGroup(), ...groupOf(src, dims), cost_type: byCostType ? costType : null, token_type: byTokenType ? tokenType : null };
    const k = JSON.stringify([s, group]);
    let r = rows.get(k);
    if (!r) rows.set(k, (r = { start: s, end: e, group, nano: 0, requests: 0, rank: 0 }));
    r.nano += nano;
    r.requests += requests;
    r.rank = r.nano;
  };
  for (const u of filtered(ctx, ctx.billing.usage)) {
    ctx.billing.costRows(u).forEach((row, i) => add(u.at, u as unknown as Record<string, unknown>, row.costType, row.tokenType, row.nanoUsd, i === 0 ? u.requests : 0));
  }
  for (const c of ctx.billing.costs) add(c.at, c as unknown as Record<string, unknown>, c.costType, null, Math.round(c.amountUsd * 1e9), 0);
  const fanOut = byCostType || byTokenType;
  page(ctx, q, [...rows.values()], (r) => ({
    starting_at: iso(r.start), ending_at: iso(r.end), group: r.group,
    cost: { amount: centsOf(r.nano), list_amount: centsOf(r.nano), currency: 'USD', requests: fanOut ? null : r.requests },
  }));
}

export const adminRoutes: Route[] = [
  { method: 'GET', path: '/v1/organizations/usage_report/messages', name: 'admin.usage_report.messages', handler: legacyUsage },
  { method: 'GET', path: '/v1/organizations/cost_report', name: 'admin.cost_report', handler: legacyCost },
  { method: 'GET', path: '/v1/organizations/analytics/usage', name: 'admin.analytics.usage', handler: analyticsUsage },
  { method: 'GET', path: '/v1/organizations/analytics/cost', name: 'admin.analytics.cost', handler: analyticsCost },
];

/** Token types of the bill, for tests. */
export { BILLED_TOKEN_TYPES };
