import test from 'ava';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { ClaudeMetrics, errorKind } from '../../src/metrics/claude-metrics.js';
import { createMetrics } from '../../src/metrics/index.js';
import { call } from '../helpers/event-files.js';
import { testPricer } from '../helpers/test-pricer.js';
import { parseExposition, sumOf } from './exposition.js';

const pricer = testPricer();

async function samplesOf(registry: Registry): Promise<ReturnType<typeof parseExposition>> {
  return parseExposition(await registry.metrics());
}

test('errors are classified: 429 rate_limit, 529 or overloaded_error overloaded, the rest other', (t) => {
  t.is(errorKind(429, 'rate_limit_error'), 'rate_limit');
  t.is(errorKind(529, null), 'overloaded');
  t.is(errorKind(null, 'overloaded_error'), 'overloaded');
  t.is(errorKind(500, 'api_error'), 'other');
  t.is(errorKind(null, 'connection_error'), 'other');
});

test('only allow-listed feature tags become labels; the label set stays the same', async (t) => {
  const registry = new Registry();
  const m = new ClaudeMetrics({ registry, featureLabelAllowlist: ['search'] });
  const evs = [call({ tags: { feature: 'search' } }), call({ tags: { feature: 'user-42' } }), call({ tags: {} })];
  m.record(evs.map((event) => ({ event, price: pricer.price(event) })));
  const s = await samplesOf(registry);
  t.is(sumOf(s, 'claude_requests_total', { feature: 'search' }), 1);
  t.is(sumOf(s, 'claude_requests_total', { feature: '' }), 2);
  t.false(s.some((x) => x.labels['feature'] === 'user-42'));
});

test('an older call never overwrites newer rate-limit headers; a missing value is not exported as 0', async (t) => {
  const registry = new Registry();
  const m = new ClaudeMetrics({ registry });
  const newer = call({ ts: 2_000, rate_limits: { requests: { limit: 50, remaining: 10, reset: null } } });
  const older = call({ ts: 1_000, rate_limits: { requests: { limit: 50, remaining: 49, reset: null } } });
  const partial = call({ ts: 3_000, rate_limits: { tokens: { limit: null, remaining: null, reset: null } } });
  m.record([newer, older, partial].map((event) => ({ event, price: pricer.price(event) })));
  const s = await samplesOf(registry);
  t.is(sumOf(s, 'claude_rate_limit_remaining', { dimension: 'requests' }), 10);
  t.false(s.some((x) => x.name === 'claude_rate_limit_remaining' && x.labels['dimension'] === 'tokens'));
});

test('an unpriced call is counted as unpriced and adds no cost', async (t) => {
  const registry = new Registry();
  const m = new ClaudeMetrics({ registry });
  const e = call({ model: 'unpriced-model' });
  m.record([{ event: e, price: pricer.price(e) }, { event: call(), price: null }]);
  const s = await samplesOf(registry);
  t.is(sumOf(s, 'claude_unpriced_requests_total'), 2);
  t.is(sumOf(s, 'claude_cost_usd_total'), 0);
});

test('budgets from the configuration are exported per period and feature', async (t) => {
  const m = createMetrics({ budgets: { dailyUsd: 5, monthlyUsd: null, perFeature: { search: { dailyUsd: 1, monthlyUsd: 20 } } }, processMetrics: false });
  const s = await samplesOf(m.registry);
  t.is(sumOf(s, 'claude_budget_usd', { period: 'daily', feature: '' }), 5);
  t.false(s.some((x) => x.name === 'claude_budget_usd' && x.labels['period'] === 'monthly' && x.labels['feature'] === ''));
  t.is(sumOf(s, 'claude_budget_usd', { period: 'monthly', feature: 'search' }), 20);
});

test('the registry is its own, never prom-client\'s global one', async (t) => {
  const { register } = await import('prom-client');
  createMetrics();
  t.is(register.getSingleMetric('claude_requests_total'), undefined);
});

