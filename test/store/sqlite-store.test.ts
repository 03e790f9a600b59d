import test from 'ava';
import { join } from 'node:path';
import { SqliteStore, type PricedCall } from '../../src/store/sqlite-store.js';
import Database from 'better-sqlite3';
import { DIMENSION_COLUMNS, MIGRATIONS, migrate } from '../../src/store/migrations.js';
import { LogHistogram } from '../../src/store/histogram.js';
import type { CallEvent } from '../../src/event/types.js';
import type { CallFilter } from '../../src/store/types.js';
import { call, tempHome } from '../helpers/event-files.js';
import { testPricer } from '../helpers/test-pricer.js';
import { openStore } from '../helpers/store.js';

const pricer = testPricer();
const priced = (e: CallEvent): PricedCall => ({ event: e, raw: JSON.stringify(e), price: pricer.price(e) });
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 1, 0, 0, 0);

const open = openStore;

/** A deterministic workload: several models, features, errors, unpriced calls, cache usage, TTFTs. */
function workload(n: number): CallEvent[] {
  let x = 12345;
  const rnd = (): number => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const out: CallEvent[] = [];
  for (let i = 0; i < n; i++) {
    const model = ['claude-a', 'claude-b', 'unpriced-model'][i % 3]!;
    const err = rnd() < 0.1;
    const base = call({
      ts: T0 + Math.floor(rnd() * DAY),
      model,
      tags: { feature: ['chat', 'search'][i % 2]! },
      status: err ? 'error' : 'ok',
      error_type: err ? (rnd() < 0.5 ? 'overloaded_error' : 'rate_limit_error') : null,
      http_status: err ? 529 : 200,
      duration_ms: Math.round(10 + rnd() ** 3 * 20_000),
      ttft_ms: i % 4 === 0 ? null : Math.round(5 + rnd() * 3000),
      attempts: 1 + (i % 3 === 0 ? 1 : 0),
    });
    base.usage = { ...base.usage!, input_tokens: Math.floor(rnd() * 5000), output_tokens: Math.floor(rnd() * 2000), cache_read_input_tokens: Math.floor(rnd() * 10_000), cache_write_5m_input_tokens: i % 5 === 0 ? 1000 : 0, cache_creation_input_tokens: i % 5 === 0 ? 1000 : 0 };
    out.push(base);
  }
  return out;
}

function exactPercentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(1, Math.ceil((p / 100) * s.length)) - 1]!;
}

