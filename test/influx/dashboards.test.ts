/**
 * Every query of the shipped dashboards is executed: InfluxQL (Chronograf and Grafana) against
 * a real InfluxDB seeded with known calls, with the daemon's default database and retention
 * policy and with others set in its configuration, PromQL through `promtool test rules` with the
 * expressions as recording rules over synthetic series. The compose file is validated with
 * `docker-compose config`.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { testWith } from '../helpers/external.js';
import { tempDir } from '../helpers/events.js';
import { startInfluxd, type Influxd, type InfluxSeries } from '../helpers/influxd.js';
import { mixedWorkload } from '../daemon/workload.js';
import { InfluxSink } from '../../src/store/influx-sink.js';
import { parseInfluxSettings, type InfluxSettings } from '../../src/store/influx-config.js';
import { healthLine } from '../../src/store/influx-point-schema.js';
import { CHRONOGRAF_DB, GRAFANA_RP_VARIABLE, PANELS, renderAll } from '../../scripts/build-dashboards.js';
import type { CallEvent } from '../../src/event/types.js';
import { testPricer } from '../helpers/test-pricer.js';
import { connection, priced } from './harness.js';

const HOUR = 3_600_000;
const T_END = Date.UTC(2026, 0, 15, 12, 0, 0);
const T_START = T_END - 6 * HOUR;
const DAY_START = Date.UTC(2026, 0, 15);
const MONTH_START = Date.UTC(2026, 0, 1);
const pricer = testPricer();

const withInflux = testWith('influxd');
let influx: Influxd;
let events: CallEvent[];
/**
 * A daemon configured with a database and a retention policy of its own, not the database's
 * default one. It holds every other seeded call; the default retention policy of that database
 * holds the rest, so a dashboard that reads claudescope, or the default policy, adds up the
 * wrong calls.
 */
let elsewhere: InfluxSettings;
let elsewhereEvents: CallEvent[];

test.before(async () => {
  if (withInflux !== test) return;
  influx = await startInfluxd();
  await influx.createDatabase('claudescope');
  // 360 calls, one a minute over the 6 hours before T_END, plus 20 from the previous day (outside "today").
  events = mixedWorkload(380, T_END).map((e, i) => ({
    ...e, ts: i < 20 ? DAY_START - (i + 1) * 60_000 : T_END - (380 - i) * 60_000 + 1000,
    // Input and output token limits as the API sends them, beside requests and tokens; not on
    // every call, so a model's latest of each is not always its latest call's.
    rate_limits: i % 4 === 3 ? e.rate_limits : { ...e.rate_limits, input_tokens: { limit: 40_000, remaining: 40_000 - 7 * i, reset: null }, output_tokens: { limit: 8_000, remaining: 8_000 - 3 * i, reset: null } },
  }));
  const sink = new InfluxSink({ connection: connection(influx.url, 'claudescope'), deadLetterPath: '/dev/null' });
  await sink.writeCalls(priced(events));
  await sink.close();
  const health = [
    healthLine({ host: 'h1', ts: T_END - 2 * HOUR, lagBytes: 10, oldestUnackedAgeSeconds: 0, deadLettersTotal: 1, emitterDroppedEventsTotal: 0, eventsCommittedTotal: 5, sinkRetriesTotal: 0, sinkAuthFailed: false, unreadableFiles: 0, descriptorShortagesTotal: 0 }),
    healthLine({ host: 'h1', ts: T_END - HOUR, lagBytes: 700, oldestUnackedAgeSeconds: 3, deadLettersTotal: 2, emitterDroppedEventsTotal: 4, eventsCommittedTotal: 9, sinkRetriesTotal: 1, sinkAuthFailed: false, unreadableFiles: 0, descriptorShortagesTotal: 0 }),
    healthLine({ host: 'h2', ts: T_END - HOUR, lagBytes: 0, oldestUnackedAgeSeconds: 0, deadLettersTotal: 0, emitterDroppedEventsTotal: 0, eventsCommittedTotal: 3, sinkRetriesTotal: 0, sinkAuthFailed: false, unreadableFiles: 0, descriptorShortagesTotal: 0 }),
  ].join('\n');
  await influx.write('claudescope', health);

  elsewhere = parseInfluxSettings({ url: influx.url, api: 'v1', database: 'llm_usage', retention_policy: 'kept_long', health_interval_ms: 0 }, null, {})!;
  const { database, retentionPolicy } = elsewhere.connection;
  await influx.createDatabase(database);
  // Not the default: the database keeps its default policy (autogen) for the decoys.
  await influx.query(`CREATE RETENTION POLICY "${retentionPolicy!}" ON "${database}" DURATION INF REPLICATION 1`);
  elsewhereEvents = events.filter((_, i) => i % 2 === 0);
  const configured = new InfluxSink({ connection: elsewhere.connection, deadLetterPath: '/dev/null' });
  await configured.writeCalls(priced(elsewhereEvents));
  await configured.close();
  await influx.write(database, health, retentionPolicy!);
  const decoys = new InfluxSink({ connection: { ...elsewhere.connection, retentionPolicy: null }, deadLetterPath: '/dev/null' });
  await decoys.writeCalls(priced(events.filter((_, i) => i % 2 === 1)));
  await decoys.close();
  await influx.write(database, healthLine({ host: 'h3', ts: T_END - HOUR, lagBytes: 5, oldestUnackedAgeSeconds: 0, deadLettersTotal: 0, emitterDroppedEventsTotal: 0, eventsCommittedTotal: 1, sinkRetriesTotal: 0, sinkAuthFailed: false, unreadableFiles: 0, descriptorShortagesTotal: 0 }));
});
test.after.always(async () => {
  await influx?.dispose();
});