/** A varied set of calls: errors, retries, streams, unpriced, rate limits in and out of order. */
function variedCalls(): { event: ReturnType<typeof call>; price: ReturnType<typeof pricer.price> | null }[] {
  const evs = [
    call({ tags: { feature: 'search' }, ts: 5_000, rate_limits: { requests: { limit: 50, remaining: 10, reset: null } } }),
    call({ ts: 4_000, rate_limits: { requests: { limit: 50, remaining: 30, reset: null }, tokens: { limit: 900, remaining: null, reset: null } } }),
    call({ status: 'error', http_status: 529, error_type: 'overloaded_error', attempts: 2, attempt_log: [
      { status: 529, error_type: 'overloaded_error', request_id: null, start_offset_ms: 0, duration_ms: 5, retry_after_ms: null },
      { status: 529, error_type: 'overloaded_error', request_id: null, start_offset_ms: 600, duration_ms: 5, retry_after_ms: null },
    ] }),
    call({ model: 'unpriced-model', ttft_ms: 321 }),
    call({ tags: { feature: 'search' }, duration_ms: 12_345.678, ttft_ms: 45.5 }),
    call({ model: 'claude-other-1', usage: { ...call().usage!, input_tokens: 7, output_tokens: 11, cache_read_input_tokens: 13, cache_creation_input_tokens: 17, cache_write_5m_input_tokens: 5, cache_write_1h_input_tokens: 9, cache_write_unknown_ttl_input_tokens: 3 } }),
    call({ model: 'claude-other-1', usage: null, status: 'aborted', stop_reason: null }),
    call({ status: 'error', http_status: 200, error_type: 'api_error', stop_reason: null }),
  ];
  const priced = evs.map((event) => ({ event, price: pricer.price(event) }));
  const p = priced[1]!.price!;
  return [
    ...priced,
    { event: call(), price: null },
    // Priced, but without a price without cache; and priced with no cost (counted as unpriced).
    { event: call({ model: 'claude-other-1' }), price: { ...p, cost_without_cache_usd: null } },
    { event: call(), price: { ...p, cost_usd: null } },
  ];
}

/**
 * What each series should hold, straight from the calls (counters, histogram counts and sums,
 * gauges), keyed as `name{labels as JSON}`: the reference the metrics are checked against.
 */
function expectedSeries(calls: ReturnType<typeof variedCalls>, allow: ReadonlySet<string>): Map<string, number> {
  const out = new Map<string, number>();
  const add = (name: string, labels: Record<string, string>, n: number): void => {
    const k = `${name}${JSON.stringify(Object.fromEntries(Object.entries(labels).sort()))}`;
    out.set(k, (out.get(k) ?? 0) + n);
  };
  const rl = new Map<string, { ts: number; remaining?: number; limit?: number }>();
  for (const c of calls) {
    const e = c.event;
    const model = c.price?.model ?? e.model ?? e.model_requested ?? 'unknown';
    const f = e.tags['feature'];
    const feature = f !== undefined && allow.has(f) ? f : '';
    add('claude_requests_total', { model, stop_reason: e.stop_reason ?? '', status: e.status, feature }, 1);
    add('claude_latency_seconds_count', { model }, 1);
    add('claude_latency_seconds_sum', { model }, e.duration_ms / 1000);
    if (e.ttft_ms !== null) {
      add('claude_ttft_seconds_count', { model }, 1);
      add('claude_ttft_seconds_sum', { model }, e.ttft_ms / 1000);
    }
    add('claude_attempts_total', { model }, e.attempts);
    add('claude_retries_total', { model }, Math.max(0, e.attempts - 1));
    const u = e.usage;
    if (u) {
      const dirs: [string, number][] = [['input', u.input_tokens], ['output', u.output_tokens], ['cache_read', u.cache_read_input_tokens],
        ['cache_write_5m', u.cache_write_5m_input_tokens], ['cache_write_1h', u.cache_write_1h_input_tokens], ['cache_write_unknown_ttl', u.cache_write_unknown_ttl_input_tokens ?? 0]];
      for (const [direction, n] of dirs) add('claude_tokens_total', { model, direction, feature }, n);
      add('claude_cache_read_input_tokens_total', { model }, u.cache_read_input_tokens);
      add('claude_cache_write_input_tokens_total', { model }, u.cache_creation_input_tokens);
      add('claude_prompt_input_tokens_total', { model }, u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens);
    }
    const p = c.price;
    if (p && p.priced && p.cost_usd !== null) {
      add('claude_cost_usd_total', { model, feature }, p.cost_usd);
      if (p.cost_without_cache_usd !== null) add('claude_cost_without_cache_usd_total', { model }, p.cost_without_cache_usd);
    } else {
      add('claude_unpriced_requests_total', { model }, 1);
    }
    let lastOk = false;
    for (const a of e.attempt_log) {
      lastOk = a.status !== null && a.status >= 200 && a.status < 300;
      if (!lastOk) add('claude_errors_total', { model, error_type: a.error_type ?? `http_${a.status}`, kind: errorKind(a.status, a.error_type) }, 1);
    }
    if (e.status === 'error' && (lastOk || e.attempt_log.length === 0)) add('claude_errors_total', { model, error_type: e.error_type ?? 'unknown', kind: errorKind(null, e.error_type) }, 1);
    for (const [dimension, b] of Object.entries(e.rate_limits ?? {})) {
      const key = `${model}|${dimension}`;
      const cur = rl.get(key);
      if (cur && cur.ts > e.ts) continue;
      const next = { ...cur, ts: e.ts };
      if (b.remaining !== null) next.remaining = b.remaining;
      if (b.limit !== null) next.limit = b.limit;
      rl.set(key, next);
    }
  }
  for (const [key, v] of rl) {
    const [model, dimension] = key.split('|') as [string, string];
    if (v.remaining !== undefined) add('claude_rate_limit_remaining', { model, dimension }, v.remaining);
    if (v.limit !== undefined) add('claude_rate_limit_limit', { model, dimension }, v.limit);
  }
  return out;
}

