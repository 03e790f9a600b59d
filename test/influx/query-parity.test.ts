import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testWith } from '../helpers/external.js';
import { startInfluxd, type Influxd } from '../helpers/influxd.js';
import { mixedWorkload } from '../daemon/workload.js';
import { InfluxSink } from '../../src/store/influx-sink.js';
import { InfluxQueryApi } from '../../src/store/influx-query.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { AggregateQuery, QueryApi, StoredCall } from '../../src/store/types.js';
import { createRuleEngine } from '../../src/rules/index.js';
import type { CallEvent } from '../../src/event/types.js';
import { connection, priced } from './harness.js';

const it = testWith('influxd');
let influx: Influxd;
let sqlite: SqliteStore;
let iq: InfluxQueryApi;
let events: CallEvent[];
const NOW = Math.floor(Date.now() / 60_000) * 60_000 + 30_500;

let cleanup = (): void => undefined;
test.before(async () => {
  if (it !== test) return;
  influx = await startInfluxd();
  await influx.createDatabase('parity');
  // 900 calls, one a second up to NOW, and a burst in the last 5 minutes (spike rule).
  events = mixedWorkload(900, NOW - 1);
  const burst = mixedWorkload(300, NOW - 1).map((e, i) => ({ ...e, ts: NOW - 1 - (i % 240) * 1000 - 7, seq: e.seq + 100_000, usage: e.usage ? { ...e.usage, output_tokens: 400 + i } : null }));
  events = [...events, ...burst];
  const dir = mkdtempSync(join(tmpdir(), 'claudescope-parity-'));
  cleanup = () => rmSync(dir, { recursive: true, force: true });
  sqlite = SqliteStore.open({ path: join(dir, 's.db') });
  const calls = priced(events);
  sqlite.commitBatch({ calls: calls.map((c) => ({ event: c.event, raw: JSON.stringify(c.event), price: c.price })), checkpoints: [], emitterStats: [] });
  const sink = new InfluxSink({ connection: connection(influx.url, 'parity'), deadLetterPath: join(dir, 'dl') });
  await sink.writeCalls(calls);
  await sink.close();
  iq = new InfluxQueryApi({ connection: connection(influx.url, 'parity') });
});
test.after.always(async () => {
  sqlite?.close();
  await influx?.dispose();
  cleanup();
});

const close = (a: number | null | undefined, b: number | null | undefined, rel: number): boolean =>
  a === b || (typeof a === 'number' && typeof b === 'number' && Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), 1e-12));

async function both(q: AggregateQuery): Promise<[Awaited<ReturnType<QueryApi['aggregate']>>, Awaited<ReturnType<QueryApi['aggregate']>>]> {
  return [await sqlite.aggregate(q), await iq.aggregate(q)];
}

const QUERIES: [string, AggregateQuery][] = [
  ['all aggregates over 24 h', { window: { start: NOW - 86_400_000, end: NOW }, aggregates: {
    calls: { op: 'count' }, errors: { op: 'count_where', filter: { status: 'error' } }, cost: { op: 'sum', field: 'cost_usd' },
    nocache: { op: 'sum', field: 'cost_without_cache_usd' }, out: { op: 'sum', field: 'output_tokens' }, cr: { op: 'sum', field: 'cache_read_input_tokens' },
    cw: { op: 'sum', field: 'cache_write_input_tokens' }, ttft: { op: 'sum', field: 'ttft_ms' }, retries: { op: 'sum', field: 'retries' }, unpriced: { op: 'unpriced_count' },
    p50: { op: 'percentile', field: 'duration_ms', p: 50 }, p99: { op: 'percentile', field: 'duration_ms', p: 99 }, t95: { op: 'percentile', field: 'ttft_ms', p: 95 },
  } }],
  ['by model and feature over an unaligned 7 min window, filtered', { window: { start: NOW - 420_123, end: NOW - 17 }, filter: { feature: 'search', status: ['ok', 'error'] }, groupBy: ['model', 'stop_reason'], aggregates: {
    calls: { op: 'count' }, over: { op: 'count_where', filter: { error_type: ['overloaded_error'] } }, cost: { op: 'sum', field: 'cost_usd' }, p95: { op: 'percentile', field: 'duration_ms', p: 95 },
  } }],
  ['an empty filter list matches nothing', { window: { start: NOW - 600_000, end: NOW }, filter: { model: [] }, aggregates: { calls: { op: 'count' }, cost: { op: 'sum', field: 'cost_usd' } } }],
  ['an empty window', { window: { start: NOW - 10 * 86_400_000, end: NOW - 9 * 86_400_000 }, groupBy: [], aggregates: { calls: { op: 'count' }, p: { op: 'percentile', field: 'duration_ms', p: 99 } } }],
];