const inRange = (from: number, to: number, all: CallEvent[] = events): CallEvent[] => all.filter((e) => e.ts >= from && e.ts < to);
const cost = (e: CallEvent): number => pricer.price(e).cost_nanousd ?? 0;
const noCache = (e: CallEvent): number => pricer.price(e).cost_without_cache_nanousd ?? 0;
const sumBy = (es: CallEvent[], key: (e: CallEvent) => string | null, val: (e: CallEvent) => number): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const e of es) {
    const k = key(e) ?? '';
    out[k] = (out[k] ?? 0) + val(e);
  }
  return out;
};
/** InfluxDB's PERCENTILE: the value at rank ⌊n·p/100 + ½⌋. */
const influxPct = (xs: number[], p: number): number | null => {
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.floor((s.length * p) / 100 + 0.5) - 1;
  return i < 0 || i >= s.length ? null : s[i]!;
};
const near = (a: unknown, b: number): boolean => typeof a === 'number' && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));

/** Sums a column per tag value over every row of every series. */
function columnByTag(series: InfluxSeries[], tag: string | null, col: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of series) {
    const k = tag === null ? '' : (s.tags?.[tag] ?? '');
    const i = s.columns.indexOf(col);
    for (const v of s.values ?? []) out[k] = (out[k] ?? 0) + (typeof v[i] === 'number' ? v[i] : 0);
  }
  return out;
}