test('the store numbers for a scripted workload equal the sums computed from the events', async (t) => {
  const { store } = open(t);
  const events = workload(6000);
  for (let i = 0; i < events.length; i += 500) store.commitBatch({ calls: events.slice(i, i + 500).map(priced), checkpoints: [], emitterStats: [] });

  // A window with unaligned edges exercises rows at the edges and rollups in the middle.
  for (const window of [{ start: T0, end: T0 + DAY }, { start: T0 + 12_345, end: T0 + DAY - 54_321 }]) {
    const inWin = events.filter((e) => e.ts >= window.start && e.ts < window.end);
    const [row] = await store.aggregate({
      window,
      aggregates: {
        n: { op: 'count' }, errors: { op: 'count_where', filter: { status: 'error' } }, overloaded: { op: 'count_where', filter: { error_type: 'overloaded_error' } },
        input: { op: 'sum', field: 'input_tokens' }, output: { op: 'sum', field: 'output_tokens' }, cacheRead: { op: 'sum', field: 'cache_read_input_tokens' },
        cacheWrite5m: { op: 'sum', field: 'cache_write_5m_input_tokens' }, cost: { op: 'sum', field: 'cost_usd' }, unpriced: { op: 'unpriced_count' },
        retries: { op: 'sum', field: 'retries' }, p99: { op: 'percentile', field: 'duration_ms', p: 99 }, ttftP50: { op: 'percentile', field: 'ttft_ms', p: 50 },
      },
    });
    const v = row!.values;
    const sum = (f: (e: CallEvent) => number): number => inWin.reduce((a, e) => a + f(e), 0);
    t.is(v['n'], inWin.length);
    t.is(v['errors'], inWin.filter((e) => e.status === 'error').length);
    t.is(v['overloaded'], inWin.filter((e) => e.error_type === 'overloaded_error').length);
    t.is(v['input'], sum((e) => e.usage!.input_tokens));
    t.is(v['output'], sum((e) => e.usage!.output_tokens));
    t.is(v['cacheRead'], sum((e) => e.usage!.cache_read_input_tokens));
    t.is(v['cacheWrite5m'], sum((e) => e.usage!.cache_write_5m_input_tokens));
    t.is(v['unpriced'], inWin.filter((e) => e.model === 'unpriced-model').length);
    t.is(v['retries'], sum((e) => e.attempts - 1));
    const cost = sum((e) => pricer.price(e).cost_usd ?? 0);
    t.true(Math.abs((v['cost'] as number) - cost) <= 1e-9 * Math.max(1, cost), `cost ${v['cost']} vs ${cost}`);
    const p99 = exactPercentile(inWin.map((e) => e.duration_ms), 99);
    t.true(Math.abs((v['p99'] as number) - p99) <= 0.01 * p99, `p99 ${v['p99']} vs ${p99}`);
    const ttft = exactPercentile(inWin.flatMap((e) => (e.ttft_ms === null ? [] : [e.ttft_ms])), 50);
    t.true(Math.abs((v['ttftP50'] as number) - ttft) <= 0.01 * ttft, `ttft p50 ${v['ttftP50']} vs ${ttft}`);
  }

  // Grouped by model and filtered by feature, against the events.
  const rows = await store.aggregate({ window: { start: T0, end: T0 + DAY }, filter: { feature: 'chat' }, groupBy: ['model'], aggregates: { n: { op: 'count' }, p99: { op: 'percentile', field: 'duration_ms', p: 99 } } });
  t.deepEqual(rows.map((r) => r.group.model), ['claude-a', 'claude-b', 'unpriced-model']);
  for (const r of rows) {
    const evs = events.filter((e) => e.model === r.group.model && e.tags['feature'] === 'chat');
    t.is(r.values['n'], evs.length);
    const p99 = exactPercentile(evs.map((e) => e.duration_ms), 99);
    t.true(Math.abs((r.values['p99'] as number) - p99) <= 0.01 * p99);
  }

  // Hourly series add up to the whole.
  const series = await store.series({ window: { start: T0, end: T0 + DAY }, stepMs: 3_600_000, aggregates: { n: { op: 'count' } } });
  t.is(series.length, 24);
  t.is(series.reduce((a, r) => a + (r.values['n'] as number), 0), events.length);
});

test('replayed events are ignored in rows and rollups', async (t) => {
  const { store } = open(t);
  const events = workload(300);
  const batch = { calls: events.map(priced), checkpoints: [], emitterStats: [] };
  t.deepEqual(store.commitBatch(batch), { inserted: 300, ignored: 0 });
  t.deepEqual(store.commitBatch(batch), { inserted: 0, ignored: 300 });
  store.commitBatch({ calls: events.slice(0, 50).map(priced), checkpoints: [], emitterStats: [] });
  store.foldRollups();
  const rowsCount = (store.db.prepare('SELECT COUNT(*) AS n FROM calls').get() as { n: number }).n;
  const rollupCount = (store.db.prepare('SELECT SUM(count) AS n FROM rollup_minute').get() as { n: number }).n;
  t.is(rowsCount, 300);
  t.is(rollupCount, 300);
  const [row] = await store.aggregate({ window: { start: T0, end: T0 + DAY }, aggregates: { n: { op: 'count' }, out: { op: 'sum', field: 'output_tokens' } } });
  t.is(row!.values['n'], 300);
  t.is(row!.values['out'], events.reduce((a, e) => a + e.usage!.output_tokens, 0));
});

