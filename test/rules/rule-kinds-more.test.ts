import test from 'ava';
import type { PipelineHealth } from '../../src/store/types.js';
import { createRuleEngine } from '../../src/rules/rule-engine.js';
import { periodAt } from '../../src/rules/budget-period.js';
import { MIN, T0, commit, errorCall, openStore, rulesFrom, spread } from './helpers.js';

const HOUR = 60 * MIN;
// testPricer: 100 input × $3/M + 50 output × $15/M = $0.00105 per call.
const CALL_USD = 0.00105;

test('budget share fires above 80 % of the daily budget and resets at the next UTC day', async (t) => {
  const store = openStore(t);
  const day = periodAt(T0, 'day');
  commit(store, spread(900, day.start, T0));
  const rules = rulesFrom(`
rules:
  - alert: DailyBudget
    kind: budget
    period: day
    threshold: 80%
    annotations: { summary: "{{ $value | humanizePercentage }} of the daily budget" }
`);
  const engine = createRuleEngine({ query: store, rules, budgets: { daily: 1 } });
  t.teardown(() => engine.stop());
  const r = await engine.evaluateOnce(T0);
  t.true(Math.abs((r.rules[0]?.samples[0]?.value ?? 0) - 900 * CALL_USD) < 1e-6);
  t.is(engine.alerts()[0]?.annotations['summary'], '94.5% of the daily budget');
  await engine.evaluateOnce(day.end + MIN);
  t.deepEqual(engine.alerts(), []);
});

test('budget per feature uses each feature its own budget', async (t) => {
  const store = openStore(t);
  const day = periodAt(T0, 'day');
  commit(store, [...spread(100, day.start, T0, { tags: { feature: 'chat' } }), ...spread(100, day.start, T0, { tags: { feature: 'search' } })]);
  const rules = rulesFrom('rules:\n  - { alert: FeatureBudget, kind: budget, scope: feature, threshold: 80% }\n');
  const engine = createRuleEngine({ query: store, rules, budgets: { features: { chat: { daily: 0.1 }, search: { daily: 10 } } } });
  t.teardown(() => engine.stop());
  await engine.evaluateOnce(T0);
  t.deepEqual(engine.alerts().map((a) => a.labels['feature']), ['chat']);
});

test('projected budget exhaustion fires from the current burn rate before the budget is spent', async (t) => {
  const store = openStore(t);
  const month = periodAt(T0, 'month');
  // $0.105 in the last hour; the month has ~500 h left: projected ≈ $52 against a $20 budget.
  commit(store, spread(100, T0 - HOUR, T0));
  const rules = rulesFrom('rules:\n  - { alert: MonthlyProjected, kind: budget, period: month, check: projected, burn_window: 1h, threshold: 1 }\n');
  const engine = createRuleEngine({ query: store, rules, budgets: { monthly: 20 } });
  t.teardown(() => engine.stop());
  const r = await engine.evaluateOnce(T0);
  const expected = (100 * CALL_USD + (100 * CALL_USD / HOUR) * (month.end - T0)) / 20;
  t.true(Math.abs((r.rules[0]?.samples[0]?.value ?? 0) - expected) < 1e-6);
  t.is(engine.alerts()[0]?.state, 'firing');
});

test('unpriced calls make a budget rule fire a warning with the spend unknown', async (t) => {
  const store = openStore(t);
  commit(store, [...spread(10, T0 - HOUR, T0), ...spread(3, T0 - HOUR, T0, { model: 'unpriced-model' })]);
  const rules = rulesFrom('rules:\n  - { alert: DailyBudget, kind: budget, severity: critical, threshold: 80% }\n');
  const engine = createRuleEngine({ query: store, rules, budgets: { daily: 100 } });
  t.teardown(() => engine.stop());
  const r = await engine.evaluateOnce(T0);
  t.is(r.rules[0]?.samples[0]?.value, null);
  const [a] = engine.alerts();
  t.is(a?.labels['severity'], 'warning');
  t.is(a?.labels['spend'], 'unknown');
  // 10 priced calls: $0.0105, which two decimals would print as $0.01 (a call or two as $0.00).
  t.is(a?.annotations['note'], '3 call(s) this day have no price: spend is unknown (priced part $0.0105 of $100)');
});

