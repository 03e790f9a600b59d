/**
 * Writes the dashboards under docker/ from one list of panels, so Chronograf and Grafana show
 * the same things with the same queries:
 *   docker/chronograf/claudescope-dashboard.json   (Chronograf's export format, for import)
 *   docker/chronograf/resources/claudescope.dashboard (loaded at start through --resources-path)
 *   docker/grafana/dashboards/claudescope-influxdb.json, claudescope-prometheus.json
 * Run: node --import tsx scripts/build-dashboards.ts   (test/influx/dashboards.test.ts checks the
 * files are current and executes every query in them.)
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RATE_DIMS } from '../src/store/influx-point-schema.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * InfluxQL with placeholders: {{time}} (the dashboard's range), {{interval}} (the bucket), and
 * {{calls}} / {{pipeline}} (the measurements, in the database and retention policy the daemon's
 * own InfluxQL queries read, which vary by team: see docs/influxdb.md for the values each
 * `influxdb:` block gives).
 */
interface Panel {
  key: string;
  title: string;
  kind: 'stat' | 'timeseries' | 'table';
  influxql: string[];
  promql: string[];
  unit: string;
  /** Grafana time override (calendar periods Chronograf has no variable for). */
  timeFrom?: string;
  /** Chronograf's title, when its query cannot cover the period `title` names. */
  chronografTitle?: string;
  /**
   * The spend panels' share of the budget, beside the spend in USD: PromQL's second query gives
   * it as a ratio, InfluxQL's `pct_of_budget` field as a percentage. Without a unit of its own
   * it would take the panel's, and show as dollars.
   */
  budgetShare?: true;
}

/**
 * PromQL of a graph: what a counter grew by in each step of the graph, as InfluxQL's SUM per
 * $__interval gives it. A fixed window ([5m]) read 5 minutes of every step: on a 30-day graph,
 * whose points are hours apart, it missed most of the spend. The rate over $__rate_interval (the
 * step plus a scrape, at least four scrapes) covers every step whole, with no gap at any range or
 * scrape interval, and times the step ($__interval_ms) gives the amount per step.
 */
const perStep = (by: string, counter: string): string => `sum by (${by}) (rate(${counter}[$__rate_interval])) * $__interval_ms / 1000`;
/** PromQL of a graph: a percentile of a histogram over each step, whole (as `perStep`), in ms. */
const quantile = (q: number, histogram: string): string => `histogram_quantile(${q}, sum by (le) (rate(${histogram}_bucket[$__rate_interval]))) * 1000`;