test("a batch's calls are stored in time order, those of the same time as they came, so a minute's calls lie side by side", (t) => {
  const { store } = open(t);
  // As a backlog read from two files at once: their lines interleaved in time.
  const a = [0, 20_000, 40_000, 60_000].map((d, i) => call({ ts: T0 + d, request_id: `a${i}` }));
  const b = [10_000, 20_000, 50_000].map((d, i) => call({ ts: T0 + d, request_id: `b${i}` }));
  store.commitBatch({ calls: [...a, ...b].map(priced), checkpoints: [], emitterStats: [] });
  const rows = store.db.prepare('SELECT ts, request_id FROM calls ORDER BY id').all() as { ts: number; request_id: string }[];
  t.deepEqual(rows.map((r) => r.request_id), ['a0', 'b0', 'a1', 'b1', 'a2', 'b2', 'a3']);
  t.deepEqual(rows.map((r) => r.ts - T0), [0, 10_000, 20_000, 20_000, 40_000, 50_000, 60_000]);
});

test('rows and checkpoints commit atomically: a failing checkpoint write stores no row', (t) => {
  const { store } = open(t);
  const events = workload(10);
  const bad = { fileKey: 'f1', path: null as unknown as string, offset: 10, checkHash: 'x', sealed: false };
  t.throws(() => store.commitBatch({ calls: events.map(priced), checkpoints: [bad], emitterStats: [] }), { any: true, message: /NOT NULL/ });
  t.is((store.db.prepare('SELECT COUNT(*) AS n FROM calls').get() as { n: number }).n, 0);
  t.is((store.db.prepare('SELECT COUNT(*) AS n FROM rollup_minute').get() as { n: number }).n, 0);
  t.deepEqual(store.loadCheckpoints(), []);
  store.commitBatch({ calls: events.map(priced), checkpoints: [{ ...bad, path: '/x' }], emitterStats: [] });
  t.is((store.db.prepare('SELECT COUNT(*) AS n FROM calls').get() as { n: number }).n, 10);
  t.deepEqual(store.loadCheckpoints(), [{ fileKey: 'f1', path: '/x', offset: 10, checkHash: 'x', sealed: false }]);
});

test('recent calls page with a cursor, one call has its detail, rate limits keep the latest', async (t) => {
  const { store } = open(t);
  const events = workload(25).map((e, i) => ({ ...e, ts: T0 + i * 1000, rate_limits: { requests: { limit: 100, remaining: 100 - i, reset: null } } }));
  store.commitBatch({ calls: events.map(priced), checkpoints: [], emitterStats: [] });
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: Awaited<ReturnType<typeof store.recentCalls>> = await store.recentCalls({ limit: 10, ...(cursor ? { cursor } : {}) });
    seen.push(...page.calls.map((c) => c.event_id));
    cursor = page.nextCursor;
  } while (cursor);
  t.deepEqual(seen, events.map((e) => e.event_id).reverse());
  const filtered = await store.recentCalls({ limit: 100, filter: { model: 'claude-a' } });
  t.true(filtered.calls.every((c) => c.model === 'claude-a'));
  const detail = await store.call(events[3]!.event_id);
  t.deepEqual(detail?.event, events[3]);
  t.is(detail?.cost_usd, pricer.price(events[3]!).cost_usd);
  t.is(await store.call('nope'), null);
  const rl = await store.latestRateLimits({ model: 'claude-a' });
  const lastA = events.filter((e) => e.model === 'claude-a').at(-1)!;
  t.deepEqual(rl, [{ model: 'claude-a', dimension: 'requests', limit: 100, remaining: lastA.rate_limits.requests!.remaining, reset: null, ts: lastA.ts }]);
});

