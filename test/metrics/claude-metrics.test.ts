import test from 'ava';
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
  ];
  return [...evs.map((event) => ({ event, price: pricer.price(event) })), { event: call(), price: null }];
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
  const close = (a: number, b: number, what: string): void => {
    t.true(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
  };
  // The expected sums, straight from the calls.
  const sum = (f: (c: (typeof calls)[number]) => number): number => calls.reduce((a, c) => a + f(c), 0);
  t.is(sumOf(s, 'claude_requests_total'), calls.length);
  t.is(sumOf(s, 'claude_requests_total', { feature: 'search' }), calls.filter((c) => c.event.tags['feature'] === 'search').length);
  t.is(sumOf(s, 'claude_requests_total', { status: 'error' }), calls.filter((c) => c.event.status === 'error').length);
  t.is(sumOf(s, 'claude_latency_seconds_count'), calls.length);
  close(sumOf(s, 'claude_latency_seconds_sum'), sum((c) => c.event.duration_ms / 1000), 'latency sum');
  t.is(sumOf(s, 'claude_ttft_seconds_count'), calls.filter((c) => c.event.ttft_ms !== null).length);
  t.is(sumOf(s, 'claude_latency_seconds_bucket', { le: '+Inf' }), calls.length);
  t.is(sumOf(s, 'claude_tokens_total', { direction: 'input' }), sum((c) => c.event.usage?.input_tokens ?? 0));
  t.is(sumOf(s, 'claude_tokens_total', { direction: 'cache_read' }), sum((c) => c.event.usage?.cache_read_input_tokens ?? 0));
  t.is(sumOf(s, 'claude_prompt_input_tokens_total'), sum((c) => { const u = c.event.usage; return u ? u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens : 0; }));
  const priced = calls.filter((c) => c.price?.priced && c.price.cost_usd !== null);
  close(sumOf(s, 'claude_cost_usd_total'), priced.reduce((a, c) => a + c.price!.cost_usd!, 0), 'cost');
  t.true(priced.length > 0 && priced.length < calls.length);
  t.is(sumOf(s, 'claude_unpriced_requests_total'), calls.length - priced.length);
  t.is(sumOf(s, 'claude_attempts_total'), sum((c) => c.event.attempts));
  t.is(sumOf(s, 'claude_retries_total'), sum((c) => Math.max(0, c.event.attempts - 1)));
  t.is(sumOf(s, 'claude_errors_total', { kind: 'overloaded' }), 2);
  // The newer headers win, whatever the order the calls came in; a missing value is not exported.
  t.is(sumOf(s, 'claude_rate_limit_remaining', { dimension: 'requests' }), 10);
  t.is(sumOf(s, 'claude_rate_limit_limit', { dimension: 'tokens' }), 900);
  t.false(s.some((x) => x.name === 'claude_rate_limit_remaining' && x.labels['dimension'] === 'tokens'));
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
