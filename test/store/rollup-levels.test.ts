import test, { type ExecutionContext } from 'ava';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore, type PricedCall } from '../../src/store/sqlite-store.js';
import { MIGRATIONS, migrate, DIMENSION_COLUMNS, SUM_COLUMNS } from '../../src/store/migrations.js';
import { HOUR_MS, MINUTE_MS, ROLLUP_LEVELS, type RollupLevel } from '../../src/store/rollups.js';
import { LogHistogram, bucketOf, forEachBlobPair } from '../../src/store/histogram.js';
import { createPricer } from '../../src/pricing/index.js';
import { repriceStore } from '../../src/daemon/reprice.js';
import type { CallEvent } from '../../src/event/types.js';
import type { Aggregate, AggregateQuery, CallFilter } from '../../src/store/types.js';
import { call, tempHome } from '../helpers/event-files.js';
import { testPricer } from '../helpers/test-pricer.js';

const pricer = testPricer();
const priced = (e: CallEvent): PricedCall => ({ event: e, raw: JSON.stringify(e), price: pricer.price(e) });
const T0 = Date.UTC(2026, 10, 1, 0, 0, 0);

function open(t: ExecutionContext, path?: string): SqliteStore {
  const h = tempHome();
  t.teardown(h.cleanup);
  const store = SqliteStore.open({ path: path ?? join(h.data, 'claudescope.db') });
  t.teardown(() => store.db.open && store.close());
  return store;
}

/** Calls over ~5 hours: several models, features, hosts (a non-core dimension), errors, unpriced calls, TTFTs. */
function workload(n: number, spanMs = 5 * HOUR_MS + 17 * MINUTE_MS): CallEvent[] {
  let x = 4242;
  const rnd = (): number => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  return Array.from({ length: n }, (_, i) => {
    const err = rnd() < 0.15;
    const e = call({
      ts: T0 + 7 * MINUTE_MS + 1234 + Math.floor(rnd() * spanMs),
      model: ['claude-a', 'claude-b', 'unpriced-model'][i % 3]!,
      host: ['h1', 'h2', 'h3', 'h4'][i % 4]!,
      tags: { feature: ['chat', 'search'][i % 2]! },
      status: err ? 'error' : 'ok',
      error_type: err ? (rnd() < 0.5 ? 'overloaded_error' : 'rate_limit_error') : null,
      stop_reason: err ? null : rnd() < 0.2 ? 'max_tokens' : 'end_turn',
      duration_ms: Math.round(10 + rnd() ** 3 * 20_000),
      ttft_ms: i % 4 === 0 ? null : Math.round(5 + rnd() * 3000),
      attempts: 1 + (i % 5 === 0 ? 1 : 0),
    });
    e.usage = { ...e.usage!, input_tokens: Math.floor(rnd() * 5000), output_tokens: Math.floor(rnd() * 2000), cache_read_input_tokens: Math.floor(rnd() * 10_000) };
    return e;
  });
}

type Row = Record<string, unknown>;

function histMap(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (typeof v === 'string') Object.assign(out, JSON.parse(v) as Record<string, number>);
  else if (v instanceof Uint8Array) forEachBlobPair(v, (b, c) => void (out[String(b)] = c));
  return out;
}

/** A level's table, normalised: one entry per (period, gkey). */
function tableOf(s: SqliteStore, l: RollupLevel): Map<string, Row> {
  const out = new Map<string, Row>();
  for (const r of s.db.prepare(`SELECT * FROM ${l.table}`).all() as Row[]) {
    out.set(`${String(r[l.timeColumn])}|${String(r['gkey'])}`, {
      dims: l.dims.map((d) => r[d] ?? null), count: r['count'], unpriced: r['unpriced_count'], ttft: r['ttft_count'],
      sums: SUM_COLUMNS.map((c) => r[c] ?? null), hd: histMap(r['hist_duration']), ht: histMap(r['hist_ttft']),
    });
  }
  return out;
}