const F = 'FROM {{calls}}';
const H = 'FROM {{pipeline}}';
export const PANELS: Panel[] = [
  // A stat's PromQL ranges over $__range, the panel's time (the dashboard's, as InfluxQL's
  // $timeFilter): with the override, the UTC day or month so far.
  { key: 'spend_today', title: 'Spend today (UTC) vs daily budget', kind: 'stat', unit: 'currencyUSD', timeFrom: 'now/d', budgetShare: true,
    influxql: [`SELECT SUM("cost_nanousd") / 1000000000 AS "spend_usd", SUM("cost_nanousd") / 10000000 / {{daily_budget}} AS "pct_of_budget" ${F} WHERE {{today}}`],
    promql: ['sum(increase(claude_cost_usd_total[$__range]))', 'sum(increase(claude_cost_usd_total[$__range])) / sum(claude_budget_usd{period="daily",feature=""})'] },
  // InfluxQL has no calendar month and Chronograf no variable for the month's start: its cell
  // adds up the last 30 days, against the monthly budget, and says so.
  { key: 'spend_month', title: 'Spend this month (UTC) vs monthly budget', chronografTitle: 'Spend over the last 30 days vs monthly budget', kind: 'stat', unit: 'currencyUSD', timeFrom: 'now/M', budgetShare: true,
    influxql: [`SELECT SUM("cost_nanousd") / 1000000000 AS "spend_usd", SUM("cost_nanousd") / 10000000 / {{monthly_budget}} AS "pct_of_budget" ${F} WHERE {{month}}`],
    promql: ['sum(increase(claude_cost_usd_total[$__range]))', 'sum(increase(claude_cost_usd_total[$__range])) / sum(claude_budget_usd{period="monthly",feature=""})'] },
  { key: 'cost_by_model', title: 'Cost over time by model', kind: 'timeseries', unit: 'currencyUSD',
    influxql: [`SELECT SUM("cost_nanousd") / 1000000000 AS "usd" ${F} WHERE {{time}} GROUP BY time({{interval}}), "model" fill(none)`],
    promql: [perStep('model', 'claude_cost_usd_total')] },
  { key: 'cost_by_feature', title: 'Cost over time by feature', kind: 'timeseries', unit: 'currencyUSD',
    influxql: [`SELECT SUM("cost_nanousd") / 1000000000 AS "usd" ${F} WHERE {{time}} GROUP BY time({{interval}}), "feature" fill(none)`],
    promql: [perStep('feature', 'claude_cost_usd_total')] },
  { key: 'tokens_by_type', title: 'Tokens by type', kind: 'timeseries', unit: 'short',
    influxql: [`SELECT SUM("input_tokens") AS "input", SUM("output_tokens") AS "output", SUM("cache_read_input_tokens") AS "cache_read", SUM("cache_write_5m_input_tokens") AS "cache_write_5m", SUM("cache_write_1h_input_tokens") AS "cache_write_1h" ${F} WHERE {{time}} GROUP BY time({{interval}}) fill(none)`],
    promql: [perStep('direction', 'claude_tokens_total')] },
  { key: 'calls_by_status', title: 'Calls by status', kind: 'timeseries', unit: 'short',
    influxql: [`SELECT COUNT("event_id") AS "calls" ${F} WHERE {{time}} GROUP BY time({{interval}}), "status" fill(none)`],
    promql: [perStep('status', 'claude_requests_total')] },
  { key: 'errors_by_type', title: 'Errors by type', kind: 'timeseries', unit: 'short',
    influxql: [`SELECT COUNT("event_id") AS "errors" ${F} WHERE {{time}} AND "status" = 'error' GROUP BY time({{interval}}), "error_type" fill(none)`],
    promql: [perStep('kind', 'claude_errors_total')] },
  { key: 'latency', title: 'Latency p50 / p95 / p99 (ms)', kind: 'timeseries', unit: 'ms',
    influxql: [`SELECT PERCENTILE("duration_ms", 50) AS "p50", PERCENTILE("duration_ms", 95) AS "p95", PERCENTILE("duration_ms", 99) AS "p99" ${F} WHERE {{time}} GROUP BY time({{interval}}) fill(none)`],
    promql: [0.5, 0.95, 0.99].map((q) => quantile(q, 'claude_latency_seconds')) },
  { key: 'ttft', title: 'Time to first token p50 / p95 / p99 (ms)', kind: 'timeseries', unit: 'ms',
    influxql: [`SELECT PERCENTILE("ttft_ms", 50) AS "p50", PERCENTILE("ttft_ms", 95) AS "p95", PERCENTILE("ttft_ms", 99) AS "p99" ${F} WHERE {{time}} GROUP BY time({{interval}}) fill(none)`],
    promql: [0.5, 0.95, 0.99].map((q) => quantile(q, 'claude_ttft_seconds')) },
  // Every dimension of the headers, as PromQL's claude_rate_limit_remaining{dimension} has them:
  // input and output tokens have limits of their own (each dimension's latest value, as LAST reads each field).
  { key: 'rate_limit_headroom', title: 'Rate-limit headroom (remaining / limit, latest)', kind: 'table', unit: 'percentunit',
    influxql: [`SELECT ${RATE_DIMS.map((d) => `LAST("rl_${d}_remaining") / LAST("rl_${d}_limit") AS "${d}"`).join(', ')} ${F} WHERE {{time}} GROUP BY "model"`],
    promql: ['min by (model, dimension) (claude_rate_limit_remaining / claude_rate_limit_limit)'] },
  { key: 'cache_hit_ratio', title: 'Cache hit ratio (cache reads / all prompt tokens)', kind: 'stat', unit: 'percentunit',
    influxql: [`SELECT SUM("cache_read_input_tokens") / (SUM("input_tokens") + SUM("cache_read_input_tokens") + SUM("cache_write_input_tokens")) AS "hit_ratio" ${F} WHERE {{time}}`],
    promql: ['sum(increase(claude_cache_read_input_tokens_total[$__range])) / sum(increase(claude_prompt_input_tokens_total[$__range]))'] },
  { key: 'cache_savings', title: 'Money saved by caching', kind: 'stat', unit: 'currencyUSD',
    influxql: [`SELECT (SUM("cost_without_cache_nanousd") - SUM("cost_nanousd")) / 1000000000 AS "saved_usd" ${F} WHERE {{time}}`],
    promql: ['sum(increase(claude_cost_without_cache_usd_total[$__range])) - sum(increase(claude_cost_usd_total[$__range]))'] },
  { key: 'pipeline_lag', title: 'Pipeline lag per host (bytes)', kind: 'table', unit: 'bytes',
    influxql: [`SELECT LAST("lag_bytes") AS "lag_bytes", LAST("dead_letters_total") AS "dead_letters", LAST("emitter_dropped_events_total") AS "emitter_drops" ${H} WHERE {{time}} GROUP BY "host"`],
    promql: ['claudescope_tail_lag_bytes'] },
];