test('counts pending on a transaction are applied once it committed, and equal the sums over its calls', async (t) => {
  const registry = new Registry();
  const m = new ClaudeMetrics({ registry, featureLabelAllowlist: ['search'] });
  const calls = variedCalls();
  const pending = m.pending();
  for (const c of calls) m.stage(pending, c);
  t.is(sumOf(await samplesOf(registry), 'claude_requests_total'), 0, 'nothing counted before the commit');
  m.apply(pending);
  const s = await samplesOf(registry);
  // Every series the metrics hold equals the reference (buckets and budgets aside), and none is missing.
  const expected = expectedSeries(calls, new Set(['search']));
  const actual = new Map(s.filter((x) => x.name.startsWith('claude_') && !x.name.endsWith('_bucket') && x.name !== 'claude_budget_usd')
    .map((x) => [`${x.name}${JSON.stringify(Object.fromEntries(Object.entries(x.labels).sort()))}`, x.value]));
  t.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [k, v] of expected) t.true(Math.abs((actual.get(k) ?? NaN) - v) <= 1e-9 * Math.max(1, Math.abs(v)), `${k}: ${actual.get(k)} vs ${v}`);
  t.is(sumOf(s, 'claude_latency_seconds_bucket', { le: '+Inf' }), calls.length);
  t.true(expected.size > 40);
});

test('counts pending on a transaction that never committed are never counted', async (t) => {
  const registry = new Registry();
  const m = new ClaudeMetrics({ registry });
  const pending = m.pending();
  for (const c of variedCalls()) m.stage(pending, c);
  const s = await samplesOf(registry);
  t.is(sumOf(s, 'claude_requests_total'), 0);
  t.is(sumOf(s, 'claude_tokens_total'), 0);
  t.false(s.some((x) => x.name === 'claude_rate_limit_remaining'));
});