/** Checks one panel's result against numbers computed from the seeded calls (`all`: those its database and retention policy hold). */
function check(key: string, series: InfluxSeries[], from: number, to: number, all: CallEvent[] = events): string[] {
  const es = inRange(from, to, all);
  const bad: string[] = [];
  const eq = (what: string, got: unknown, want: unknown): void => {
    const ok = typeof want === 'number' ? near(got, want) : JSON.stringify(got) === JSON.stringify(want);
    if (!ok) bad.push(`${key} ${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  };
  const eqMap = (what: string, got: Record<string, number>, want: Record<string, number>): void => {
    const keys = new Set([...Object.keys(got), ...Object.keys(want)]);
    for (const k of keys) eq(`${what}[${k}]`, got[k] ?? 0, want[k] ?? 0);
  };
  const lastRow = (col: string): unknown => {
    const s = series[0];
    const v = s?.values?.[s.values.length - 1];
    return v?.[s!.columns.indexOf(col)];
  };
  switch (key) {
    case 'spend_today':
    case 'spend_month': {
      const spend = es.reduce((a, e) => a + cost(e), 0) / 1e9;
      eq('spend_usd', lastRow('spend_usd'), spend);
      eq('pct_of_budget', lastRow('pct_of_budget'), (spend / (key === 'spend_today' ? 50 : 1000)) * 100);
      break;
    }
    case 'cost_by_model':
      eqMap('usd', columnByTag(series, 'model', 'usd'), Object.fromEntries(Object.entries(sumBy(es.filter((e) => pricer.price(e).priced), (e) => e.model, cost)).map(([k, v]) => [k, v / 1e9])));
      break;
    case 'cost_by_feature':
      eqMap('usd', columnByTag(series, 'feature', 'usd'), Object.fromEntries(Object.entries(sumBy(es.filter((e) => pricer.price(e).priced), (e) => e.tags['feature'] ?? null, cost)).map(([k, v]) => [k, v / 1e9])));
      break;
    case 'tokens_by_type':
      eq('input', columnByTag(series, null, 'input')[''], es.reduce((a, e) => a + (e.usage?.input_tokens ?? 0), 0));
      eq('output', columnByTag(series, null, 'output')[''], es.reduce((a, e) => a + (e.usage?.output_tokens ?? 0), 0));
      eq('cache_read', columnByTag(series, null, 'cache_read')[''], es.reduce((a, e) => a + (e.usage?.cache_read_input_tokens ?? 0), 0));
      eq('cache_write_5m', columnByTag(series, null, 'cache_write_5m')[''], es.reduce((a, e) => a + (e.usage?.cache_write_5m_input_tokens ?? 0), 0));
      eq('cache_write_1h', columnByTag(series, null, 'cache_write_1h')[''], es.reduce((a, e) => a + (e.usage?.cache_write_1h_input_tokens ?? 0), 0));
      break;
    case 'calls_by_status':
      eqMap('calls', columnByTag(series, 'status', 'calls'), sumBy(es, (e) => e.status, () => 1));
      break;
    case 'errors_by_type':
      eqMap('errors', columnByTag(series, 'error_type', 'errors'), sumBy(es.filter((e) => e.status === 'error'), (e) => e.error_type, () => 1));
      break;
    case 'latency':
    case 'ttft': {
      const s = series[0];
      const field = key === 'latency' ? 'duration_ms' : 'ttft_ms';
      let rows = 0;
      for (const v of s?.values ?? []) {
        const t = Date.parse(String(v[0]));
        const bucket = inRange(Math.max(t, from), Math.min(t + HOUR, to), all).map((e) => e[field]).filter((x): x is number => x !== null);
        for (const p of [50, 95, 99]) eq(`p${p}@${String(v[0])}`, v[s!.columns.indexOf(`p${p}`)], influxPct(bucket, p));
        rows++;
      }
      eq('buckets', rows, 6);
      break;
    }
    case 'rate_limit_headroom': {
      // Each dimension's latest remaining ÷ limit per model, input and output tokens too.
      for (const model of ['claude-test-1', 'claude-test-2', 'unpriced-model']) {
        const s = series.find((x) => x.tags?.['model'] === model);
        const v = s?.values?.[0];
        for (const d of ['requests', 'tokens', 'input_tokens', 'output_tokens'] as const) {
          const last = es.filter((e) => e.model === model && e.rate_limits?.[d] !== undefined).sort((a, b) => a.ts - b.ts).pop();
          if (last === undefined) {
            bad.push(`${key}: no seeded call of ${model} carries ${d}`);
            continue;
          }
          const col = s?.columns.indexOf(d) ?? -1;
          if (col < 0) bad.push(`${key}: no ${d} column for ${model}`);
          eq(`${d}[${model}]`, v?.[col], last.rate_limits![d]!.remaining! / last.rate_limits![d]!.limit!);
        }
      }
      break;
    }
    case 'cache_hit_ratio': {
      const read = es.reduce((a, e) => a + (e.usage?.cache_read_input_tokens ?? 0), 0);
      const all = es.reduce((a, e) => a + (e.usage ? e.usage.input_tokens + e.usage.cache_read_input_tokens + e.usage.cache_creation_input_tokens : 0), 0);
      eq('hit_ratio', lastRow('hit_ratio'), read / all);
      break;
    }
    case 'cache_savings':
      eq('saved_usd', lastRow('saved_usd'), es.filter((e) => pricer.price(e).priced).reduce((a, e) => a + noCache(e) - cost(e), 0) / 1e9);
      break;
    case 'pipeline_lag':
      eqMap('lag_bytes', columnByTag(series, 'host', 'lag_bytes'), { h1: 700, h2: 0 });
      eqMap('dead_letters', columnByTag(series, 'host', 'dead_letters'), { h1: 2, h2: 0 });
      eqMap('emitter_drops', columnByTag(series, 'host', 'emitter_drops'), { h1: 4, h2: 0 });
      break;
    default:
      bad.push(`no expectation for panel ${key}`);
  }
  return bad;
}

const read = (rel: string): unknown => JSON.parse(readFileSync(rel, 'utf8'));

test('the dashboard files are the ones scripts/build-dashboards.ts writes', (t) => {
  for (const [rel, text] of Object.entries(renderAll())) t.is(readFileSync(rel, 'utf8'), text, `${rel} is stale: run node --import tsx scripts/build-dashboards.ts`);
});

test('Grafana dashboards have stable uids and a datasource variable every panel uses', (t) => {
  for (const [file, uid, type] of [['claudescope-influxdb.json', 'claudescope-influxdb', 'influxdb'], ['claudescope-prometheus.json', 'claudescope-prometheus', 'prometheus']] as const) {
    const d = read(join('docker/grafana/dashboards', file)) as { uid: string; templating: { list: { name: string; type: string; query: string }[] }; panels: { datasource: { uid: string; type: string } }[] };
    t.is(d.uid, uid);
    t.like(d.templating.list.find((v) => v.name === 'datasource'), { type: 'datasource', query: type });
    t.true(d.panels.every((p) => p.datasource.uid === '${datasource}' && p.datasource.type === type));
  }
});

test('each spend panel names the period it adds up: Grafana the UTC day or month so far, Chronograf the last 30 days for want of a calendar month', (t) => {
  const c = read('docker/chronograf/claudescope-dashboard.json') as ChronografDashboard;
  for (const cell of c.dashboard.cells) {
    if (cell.queries.some((q) => q.query.includes('now() - 30d'))) t.regex(cell.name, /\blast 30 days\b/, cell.name);
    t.notRegex(cell.name, /\bthis month\b/, `${cell.name}: InfluxQL cannot start at the month's first day`);
  }
  for (const file of ['claudescope-influxdb.json', 'claudescope-prometheus.json']) {
    const g = read(join('docker/grafana/dashboards', file)) as { panels: { title: string; timeFrom?: string; targets: { query?: string; expr?: string }[] }[] };
    for (const p of g.panels) {
      const period = /\btoday\b/.test(p.title) ? 'now/d' : /\bthis month\b/.test(p.title) ? 'now/M' : undefined;
      t.is(p.timeFrom, period, `${file}: ${p.title}`);
      if (period === undefined) continue;
      // The queries take the panel's time (the period so far), never a range of their own.
      for (const x of p.targets) {
        if (x.query !== undefined) t.true(x.query.includes('$timeFilter'), x.query);
        else t.true(x.expr!.includes('[$__range]') && !/\[\d+[smhdwy]\]/.test(x.expr!), x.expr!);
      }
    }
  }
});

