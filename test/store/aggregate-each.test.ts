import test from 'ava';
import { join } from 'node:path';
import { SqliteStore, type PricedCall } from '../../src/store/sqlite-store.js';
import { HOUR_MS, MINUTE_MS } from '../../src/store/rollups.js';
import type { Aggregate, CallDimension } from '../../src/store/types.js';
import type { CallEvent } from '../../src/event/types.js';
import { call, tempHome } from '../helpers/event-files.js';
import { testPricer } from '../helpers/test-pricer.js';

const pricer = testPricer();
const priced = (e: CallEvent): PricedCall => ({ event: e, raw: JSON.stringify(e), price: pricer.price(e) });
const T0 = Date.UTC(2026, 10, 1, 0, 0, 0);

function workload(n: number): CallEvent[] {
  let x = 977;
  const rnd = (): number => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  return Array.from({ length: n }, (_, i) => {
    const err = rnd() < 0.2;
    const e = call({
      ts: T0 + 3 * MINUTE_MS + 777 + Math.floor(rnd() * (4 * HOUR_MS)),
      model: ['claude-a', 'claude-b', 'unpriced-model'][i % 3]!,
      tags: { feature: ['chat', 'search', 'summarize'][(i >> 1) % 3]! },
      status: err ? 'error' : 'ok',
      error_type: err ? 'overloaded_error' : null,
      duration_ms: Math.round(10 + rnd() * 9000),
    });
    e.usage = { ...e.usage!, input_tokens: Math.floor(rnd() * 5000), output_tokens: Math.floor(rnd() * 2000), cache_read_input_tokens: Math.floor(rnd() * 9000) };
    return e;
  });
}

test('aggregateEach answers exactly what separate grouped aggregates answer, over hours, minutes and partial minutes', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const store = SqliteStore.open({ path: join(h.data, 'claudescope.db') });
  t.teardown(() => store.close());
  store.commitBatch({ calls: workload(3000).map(priced), checkpoints: [], emitterStats: [] });
  const foldable: Record<string, Aggregate> = {
    calls: { op: 'count' }, cost_usd: { op: 'sum', field: 'cost_usd' }, no_cache: { op: 'sum', field: 'cost_without_cache_usd' },
    errors: { op: 'count_where', filter: { status: 'error' } }, unpriced: { op: 'unpriced_count' },
  };
  const other: Record<string, Aggregate> = { calls: { op: 'count' }, input: { op: 'sum', field: 'input_tokens' }, p95: { op: 'percentile', field: 'duration_ms', p: 95 } };
  const groupings: CallDimension[][] = [['model'], ['feature'], ['model', 'status']];
  const windows = [
    { start: T0, end: T0 + 5 * HOUR_MS },
    { start: T0 + 17 * MINUTE_MS + 4321, end: T0 + 3 * HOUR_MS + 41 * MINUTE_MS + 99 },
    { start: T0 + 30 * MINUTE_MS + 1, end: T0 + 30 * MINUTE_MS + 50_000 },
    { start: T0 + 10 * HOUR_MS, end: T0 + 11 * HOUR_MS },
  ];
  for (const window of windows) {
    for (const aggregates of [foldable, other]) {
      for (const filter of [undefined, { status: 'ok' as const }]) {
        const q = { window, aggregates, ...(filter ? { filter } : {}) };
        const separate = await Promise.all(groupings.map((g) => store.aggregate({ ...q, groupBy: g })));
        t.deepEqual(await store.aggregateEach(q, groupings), separate);
      }
    }
  }
});
