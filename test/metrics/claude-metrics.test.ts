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