test('every Grafana stat adds up the time picked in Grafana (or its panel\'s period), as the same panel of the InfluxDB dashboard does', (t) => {
  type Panel = { title: string; type: string; targets: { expr?: string; query?: string }[] };
  const prom = read('docker/grafana/dashboards/claudescope-prometheus.json') as { panels: Panel[] };
  const influx = read('docker/grafana/dashboards/claudescope-influxdb.json') as { panels: Panel[] };
  const stats = prom.panels.filter((p) => p.type === 'stat');
  t.true(stats.length >= 4);
  for (const p of stats) {
    for (const x of p.targets) {
      t.deepEqual([...x.expr!.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]).filter((r) => r !== '$__range'), [], `${p.title}: ${x.expr!}`);
    }
    const twin = influx.panels.find((q) => q.title === p.title)!;
    t.true(twin.targets.every((x) => x.query!.includes('$timeFilter')), `${p.title}: the InfluxDB panel reads the time picked`);
  }
});

test('Chronograf\'s y axes are labelled in units a reader knows (USD, ms, ratio, bytes), never with Grafana\'s unit ids', (t) => {
  const c = read('docker/chronograf/claudescope-dashboard.json') as { dashboard: { cells: { name: string; axes: { y: { label: string } } }[] } };
  const labels = new Map(c.dashboard.cells.map((x) => [x.name, x.axes.y.label]));
  for (const [name, label] of labels) t.true(['USD', 'ms', 'ratio', 'bytes', ''].includes(label), `${name}: ${label}`);
  t.is(labels.get('Cost over time by model'), 'USD');
  t.is(labels.get('Latency p50 / p95 / p99 (ms)'), 'ms');
  t.is(labels.get('Tokens by type'), '');
});

test('Grafana shows each spend panel\'s share of the budget as a percentage, not in dollars like the spend beside it', (t) => {
  interface Override { matcher: { id: string; options: string }; properties: { id: string; value: string }[] }
  type Panel = { title: string; fieldConfig: { defaults: { unit: string }; overrides: Override[] }; targets: { refId: string; expr?: string; query?: string }[] };
  const unitOf = (p: Panel, refId: string, displayName: string): string => {
    // Grafana applies the overrides in order over the defaults; InfluxQL fields are displayed as measurement.alias.
    let unit = p.fieldConfig.defaults.unit;
    for (const o of p.fieldConfig.overrides) {
      const hit = o.matcher.id === 'byFrameRefID' ? o.matcher.options === refId : o.matcher.id === 'byRegexp' ? new RegExp(`^(?:${o.matcher.options})$`).test(displayName) : false;
      if (hit) unit = o.properties.find((x) => x.id === 'unit')?.value ?? unit;
    }
    return unit;
  };
  let shares = 0;
  const prom = read('docker/grafana/dashboards/claudescope-prometheus.json') as { panels: Panel[] };
  for (const p of prom.panels) {
    for (const x of p.targets) {
      if (!x.expr!.includes('claude_budget_usd')) continue;
      shares++;
      t.is(unitOf(p, x.refId, ''), 'percentunit', `${p.title}: ${x.expr!} is a ratio`);
      t.is(unitOf(p, 'A', ''), 'currencyUSD', `${p.title}: the spend stays in dollars`);
    }
  }
  const influx = read('docker/grafana/dashboards/claudescope-influxdb.json') as { panels: Panel[] };
  for (const p of influx.panels) {
    for (const x of p.targets) {
      if (!x.query!.includes('"pct_of_budget"')) continue;
      shares++;
      t.is(unitOf(p, x.refId, 'claude_call.pct_of_budget'), 'percent', `${p.title}: pct_of_budget is a percentage`);
      t.is(unitOf(p, x.refId, 'claude_call.spend_usd'), 'currencyUSD', `${p.title}: the spend stays in dollars`);
    }
  }
  t.is(shares, 4, 'today and this month, in both dashboards');
});