/**
 * Chronograf sends a cell's query with the database and retention policy of its queryConfig,
 * fixed fields that no variable reaches, so the query names both itself through two text
 * variables (`:database:` is a name Chronograf reserves). An empty retention policy, `""`,
 * is the database's default, as `retention_policy: null` is for the daemon.
 */
export const CHRONOGRAF_DB = {
  database: { name: 'influxdb_database', value: 'claudescope' },
  retentionPolicy: { name: 'influxdb_retention_policy', value: '' },
} as const;
const chronografFrom = (measurement: string): string => `":${CHRONOGRAF_DB.database.name}:".":${CHRONOGRAF_DB.retentionPolicy.name}:"."${measurement}"`;

/** InfluxQL for Chronograf's variables. */
export function chronografQuery(q: string): string {
  return q.replaceAll('{{calls}}', chronografFrom('claude_call')).replaceAll('{{pipeline}}', chronografFrom('claudescope_pipeline'))
    .replaceAll('{{time}}', 'time > :dashboardTime: AND time < :upperDashboardTime:')
    .replaceAll('{{interval}}', ':interval:')
    .replaceAll('{{today}}', 'time > now() - 1d AND time <= now() GROUP BY time(1d) fill(0)')
    .replaceAll('{{month}}', 'time > now() - 30d AND time <= now()')
    .replaceAll('{{daily_budget}}', ':daily_budget:').replaceAll('{{monthly_budget}}', ':monthly_budget:');
}

/**
 * Grafana sends InfluxQL with its datasource's database, so the measurement names no database;
 * the retention policy comes from a text box whose default, empty, is the database's default
 * one (`""."m"`), the one a daemon with `retention_policy: null` writes to.
 */
export const GRAFANA_RP_VARIABLE = 'influxdb_retention_policy';
const grafanaFrom = (measurement: string): string => `"$${GRAFANA_RP_VARIABLE}"."${measurement}"`;

/** InfluxQL for Grafana's variables. */
export function grafanaQuery(q: string): string {
  return q.replaceAll('{{calls}}', grafanaFrom('claude_call')).replaceAll('{{pipeline}}', grafanaFrom('claudescope_pipeline'))
    .replaceAll('{{time}}', '$timeFilter').replaceAll('{{today}}', '$timeFilter').replaceAll('{{month}}', '$timeFilter')
    .replaceAll('{{interval}}', '$__interval')
    .replaceAll('{{daily_budget}}', '$daily_budget').replaceAll('{{monthly_budget}}', '$monthly_budget');
}

/**
 * Chronograf prints the y axis label as written: a reader's unit, not Grafana's unit ids
 * (`currencyUSD`, `short`, `percentunit`). Counts of several things (tokens, calls) go unlabelled:
 * the legend names them.
 */
export const CHRONOGRAF_AXIS_LABEL: Record<string, string> = { currencyUSD: 'USD', short: '', ms: 'ms', percentunit: 'ratio', bytes: 'bytes' };

function chronograf(): { meta: Record<string, string>; dashboard: Record<string, unknown> } {
  const cells = PANELS.map((p, i) => ({
    i: `claudescope-${p.key}`, x: (i % 2) * 6, y: Math.floor(i / 2) * 4, w: 6, h: 4, name: p.chronografTitle ?? p.title,
    type: p.kind === 'stat' ? 'single-stat' : p.kind === 'table' ? 'table' : 'line',
    queries: p.influxql.map((q) => ({ query: chronografQuery(q), queryConfig: { rawText: chronografQuery(q), database: '', measurement: '', retentionPolicy: '', fields: [], tags: {}, groupBy: { time: '', tags: [] }, areTagsAccepted: false, range: null, shifts: null }, source: '', type: 'influxql' })),
    axes: { x: { bounds: ['', ''], label: '', prefix: '', suffix: '', base: '10', scale: 'linear' }, y: { bounds: ['', ''], label: CHRONOGRAF_AXIS_LABEL[p.unit] ?? p.unit, prefix: '', suffix: '', base: '10', scale: 'linear' } },
    colors: [], legend: {}, tableOptions: { verticalTimeAxis: true, sortBy: { internalName: 'time', displayName: '', visible: true }, wrapping: 'truncate', fixFirstColumn: true },
    fieldOptions: [], timeFormat: 'YYYY-MM-DD HH:mm:ss', decimalPlaces: { isEnforced: true, digits: 4 }, note: '', noteVisibility: 'default',
  }));
  const constant = (name: string, value: string): Record<string, unknown> => ({
    tempVar: `:${name}:`, id: `claudescope-${name}`, type: 'constant', label: `${name.replace('_', ' ')} in USD (edit to your budget)`,
    values: [{ value, type: 'constant', selected: true }],
  });
  // Text variables: an input in the dashboard's variable bar, its value put in the query as typed.
  const text = (name: string, value: string, label: string): Record<string, unknown> => ({
    tempVar: `:${name}:`, id: `claudescope-${name}`, type: 'text', label,
    values: [{ value, type: 'constant', selected: true }],
  });
  const { database, retentionPolicy } = CHRONOGRAF_DB;
  return {
    meta: { chronografVersion: '1.10.0', sources: '{}' },
    dashboard: {
      id: 0, name: 'claudescope', cells,
      templates: [
        text(database.name, database.value, "InfluxQL database the daemon's queries read (influxdb.database, else the bucket's part before the slash)"),
        // With api: v2, retention_policy is refused unless database names a DBRP mapping of its
        // own: the retention policy is usually the bucket's part after the slash.
        text(retentionPolicy.name, retentionPolicy.value, "InfluxQL retention policy the daemon's queries read (api v2: the bucket's part after the slash, or retention_policy with a database other than the bucket's; api v1: retention_policy; empty: the database's default)"),
        constant('daily_budget', '50'), constant('monthly_budget', '1000'),
      ],
    },
  };
}

