import test from 'ava';
import { join } from 'node:path';
import { createPricer, type CostEngine } from '../../src/pricing/index.js';
import { SqliteStore, type PricedCall } from '../../src/store/sqlite-store.js';
import { parseRepriceTime, repriceOptionsOf, repriceStore } from '../../src/daemon/reprice.js';
import type { CallEvent } from '../../src/event/types.js';
import { call, tempHome } from '../helpers/event-files.js';

const T0 = Date.parse('2026-11-20T10:00:00Z');
const OVERRIDES = {
  providers: { anthropic: { multiplier: 0.5 } },
  models: {
    'claude-nope-9': [{ input: 1, output: 5, cache_read: 0.1, cache_write_5m: 1.25, cache_write_1h: 2 }],
    'my-gateway-model': { aliases: ['gw/claude'], prices: [{ input: 2, output: 10, cache_read: 0.2 }] },
  },
};

/** A mix of models and minutes: list-priced, Bedrock-spelled, unknown, and an alias only the overrides know. */
function workload(n: number): CallEvent[] {
  const models: [string, CallEvent['provider']][] = [
    ['claude-sonnet-4-5', 'anthropic'], ['anthropic.claude-haiku-4-5-20251001-v1:0', 'bedrock'], ['claude-nope-9', 'anthropic'], ['gw/claude', 'anthropic'],
  ];
  return Array.from({ length: n }, (_, i) => {
    const [model, provider] = models[i % models.length]!;
    const ts = T0 + i * 13_000;
    const base = call({ ts, model, model_requested: model, provider, duration_ms: 100 + i, ttft_ms: i % 3 === 0 ? 40 + i : null });
    return { ...base, usage: { ...base.usage!, input_tokens: 1000 + i * 7, output_tokens: 200 + i, cache_read_input_tokens: i * 11 } };
  });
}

function store(t: import('ava').ExecutionContext, pricer: CostEngine, events: CallEvent[]): SqliteStore {
  const h = tempHome();
  t.teardown(h.cleanup);
  const s = SqliteStore.open({ path: join(h.data, 'claudescope.db') });
  t.teardown(() => s.close());
  const calls: PricedCall[] = events.map((event) => ({ event, raw: JSON.stringify(event), price: pricer.price(event) }));
  for (let i = 0; i < calls.length; i += 10) s.commitBatch({ calls: calls.slice(i, i + 10), checkpoints: [], emitterStats: [] });
  return s;
}

type Row = Record<string, number | string | null>;

/** Rollups grouped by (minute, model) and the same sums computed from the rows: they must be equal. */
function rollupsAndRows(s: SqliteStore): { rollups: Row[]; rows: Row[] } {
  const rollups = s.db.prepare(`SELECT minute, model, SUM(count) AS n, SUM(unpriced_count) AS unpriced, SUM(cost_nanousd) AS cost, SUM(cost_without_cache_nanousd) AS nocache,
    SUM(input_tokens) AS input, SUM(ttft_count) AS ttft_n, SUM(ttft_ms) AS ttft, SUM(duration_ms) AS dur FROM rollup_minute GROUP BY minute, model ORDER BY minute, model`).all() as Row[];
  const rows = s.db.prepare(`SELECT (ts / 60000) * 60000 AS minute, model, COUNT(*) AS n, SUM(cost_nanousd IS NULL) AS unpriced, SUM(cost_nanousd) AS cost, SUM(cost_without_cache_nanousd) AS nocache,
    SUM(input_tokens) AS input, COUNT(ttft_ms) AS ttft_n, SUM(ttft_ms) AS ttft, SUM(duration_ms) AS dur FROM calls GROUP BY 1, model ORDER BY 1, model`).all() as Row[];
  return { rollups, rows };
}

/** Histogram totals per (minute, model): every call is in its group's duration histogram once. */
function histogramTotals(s: SqliteStore): Row[] {
  return (s.db.prepare('SELECT minute, model, hist_duration FROM rollup_minute ORDER BY minute, model').all() as { minute: number; model: string; hist_duration: string | null }[])
    .map((r) => ({ minute: r.minute, model: r.model, total: Object.values(JSON.parse(r.hist_duration ?? '{}') as Record<string, number>).reduce((a, b) => a + b, 0) }));
}

const sumNano = (pricer: CostEngine, events: CallEvent[]): bigint => events.reduce((a, e) => a + BigInt(pricer.price(e).cost_nanousd ?? 0), 0n);
const usd = (n: bigint): string => `${n < 0n ? '-' : ''}${(n < 0n ? -n : n) / 1_000_000_000n}.${((n < 0n ? -n : n) % 1_000_000_000n).toString().padStart(9, '0')}`;