interface ChronografDashboard {
  dashboard: {
    cells: { i: string; name: string; queries: { query: string; queryConfig: { database: string; retentionPolicy: string } }[] }[];
    templates: { tempVar: string; type: string; values: { value: string }[] }[];
  };
}
interface GrafanaDashboard {
  templating: { list: { name: string; type: string; query: string; current?: { value: string } }[] };
  panels: { title: string; timeFrom?: string; targets: { query: string }[] }[];
}

/**
 * Runs every Chronograf query as Chronograf does: the variables replaced (their defaults, but
 * for `set`), sent with the database and retention policy of the cell's queryConfig.
 */
async function chronografProblems(t: ExecutionContext, set: Record<string, string>, all: CallEvent[]): Promise<string[]> {
  const d = read('docker/chronograf/claudescope-dashboard.json') as ChronografDashboard;
  t.is(d.dashboard.cells.length, PANELS.length);
  const vars = { ...Object.fromEntries(d.dashboard.templates.map((v) => [v.tempVar, v.values[0]!.value])), ...set };
  const problems: string[] = [];
  for (const cell of d.dashboard.cells) {
    const key = cell.i.replace('claudescope-', '');
    for (const { query, queryConfig } of cell.queries) {
      let q = query.replaceAll(':dashboardTime:', `${T_START}ms`).replaceAll(':upperDashboardTime:', `${T_END}ms`).replaceAll(':interval:', '1h').replaceAll('now()', `${T_END}ms`);
      for (const [name, value] of Object.entries(vars)) q = q.replaceAll(name, value);
      t.false(/:[\w-]+:/.test(q), `unreplaced variable in ${q}`);
      const [res] = await influx.query(q, queryConfig.database || undefined, queryConfig.retentionPolicy ? { rp: queryConfig.retentionPolicy } : {});
      const range: [number, number] = key === 'spend_today' ? [DAY_START, T_END] : key === 'spend_month' ? [T_END - 30 * 24 * HOUR, T_END] : [T_START, T_END];
      problems.push(...check(key, res?.series ?? [], range[0] + 1, range[1], all));
    }
  }
  return problems;
}

/**
 * Runs every Grafana InfluxQL query as Grafana does: the variables replaced (their defaults,
 * but for `set`), sent with the database of the datasource (`db`).
 */
async function grafanaProblems(t: ExecutionContext, db: string, set: Record<string, string>, all: CallEvent[]): Promise<string[]> {
  const d = read('docker/grafana/dashboards/claudescope-influxdb.json') as GrafanaDashboard;
  t.is(d.panels.length, PANELS.length);
  const vars = { ...Object.fromEntries(d.templating.list.filter((v) => v.type !== 'datasource').map((v) => [v.name, v.current?.value ?? v.query])), ...set };
  const problems: string[] = [];
  for (const [i, panel] of d.panels.entries()) {
    const key = PANELS[i]!.key;
    const from = panel.timeFrom === 'now/d' ? DAY_START : panel.timeFrom === 'now/M' ? MONTH_START : T_START;
    for (const { query } of panel.targets) {
      let q = query.replaceAll('$timeFilter', `time >= ${from}ms and time <= ${T_END}ms`).replaceAll('$__interval', '1h');
      for (const [name, value] of Object.entries(vars)) q = q.replaceAll(`$${name}`, value);
      t.false(q.includes('$'), `unreplaced variable in ${q}`);
      const [res] = await influx.query(q, db);
      problems.push(...check(key, res?.series ?? [], from, T_END + 1, all));
    }
  }
  return problems;
}

/** The database of the InfluxDB datasource provisioned for Grafana under docker/. */
function provisionedDatabase(): string {
  const p = parseYaml(readFileSync('docker/grafana/provisioning/datasources/datasources.yml', 'utf8')) as { datasources: { type: string; jsonData?: { dbName?: string } }[] };
  return p.datasources.find((ds) => ds.type === 'influxdb')!.jsonData!.dbName!;
}

withInflux('every Chronograf query returns the numbers of the seeded calls', async (t) => {
  t.deepEqual(await chronografProblems(t, {}, events), []);
});

withInflux('every Grafana InfluxQL query returns the numbers of the seeded calls', async (t) => {
  t.deepEqual(await grafanaProblems(t, provisionedDatabase(), {}, events), []);
});

withInflux('Chronograf: with influxdb.database and a retention policy other than the default one set, every query reads the calls there', async (t) => {
  const { database, retentionPolicy } = elsewhere.connection;
  const set = { [`:${CHRONOGRAF_DB.database.name}:`]: database, [`:${CHRONOGRAF_DB.retentionPolicy.name}:`]: retentionPolicy! };
  t.deepEqual(await chronografProblems(t, set, elsewhereEvents), []);
});