/** Grafana field overrides: the budget share in percent (PromQL's query B, InfluxQL's pct_of_budget field). */
export function grafanaOverrides(p: Panel, kind: 'influxdb' | 'prometheus'): Record<string, unknown>[] {
  if (!p.budgetShare) return [];
  const matcher = kind === 'prometheus' ? { id: 'byFrameRefID', options: 'B' } : { id: 'byRegexp', options: '.*pct_of_budget.*' };
  return [{ matcher, properties: [{ id: 'unit', value: kind === 'prometheus' ? 'percentunit' : 'percent' }] }];
}

function grafana(kind: 'influxdb' | 'prometheus'): Record<string, unknown> {
  const ds = { type: kind, uid: '${datasource}' };
  const panels = PANELS.map((p, i) => ({
    id: i + 1, title: p.title, type: p.kind === 'stat' ? 'stat' : p.kind === 'table' ? 'table' : 'timeseries', datasource: ds,
    gridPos: { x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 },
    fieldConfig: { defaults: { unit: p.unit }, overrides: grafanaOverrides(p, kind) },
    ...(p.timeFrom ? { timeFrom: p.timeFrom, hideTimeOverride: false } : {}),
    targets: kind === 'influxdb'
      ? p.influxql.map((q, j) => ({ refId: String.fromCharCode(65 + j), datasource: ds, rawQuery: true, resultFormat: p.kind === 'table' ? 'table' : 'time_series', query: grafanaQuery(q) }))
      : p.promql.map((q, j) => ({ refId: String.fromCharCode(65 + j), datasource: ds, expr: q, legendFormat: '__auto', instant: p.kind !== 'timeseries' })),
  }));
  const templating = [
    { name: 'datasource', label: kind === 'influxdb' ? 'InfluxDB (InfluxQL)' : 'Prometheus', type: 'datasource', query: kind, current: {}, hide: 0 },
    ...(kind === 'influxdb'
      ? [{ name: GRAFANA_RP_VARIABLE, label: 'Retention policy (the bucket\'s part after the slash, or retention_policy; empty: the default)', type: 'textbox', query: '', current: { text: '', value: '' }, hide: 0 },
        { name: 'daily_budget', label: 'Daily budget (USD)', type: 'constant', query: '50', hide: 2 }, { name: 'monthly_budget', label: 'Monthly budget (USD)', type: 'constant', query: '1000', hide: 2 }]
      : []),
  ];
  return {
    uid: kind === 'influxdb' ? 'claudescope-influxdb' : 'claudescope-prometheus',
    title: kind === 'influxdb' ? 'claudescope (InfluxDB)' : 'claudescope (Prometheus)',
    tags: ['claudescope', 'claude'], timezone: 'utc', schemaVersion: 39, version: 1, editable: true, refresh: '30s',
    time: { from: 'now-6h', to: 'now' }, templating: { list: templating }, panels, annotations: { list: [] },
  };
}

export function renderAll(): Record<string, string> {
  const c = chronograf();
  const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;
  return {
    'docker/chronograf/claudescope-dashboard.json': json(c),
    'docker/chronograf/resources/claudescope.dashboard': json({ ...c.dashboard, id: 1 }),
    'docker/grafana/dashboards/claudescope-influxdb.json': json(grafana('influxdb')),
    'docker/grafana/dashboards/claudescope-prometheus.json': json(grafana('prometheus')),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [rel, text] of Object.entries(renderAll())) writeFileSync(join(root, rel), text);
  process.stdout.write('dashboards written\n');
}