test('reprice stores the current price of every call and keeps rollups equal to the rows, chunk after chunk', async (t) => {
  const events = workload(60);
  const before = createPricer();
  const s = store(t, before, events);
  const after = createPricer({ overrides: OVERRIDES as never });

  const summary = await repriceStore(s, after, { since: T0, until: Infinity, dryRun: false, chunkRows: 7 });

  const stored = new Map((s.db.prepare('SELECT event_id, model, cost_nanousd, pricing_version FROM calls').all() as { event_id: string; model: string; cost_nanousd: number | null; pricing_version: string }[]).map((r) => [r.event_id, r]));
  for (const e of events) {
    const want = after.price(e);
    const got = stored.get(e.event_id)!;
    t.is(got.cost_nanousd, want.cost_nanousd, e.model ?? '');
    t.is<string | null, string | null>(got.model, want.model);
    t.is(got.pricing_version, after.version);
  }
  const { rollups, rows } = rollupsAndRows(s);
  t.deepEqual(rollups, rows);
  t.deepEqual(histogramTotals(s).map((r) => r['total']), rows.map((r) => r['n']));

  t.is(summary.calls, 60);
  t.is(summary.before_usd, usd(sumNano(before, events)));
  t.is(summary.after_usd, usd(sumNano(after, events)));
  t.is(summary.difference_usd, usd(sumNano(after, events) - sumNano(before, events)));
  t.is(summary.newly_priced, 30, 'claude-nope-9 and gw/claude calls are priced by the overrides');
  t.is(summary.newly_unpriced, 0);
  t.is(summary.unpriced_before, 30);
  t.is(summary.unpriced_after, 0);
  t.is(summary.relabelled, 15, 'gw/claude is now my-gateway-model');
  t.is(summary.price_changed, 45, 'Bedrock calls keep their list price; the rest change');
  t.is(summary.pricing_version, after.version);
  t.deepEqual(summary.versions_before, { [before.version]: 60 });
  t.deepEqual(summary.by_model.map((m) => m.model).sort(), ['claude-haiku-4-5-20251001', 'claude-nope-9', 'claude-sonnet-4-5-20250929', 'my-gateway-model']);
  t.false(rows.some((r) => r['model'] === 'gw/claude'), 'no rollup group is left under the old label');
});

test('a second reprice with the same prices rewrites nothing', async (t) => {
  const events = workload(20);
  const s = store(t, createPricer(), events);
  const pricer = createPricer({ overrides: OVERRIDES as never });
  await repriceStore(s, pricer, { since: T0, until: Infinity, dryRun: false });
  const snapshot = s.db.prepare('SELECT * FROM rollup_minute ORDER BY minute, gkey').all();
  const again = await repriceStore(s, pricer, { since: T0, until: Infinity, dryRun: false });
  t.is(again.rows_changed, 0);
  t.is(again.price_changed, 0);
  t.is(again.difference_usd, '0.000000000');
  t.deepEqual(s.db.prepare('SELECT * FROM rollup_minute ORDER BY minute, gkey').all(), snapshot);
});

test('a dry run reports the change and stores nothing', async (t) => {
  const events = workload(20);
  const s = store(t, createPricer(), events);
  const calls = s.db.prepare('SELECT * FROM calls ORDER BY id').all();
  const rollups = s.db.prepare('SELECT * FROM rollup_minute ORDER BY minute, gkey').all();
  const summary = await repriceStore(s, createPricer({ overrides: OVERRIDES as never }), { since: T0, until: Infinity, dryRun: true });
  t.true(summary.dry_run);
  t.true(summary.price_changed > 0);
  t.not(summary.difference_usd, '0.000000000');
  t.deepEqual(s.db.prepare('SELECT * FROM calls ORDER BY id').all(), calls);
  t.deepEqual(s.db.prepare('SELECT * FROM rollup_minute ORDER BY minute, gkey').all(), rollups);
});

test('only calls inside [since, until) are repriced', async (t) => {
  const events = workload(40);
  const s = store(t, createPricer(), events);
  const cut = events[20]!.ts;
  const summary = await repriceStore(s, createPricer({ overrides: OVERRIDES as never }), { since: T0, until: cut, dryRun: false });
  t.is(summary.calls, 20);
  const versions = s.db.prepare('SELECT ts >= ? AS late, pricing_version, COUNT(*) AS n FROM calls GROUP BY 1, 2 ORDER BY 1').all(cut) as { late: number; pricing_version: string; n: number }[];
  t.is(versions.length, 2);
  t.is(versions[0]!.late, 0);
  t.regex(versions[0]!.pricing_version, /\+o\./);
  t.is(versions[1]!.late, 1);
  t.notRegex(versions[1]!.pricing_version, /\+o\./);
  const { rollups, rows } = rollupsAndRows(s);
  t.deepEqual(rollups, rows);
});

test('reprice windows: a date is midnight UTC, a time of day needs its zone, and a date must exist', (t) => {
  t.is(parseRepriceTime('--since', '2026-11-01'), Date.UTC(2026, 10, 1));
  t.is(parseRepriceTime('--since', '2026-11-01T06:00:00+02:00'), Date.UTC(2026, 10, 1, 4));
  t.throws(() => parseRepriceTime('--until', '2026-11-19T08:00'), { message: /--until: "2026-11-19T08:00" has no time zone/ });
  t.throws(() => parseRepriceTime('--since', '2026-02-31'), { message: /--since: expected a date/ });
  t.throws(() => repriceOptionsOf({ since: '2026-11-19T08:00' }), { message: /since: "2026-11-19T08:00" has no time zone/ });
});
