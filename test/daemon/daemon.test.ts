import test from 'ava';
import type { ExecutionContext } from 'ava';
import { call, tempHome, writeEventFile, waitFor } from '../helpers/event-files.js';
import { testPricer } from '../helpers/test-pricer.js';
import { testWith } from '../helpers/external.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { loadDaemonConfig, type DaemonConfig } from '../../src/daemon/config.js';
import { byLabel, parseExposition, promtoolCheck, sumOf } from '../metrics/exposition.js';
import { expectedSums, mixedWorkload } from './workload.js';

const TOKEN = 'test-token-0123456789abcdef';

function configFor(home: string, over: Partial<DaemonConfig> = {}): DaemonConfig {
  const c = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: home }, flags: { featureLabels: 'search', pollIntervalMs: 50 } });
  return { ...c, listen: { host: '127.0.0.1', port: 0 }, budgets: { dailyUsd: 10, monthlyUsd: 200, perFeature: { search: { dailyUsd: 2, monthlyUsd: null } } }, ...over };
}

async function startDaemon(t: ExecutionContext, config: DaemonConfig): Promise<{ daemon: Daemon; logs: string[] }> {
  const logs: string[] = [];
  const daemon = await Daemon.start({ config, pricer: testPricer(), log: (level, msg, fields) => logs.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`) });
  t.teardown(() => daemon.stop());
  return { daemon, logs };
}

const committed = async (d: Daemon): Promise<number> => {
  const r = await fetch(`${d.url}/healthz`);
  return ((await r.json()) as { events_committed: number }).events_committed;
};

test('the metrics of a scripted workload equal the store and sums computed from the events', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const events = mixedWorkload(140);
  writeEventFile({ dir: h.events, calls: events.slice(0, 70), sealed: true });
  const { daemon, logs } = await startDaemon(t, configFor(h.home));
  writeEventFile({ dir: h.events, calls: events.slice(70) });
  await waitFor(async () => (await committed(daemon)) === events.length, 'all events committed');

  const res = await fetch(`${daemon.url}/metrics`);
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /text\/plain/);
  const text = await res.text();
  const samples = parseExposition(text);
  const want = expectedSums(events);

  // Metrics = events.
  t.deepEqual(byLabel(samples, 'claude_requests_total', 'status'), want.byStatus);
  for (const [direction, n] of Object.entries(want.tokens)) t.is(sumOf(samples, 'claude_tokens_total', { direction }), n, direction);
  t.is(Math.round(sumOf(samples, 'claude_cost_usd_total') * 1e6), Math.round(want.costUsd * 1e6));
  t.is(sumOf(samples, 'claude_unpriced_requests_total'), want.unpriced);
  t.is(sumOf(samples, 'claude_attempts_total'), want.attempts);
  t.is(sumOf(samples, 'claude_retries_total'), want.attempts - events.length);
  t.deepEqual(byLabel(samples, 'claude_errors_total', 'kind'), want.errorsByKind);
  t.is(sumOf(samples, 'claude_latency_seconds_count'), events.length);
  t.is(sumOf(samples, 'claude_ttft_seconds_count'), events.filter((e) => e.ttft_ms !== null).length);
  // Only allow-listed features become labels.
  t.deepEqual(Object.keys(byLabel(samples, 'claude_requests_total', 'feature')).sort(), ['', 'search']);
  t.is(sumOf(samples, 'claude_budget_usd', { period: 'daily', feature: '' }), 10);
  t.is(sumOf(samples, 'claude_budget_usd', { period: 'daily', feature: 'search' }), 2);
  // The latest rate-limit headers per model.
  const last = events.filter((e) => e.model === 'claude-test-2').at(-1)!;
  t.is(sumOf(samples, 'claude_rate_limit_remaining', { model: 'claude-test-2', dimension: 'requests' }), last.rate_limits!.requests!.remaining!);
  t.is(sumOf(samples, 'claude_rate_limit_limit', { model: 'claude-test-2', dimension: 'tokens' }), 80_000);
  t.is(sumOf(samples, 'claudescope_events_committed_total'), events.length);
  t.is(sumOf(samples, 'claudescope_tail_lag_bytes'), 0);

  // Metrics = store.
  const window = { start: 0, end: Date.now() + 60_000 };
  const rows = await daemon.pipeline.query.aggregate({ window, groupBy: ['status'], aggregates: { n: { op: 'count' } } });
  t.deepEqual(Object.fromEntries(rows.map((r) => [r.group.status, r.values['n']])), want.byStatus);
  const [tot] = await daemon.pipeline.query.aggregate({
    window,
    aggregates: {
      cost: { op: 'sum', field: 'cost_usd' }, input: { op: 'sum', field: 'input_tokens' }, output: { op: 'sum', field: 'output_tokens' },
      cache_read: { op: 'sum', field: 'cache_read_input_tokens' }, w5: { op: 'sum', field: 'cache_write_5m_input_tokens' },
      w1: { op: 'sum', field: 'cache_write_1h_input_tokens' }, unpriced: { op: 'unpriced_count' },
    },
  });
  t.is(Math.round(tot!.values['cost']! * 1e6), Math.round(sumOf(samples, 'claude_cost_usd_total') * 1e6));
  t.is(tot!.values['input'], sumOf(samples, 'claude_tokens_total', { direction: 'input' }));
  t.is(tot!.values['output'], sumOf(samples, 'claude_tokens_total', { direction: 'output' }));
  t.is(tot!.values['cache_read'], sumOf(samples, 'claude_tokens_total', { direction: 'cache_read' }));
  t.is(tot!.values['w5'], sumOf(samples, 'claude_tokens_total', { direction: 'cache_write_5m' }));
  t.is(tot!.values['w1'], sumOf(samples, 'claude_tokens_total', { direction: 'cache_write_1h' }));
  t.is(tot!.values['unpriced'], sumOf(samples, 'claude_unpriced_requests_total'));

  t.true(logs.some((l) => l.includes('unpriced') && l.includes('unpriced-model')), 'an unpriced model is logged');
  t.is(logs.filter((l) => l.includes('unpriced-model')).length, 1, 'once');
});

testWith('promtool')('the /metrics exposition passes promtool check metrics with no warnings', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  writeEventFile({ dir: h.events, calls: mixedWorkload(30), sealed: true });
  const { daemon } = await startDaemon(t, configFor(h.home));
  await waitFor(async () => (await committed(daemon)) === 30, 'events committed');
  const text = await (await fetch(`${daemon.url}/metrics`)).text();
  const r = promtoolCheck(text);
  t.is(r.output, '', 'promtool prints nothing');
  t.is(r.status, 0);
  // The recipe's names and labels are present.
  const s = parseExposition(text);
  const labelsOf = (name: string): string[] => Object.keys(s.find((x) => x.name === name)?.labels ?? {}).sort();
  t.deepEqual(labelsOf('claude_requests_total'), ['feature', 'model', 'status', 'stop_reason']);
  t.deepEqual(labelsOf('claude_latency_seconds_bucket'), ['le', 'model']);
  t.deepEqual(labelsOf('claude_tokens_total'), ['direction', 'feature', 'model']);
  t.deepEqual(labelsOf('claude_cost_usd_total'), ['feature', 'model']);
  t.deepEqual(labelsOf('claude_rate_limit_remaining'), ['dimension', 'model']);
  t.deepEqual(labelsOf('claude_rate_limit_limit'), ['dimension', 'model']);
  t.deepEqual(labelsOf('claude_errors_total'), ['error_type', 'kind', 'model']);
  t.deepEqual([...new Set(s.filter((x) => x.name === 'claude_latency_seconds_bucket').map((x) => x.labels['le']))], ['0.5', '1', '2', '5', '10', '30', '60', '+Inf']);
});

test('a restart counts from 0 and a replay never doubles a counter', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const events = mixedWorkload(20);
  writeEventFile({ dir: h.events, calls: events });
  const config = configFor(h.home);
  const first = await Daemon.start({ config, pricer: testPricer(), log: () => {} });
  await waitFor(async () => (await committed(first)) === 20, 'first run committed');
  await first.stop();
  const { daemon } = await startDaemon(t, config);
  // The same 20 events again (in another file: a replay the store ignores), then 5 new ones.
  writeEventFile({ dir: h.events, calls: events });
  const more = mixedWorkload(5);
  writeEventFile({ dir: h.events, calls: more });
  await waitFor(async () => (await committed(daemon)) === 5 && daemon.pipeline.health().eventsIgnored === 20, 'replay read and new events committed');
  const s = parseExposition(await (await fetch(`${daemon.url}/metrics`)).text());
  t.is(sumOf(s, 'claude_requests_total'), 5);
  t.is(sumOf(s, 'claudescope_events_replayed_total'), 20);
  t.is(sumOf(s, 'claude_attempts_total'), expectedSums(more).attempts);
});

test('with a token required, every endpoint answers 401 without it and 200 with it', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const { daemon, logs } = await startDaemon(t, configFor(h.home, { auth: { token: TOKEN, requireToken: true } }));
  for (const path of ['/metrics', '/healthz']) {
    const none = await fetch(`${daemon.url}${path}`);
    t.is(none.status, 401, `${path} without a token`);
    t.is(none.headers.get('www-authenticate'), 'Bearer realm="claudescope"');
    t.is((await fetch(`${daemon.url}${path}`, { headers: { authorization: 'Bearer wrong-token-0123456789abc' } })).status, 401, `${path} with a wrong token`);
    t.is((await fetch(`${daemon.url}${path}`, { headers: { authorization: `Basic ${TOKEN}` } })).status, 401, `${path} with another scheme`);
    t.is((await fetch(`${daemon.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status, 401, `${path} with a longer token`);
    t.is((await fetch(`${daemon.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200, `${path} with the token`);
  }
  t.false(logs.some((l) => l.includes(TOKEN)), 'the token is never logged');
});

test('on loopback without a token, /healthz reports the store and lag', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  writeEventFile({ dir: h.events, calls: mixedWorkload(3) });
  const { daemon } = await startDaemon(t, configFor(h.home));
  await waitFor(async () => (await committed(daemon)) === 3, 'committed');
  const body = (await (await fetch(`${daemon.url}/healthz`)).json()) as Record<string, unknown>;
  t.is(body['ok'], true);
  t.is(body['lag_bytes'], 0);
  t.is(typeof body['last_commit'], 'string');
  t.regex(String(body['store']), /data\/claudescope\.db$/);
  t.is((await fetch(`${daemon.url}/nope`)).status, 404);
  t.is((await fetch(`${daemon.url}/metrics`, { method: 'POST' })).status, 405);
});

test('after a restart the rate-limit gauges come from the stored headers: sizes always, remaining only before its reset', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const now = Date.now();
  const ahead = new Date(now + 10 * 60_000).toISOString();
  const past = new Date(now - 60_000).toISOString();
  writeEventFile({
    dir: h.events,
    sealed: true,
    calls: [
      call({ ts: now - 5000, model: 'claude-test-1', rate_limits: { requests: { limit: 50, remaining: 3, reset: ahead } } }),
      call({ ts: now - 4000, model: 'claude-test-2', rate_limits: { tokens: { limit: 80_000, remaining: 12, reset: past } } }),
    ],
  });
  const first = await startDaemon(t, configFor(h.home));
  await waitFor(async () => (await committed(first.daemon)) === 2, 'both calls committed');
  await first.daemon.stop();

  const { daemon } = await startDaemon(t, configFor(h.home));
  const samples = parseExposition(await (await fetch(`${daemon.url}/metrics`)).text());
  t.is(sumOf(samples, 'claude_requests_total'), 0, 'nothing new ingested: the gauges come from the store');
  t.is(sumOf(samples, 'claude_rate_limit_limit', { model: 'claude-test-1', dimension: 'requests' }), 50);
  t.is(sumOf(samples, 'claude_rate_limit_remaining', { model: 'claude-test-1', dimension: 'requests' }), 3);
  t.is(sumOf(samples, 'claude_rate_limit_limit', { model: 'claude-test-2', dimension: 'tokens' }), 80_000);
  t.false(samples.some((s) => s.name === 'claude_rate_limit_remaining' && s.labels['model'] === 'claude-test-2'), 'a bucket past its reset has refilled: no stale remaining');
});