/** What a level must hold, computed from the call rows. */
function expectedOf(s: SqliteStore, l: RollupLevel): Map<string, Row> {
  const groups = new Map<string, { dims: unknown[]; count: number; unpriced: number; ttft: number; sums: (number | null)[]; hd: LogHistogram; ht: LogHistogram }>();
  for (const r of s.db.prepare(`SELECT * FROM calls`).all() as Row[]) {
    const dims = l.dims.map((d) => r[d] ?? null);
    const key = `${Math.floor((r['ts'] as number) / l.periodMs) * l.periodMs}|${JSON.stringify(dims)}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { dims, count: 0, unpriced: 0, ttft: 0, sums: SUM_COLUMNS.map(() => null), hd: new LogHistogram(), ht: new LogHistogram() }));
    g.count++;
    if (r['cost_nanousd'] === null) g.unpriced++;
    if (r['ttft_ms'] !== null) {
      g.ttft++;
      g.ht.add(r['ttft_ms'] as number);
    }
    g.hd.add(r['duration_ms'] as number);
    SUM_COLUMNS.forEach((c, i) => {
      const v = r[c] as number | null;
      if (v !== null) g.sums[i] = (g.sums[i] ?? 0) + v;
    });
  }
  const out = new Map<string, Row>();
  for (const [k, g] of groups) {
    // A sum over calls that all lack the value is NULL; other sums over no call are 0, as SQL has them.
    const sums = g.sums.map((v, i) => v ?? (SUM_COLUMNS[i]!.endsWith('_nanousd') || SUM_COLUMNS[i] === 'ttft_ms' ? null : 0));
    out.set(k, { dims: g.dims, count: g.count, unpriced: g.unpriced, ttft: g.ttft, sums, hd: histMap(g.hd.toJson()), ht: histMap(g.ht.toJson()) });
  }
  return out;
}

/** Every level holds exactly the sums, counts and histograms of the stored rows, once the pending minutes are folded. */
function assertLevelsEqualRows(t: ExecutionContext, s: SqliteStore): void {
  s.foldRollups();
  t.is(s.db.prepare('SELECT COUNT(*) FROM rollup_pending').pluck().get(), 0);
  for (const l of ROLLUP_LEVELS) {
    const got = tableOf(s, l);
    const want = expectedOf(s, l);
    t.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `${l.table}: groups`);
    for (const [k, w] of want) t.deepEqual(got.get(k), w, `${l.table} ${k}`);
  }
}

function exactPercentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(1, Math.ceil((p / 100) * s.length)) - 1]!;
}

const matches = (e: CallEvent, f: CallFilter): boolean => Object.entries(f).every(([d, v]) => {
  const val = d === 'feature' ? e.tags['feature'] ?? null : (e as unknown as Record<string, unknown>)[d] ?? null;
  return Array.isArray(v) ? v.includes(val as string) : val === v;
});

test('every rollup level equals the rows, batch after batch, and a replay changes no level', (t) => {
  const s = open(t);
  const events = workload(3000);
  for (let i = 0; i < events.length; i += 250) s.commitBatch({ calls: events.slice(i, i + 250).map(priced), checkpoints: [], emitterStats: [] });
  assertLevelsEqualRows(t, s);
  const snapshot = ROLLUP_LEVELS.map((l) => s.db.prepare(`SELECT * FROM ${l.table} ORDER BY 1, gkey`).all());
  t.deepEqual(s.commitBatch({ calls: events.slice(100, 900).map(priced), checkpoints: [], emitterStats: [] }), { inserted: 0, ignored: 800 });
  t.deepEqual(ROLLUP_LEVELS.map((l) => s.db.prepare(`SELECT * FROM ${l.table} ORDER BY 1, gkey`).all()), snapshot);
  // The coarse levels are smaller than the per-minute one.
  const n = (table: string): number => (s.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  t.true(n('rollup_hour') < n('rollup_minute') / 5);
  t.true(n('rollup_outcome_hour') < n('rollup_core_hour'));
});

/** Aggregates and series over aligned and unaligned windows, shaped to read every level, against the events' own sums. */
async function assertAggregatesEqualEvents(t: ExecutionContext, s: SqliteStore, events: CallEvent[]): Promise<void> {
  const aggregates: Record<string, Aggregate> = {
    n: { op: 'count' }, errors: { op: 'count_where', filter: { status: 'error' } }, out: { op: 'sum', field: 'output_tokens' },
    cost: { op: 'sum', field: 'cost_usd' }, unpriced: { op: 'unpriced_count' }, p99: { op: 'percentile', field: 'duration_ms', p: 99 },
    ttft50: { op: 'percentile', field: 'ttft_ms', p: 50 },
  };
  const windows = [
    { start: T0, end: T0 + 6 * HOUR_MS }, // whole hours
    { start: T0 + 13 * MINUTE_MS, end: T0 + 4 * HOUR_MS + 7 * MINUTE_MS }, // whole minutes, hours inside
    { start: T0 + 13 * MINUTE_MS + 4321, end: T0 + 5 * HOUR_MS + 7 * MINUTE_MS + 999 }, // partial minutes at both ends
    { start: T0 + HOUR_MS + 5 * MINUTE_MS + 10, end: T0 + HOUR_MS + 50 * MINUTE_MS }, // under an hour
  ];
  // Each filter and group-by sends the query to a different level: outcome, core, every dimension.
  const shapes: Pick<AggregateQuery, 'filter' | 'groupBy'>[] = [{}, { filter: { model: 'claude-a' } }, { groupBy: ['feature'] }, { filter: { host: 'h2' } }, { groupBy: ['stop_reason'] }];
  for (const window of windows) {
    for (const shape of shapes) {
      const rows = await s.aggregate({ window, aggregates, ...shape });
      const inWin = events.filter((e) => e.ts >= window.start && e.ts < window.end && matches(e, shape.filter ?? {}));
      for (const r of rows) {
        const evs = inWin.filter((e) => matches(e, r.group as CallFilter));
        const label = `${JSON.stringify(window)} ${JSON.stringify(shape)} ${JSON.stringify(r.group)}`;
        t.is(r.values['n'], evs.length, label);
        t.is(r.values['errors'], evs.filter((e) => e.status === 'error').length, label);
        t.is(r.values['out'], evs.reduce((a, e) => a + e.usage!.output_tokens, 0), label);
        t.is(r.values['unpriced'], evs.filter((e) => e.model === 'unpriced-model').length, label);
        const cost = evs.reduce((a, e) => a + (pricer.price(e).cost_nanousd ?? 0), 0) / 1e9;
        t.true(Math.abs(((r.values['cost'] as number | null) ?? 0) - cost) <= 1e-9 * Math.max(1, cost), `${label} cost`);
        const p99 = exactPercentile(evs.map((e) => e.duration_ms), 99);
        t.true(Math.abs((r.values['p99'] as number) - p99) <= 0.01 * p99, `${label} p99 ${r.values['p99']} vs ${p99}`);
        const ttfts = evs.flatMap((e) => (e.ttft_ms === null ? [] : [e.ttft_ms]));
        if (ttfts.length > 0) t.true(Math.abs((r.values['ttft50'] as number) - exactPercentile(ttfts, 50)) <= 0.01 * exactPercentile(ttfts, 50), `${label} ttft`);
      }
      t.is(rows.reduce((a, r) => a + (r.values['n'] as number), 0), inWin.length);
    }
  }
  // Series with an hourly step (hour levels) and a 15-minute step (minute levels) both add up per bucket.
  for (const stepMs of [HOUR_MS, 15 * MINUTE_MS, 2 * HOUR_MS]) {
    const window = windows[2]!;
    const series = await s.series({ window, stepMs, groupBy: ['model'], aggregates: { n: { op: 'count' }, p50: { op: 'percentile', field: 'duration_ms', p: 50 } } });
    for (const r of series) {
      const evs = events.filter((e) => e.ts >= Math.max(window.start, r.t) && e.ts < Math.min(window.end, r.t + stepMs) && e.model === r.group.model);
      t.is(r.values['n'], evs.length, `step ${stepMs} t ${r.t}`);
      const p50 = exactPercentile(evs.map((e) => e.duration_ms), 50);
      t.true(Math.abs((r.values['p50'] as number) - p50) <= 0.01 * p50);
    }
  }
}

test('aggregates over aligned and unaligned windows, whatever level they read, equal the sums of the events', async (t) => {
  const s = open(t);
  const events = workload(4000);
  s.commitBatch({ calls: events.map(priced), checkpoints: [], emitterStats: [] });
  // Nothing folded yet: every period is read from the per-minute level.
  await assertAggregatesEqualEvents(t, s, events);
  s.foldRollups();
  await assertAggregatesEqualEvents(t, s, events);
});

test('late calls into folded hours: queries equal the rows before the fold, and every level does after it', async (t) => {
  const s = open(t);
  const events = workload(3000);
  s.commitBatch({ calls: events.slice(0, 2000).map(priced), checkpoints: [], emitterStats: [] });
  t.true(s.foldRollups() > 0);
  t.is(s.foldRollups(), 0);
  // Late calls land in hours and minutes already folded (and some new ones), a batch at a time.
  for (let i = 2000; i < events.length; i += 250) s.commitBatch({ calls: events.slice(i, i + 250).map(priced), checkpoints: [], emitterStats: [] });
  t.true((s.db.prepare('SELECT COUNT(*) FROM rollup_pending').pluck().get() as number) > 0);
  await assertAggregatesEqualEvents(t, s, events);
  // A read-only reader (no fold of its own) answers the same.
  const ro = SqliteStore.open({ path: s.db.name, readonly: true });
  t.teardown(() => ro.close());
  await assertAggregatesEqualEvents(t, ro, events);
  assertLevelsEqualRows(t, s);
  await assertAggregatesEqualEvents(t, s, events);
});

test('reprice keeps every rollup level equal to the rows, relabelled models included', async (t) => {
  const T = Date.parse('2026-11-20T10:00:00Z');
  const models = ['claude-sonnet-4-5', 'claude-nope-9', 'gw/claude'];
  const events = Array.from({ length: 90 }, (_, i) => {
    const e = call({ ts: T + i * 157_000, model: models[i % 3]!, model_requested: models[i % 3]!, duration_ms: 100 + i, ttft_ms: i % 3 === 0 ? 40 + i : null, status: i % 7 === 0 ? 'error' : 'ok', error_type: i % 7 === 0 ? 'api_error' : null });
    return { ...e, usage: { ...e.usage!, input_tokens: 1000 + i * 7, output_tokens: 200 + i } };
  });
  const before = createPricer();
  const s = open(t);
  const calls = events.map((event) => ({ event, raw: JSON.stringify(event), price: before.price(event) }));
  for (let i = 0; i < calls.length; i += 10) s.commitBatch({ calls: calls.slice(i, i + 10), checkpoints: [], emitterStats: [] });
  assertLevelsEqualRows(t, s);
  const after = createPricer({
    overrides: {
      models: {
        'claude-nope-9': [{ input: 1, output: 5, cache_read: 0.1, cache_write_5m: 1.25, cache_write_1h: 2 }],
        'my-gateway-model': { aliases: ['gw/claude'], prices: [{ input: 2, output: 10, cache_read: 0.2 }] },
      },
    } as never,
  });
  const summary = await repriceStore(s, after, { since: T, until: Infinity, dryRun: false, chunkRows: 11 });
  t.is(summary.relabelled, 30);
  t.true(summary.newly_priced > 0);
  assertLevelsEqualRows(t, s);
  t.is((s.db.prepare("SELECT COUNT(*) AS n FROM rollup_core_hour WHERE model = 'gw/claude'").get() as { n: number }).n, 0);
});

test('retention deletes every level: minutes past the cutoff, hours only once wholly past it', (t) => {
  const s = open(t);
  const now = Date.UTC(2026, 10, 10, 12, 30, 0);
  const cutoff = now - 2 * 86_400_000; // 10:30 UTC two days back: mid-hour
  const ts = [cutoff - 3 * HOUR_MS, cutoff - 20 * MINUTE_MS, cutoff + 10 * MINUTE_MS, now - 1000];
  s.commitBatch({ calls: ts.map((x) => priced(call({ ts: x }))), checkpoints: [], emitterStats: [] });
  s.applyRetention({ rollupsMaxAgeMs: 2 * 86_400_000 }, now);
  const sum = (table: string): number => (s.db.prepare(`SELECT COALESCE(SUM(count), 0) AS n FROM ${table}`).get() as { n: number }).n;
  t.is(sum('rollup_minute'), 2);
  t.is(sum('rollup_core_minute'), 2);
  t.is(sum('rollup_outcome_minute'), 2);
  // The hour holding the cutoff keeps its calls (before and after the cutoff); the hour before it goes.
  t.is(sum('rollup_hour'), 3);
  t.is(sum('rollup_core_hour'), 3);
  t.is(sum('rollup_outcome_hour'), 3);
});

test('opening a database of schema 2 builds every coarse level from its per-minute rollups', (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const path = join(h.data, 'old.db');
  const old = new Database(path);
  old.pragma('journal_mode = WAL');
  migrate(old, MIGRATIONS.filter((m) => m.version <= 2));
  old.close();
  // Rows and per-minute rollups written as schema 2 wrote them: by the current writer on the
  // old tables would also fill the new ones, so write them with a store and drop the levels.
  const ref = open(t);
  const events = workload(1500);
  ref.commitBatch({ calls: events.map(priced), checkpoints: [], emitterStats: [] });
  ref.foldRollups();
  const oldDb = new Database(path);
  const cols = ['minute', 'gkey', ...DIMENSION_COLUMNS, 'count', 'unpriced_count', 'ttft_count', ...SUM_COLUMNS, 'hist_duration', 'hist_ttft'];
  const insert = oldDb.prepare(`INSERT INTO rollup_minute (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
  // Schema 2's columns, each row with its line in event_json.
  const callCols = (oldDb.prepare('SELECT * FROM calls LIMIT 1').columns()).map((c) => c.name);
  const insertCall = oldDb.prepare(`INSERT INTO calls (${callCols.join(', ')}) VALUES (${callCols.map(() => '?').join(', ')})`);
  const lines = new Map(events.map((e) => [e.event_id, JSON.stringify(e)]));
  oldDb.transaction(() => {
    for (const r of ref.db.prepare('SELECT * FROM rollup_minute').all() as Row[]) insert.run(...cols.map((c) => r[c] ?? null));
    for (const r of ref.db.prepare(`SELECT ${callCols.join(', ')} FROM calls`).all() as Row[]) {
      insertCall.run(...callCols.map((c) => (c === 'event_json' ? lines.get(r['event_id'] as string) : r[c])));
    }
  })();
  oldDb.close();
  const s = open(t, path);
  t.is(s.db.pragma('user_version', { simple: true }), MIGRATIONS[MIGRATIONS.length - 1]!.version);
  assertLevelsEqualRows(t, s);
  // And it keeps them equal as new calls arrive.
  s.commitBatch({ calls: workload(300).map(priced), checkpoints: [], emitterStats: [] });
  assertLevelsEqualRows(t, s);
});

test('histogram buckets of the binary form are those of the values', (t) => {
  const s = open(t);
  const e = call({ ts: T0 + 1000, duration_ms: 5, ttft_ms: null });
  s.commitBatch({ calls: [priced(e)], checkpoints: [], emitterStats: [] });
  s.foldRollups();
  const row = s.db.prepare('SELECT hist_duration FROM rollup_outcome_hour').get() as { hist_duration: Uint8Array };
  t.deepEqual(histMap(row.hist_duration), { [String(bucketOf(5))]: 1 });
});

test('batches staged in one transaction, one failing alone in between, leave every level equal to the rows, before the commit too', async (t) => {
  const s = open(t);
  const events = workload(2000);
  // A batch whose second insert fails: its savepoint rolls back alone, the transaction goes on.
  const victim = events[1010]!.event_id;
  s.db.exec(`CREATE TEMP TRIGGER fail_victim BEFORE INSERT ON calls WHEN NEW.event_id = '${victim}' BEGIN SELECT RAISE(ABORT, 'injected'); END`);
  for (let i = 0; i < events.length; i += 250) {
    const batch = { calls: events.slice(i, i + 250).map(priced), checkpoints: [], emitterStats: [] };
    if (i === 1000) t.throws(() => s.stageBatch(batch), { any: true, message: /injected/ });
    else s.stageBatch(batch);
  }
  // Staged, not yet committed: another connection sees nothing.
  const ro = SqliteStore.open({ path: s.db.name, readonly: true });
  t.teardown(() => ro.close());
  t.is(ro.db.prepare('SELECT COUNT(*) FROM calls').pluck().get(), 0);
  const stored = events.filter((_, i) => i < 1000 || i >= 1250);
  // The writer's own connection sees the staged batches, rollups equal to their rows.
  await assertAggregatesEqualEvents(t, s, stored);
  s.commitStaged();
  t.is(ro.db.prepare('SELECT COUNT(*) FROM calls').pluck().get(), stored.length);
  await assertAggregatesEqualEvents(t, s, stored);
  await assertAggregatesEqualEvents(t, ro, stored);
  assertLevelsEqualRows(t, s);
});

test('retention with a cutoff inside a minute leaves every per-minute level holding the same minutes', async (t) => {
  const s = open(t);
  const now = Date.UTC(2026, 10, 10, 12, 30, 40);
  const cutoff = now - 2 * 86_400_000; // 12:30:40 two days back: mid-minute
  const events = [call({ ts: cutoff - 30_000, host: 'h1' }), call({ ts: cutoff + 10_000, host: 'h1' }), call({ ts: cutoff + 5 * MINUTE_MS, host: 'h1' })];
  s.commitBatch({ calls: events.map(priced), checkpoints: [], emitterStats: [] });
  s.applyRetention({ rollupsMaxAgeMs: 2 * 86_400_000 }, now);
  const minute = Math.floor(cutoff / MINUTE_MS) * MINUTE_MS;
  const sum = (table: string): number => s.db.prepare(`SELECT COALESCE(SUM(count), 0) FROM ${table} WHERE minute = ?`).pluck().get(minute) as number;
  t.is(sum('rollup_minute'), sum('rollup_outcome_minute'), 'the minute holding the cutoff: every dimension as by status');
  t.is(sum('rollup_minute'), sum('rollup_core_minute'));
  // The same window counted through the outcome level (no filter) and the full one (a host filter) agrees.
  const window = { start: minute, end: minute + 10 * MINUTE_MS };
  const all = (await s.aggregate({ window, aggregates: { n: { op: 'count' } } }))[0]?.values['n'];
  const byHost = (await s.aggregate({ window, filter: { host: 'h1' }, aggregates: { n: { op: 'count' } } }))[0]?.values['n'];
  t.is(all, byHost);
});

test('a percentile alone over windows of partial minutes, grouped or not, is read from the rows in one pass and matches the rows', async (t) => {
  const s = open(t);
  // ~100 calls a minute, over half an hour from T0 + 7 min.
  const events = workload(3000, 30 * MINUTE_MS);
  s.commitBatch({ calls: events.map(priced), checkpoints: [], emitterStats: [] });
  s.foldRollups();
  // Inside one minute (rows only), and across minutes with partial minutes at both ends.
  const windows = [{ start: T0 + 20 * MINUTE_MS + 1500, end: T0 + 20 * MINUTE_MS + 52_000 }, { start: T0 + 9 * MINUTE_MS + 30_500, end: T0 + 33 * MINUTE_MS + 7_250 }];
  for (const window of windows) {
    for (const groupBy of [[], ['model']] as const) {
      const rows = await s.aggregate({ window, groupBy: [...groupBy], aggregates: { p90: { op: 'percentile', field: 'duration_ms', p: 90 }, t50: { op: 'percentile', field: 'ttft_ms', p: 50 } } });
      const inWin = events.filter((e) => e.ts >= window.start && e.ts < window.end);
      t.true(inWin.length > 20, 'the window holds calls');
      t.is(rows.length, groupBy.length === 0 ? 1 : new Set(inWin.map((e) => e.model)).size);
      for (const r of rows) {
        const evs = inWin.filter((e) => matches(e, r.group as CallFilter));
        const p90 = exactPercentile(evs.map((e) => e.duration_ms), 90);
        t.true(Math.abs((r.values['p90'] as number) - p90) <= 0.01 * p90, `${JSON.stringify(window)} ${JSON.stringify(r.group)} p90 ${r.values['p90']} vs ${p90}`);
        const ttfts = evs.flatMap((e) => (e.ttft_ms === null ? [] : [e.ttft_ms]));
        if (ttfts.length > 0) t.true(Math.abs((r.values['t50'] as number) - exactPercentile(ttfts, 50)) <= 0.01 * exactPercentile(ttfts, 50));
        else t.is(r.values['t50'], null);
      }
    }
  }
});

test("the partial minute at a window's end is read from its rollup when that holds exactly the window's part of it, else from the rows", async (t) => {
  const s = open(t);
  const m = T0 + 30 * MINUTE_MS;
  s.commitBatch({ calls: [call({ ts: m - 5 * MINUTE_MS }), call({ ts: m + 10_000 }), call({ ts: m + 20_000 })].map(priced), checkpoints: [], emitterStats: [] });
  const window = { start: T0, end: m + 30_000 };
  const values = async (): Promise<Record<string, number | null>> =>
    (await s.aggregate({ window, aggregates: { n: { op: 'count' }, out: { op: 'sum', field: 'output_tokens' }, p50: { op: 'percentile', field: 'duration_ms', p: 50 } } }))[0]!.values;
  const before = await values();
  t.is(before['n'], 3);
  // The rows changed behind the rollups' back: an answer that follows them read the rows.
  s.db.prepare('UPDATE calls SET output_tokens = output_tokens + 1000 WHERE ts >= ?').run(m);
  t.deepEqual(await values(), before, 'no call of the minute past the end: its rollup');
  // A series with a whole-minute step puts that minute's rollup in the minute's bucket.
  const series = await s.series({ window, stepMs: 15 * MINUTE_MS, aggregates: { n: { op: 'count' }, out: { op: 'sum', field: 'output_tokens' } } });
  t.deepEqual(series.map((r) => [r.t - T0, r.values['n']]), [[15 * MINUTE_MS, 1], [30 * MINUTE_MS, 2]]);
  t.is(series.reduce((a, r) => a + (r.values['out'] as number), 0), before['out']!, 'from the rollup');
  s.commitBatch({ calls: [priced(call({ ts: m + 40_000 }))], checkpoints: [], emitterStats: [] });
  t.like(await values(), { n: 3, out: before['out']! + 2000 }, 'a call of the minute past the end: the rows');
  s.db.prepare('DELETE FROM calls WHERE ts = ?').run(m + 40_000);
  t.like(await values(), { n: 3, out: before['out']! + 2000 }, 'the rollup counts a call the rows lack: the rows');
});

test("a query on another connection reads one snapshot: a call the daemon commits between the end minute's checks and its read is not counted", async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const path = join(h.data, 'claudescope.db');
  const writer = open(t, path);
  const m = T0 + 30 * MINUTE_MS;
  writer.commitBatch({ calls: [call({ ts: m - 5 * MINUTE_MS }), call({ ts: m + 10_000 }), call({ ts: m + 20_000 })].map(priced), checkpoints: [], emitterStats: [] });
  const reader = SqliteStore.open({ path, readonly: true });
  t.teardown(() => reader.close());
  // The daemon commits a call past the window's end, in its last minute, right after the
  // reader checked that minute's rollup against its rows.
  const engine = (reader as unknown as { query: { prepared(sql: string): { get(...a: unknown[]): unknown } } }).query;
  const prepared = engine.prepared.bind(engine);
  let committed = false;
  engine.prepared = (sql: string) => {
    const st = prepared(sql);
    if (!sql.startsWith('SELECT COALESCE(SUM(count), 0)')) return st;
    return {
      get: (...a: unknown[]) => {
        const r = st.get(...a);
        if (!committed) {
          committed = true;
          writer.commitBatch({ calls: [priced(call({ ts: m + 45_000 }))], checkpoints: [], emitterStats: [] });
        }
        return r;
      },
    };
  };
  const [row] = await reader.aggregate({ window: { start: T0, end: m + 30_000 }, aggregates: { n: { op: 'count' } } });
  t.true(committed);
  t.is(row!.values['n'], 3);
  const [again] = await reader.aggregate({ window: { start: T0, end: m + 30_000 }, aggregates: { n: { op: 'count' } } });
  t.is(again!.values['n'], 3, 'and the rows once the call is there');
});