withInflux('Grafana: with influxdb.database as the datasource\'s database and influxdb.retention_policy in the dashboard, every query reads the calls there', async (t) => {
  const { database, retentionPolicy } = elsewhere.connection;
  t.deepEqual(await grafanaProblems(t, database, { [GRAFANA_RP_VARIABLE]: retentionPolicy! }, elsewhereEvents), []);
});

type PromPanel = { title: string; type: string; timeFrom?: string; targets: { expr: string }[] };
const promPanels = (): PromPanel[] => (read('docker/grafana/dashboards/claudescope-prometheus.json') as { panels: PromPanel[] }).panels;

/**
 * Grafana's variables as it fills them for one view: `range` the panel's time span (a stat's
 * period so far, else the dashboard's), `step` the graph's step ($__interval), `scrape` the
 * datasource's scrape interval (so $__rate_interval = max(step + scrape, 4 × scrape)).
 */
function grafanaPromql(p: PromPanel, expr: string, view: { range: string; periodSoFar: string; stepMinutes: number; scrapeMinutes: number }): string {
  const rateInterval = Math.max(view.stepMinutes + view.scrapeMinutes, 4 * view.scrapeMinutes);
  return expr.replaceAll('$__range', p.timeFrom === 'now/d' || p.timeFrom === 'now/M' ? view.periodSoFar : view.range)
    .replaceAll('$__rate_interval', `${rateInterval}m`).replaceAll('$__interval_ms', String(view.stepMinutes * 60_000)).replaceAll('$__interval', `${view.stepMinutes}m`);
}