test('filtered recent calls, with or without an index for the filter, page newest first through every match of the window', async (t) => {
  const { store } = open(t);
  const events = workload(1500);
  store.commitBatch({ calls: events.slice(0, 1000).map(priced), checkpoints: [], emitterStats: [] });
  store.foldRollups();
  // The rest arrives after the fold: some of the window is read through pending minutes.
  store.commitBatch({ calls: events.slice(1000).map(priced), checkpoints: [], emitterStats: [] });
  const window = { start: T0 + 3 * 3_600_000 + 1234, end: T0 + 20 * 3_600_000 - 999 };
  const feature = (e: CallEvent): string | null => e.tags['feature'] ?? null;
  const filters: [Record<string, string>, (e: CallEvent) => boolean][] = [
    [{ status: 'error' }, (e) => e.status === 'error'],
    [{ model: 'claude-b', status: 'error' }, (e) => e.model === 'claude-b' && e.status === 'error'],
    [{ model: 'claude-b', status: 'ok' }, (e) => e.model === 'claude-b' && e.status === 'ok'],
    [{ error_type: 'overloaded_error' }, (e) => e.error_type === 'overloaded_error'],
    [{ feature: 'search' }, (e) => feature(e) === 'search'],
    [{ feature: 'search', model: 'claude-a' }, (e) => feature(e) === 'search' && e.model === 'claude-a'],
    [{ feature: 'no-such-feature' }, () => false],
    [{ model: 'claude-a', status: 'aborted' }, () => false],
  ];
  for (const [filter, match] of filters) {
    const want = events.filter((e) => e.ts >= window.start && e.ts < window.end && match(e)).sort((a, b) => b.ts - a.ts).map((e) => e.event_id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof store.recentCalls>> = await store.recentCalls({ window, filter, limit: 7, ...(cursor ? { cursor } : {}) });
      seen.push(...page.calls.map((c) => c.event_id));
      cursor = page.nextCursor;
    } while (cursor);
    t.deepEqual(seen, want, JSON.stringify(filter));
  }
});

test('recent calls of a rare app are those of the rows: every match of the window, newest first, page by page, pending minutes and rows without rollups included', async (t) => {
  const { store } = open(t);
  const HOUR = 3_600_000;
  const events = workload(3000);
  // A rare app: calls in a few minutes (some in the same minute, two at the same time, one in
  // each partial minute at the window's ends), a few hours apart.
  const rareAt = [2 * HOUR + 5_000, 2 * HOUR + 65_000, 2 * HOUR + 66_000, 2 * HOUR + 66_000, 7 * HOUR + 30_500, 11 * HOUR + 59_999, 12 * HOUR,
    16 * HOUR + 1234, 16 * HOUR + 1234, 16 * HOUR + 40_000, 19 * HOUR + 59 * 60_000 + 5_000, 21 * HOUR + 123, 23 * HOUR + 59_000];
  const rare = rareAt.map((d, i) => call({ ts: T0 + d, app: 'rare-app', model: i % 2 === 0 ? 'claude-a' : 'claude-b', host: `h${i % 3}` }));
  store.commitBatch({ calls: [...events.slice(0, 2000), ...rare.slice(0, 8)].map(priced), checkpoints: [], emitterStats: [] });
  store.foldRollups();
  // The rest after the fold: read through the deltas of pending minutes.
  store.commitBatch({ calls: [...events.slice(2000), ...rare.slice(8)].map(priced), checkpoints: [], emitterStats: [] });
  const all = [...events, ...rare];
  const pages = async (window: { start: number; end: number }, filter: CallFilter, limit: number): Promise<string[]> => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof store.recentCalls>> = await store.recentCalls({ window, filter, limit, ...(cursor ? { cursor } : {}) });
      seen.push(...page.calls.map((c) => c.event_id));
      cursor = page.nextCursor;
    } while (cursor);
    return seen;
  };
  // Newest first; calls of the same time by their row id, newest stored first.
  const ids = new Map((store.db.prepare('SELECT event_id, id FROM calls').all() as { event_id: string; id: number }[]).map((r) => [r.event_id, r.id]));
  const want = (window: { start: number; end: number }, match: (e: CallEvent) => boolean): string[] => all
    .filter((e) => e.ts >= window.start && e.ts < window.end && match(e))
    .sort((a, b) => b.ts - a.ts || ids.get(b.event_id)! - ids.get(a.event_id)!).map((e) => e.event_id);
  const filters: [CallFilter, (e: CallEvent) => boolean][] = [
    [{ app: 'rare-app' }, (e) => e.app === 'rare-app'],
    [{ app: 'rare-app', model: 'claude-a' }, (e) => e.app === 'rare-app' && e.model === 'claude-a'],
    [{ app: ['rare-app', 'no-such-app'], host: 'h1' }, (e) => e.app === 'rare-app' && e.host === 'h1'],
    [{ app: 'test-app', model: 'claude-b' }, (e) => e.app === 'test-app' && e.model === 'claude-b'],
  ];
  const windows = [{ start: T0, end: T0 + DAY }, { start: T0 + 2 * HOUR + 5_000, end: T0 + 16 * HOUR + 40_000 }, { start: T0 + 2 * HOUR + 30_000, end: T0 + 12 * HOUR + 1 }];
  for (const window of windows) {
    for (const [filter, match] of filters) {
      for (const limit of [1, 4, 500]) t.deepEqual(await pages(window, filter, limit), want(window, match), `${JSON.stringify(window)} ${JSON.stringify(filter)} limit ${limit}`);
    }
  }
  t.true(want(windows[0]!, filters[0]![1]).length === rare.length);
  // Rollups kept for less time than rows: the calls before the oldest rollup are still listed.
  store.applyRetention({ rollupsMaxAgeMs: DAY }, T0 + DAY + 10 * HOUR + 30 * 60_000);
  t.true((store.db.prepare('SELECT MIN(minute) FROM rollup_minute').pluck().get() as number) > T0 + 10 * HOUR);
  for (const [filter, match] of filters) t.deepEqual(await pages(windows[0]!, filter, 4), want(windows[0]!, match), `after retention ${JSON.stringify(filter)}`);
});