test('the note of a budget rule with unpriced calls gives a priced part of dollars as money, with its cents', async (t) => {
  const store = openStore(t);
  // 2,000 priced calls: $2.10 (not $2.1).
  commit(store, [...spread(2000, T0 - HOUR, T0), ...spread(1, T0 - HOUR, T0, { model: 'unpriced-model' })]);
  const rules = rulesFrom('rules:\n  - { alert: DailyBudget, kind: budget, threshold: 80% }\n');
  const engine = createRuleEngine({ query: store, rules, budgets: { daily: 1000 } });
  t.teardown(() => engine.stop());
  await engine.evaluateOnce(T0);
  t.is(engine.alerts()[0]?.annotations['note'], '1 call(s) this day have no price: spend is unknown (priced part $2.10 of $1000)');
});

test('calls that failed or were aborted before any usage leave a budget\'s spend known', async (t) => {
  const store = openStore(t);
  commit(store, [
    ...spread(10, T0 - HOUR, T0),
    // A 529 and a dropped connection: unpriced for want of usage, and billed nothing.
    ...spread(2, T0 - HOUR, T0, errorCall()),
    ...spread(1, T0 - HOUR, T0, errorCall('connection_error', { http_status: null })),
    ...spread(1, T0 - HOUR, T0, { status: 'aborted', usage: null, stop_reason: null }),
  ]);
  const rules = rulesFrom('rules:\n  - { alert: DailyBudget, kind: budget, severity: critical, threshold: 80% }\n');
  const engine = createRuleEngine({ query: store, rules, budgets: { daily: 100 } });
  t.teardown(() => engine.stop());
  const r = await engine.evaluateOnce(T0);
  const [sample] = r.rules[0]?.samples ?? [];
  t.is(sample?.calls, 14);
  t.true(Math.abs((sample?.value ?? -1) - (10 * CALL_USD) / 100) < 1e-9);
  t.is(sample?.labels['spend'], undefined);
  t.deepEqual(engine.alerts(), []);
});

test('a projected budget early in a month takes the burn rate of the whole burn window, the previous month\'s part included', async (t) => {
  const store = openStore(t);
  const month = periodAt(T0, 'month');
  const now = month.start + 5 * MIN;
  // A steady $0.105 an hour over the previous month's last 6 h, then one call this month.
  commit(store, [...spread(600, month.start - 6 * HOUR, month.start), ...spread(1, month.start + MIN, month.start + 2 * MIN)]);
  const rules = rulesFrom('rules:\n  - { alert: MonthlyProjected, kind: budget, period: month, check: projected, burn_window: 6h, threshold: 1 }\n');
  const engine = createRuleEngine({ query: store, rules, budgets: { monthly: 1000 } });
  t.teardown(() => engine.stop());
  const r = await engine.evaluateOnce(now);
  // Spent this month: one call; the rate: the window's spend (5 min of this month and 5 h 55 min of the last) over 6 h.
  const inWindow = (600 * (6 * HOUR - 5 * MIN)) / (6 * HOUR) + 1;
  const expected = (CALL_USD + ((inWindow * CALL_USD) / (6 * HOUR)) * (month.end - now)) / 1000;
  const value = r.rules[0]?.samples[0]?.value ?? -1;
  t.true(Math.abs(value - expected) / expected < 0.01, `${value} vs ${expected}`);
  t.true(value < 0.1, 'about $75 of $1,000, not the month carried from its first 5 minutes');
  t.deepEqual(engine.alerts(), []);
});