/** Runs `promtool test rules` on the expressions as recording rules over `input`; its output when it fails. */
function promtoolProblems(t: ExecutionContext, exprs: string[], interval: string, input: string[][], tests: { expr: string; evalTime: string; samples: { labels: string; value: number }[] }[]): string | null {
  const dir = tempDir(t);
  const rules = { groups: [{ name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:expr_${i}`, expr })) }] };
  writeFileSync(join(dir, 'rules.yml'), JSON.stringify(rules, null, 1));
  const lines = ['rule_files: [rules.yml]', `evaluation_interval: ${interval}`, 'tests:', `  - interval: ${interval}`, '    input_series:',
    ...input.map(([s, v]) => `      - series: '${s}'\n        values: '${v}'`),
    '    promql_expr_test:',
    ...tests.map((x) => `      - expr: '${x.expr}'\n        eval_time: ${x.evalTime}\n        exp_samples:\n${x.samples.map((s) => `          - labels: '${s.labels}'\n            value: ${s.value}`).join('\n')}`),
  ];
  writeFileSync(join(dir, 'test.yml'), `${lines.join('\n')}\n`);
  const r = spawnSync('promtool', ['test', 'rules', 'test.yml'], { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return r.status === 0 ? null : `${r.stdout}\n${r.stderr}`;
}

/** What each panel's counters grow by at every sample of the synthetic series, by the graph's labels. */
const PER_SAMPLE: Record<string, Record<string, number>> = {
  cost_by_model: { '{model="m1"}': 1, '{model="m2"}': 2 },
  cost_by_feature: { '{feature="a"}': 1, '{feature="b"}': 2 },
  tokens_by_type: { '{direction="input"}': 10, '{direction="output"}': 5 },
  calls_by_status: { '{status="error"}': 1, '{status="ok"}': 4 },
  errors_by_type: { '{kind="overloaded"}': 1 },
};
/** Counters growing by PER_SAMPLE at every sample, `n` samples (promtool's expanding notation). */
const counterSeries = (n: number): string[][] => [
  ['claude_cost_usd_total{model="m1",feature="a"}', `0+1x${n}`], ['claude_cost_usd_total{model="m2",feature="b"}', `0+2x${n}`],
  ['claude_tokens_total{model="m1",direction="input",feature="a"}', `0+10x${n}`], ['claude_tokens_total{model="m1",direction="output",feature="a"}', `0+5x${n}`],
  ['claude_requests_total{model="m1",status="ok",stop_reason="end_turn",feature="a"}', `0+4x${n}`], ['claude_requests_total{model="m1",status="error",stop_reason="",feature="a"}', `0+1x${n}`],
  ['claude_errors_total{model="m1",error_type="overloaded_error",kind="overloaded"}', `0+1x${n}`],
];

test('no Prometheus panel reads a fixed window: graphs read each step whole ($__rate_interval, per $__interval), stats the time picked ($__range)', (t) => {
  let graphs = 0;
  for (const p of promPanels()) {
    for (const { expr } of p.targets) {
      const ranges = [...expr.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]);
      t.false(/\[\d+[smhdwy]/.test(expr), `${p.title}: ${expr} reads a fixed window`);
      if (p.type === 'timeseries') {
        graphs++;
        t.deepEqual(ranges.filter((r) => r !== '$__rate_interval'), [], `${p.title}: ${expr}`);
        // A count per step is the rate times the step, as InfluxQL's SUM per $__interval.
        if (!expr.startsWith('histogram_quantile(')) t.true(expr.endsWith('* $__interval_ms / 1000'), `${p.title}: ${expr}`);
      } else t.deepEqual(ranges.filter((r) => r !== '$__range'), [], `${p.title}: ${expr}`);
    }
  }
  t.is(graphs, 11);
});

test('Grafana\'s Prometheus datasource has the scrape interval of prometheus.yml, from which $__rate_interval covers at least four scrapes', (t) => {
  const ds = parseYaml(readFileSync('docker/grafana/provisioning/datasources/datasources.yml', 'utf8')) as { datasources: { type: string; jsonData?: { timeInterval?: string } }[] };
  const prom = parseYaml(readFileSync('docker/prometheus/prometheus.yml', 'utf8')) as { global: { scrape_interval: string }; scrape_configs: { scrape_interval?: string }[] };
  t.is(ds.datasources.find((x) => x.type === 'prometheus')?.jsonData?.timeInterval, prom.global.scrape_interval);
  t.true(prom.scrape_configs.every((c) => c.scrape_interval === undefined || c.scrape_interval === prom.global.scrape_interval));
});

testWith('promtool')('every Grafana PromQL expression evaluates to the expected value on synthetic series (promtool test rules)', (t) => {
  // Grafana puts the panel's time span in $__range: with a time override of now/d or now/M, the
  // time since the day or the month began, here 33 minutes (as if both began at 27m); else the
  // dashboard's 6 hours. Its graphs step by the scrape interval here, a minute.
  const view = { range: '6h', periodSoFar: '33m', stepMinutes: 1, scrapeMinutes: 1 };
  const exprs = promPanels().flatMap((p) => p.targets.map((x) => grafanaPromql(p, x.expr, view)));
  t.is(exprs.length, PANELS.reduce((a, p) => a + p.promql.length, 0));
  for (const expr of exprs) t.false(expr.includes('$'), `unreplaced variable in ${expr}`);
  // Counters grow by a fixed amount every minute for 2 hours; evaluated at 60m.
  const input = [
    ...counterSeries(120),
    ['claude_cost_without_cache_usd_total{model="m1"}', '0+4x120'], ['claude_cost_without_cache_usd_total{model="m2"}', '0+4x120'],
    ['claude_budget_usd{period="daily",feature=""}', '240x120'], ['claude_budget_usd{period="monthly",feature=""}', '1800x120'],
    ['claude_latency_seconds_bucket{model="m1",le="0.5"}', '0+0x120'], ['claude_latency_seconds_bucket{model="m1",le="1"}', '0+2x120'], ['claude_latency_seconds_bucket{model="m1",le="2"}', '0+4x120'], ['claude_latency_seconds_bucket{model="m1",le="+Inf"}', '0+4x120'],
    ['claude_ttft_seconds_bucket{model="m1",le="0.25"}', '0+0x120'], ['claude_ttft_seconds_bucket{model="m1",le="0.5"}', '0+2x120'], ['claude_ttft_seconds_bucket{model="m1",le="1"}', '0+4x120'], ['claude_ttft_seconds_bucket{model="m1",le="+Inf"}', '0+4x120'],
    ['claude_rate_limit_remaining{model="m1",dimension="requests"}', '25x120'], ['claude_rate_limit_limit{model="m1",dimension="requests"}', '100x120'],
    ['claude_cache_read_input_tokens_total{model="m1"}', '0+3x120'], ['claude_prompt_input_tokens_total{model="m1"}', '0+12x120'],
    ['claudescope_tail_lag_bytes', '4096x120'],
  ];
  const perStep = (key: string): { labels: string; value: number }[] => Object.entries(PER_SAMPLE[key]!).map(([labels, value]) => ({ labels, value }));
  // What each expression must give at 60m (one entry per expression, in dashboard order).
  const expected: { labels: string; value: number }[][] = [
    [{ labels: '{}', value: 99 }], [{ labels: '{}', value: 0.4125 }], // spend today: the day's 33 min × $3; ÷ $240
    [{ labels: '{}', value: 99 }], [{ labels: '{}', value: 0.055 }], // this month: the month's 33 min × $3; ÷ $1800
    // The graphs: what a step of a minute adds.
    perStep('cost_by_model'), perStep('cost_by_feature'), perStep('tokens_by_type'), perStep('calls_by_status'), perStep('errors_by_type'),
    [{ labels: '{}', value: 1000 }], [{ labels: '{}', value: 1900 }], [{ labels: '{}', value: 1980 }],
    [{ labels: '{}', value: 500 }], [{ labels: '{}', value: 950 }], [{ labels: '{}', value: 990 }],
    [{ labels: '{dimension="requests",model="m1"}', value: 0.25 }],
    [{ labels: '{}', value: 0.25 }],
    [{ labels: '{}', value: 300 }], // saved: the 60 min of the 6 h that hold data × ($8 − $3)
    [{ labels: '{__name__="claudescope_tail_lag_bytes"}', value: 4096 }],
  ];
  t.is(expected.length, exprs.length);
  const tests = exprs.map((_, i) => ({
    expr: `dashboard:expr_${i}`, evalTime: '60m',
    samples: expected[i]!.map((s) => ({ labels: `dashboard:expr_${i}${s.labels === '{}' ? '' : s.labels.replace('{__name__="claudescope_tail_lag_bytes"}', '')}`, value: s.value })),
  }));
  t.is(promtoolProblems(t, exprs, '1m', input, tests), null);
});

testWith('promtool')('a 30-day Prometheus graph adds up all of the range: its points (3 h apart) sum to what the counters grew by, and every point has its percentiles', (t) => {
  // A 30-day view: Grafana's graphs step by hours (here 3 h) over series scraped every 5 minutes,
  // the view's last 30 of 31 days (so its first step has the scrapes before it, as in use).
  const view = { range: '30d', periodSoFar: '30d', stepMinutes: 180, scrapeMinutes: 5 };
  const samples = 31 * 24 * 12;
  const inView = 30 * 24 * 12;
  // The view's 240 steps, the last at 31d (not the one at 1d, whose step is the day before).
  const STEPS = '719h';
  const graphs = promPanels().filter((p) => p.type === 'timeseries');
  const byKey = new Map(PANELS.map((p) => [p.title, p.key]));
  // Calls (and their latency) only in the second hour of every 3: a percentile over a few
  // minutes at each step would see none of them.
  const burst = (perSample: number): string => {
    const values = ['0'];
    for (let j = 1, n = 0; j <= samples; j++) values.push(String((n += Math.floor(((j * 5) % 180) / 60) === 1 ? perSample : 0)));
    return values.join(' ');
  };
  const burstOf = (k: number): string => burst(k);
  const input = [
    ...counterSeries(samples),
    ['claude_latency_seconds_bucket{model="m1",le="0.5"}', burstOf(0)], ['claude_latency_seconds_bucket{model="m1",le="1"}', burstOf(2)], ['claude_latency_seconds_bucket{model="m1",le="2"}', burstOf(4)], ['claude_latency_seconds_bucket{model="m1",le="+Inf"}', burstOf(4)],
    ['claude_ttft_seconds_bucket{model="m1",le="0.25"}', burstOf(0)], ['claude_ttft_seconds_bucket{model="m1",le="0.5"}', burstOf(2)], ['claude_ttft_seconds_bucket{model="m1",le="1"}', burstOf(4)], ['claude_ttft_seconds_bucket{model="m1",le="+Inf"}', burstOf(4)],
  ];
  const exprs: string[] = [];
  const tests: { expr: string; evalTime: string; samples: { labels: string; value: number }[] }[] = [];
  for (const p of graphs) {
    for (const x of p.targets) {
      const i = exprs.push(grafanaPromql(p, x.expr, view)) - 1;
      const key = byKey.get(p.title)!;
      if (key === 'latency' || key === 'ttft') {
        // The p50 is 1 s (500 ms for TTFT) at each of the 240 steps: count the points near their value.
        const q = Number(/histogram_quantile\(([\d.]+)/.exec(x.expr)![1]);
        const want = ({ latency: { 0.5: 1000, 0.95: 1900, 0.99: 1980 }, ttft: { 0.5: 500, 0.95: 950, 0.99: 990 } } as const)[key][q as 0.5 | 0.95 | 0.99];
        tests.push({ expr: `count_over_time((abs((${exprs[i]!}) - ${want}) < 0.001)[${STEPS}:3h])`, evalTime: '31d', samples: [{ labels: '{}', value: 240 }] });
      } else {
        // The sum of the graph's points is what the counters grew by over the 30 days.
        tests.push({
          expr: `round(sum_over_time((${exprs[i]!})[${STEPS}:3h]))`, evalTime: '31d',
          samples: Object.entries(PER_SAMPLE[key]!).map(([labels, perSample]) => ({ labels, value: perSample * inView })),
        });
      }
    }
  }
  t.is(tests.length, 11);
  t.is(promtoolProblems(t, exprs, '5m', input, tests), null);
});

testWith('docker-compose')('docker-compose validates the compose file (daemon, InfluxDB 2, Chronograf, Grafana, Prometheus)', (t) => {
  const out = execFileSync('docker-compose', ['-f', 'docker/docker-compose.yml', 'config'], { encoding: 'utf8' });
  for (const s of ['claudescope:', 'influxdb:', 'chronograf:', 'grafana:', 'prometheus:']) t.true(out.includes(`  ${s}`), s);
  t.true(out.includes('credentials_file') || readFileSync('docker/prometheus/prometheus.yml', 'utf8').includes('credentials_file: /run/secrets/claudescope_token'));
});
