import test from 'ava';
import { createRuleEngine } from '../../src/rules/rule-engine.js';
import { MIN, T0, commit, errorCall, openStore, rulesFrom, spread } from './helpers.js';

test('error_rate fires above the threshold and resolves when errors stop', async (t) => {
  const store = openStore(t);
  const rules = rulesFrom(`
rules:
  - alert: HighErrors
    kind: error_rate
    window: 5m
    min_calls: 20
    threshold: 5%
    group_by: [model]
    annotations:
      summary: "{{ $labels.model }} errors at {{ $value | humanizePercentage }}"
`);
  commit(store, [...spread(90, T0 - 5 * MIN, T0), ...spread(10, T0 - 4 * MIN, T0, errorCall())]);
  const engine = createRuleEngine({ query: store, rules });
  t.teardown(() => engine.stop());
  const r = await engine.evaluateOnce(T0);
  t.is(r.rules[0]?.samples[0]?.value, 0.1);
  const [a] = engine.alerts(T0);
  t.is(a?.state, 'firing');
  t.is(a?.labels['model'], 'claude-test-1');
  t.is(a?.annotations['summary'], 'claude-test-1 errors at 10%');
  await engine.evaluateOnce(T0 + 10 * MIN);
  t.deepEqual(engine.alerts(T0 + 10 * MIN), []);
});

test('error_rate restricted to error types counts only those', async (t) => {
  const store = openStore(t);
  const rules = rulesFrom(`
rules:
  - alert: Overloaded
    kind: error_rate
    error_types: [overloaded_error]
    threshold: 0.05
`);
  commit(store, [...spread(80, T0 - 5 * MIN, T0), ...spread(20, T0 - 4 * MIN, T0, errorCall('rate_limit_error', { http_status: 429 }))]);
  const engine = createRuleEngine({ query: store, rules });
  t.teardown(() => engine.stop());
  await engine.evaluateOnce(T0);
  t.deepEqual(engine.alerts(T0), []);
  commit(store, spread(10, T0 - 2 * MIN, T0, errorCall('overloaded_error')));
  await engine.evaluateOnce(T0);
  t.is(engine.alerts(T0)[0]?.state, 'firing');
});

test('does not fire below the minimum number of calls', async (t) => {
  const store = openStore(t);
  const rules = rulesFrom(`
rules:
  - alert: HighErrors
    kind: error_rate
    min_calls: 20
    threshold: 5%
`);
  commit(store, spread(10, T0 - 4 * MIN, T0, errorCall()));
  const engine = createRuleEngine({ query: store, rules });
  t.teardown(() => engine.stop());
  const r = await engine.evaluateOnce(T0);
  t.is(r.rules[0]?.samples[0]?.value, 1);
  t.deepEqual(engine.alerts(T0), []);
  commit(store, spread(10, T0 - 3 * MIN, T0, errorCall()));
  await engine.evaluateOnce(T0);
  t.is(engine.alerts(T0).length, 1);
});

test('latency p99 fires above 10 s and resolves when calls are fast again', async (t) => {
  const store = openStore(t);
  const rules = rulesFrom(`
rules:
  - alert: SlowP99
    kind: latency
    percentile: 99
    threshold: 10s
    group_by: [model]
`);
  commit(store, [...spread(95, T0 - 5 * MIN, T0, { duration_ms: 900 }), ...spread(5, T0 - 5 * MIN, T0, { duration_ms: 15_000 })]);
  const engine = createRuleEngine({ query: store, rules });
  t.teardown(() => engine.stop());
  const r = await engine.evaluateOnce(T0);
  const v = r.rules[0]?.samples[0]?.value ?? 0;
  t.true(Math.abs(v - 15) / 15 < 0.01, `p99 ${v}`);
  t.is(engine.alerts(T0)[0]?.state, 'firing');
  commit(store, spread(100, T0 + 5 * MIN, T0 + 10 * MIN, { duration_ms: 900 }));
  await engine.evaluateOnce(T0 + 10 * MIN);
  t.deepEqual(engine.alerts(T0 + 10 * MIN), []);
});

test('latency on ttft reads the time to first token', async (t) => {
  const store = openStore(t);
  const rules = rulesFrom(`
rules:
  - alert: SlowTtft
    kind: latency
    field: ttft
    percentile: 50
    threshold: 2s
`);
  commit(store, spread(20, T0 - 5 * MIN, T0, { ttft_ms: 3000, stream: true }));
  const engine = createRuleEngine({ query: store, rules });
  t.teardown(() => engine.stop());
  await engine.evaluateOnce(T0);
  t.is(engine.alerts(T0)[0]?.name, 'SlowTtft');
});

test('stop_reason_share fires on max_tokens truncations', async (t) => {
  const store = openStore(t);
  const rules = rulesFrom(`
rules:
  - alert: Truncations
    kind: stop_reason_share
    stop_reasons: [max_tokens]
    threshold: 10%
    min_calls: 10
`);
  commit(store, [...spread(80, T0 - 5 * MIN, T0), ...spread(20, T0 - 5 * MIN, T0, { stop_reason: 'max_tokens' })]);
  const engine = createRuleEngine({ query: store, rules });
  t.teardown(() => engine.stop());
  const r = await engine.evaluateOnce(T0);
  t.is(r.rules[0]?.samples[0]?.value, 0.2);
  t.is(engine.alerts(T0).length, 1);
  await engine.evaluateOnce(T0 + 6 * MIN);
  t.is(engine.alerts(T0 + 6 * MIN).length, 0);
});

test('threshold rule compares any aggregate, as a ratio or a per-minute rate', async (t) => {
  const store = openStore(t);
  const rules = rulesFrom(`
rules:
  - alert: ManyRetries
    kind: threshold
    value: { op: sum, field: retries }
    per: { op: count }
    threshold: 0.5
  - alert: OutputRate
    kind: threshold
    value: { op: sum, field: output_tokens }
    per_minute: true
    threshold: 1000
    filter: { feature: chat }
`);
  commit(store, spread(20, T0 - 5 * MIN, T0, { attempts: 2 }));
  const engine = createRuleEngine({ query: store, rules });
  t.teardown(() => engine.stop());
  const r = await engine.evaluateOnce(T0);
  t.is(r.rules[0]?.samples[0]?.value, 1);
  t.is(r.rules[1]?.samples[0]?.value, 200);
  t.deepEqual(engine.alerts(T0).map((a) => a.name), ['ManyRetries']);
  commit(store, spread(100, T0 - 5 * MIN, T0, { usage: { ...usage(), output_tokens: 100 } }));
  await engine.evaluateOnce(T0);
  t.deepEqual(engine.alerts(T0).map((a) => a.name), ['OutputRate']);
});

function usage() {
  return {
    input_tokens: 100, output_tokens: 50, cache_read_input_tokens: 0, cache_creation_input_tokens: 0,
    cache_write_5m_input_tokens: 0, cache_write_1h_input_tokens: 0, cache_write_unknown_ttl_input_tokens: 0,
    thinking_tokens: null, web_search_requests: 0, web_fetch_requests: 0, code_execution_requests: 0,
    service_tier: 'standard', speed: null, inference_geo: null,
  };
}
export { usage };