test('read-only mode reads while refusing writes; retention trims rows and rollups separately', async (t) => {
  const { store, path } = open(t);
  const old = call({ ts: Date.now() - 10 * DAY });
  const recent = call({ ts: Date.now() - 1000 });
  store.commitBatch({ calls: [old, recent].map(priced), checkpoints: [], emitterStats: [] });
  const ro = SqliteStore.open({ path, readonly: true });
  t.teardown(() => ro.close());
  t.is((await ro.recentCalls({ limit: 10 })).calls.length, 2);
  t.throws(() => ro.commitBatch({ calls: [], checkpoints: [], emitterStats: [] }), { message: /read-only/ });
  t.deepEqual(store.applyRetention({ rowsMaxAgeMs: 5 * DAY }), { rowsDeleted: 1, rollupsDeleted: 0 });
  t.deepEqual(store.applyRetention({ rollupsMaxAgeMs: 5 * DAY }), { rowsDeleted: 0, rollupsDeleted: 1 });
  t.is((await ro.recentCalls({ limit: 10 })).calls.length, 1);
});

test('migrations are versioned and reopening an up-to-date database changes nothing', (t) => {
  const { store, path } = open(t);
  const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
  t.is(store.db.pragma('user_version', { simple: true }), latest);
  store.close();
  const again = SqliteStore.open({ path });
  t.is(again.db.pragma('user_version', { simple: true }), latest);
  again.close();
});

test('rollups merged in place batch after batch equal the rollups of the same calls in one batch', (t) => {
  const whole = open(t).store;
  const pieces = open(t).store;
  // Few minutes and groups, so most batches update rows that already exist.
  const events = workload(2000).map((e, i) => ({ ...e, ts: T0 + (i % 7) * 60_000 + (i % 13) * 1000 }));
  whole.commitBatch({ calls: events.map(priced), checkpoints: [], emitterStats: [] });
  for (let i = 0; i < events.length; i += 37) pieces.commitBatch({ calls: events.slice(i, i + 37).map(priced), checkpoints: [], emitterStats: [] });
  const rollups = (s: SqliteStore): Record<string, unknown>[] =>
    (s.foldRollups(), s.db.prepare('SELECT * FROM rollup_minute ORDER BY minute, gkey').all() as Record<string, unknown>[]).map((r) => ({
      ...r,
      hist_duration: r['hist_duration'] === null ? null : JSON.parse(r['hist_duration'] as string),
      hist_ttft: r['hist_ttft'] === null ? null : JSON.parse(r['hist_ttft'] as string),
    }));
  const a = rollups(whole);
  t.true(a.length > 7 && a.length < 200, `${a.length} groups`);
  t.deepEqual(rollups(pieces), a);
  t.is(a.reduce((n, r) => n + (r['count'] as number), 0), events.length);
});

