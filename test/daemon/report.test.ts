import test, { type ExecutionContext } from 'ava';
import type { CallEvent } from '../../src/event/types.js';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { buildReport, formatCsv, formatTable, parseTime } from '../../src/daemon/report.js';
import { call } from '../helpers/event-files.js';
import { tempDir } from '../helpers/events.js';
import { testCost, testPricer } from '../helpers/test-pricer.js';

const DAY = 86_400_000;

/** A new store holding `events`, priced by the test pricer. */
function storeWith(t: ExecutionContext, events: CallEvent[]): SqliteStore {
  const store = SqliteStore.open({ path: join(tempDir(t), 'db.sqlite') });
  t.teardown(() => store.close());
  const pricer = testPricer();
  store.commitBatch({ calls: events.map((event) => ({ event, raw: JSON.stringify(event), price: pricer.price(event) })), checkpoints: [], emitterStats: [] });
  return store;
}

test('a group whose calls are all unpriced shows unpriced, never $0', async (t) => {
  const now = Date.UTC(2026, 10, 20, 12);
  const events = [
    call({ ts: now - 2 * DAY, model: 'claude-test-1' }), call({ ts: now - DAY, model: 'claude-test-1', status: 'error', error_type: 'api_error' }),
    call({ ts: now - 1000, model: 'unpriced-model' }), call({ ts: now - 500, model: 'unpriced-model' }),
  ];
  const store = storeWith(t, events);
  const rep = await buildReport(store, 'model', { start: now - 3 * DAY, end: now + 1 });
  const unp = rep.rows.find((r) => r.key === 'unpriced-model')!;
  t.is(unp.cost_usd, null);
  t.is(unp.unpriced_calls, 2);
  const priced = rep.rows.find((r) => r.key === 'claude-test-1')!;
  t.is(priced.cost_usd, testCost(events[0]!)! + testCost(events[1]!)!);
  t.is(priced.errors, 1);
  t.is(rep.total.calls, 4);
  t.regex(formatTable(rep), /unpriced-model\s+2\s+0\s+unpriced/);
  t.regex(formatTable(rep), /2 call\(s\) could not be priced/);
  t.regex(formatCsv(rep), /^model,calls,errors,cost_usd,unpriced_calls,/);
  const byDay = await buildReport(store, 'day', { start: now - 3 * DAY, end: now + 1 });
  t.deepEqual(byDay.rows.map((r) => [r.key, r.calls]), [['2026-11-18', 1], ['2026-11-19', 1], ['2026-11-20', 2]]);
});

test('costs in the table read as on the dashboard: a sub-cent cost keeps its digits, a large one its thousands', async (t) => {
  const now = Date.UTC(2026, 10, 20, 12);
  const base = call().usage!;
  const events = [
    // 10 input × $3/M + 5 output × $15/M = $0.000105: four decimals showed it as $0.0001.
    call({ ts: now - 1000, model: 'claude-test-1', usage: { ...base, input_tokens: 10, output_tokens: 5 } }),
    // 500M input × $3/M = $1,500.
    call({ ts: now - 500, model: 'claude-test-2', usage: { ...base, input_tokens: 500_000_000, output_tokens: 0 } }),
  ];
  const store = storeWith(t, events);
  const table = formatTable(await buildReport(store, 'model', { start: now - 60_000, end: now + 1 }));
  t.regex(table, /claude-test-1\s+1\s+0\s+\$0\.000105\s/);
  t.regex(table, /claude-test-2\s+1\s+0\s+\$1,500\.00\s/);
  t.regex(table, /total\s+2\s+0\s+\$1,500\.00\s/);
});

test('latencies in the table have thousands separators whether or not the percentile was a whole number of ms', (t) => {
  const row = (key: string, ms: number) => ({
    key, calls: 1, errors: 0, cost_usd: 0.01, unpriced_calls: 0, input_tokens: 0, output_tokens: 0,
    cache_read_input_tokens: 0, cache_write_5m_input_tokens: 0, cache_write_1h_input_tokens: 0,
    latency_p50_ms: ms, latency_p95_ms: ms, latency_p99_ms: ms, ttft_p50_ms: ms, ttft_p95_ms: ms, ttft_p99_ms: ms,
  });
  const table = formatTable({ by: 'model', window: { start: '2026-11-20T00:00:00.000Z', end: '2026-11-21T00:00:00.000Z' }, rows: [row('whole', 2000), row('tenths', 2000.4), row('up', 12345.6)], total: row('total', 999.5) });
  t.regex(table, /^whole\s.*\s2,000\s+2,000\s+2,000\s+2,000\s+2,000\s+2,000$/m);
  t.regex(table, /^tenths\s.*\s2,000\s+2,000\s+2,000\s+2,000\s+2,000\s+2,000$/m);
  t.regex(table, /^up\s.*\s12,346\s+12,346\s+12,346\s+12,346\s+12,346\s+12,346$/m);
  t.regex(table, /^total\s.*\s1,000\s+1,000\s+1,000\s+1,000\s+1,000\s+1,000$/m);
  // Every percentile column says its unit, the TTFT ones as the latency ones.
  t.regex(table, /\sp50 ms\s+p95 ms\s+p99 ms\s+ttft p50 ms\s+ttft p95 ms\s+ttft p99 ms$/m);
});

test('windows: durations back from now, ISO times, and a clear error otherwise', (t) => {
  const now = Date.UTC(2026, 10, 20);
  t.is(parseTime('24h', now, '--since'), now - DAY);
  t.is(parseTime('7d', now, '--since'), now - 7 * DAY);
  t.is(parseTime('2026-11-01', now, '--since'), Date.UTC(2026, 10, 1));
  t.throws(() => parseTime('yesterday', now, '--since'), { message: /--since: expected a duration/ });
});

test('windows: an ISO time of day needs its zone (it would be read as local time), and a date must exist', (t) => {
  const now = Date.UTC(2026, 10, 20);
  t.is(parseTime('2026-11-19T08:00:00Z', now, '--since'), Date.UTC(2026, 10, 19, 8));
  t.is(parseTime('2026-11-19T10:00+02:00', now, '--since'), Date.UTC(2026, 10, 19, 8));
  t.throws(() => parseTime('2026-11-19T08:00', now, '--until'), { message: /--until: "2026-11-19T08:00" has no time zone: add Z/ });
  t.throws(() => parseTime('2026-02-31', now, '--since'), { message: /--since: expected a duration/ });
  t.is(parseTime('2026-11-19 08:00Z', now, '--since'), Date.UTC(2026, 10, 19, 8), 'a space between date and time');
  t.throws(() => parseTime('2026-11-19 08:00', now, '--since'), { message: /has no time zone/ });
  const y50 = new Date(0);
  y50.setUTCFullYear(50, 0, 1);
  t.is(parseTime('0050-01-01', now, '--since'), y50.getTime(), 'years below 100 are not read as 19xx');
});