test('latency buckets count as Prometheus\'s le: a value on a bound is in that bucket; counts are cumulative, with +Inf, sum and count', async (t) => {
  const registry = new Registry();
  const m = new ClaudeMetrics({ registry });
  // Seconds: 0.5 (on the first bound), 0.5005, 2, 59.999, 60 (the last bound) and 61 (above every bound).
  const durationsMs = [500, 500.5, 2000, 59_999, 60_000, 61_000];
  const pending = m.pending();
  for (const d of durationsMs) m.stage(pending, { event: call({ model: 'm1', duration_ms: d }), price: null });
  m.apply(pending);
  m.record([{ event: call({ model: 'm1', duration_ms: 100 }), price: null }]);
  const s = await samplesOf(registry);
  const le = (bound: string): number => sumOf(s, 'claude_latency_seconds_bucket', { model: 'm1', le: bound });
  t.deepEqual(['0.5', '1', '2', '5', '10', '30', '60', '+Inf'].map(le), [2, 3, 4, 4, 4, 4, 6, 7]);
  t.is(sumOf(s, 'claude_latency_seconds_count', { model: 'm1' }), 7);
  t.true(Math.abs(sumOf(s, 'claude_latency_seconds_sum', { model: 'm1' }) - (0.1 + 0.5 + 0.5005 + 2 + 59.999 + 60 + 61)) < 1e-9);
  // TTFT has buckets of its own.
  m.record([100, 250, 251, 40_000].map((ttft) => ({ event: call({ model: 'm1', ttft_ms: ttft }), price: null })));
  const s2 = await samplesOf(registry);
  t.deepEqual(['0.1', '0.25', '0.5', '1', '2', '5', '10', '30', '+Inf'].map((bound) => sumOf(s2, 'claude_ttft_seconds_bucket', { model: 'm1', le: bound })), [1, 2, 3, 3, 3, 3, 3, 3, 4]);
  // The registry's reset empties them, as it does prom-client's own metrics.
  registry.resetMetrics();
  t.false((await samplesOf(registry)).some((x) => x.name.startsWith('claude_latency_seconds') || x.name.startsWith('claude_ttft_seconds')));
});

test('rate-limit gauges are the same whatever calls share a transaction: as if each call committed alone', async (t) => {
  // Headers without a value (null) are common here, and times few, so that calls tie and arrive out of order.
  const bucket = fc.record({ limit: fc.option(fc.integer({ min: 0, max: 1000 }), { freq: 2 }), remaining: fc.option(fc.integer({ min: 0, max: 1000 }), { freq: 2 }), reset: fc.constant(null) });
  const oneCall = fc.record({ ts: fc.integer({ min: 0, max: 6 }), model: fc.constantFrom('m1', 'm2'), requests: fc.option(bucket), tokens: fc.option(bucket) });
  await fc.assert(fc.asyncProperty(fc.array(oneCall, { maxLength: 30 }), fc.array(fc.nat({ max: 30 })), async (specs, cuts) => {
    const calls = specs.map((c) => ({ event: call({ ts: c.ts, model: c.model, rate_limits: { ...(c.requests ? { requests: c.requests } : {}), ...(c.tokens ? { tokens: c.tokens } : {}) } }), price: null }));
    const gauges = async (registry: Registry): Promise<string[]> => (await samplesOf(registry))
      .filter((x) => x.name.startsWith('claude_rate_limit_')).map((x) => `${x.name}${JSON.stringify(x.labels)} ${x.value}`).sort();
    const alone = new Registry();
    const a = new ClaudeMetrics({ registry: alone });
    for (const c of calls) a.record([c]);
    const grouped = new Registry();
    const g = new ClaudeMetrics({ registry: grouped });
    const bounds = [...new Set([0, ...cuts.filter((x) => x < calls.length), calls.length])].sort((x, y) => x - y);
    for (let i = 1; i < bounds.length; i++) g.record(calls.slice(bounds[i - 1], bounds[i]));
    t.deepEqual(await gauges(grouped), await gauges(alone));
  }), {
    numRuns: 300,
    // An older call's value must not come back with a newer call that has none: 7 stays.
    examples: [[[{ ts: 2, model: 'm1', requests: { limit: 9, remaining: 7, reset: null }, tokens: null },
      { ts: 1, model: 'm1', requests: { limit: 9, remaining: 5, reset: null }, tokens: null },
      { ts: 3, model: 'm1', requests: { limit: 9, remaining: null, reset: null }, tokens: null }], [1]]],
  });
});
