/**
 * The daemon's stop against the requests it meets: requests that arrive while the daemon
 * stops get a 503 saying so, not an error of a closed store or alert state; and after the
 * stop, the pipeline hands out no closed store.
 */
import test from 'ava';
import { tempHome, waitFor, writeEventFile } from '../helpers/event-files.js';
import { testPricer } from '../helpers/test-pricer.js';
import { mixedWorkload } from './workload.js';
import { silentServer } from '../influx/harness.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { loadDaemonConfig, type DaemonConfig } from '../../src/daemon/config.js';
import { StoreError } from '../../src/store/migrations.js';

function configFor(home: string, over: Partial<DaemonConfig> = {}): DaemonConfig {
  const c = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: home }, flags: { pollIntervalMs: 50 } });
  return { ...c, listen: { host: '127.0.0.1', port: 0 }, ...over };
}

/** A daemon whose stop waits for InfluxDB: a batch of calls it never acknowledges holds the stop for stop_timeout_ms. */
async function stoppingDaemon(t: import('ava').ExecutionContext, stopTimeoutMs: number): Promise<{ daemon: Daemon; stopping: Promise<void>; lines: string[] }> {
  const silent = await silentServer();
  t.teardown(() => silent.close());
  const h = tempHome();
  t.teardown(h.cleanup);
  writeEventFile({ dir: h.events, calls: mixedWorkload(20), sealed: true });
  const lines: string[] = [];
  const config = configFor(h.home, {
    influxdb: {
      url: silent.url, api: 'v1', database: 'x', embedded_store: true, health_interval_ms: 0,
      min_retry_delay_ms: 20, max_retry_delay_ms: 50, timeout_ms: 30_000, stop_timeout_ms: stopTimeoutMs,
    },
  });
  const daemon = await Daemon.start({ config, pricer: testPricer(), log: (level, msg, fields) => lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`) });
  t.teardown(() => daemon.stop());
  await waitFor(() => silent.waiting('/write') >= 1, 'a write InfluxDB does not answer', 10_000);
  const stopping = daemon.stop();
  // The engine is stopped first, its state closed; the pipeline then waits for InfluxDB.
  await new Promise((r) => setTimeout(r, 300));
  return { daemon, stopping, lines };
}

test('requests that arrive while the daemon stops get 503 "the daemon is stopping", not a closed store\'s or alert state\'s error', async (t) => {
  const { daemon, stopping, lines } = await stoppingDaemon(t, 3000);
  const health = await fetch(`${daemon.url}/healthz`);
  t.is(health.status, 503, 'the stop is under way');
  const requests: [string, RequestInit?][] = [
    ['/api/summary'], ['/api/timeseries'], ['/api/calls'], ['/api/calls/some-id'], ['/api/ratelimits'], ['/api/alerts'], ['/api/silences'],
    ['/api/reconcile/latest'],
    ['/api/silences', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ matchers: ['alertname=X'], duration: '1h' }) }],
    ['/api/reprice', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ since: '2026-11-20' }) }],
  ];
  for (const [path, init] of requests) {
    const res = await fetch(`${daemon.url}${path}`, init);
    const body = (await res.json()) as { error?: string; message?: string };
    t.is(res.status, 503, `${init?.method ?? 'GET'} ${path}: ${JSON.stringify(body)}`);
    t.like(body, { error: 'unavailable' }, path);
    t.regex(body.message ?? '', /^the daemon is stopping/, path);
  }
  // The page itself and the metrics are still served.
  t.is((await fetch(`${daemon.url}/metrics`)).status, 200);
  await stopping;
  t.false(lines.some((l) => l.startsWith('error ')), lines.join('\n'));
});

test('after the stop the pipeline hands out no closed store: a typed E_STORE_CLOSED error, also from a store taken before the stop', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const daemon = await Daemon.start({ config: configFor(h.home), pricer: testPricer(), log: () => {} });
  t.teardown(() => daemon.stop());
  const before = daemon.pipeline.query;
  const window = { start: 0, end: Date.now() };
  t.deepEqual((await before.aggregate({ window, aggregates: { n: { op: 'count' } } }))[0]?.values, { n: 0 });
  await daemon.stop();
  const err = t.throws(() => daemon.pipeline.query, { instanceOf: StoreError });
  t.is(err?.code, 'E_STORE_CLOSED');
  t.regex(err?.message ?? '', /stopped/);
  const held = await t.throwsAsync(async () => before.aggregate({ window, aggregates: { n: { op: 'count' } } }), { instanceOf: StoreError });
  t.is(held?.code, 'E_STORE_CLOSED');
  await t.throwsAsync(async () => before.recentCalls({ window, limit: 10 }), { instanceOf: StoreError });
});