test('a new database gets 8 KiB pages; an existing database keeps its page size and stays readable', async (t) => {
  const { store, path } = open(t);
  t.is(store.db.pragma('page_size', { simple: true }), 8192);
  store.close();
  const h = tempHome();
  t.teardown(h.cleanup);
  const oldPath = join(h.data, 'old.db');
  const old = new Database(oldPath);
  old.pragma('page_size = 4096');
  old.pragma('journal_mode = WAL');
  migrate(old);
  old.close();
  const reopened = SqliteStore.open({ path: oldPath });
  t.teardown(() => reopened.db.open && reopened.close());
  t.is(reopened.db.pragma('page_size', { simple: true }), 4096);
  const events = workload(20);
  t.deepEqual(reopened.commitBatch({ calls: events.map(priced), checkpoints: [], emitterStats: [] }), { inserted: 20, ignored: 0 });
  const [row] = await reopened.aggregate({ window: { start: T0, end: T0 + DAY }, aggregates: { n: { op: 'count' } } });
  t.is(row!.values['n'], 20);
  t.truthy(path);
});

test('percentiles read rollup histograms whether stored compactly or as any other JSON object', async (t) => {
  const { store } = open(t);
  // A dimension outside the core ones and a window without a whole hour: the per-minute rollups answer.
  const dims = DIMENSION_COLUMNS.map((d) => (d === 'app' ? 'x' : null));
  const insert = store.db.prepare(`INSERT INTO rollup_minute (minute, gkey, ${DIMENSION_COLUMNS.join(', ')}, count, unpriced_count, ttft_count, hist_duration)
    VALUES (?, ?, ${dims.map(() => '?').join(', ')}, ?, 0, 0, ?)`);
  const h = new LogHistogram();
  for (const v of [0, 5, 5, 120, 3000]) h.add(v);
  const compact = h.toJson()!;
  const spaced = JSON.stringify(JSON.parse(compact), null, 1);
  insert.run(T0, 'a', ...dims, 5, compact);
  insert.run(T0 + 60_000, 'b', ...dims, 5, spaced);
  const [row] = await store.aggregate({ window: { start: T0, end: T0 + 120_000 }, filter: { app: 'x' }, aggregates: { p0: { op: 'percentile', field: 'duration_ms', p: 0 }, p50: { op: 'percentile', field: 'duration_ms', p: 50 }, p100: { op: 'percentile', field: 'duration_ms', p: 100 } } });
  const both = new LogHistogram();
  both.merge(h);
  both.merge(h);
  t.deepEqual(row!.values, { p0: both.percentile(0), p50: both.percentile(50), p100: both.percentile(100) });
  t.is(row!.values['p0'], 0);
});

test('queries of many shapes, past what the engine keeps prepared, answer the same when asked again', async (t) => {
  const { store } = open(t);
  const events = Array.from({ length: 600 }, (_, i) => call({ ts: T0 + i * 7_001, model: ['m1', 'm2'][i % 2]!, duration_ms: 100 + ((i * 37) % 900) }));
  store.commitBatch({ calls: events.map(priced), checkpoints: [], emitterStats: [] });
  const window = { start: T0 + 1_234, end: T0 + 600 * 7_001 };
  // Each step size is a statement of its own: 200 of them cycle the engine's prepared statements.
  const ask = (stepMinutes: number): Promise<unknown> => store.series({ window, stepMs: stepMinutes * 60_000, groupBy: ['model'], aggregates: { n: { op: 'count' }, p50: { op: 'percentile', field: 'duration_ms', p: 50 } } });
  const first = await ask(1);
  for (let m = 1; m <= 200; m++) {
    const stepMs = m * 60_000;
    const rows = (await ask(m)) as { t: number; group: { model: string }; values: { n: number } }[];
    // Every bucket counts the calls of its model in it.
    const wrong = rows.filter((r) => r.values.n !== events.filter((e) => e.model === r.group.model && e.ts >= Math.max(window.start, r.t) && e.ts < Math.min(window.end, r.t + stepMs)).length);
    t.deepEqual(wrong, [], `step ${m} min`);
    t.is(rows.reduce((a, r) => a + r.values.n, 0), events.filter((e) => e.ts >= window.start && e.ts < window.end).length);
  }
  t.deepEqual(await ask(1), first);
});