test("windows ending (or starting) in the past, inside busy minutes, give the rows' answer exactly, whether a partial minute is read from its rows or as its rollup less the rest of it", async (t) => {
  const s = open(t);
  // ~300 calls a minute over 20 minutes from T0 + 7 min, after a few quieter hours before them.
  const busy = workload(6000, 20 * MINUTE_MS).map((e, i) => (i % 3 === 0 ? { ...e, ts: e.ts + 3 * HOUR_MS } : e));
  // A later minute: 200 unpriced calls of a feature in its first 50 s, and in its last 10 s the
  // feature's only priced calls and the only calls of another feature.
  const m = T0 + HOUR_MS;
  const odd = [
    ...Array.from({ length: 200 }, (_, i) => call({ ts: m + i * 250, model: 'unpriced-model', tags: { feature: 'odd' } })),
    ...Array.from({ length: 5 }, (_, i) => call({ ts: m + 50_000 + i * 1000, model: 'claude-a', tags: { feature: 'odd' } })),
    ...Array.from({ length: 3 }, (_, i) => call({ ts: m + 55_000 + i * 1000, model: 'claude-a', tags: { feature: 'late' } })),
  ];
  const events = [...workload(2000, 3 * HOUR_MS), ...odd, ...busy];
  s.commitBatch({ calls: events.slice(0, 5000).map(priced), checkpoints: [], emitterStats: [] });
  s.foldRollups();
  // The rest in batches after the fold: read with the deltas of pending minutes.
  for (let i = 5000; i < events.length; i += 700) s.commitBatch({ calls: events.slice(i, i + 700).map(priced), checkpoints: [], emitterStats: [] });
  const engine = (s as unknown as { query: { runExcept: (...a: unknown[]) => void } }).query;
  const runExcept = engine.runExcept.bind(engine);
  let excepted = 0;
  engine.runExcept = (...a: unknown[]) => {
    excepted++;
    runExcept(...a);
  };
  // The dashboard summary's figures of the window, and its calls and cost by model and by feature.
  const aggregates: Record<string, Aggregate> = {
    calls: { op: 'count' }, errors: { op: 'count_where', filter: { status: 'error' } },
    e529: { op: 'count_where', filter: { status: 'error', error_type: 'overloaded_error' } },
    input: { op: 'sum', field: 'input_tokens' }, output: { op: 'sum', field: 'output_tokens' }, cacheRead: { op: 'sum', field: 'cache_read_input_tokens' },
    cost: { op: 'sum', field: 'cost_usd' }, unpriced: { op: 'unpriced_count' }, retries: { op: 'sum', field: 'retries' },
    ...Object.fromEntries([50, 95, 99].flatMap((p) => [[`d${p}`, { op: 'percentile', field: 'duration_ms', p }], [`t${p}`, { op: 'percentile', field: 'ttft_ms', p }]])),
  };
  const exact = (evs: CallEvent[], label: string, values: Record<string, number | null>): void => {
    t.is(values['calls'], evs.length, label);
    t.is(values['errors'], evs.filter((e) => e.status === 'error').length, label);
    t.is(values['e529'], evs.filter((e) => e.error_type === 'overloaded_error').length, label);
    t.is(values['input'], evs.reduce((a, e) => a + e.usage!.input_tokens, 0), label);
    t.is(values['output'], evs.reduce((a, e) => a + e.usage!.output_tokens, 0), label);
    t.is(values['cacheRead'], evs.reduce((a, e) => a + e.usage!.cache_read_input_tokens, 0), label);
    t.is(values['retries'], evs.reduce((a, e) => a + e.attempts - 1, 0), label);
    t.is(values['unpriced'], evs.filter((e) => e.model === 'unpriced-model').length, label);
    const nano = evs.reduce((a, e) => a + (pricer.price(e).cost_nanousd ?? 0), 0);
    t.true(Math.abs((values['cost'] ?? 0) - nano / 1e9) <= 1e-12 * Math.max(1, nano / 1e9), `${label} cost ${values['cost']} vs ${nano / 1e9}`);
    // The percentiles of the calls' own values in the store's histogram buckets: the same, not within 1 %.
    for (const p of [50, 95, 99]) {
      const d = new LogHistogram();
      const tt = new LogHistogram();
      for (const e of evs) {
        d.add(e.duration_ms);
        if (e.ttft_ms !== null) tt.add(e.ttft_ms);
      }
      t.is(values[`d${p}`], d.percentile(p), `${label} d${p}`);
      t.is(values[`t${p}`], tt.percentile(p), `${label} t${p}`);
    }
  };
  const busyStart = T0 + 7 * MINUTE_MS;
  const windows: { start: number; end: number }[] = [];
  // Ends 2 s to 58 s into busy minutes (the rest of the minute after the end more, then fewer,
  // calls than the part before it), a day long as the summary's and a few minutes long; starts likewise.
  for (const into of [2_000, 17_345, 31_000, 44_444, 58_001]) {
    const end = busyStart + 12 * MINUTE_MS + into;
    windows.push({ start: end - 86_400_000, end }, { start: busyStart + 3 * MINUTE_MS + into, end }, { start: busyStart + 5 * MINUTE_MS + into, end: busyStart + 15 * MINUTE_MS });
  }
  for (const window of windows) {
    const inWin = events.filter((e) => e.ts >= window.start && e.ts < window.end);
    const label = JSON.stringify({ start: window.start - T0, end: window.end - T0 });
    const [row] = await s.aggregate({ window, aggregates });
    exact(inWin, label, row!.values);
    // Grouped, filtered (another level), and the summary's calls and cost by model and by feature.
    for (const r of await s.aggregate({ window, groupBy: ['model'], filter: { host: ['h1', 'h3'] }, aggregates })) {
      exact(inWin.filter((e) => e.model === r.group.model && (e.host === 'h1' || e.host === 'h3')), `${label} ${JSON.stringify(r.group)}`, r.values);
    }
    const [byModel, byFeature] = await s.aggregateEach({ window, aggregates: { calls: { op: 'count' }, cost: { op: 'sum', field: 'cost_usd' } } }, [['model'], ['feature']]);
    for (const r of [...byModel!, ...byFeature!]) {
      const evs = inWin.filter((e) => matches(e, r.group as CallFilter));
      t.is(r.values['calls'], evs.length, `${label} each ${JSON.stringify(r.group)}`);
      const nano = evs.reduce((a, e) => a + (pricer.price(e).cost_nanousd ?? 0), 0);
      if (evs.every((e) => e.model === 'unpriced-model')) t.is(r.values['cost'], null);
      else t.true(Math.abs((r.values['cost'] ?? 0) - nano / 1e9) <= 1e-12 * Math.max(1, nano / 1e9), `${label} each cost`);
    }
    t.is(byModel!.reduce((a, r) => a + (r.values['calls'] as number), 0), inWin.length);
    // A series in whole minutes puts each partial minute in its own bucket.
    for (const r of await s.series({ window, stepMs: 5 * MINUTE_MS, aggregates: { calls: { op: 'count' }, out: { op: 'sum', field: 'output_tokens' } } })) {
      const evs = inWin.filter((e) => e.ts >= r.t && e.ts < r.t + 5 * MINUTE_MS);
      t.is(r.values['calls'], evs.length, `${label} series ${r.t - T0}`);
      t.is(r.values['out'], evs.reduce((a, e) => a + e.usage!.output_tokens, 0), `${label} series ${r.t - T0}`);
    }
    // A sum of fractional values is read from the rows, whatever the rest of the minute.
    const [d] = await s.aggregate({ window, aggregates: { duration: { op: 'sum', field: 'duration_ms' } } });
    t.is(d!.values['duration'], inWin.reduce((a, e) => a + e.duration_ms, 0), label);
  }
  t.true(excepted > 0, 'some partial minutes were read as their rollup less the rest');
  // A group whose calls in the part are all unpriced has no cost, one with calls only in the rest is no group.
  excepted = 0;
  const window = { start: T0, end: m + 50_000 };
  const byFeature = await s.aggregate({ window, groupBy: ['feature'], aggregates: { calls: { op: 'count' }, cost: { op: 'sum', field: 'cost_usd' } } });
  t.is(excepted, 1);
  t.deepEqual(byFeature.find((r) => r.group.feature === 'odd')?.values, { calls: 200, cost: null });
  t.deepEqual(byFeature.map((r) => r.group.feature).sort(), ['chat', 'odd', 'search']);
  const [, each] = await s.aggregateEach({ window, aggregates: { calls: { op: 'count' }, cost: { op: 'sum', field: 'cost_usd' } } }, [['model'], ['feature']]);
  t.deepEqual(each!.find((r) => r.group.feature === 'odd')?.values, { calls: 200, cost: null });
  t.deepEqual(each!.map((r) => r.group.feature).sort(), ['chat', 'odd', 'search']);
});