for (const [title, q] of QUERIES) {
  it(`aggregate gives the embedded store's values: ${title}`, async (t) => {
    const [a, b] = await both(q);
    t.is(b.length, a.length);
    a.forEach((ra, i) => {
      const rb = b[i]!;
      t.deepEqual(rb.group, ra.group);
      for (const [name, agg] of Object.entries(q.aggregates)) {
        const tol = agg.op === 'percentile' ? 0.01 : 1e-9;
        t.true(close(ra.values[name], rb.values[name], tol), `${name}: sqlite ${ra.values[name]} influx ${rb.values[name]} (${JSON.stringify(ra.group)})`);
      }
    });
  });
}

it('percentiles over InfluxDB are exact nearest-rank values of the events', async (t) => {
  const start = NOW - 300_000;
  const inWin = events.filter((e) => e.ts >= start && e.ts < NOW);
  for (const p of [50, 90, 95, 99, 99.9]) {
    const [row] = await iq.aggregate({ window: { start, end: NOW }, aggregates: { v: { op: 'percentile', field: 'duration_ms', p } } });
    const sorted = inWin.map((e) => e.duration_ms).sort((x, y) => x - y);
    t.is(row?.values['v'], sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1], `p${p}`);
  }
});

it('series give the same per-minute buckets', async (t) => {
  const q = { window: { start: NOW - 3_600_000, end: NOW }, stepMs: 60_000, groupBy: ['model' as const], aggregates: { calls: { op: 'count' as const }, out: { op: 'sum' as const, field: 'output_tokens' as const }, cost: { op: 'sum' as const, field: 'cost_usd' as const } } };
  const [a, b] = [await sqlite.series(q), await iq.series(q)];
  t.true(a.length > 10);
  t.deepEqual(b.map((r) => [r.t, r.group, r.values['calls'], r.values['out']]), a.map((r) => [r.t, r.group, r.values['calls'], r.values['out']]));
  a.forEach((r, i) => t.true(close(r.values['cost'], b[i]!.values['cost'], 1e-9)));
});

it('latest rate limits and recent calls match', async (t) => {
  t.deepEqual(await iq.latestRateLimits(), await sqlite.latestRateLimits());
  t.deepEqual(await iq.latestRateLimits({ model: 'claude-test-2' }), await sqlite.latestRateLimits({ model: 'claude-test-2' }));
  const pa = await sqlite.recentCalls({ limit: 25, filter: { model: 'claude-test-1' } });
  const pb = await iq.recentCalls({ limit: 25, filter: { model: 'claude-test-1' } });
  t.deepEqual(pb.calls.map((c) => c.event_id), pa.calls.map((c) => c.event_id));
  const strip = (c: StoredCall): StoredCall => ({ ...c, cost_usd: c.cost_usd === null ? null : Math.round(c.cost_usd * 1e9) });
  t.deepEqual(pb.calls.map(strip), pa.calls.map(strip));
  const next = await iq.recentCalls({ limit: 25, filter: { model: 'claude-test-1' }, cursor: pb.nextCursor! });
  const nextA = await sqlite.recentCalls({ limit: 25, filter: { model: 'claude-test-1' }, cursor: pa.nextCursor! });
  t.deepEqual(next.calls.map((c) => c.event_id), nextA.calls.map((c) => c.event_id));
  const one = events[events.length - 1]!;
  const detail = await iq.call(one.event_id);
  t.is(detail?.event_id, one.event_id);
  t.is(await iq.call('no-such-id'), null);
});

it('every default rule evaluates to the same values on InfluxDB as on the embedded store', async (t) => {
  const health = { tailLagBytes: 0, deadLettersTotal: 0, emitterDroppedEventsTotal: 0, influxAuthFailed: null, unreadableEventFiles: 0, descriptorShortagesTotal: 0 };
  const budgets = { daily: 0.5, monthly: 20, features: { search: { daily: 0.2 } } };
  const run = async (query: QueryApi) => createRuleEngine({ query, rulesDirs: ['rules'], budgets, health: () => health, clock: () => NOW }).evaluateOnce(NOW);
  const [a, b] = [await run(sqlite), await run(iq)];
  t.is(b.rules.length, a.rules.length);
  t.true(a.rules.length >= 10);
  let compared = 0;
  a.rules.forEach((ra, i) => {
    const rb = b.rules[i]!;
    t.is(rb.rule, ra.rule);
    t.is(rb.error, null, `${rb.rule}: ${rb.error}`);
    t.is(rb.samples.length, ra.samples.length, ra.rule);
    ra.samples.forEach((sa, j) => {
      const sb = rb.samples[j]!;
      t.deepEqual(sb.labels, sa.labels, ra.rule);
      t.is(sb.calls, sa.calls, ra.rule);
      t.true(close(sa.value, sb.value, ra.kind === 'latency' ? 0.01 : 1e-9), `${ra.rule}: sqlite ${sa.value} influx ${sb.value}`);
      t.is(sb.active, sa.active, ra.rule);
      compared++;
    });
  });
  t.true(compared >= 8, `compared ${compared} samples`);
});