test('rate-limit headroom fires per model and dimension from the latest headers', async (t) => {
  const store = openStore(t);
  const rl = (remaining: number) => ({ requests: { limit: 1000, remaining, reset: null }, tokens: { limit: 100_000, remaining: 90_000, reset: null } });
  commit(store, [{ ts: T0 - 2 * MIN, rate_limits: rl(500) }, { ts: T0 - MIN, rate_limits: rl(50) }]);
  const rules = rulesFrom('rules:\n  - { alert: Headroom, kind: rate_limit_headroom, threshold: 10%, annotations: { summary: "{{ $labels.dimension }} at {{ $value | humanizePercentage }}" } }\n');
  const engine = createRuleEngine({ query: store, rules });
  t.teardown(() => engine.stop());
  await engine.evaluateOnce(T0);
  const alerts = engine.alerts();
  t.is(alerts.length, 1);
  t.is(alerts[0]?.labels['dimension'], 'requests');
  t.is(alerts[0]?.labels['model'], 'claude-test-1');
  t.is(alerts[0]?.annotations['summary'], 'requests at 5%');
  commit(store, [{ ts: T0 + MIN, rate_limits: rl(900) }]);
  await engine.evaluateOnce(T0 + 2 * MIN);
  t.deepEqual(engine.alerts(), []);
});

test('spike fires when output tokens per minute exceed 3× their median of the previous hour', async (t) => {
  const store = openStore(t);
  const rules = rulesFrom(`
rules:
  - alert: OutputSpike
    kind: spike
    measure: { op: sum, field: output_tokens }
    window: 5m
    baseline: 1h
    threshold: 3
`);
  // Baseline: one call (50 output tokens) a minute for the hour before the window.
  const events = [];
  for (let m = 65; m > 5; m--) events.push({ ts: T0 - m * MIN + 1000 });
  // Window: 4 calls a minute = 200 tokens/min = 4× the baseline median.
  for (let m = 5; m > 0; m--) for (let k = 0; k < 4; k++) events.push({ ts: T0 - m * MIN + 1000 + k });
  commit(store, events);
  const engine = createRuleEngine({ query: store, rules });
  t.teardown(() => engine.stop());
  const r = await engine.evaluateOnce(T0);
  t.is(r.rules[0]?.samples[0]?.value, 4);
  t.is(engine.alerts()[0]?.state, 'firing');
  await engine.evaluateOnce(T0 + 10 * MIN);
  t.deepEqual(engine.alerts(), []);
});

test('pipeline health: lag as a gauge, dead letters as an increase over the window', async (t) => {
  const store = openStore(t);
  const h: PipelineHealth = { tailLagBytes: 0, deadLettersTotal: 5, emitterDroppedEventsTotal: 0, influxAuthFailed: null, unreadableEventFiles: 0, descriptorShortagesTotal: 0 };
  const rules = rulesFrom(`
rules:
  - { alert: TailLag, kind: pipeline_health, metric: tail_lag_bytes, threshold: 1000000 }
  - { alert: DeadLetters, kind: pipeline_health, metric: dead_letters, window: 15m, threshold: 0 }
  - { alert: EmitterDrops, kind: pipeline_health, metric: emitter_dropped_events, window: 15m, threshold: 0 }
`);
  const engine = createRuleEngine({ query: store, rules, health: () => ({ ...h }) });
  t.teardown(() => engine.stop());
  await engine.evaluateOnce(T0);
  t.deepEqual(engine.alerts(), [], 'counters at a steady value do not fire');
  h.tailLagBytes = 5_000_000;
  h.deadLettersTotal = 7;
  await engine.evaluateOnce(T0 + MIN);
  t.deepEqual(engine.alerts().map((a) => a.name), ['DeadLetters', 'TailLag']);
  h.tailLagBytes = 0;
  await engine.evaluateOnce(T0 + 20 * MIN);
  t.deepEqual(engine.alerts(), []);
});
