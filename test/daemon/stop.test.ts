/**
 * The daemon's stop against the work and the requests it meets: a reprice going chunk after
 * chunk ends between two chunks, its caller told how far it got; requests that arrive while
 * the daemon stops get a 503 saying so, not an error of a closed store or alert state; and
 * after the stop, the pipeline hands out no closed store.
 */
import test from 'ava';
import { join } from 'node:path';
import { call, tempHome, waitFor, writeEventFile } from '../helpers/event-files.js';
import { testPricer } from '../helpers/test-pricer.js';
import { mixedWorkload } from './workload.js';
import { silentServer } from '../influx/harness.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { loadDaemonConfig, type DaemonConfig } from '../../src/daemon/config.js';
import type { DaemonPricer } from '../../src/daemon/pricer-loader.js';
import { REPRICE_CHUNK_ROWS } from '../../src/daemon/reprice.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { StoreError } from '../../src/store/migrations.js';

const T0 = Date.parse('2026-11-20T10:00:00Z');

function configFor(home: string, over: Partial<DaemonConfig> = {}): DaemonConfig {
  const c = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: home }, flags: { pollIntervalMs: 50 } });
  return { ...c, listen: { host: '127.0.0.1', port: 0 }, ...over };
}

/** `n` calls stored with the test pricer (version test-1), one minute apart from T0. */
function seedStore(path: string, n: number): void {
  const s = SqliteStore.open({ path });
  try {
    const pricer = testPricer();
    for (let i = 0; i < n; i += 1000) {
      const calls = Array.from({ length: Math.min(1000, n - i) }, (_, k) => {
        const event = call({ ts: T0 + (i + k) * 1000 });
        return { event, raw: JSON.stringify(event), price: pricer.price(event) };
      });
      s.commitBatch({ calls, checkpoints: [], emitterStats: [] });
    }
  } finally {
    s.close();
  }
}

/** The test pricer under another version: every stored row differs, so a reprice rewrites each. */
function repricer(onPrice: () => void): DaemonPricer {
  const base = testPricer();
  return { version: 'test-2', price: (e) => {
    onPrice();
    return { ...base.price(e), pricing_version: 'test-2' };
  } };
}

function readStore(path: string): { versions: Record<string, number>; rollups: unknown[]; rows: unknown[] } {
  const s = SqliteStore.open({ path, readonly: true });
  try {
    const versions = Object.fromEntries((s.db.prepare('SELECT pricing_version AS v, COUNT(*) AS n FROM calls GROUP BY 1').all() as { v: string; n: number }[]).map((r) => [r.v, r.n]));
    return {
      versions,
      rollups: s.db.prepare('SELECT minute, model, SUM(count) AS n, SUM(cost_nanousd) AS c FROM rollup_minute GROUP BY 1, 2 ORDER BY 1, 2').all(),
      rows: s.db.prepare('SELECT (ts / 60000) * 60000 AS minute, model, COUNT(*) AS n, SUM(cost_nanousd) AS c FROM calls GROUP BY 1, 2 ORDER BY 1, 2').all(),
    };
  } finally {
    s.close();
  }
}

test('a stop during a reprice ends it between two chunks: the caller gets 503 with how far it got, the chunks done are whole, the stop does not wait for the rest', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const db = join(h.data, 'claudescope.db');
  const total = 10 * REPRICE_CHUNK_ROWS;
  seedStore(db, total);
  let stopping: Promise<void> | undefined;
  let stoppedAt = 0;
  let daemon: Daemon | undefined;
  const lines: string[] = [];
  // The stop comes as SIGTERM would: between two turns of the event loop, here while the
  // first chunk is being priced.
  const pricer = repricer(() => {
    if (stopping !== undefined || daemon === undefined) return;
    stopping = new Promise<void>((resolve, reject) => setImmediate(() => {
      stoppedAt = performance.now();
      daemon!.stop().then(resolve, reject);
    }));
  });
  daemon = await Daemon.start({ config: configFor(h.home), pricer, log: (level, msg, fields) => lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`) });
  t.teardown(() => daemon!.stop());

  const res = await fetch(`${daemon.url}/api/reprice`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ since: '2026-11-20' }) });
  t.truthy(stopping, 'the stop began during the reprice');
  await stopping;
  const took = performance.now() - stoppedAt;
  t.true(took < 3000, `the stop took ${Math.round(took)} ms`);

  const body = (await res.json()) as { error: string; message: string; repriced?: { calls: number; rows_changed: number; pricing_version: string } };
  const shown = `${res.status} ${JSON.stringify(body)}\n${lines.join('\n')}`;
  t.is(res.status, 503, shown);
  t.is(body.error, 'stopped', shown);
  t.regex(body.message, /the daemon stopped during the reprice/, shown);
  const done = body.repriced?.calls ?? -1;
  t.true(done >= REPRICE_CHUNK_ROWS && done < total && done % REPRICE_CHUNK_ROWS === 0, `repriced ${done} of ${total}: whole chunks, not all`);
  t.regex(body.message, new RegExp(`${done} of the window's calls`), shown);
  t.is(body.repriced?.rows_changed, done);
  t.false(lines.some((l) => l.startsWith('error ')), shown);

  // What the answer says is what the store holds: whole chunks, rollups equal to the rows.
  const after = readStore(db);
  t.deepEqual(after.versions, { 'test-2': done, 'test-1': total - done });
  t.deepEqual(after.rollups, after.rows);
});

test('a stop during a reprice waiting for InfluxDB ends it at once: the lookup InfluxDB does not answer is cancelled, the caller told how far it got', async (t) => {
  const silent = await silentServer();
  t.teardown(() => silent.close());
  const h = tempHome();
  t.teardown(h.cleanup);
  const db = join(h.data, 'claudescope.db');
  const total = 2 * REPRICE_CHUNK_ROWS;
  seedStore(db, total);
  const lines: string[] = [];
  const config = configFor(h.home, {
    influxdb: {
      url: silent.url, api: 'v1', database: 'x', embedded_store: true, health_interval_ms: 0,
      min_retry_delay_ms: 20, max_retry_delay_ms: 50, timeout_ms: 30_000, stop_timeout_ms: 300,
    },
  });
  const daemon = await Daemon.start({ config, pricer: repricer(() => {}), log: (level, msg, fields) => lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`) });
  t.teardown(() => daemon.stop());
  const answer = fetch(`${daemon.url}/api/reprice`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ since: '2026-11-20' }) });
  // The first chunk is stored; its calls are looked up in InfluxDB, which does not answer.
  await waitFor(() => silent.waiting('/query') >= 1, 'the first chunk\'s lookup sent', 10_000);
  const started = performance.now();
  await daemon.stop();
  const took = performance.now() - started;
  // Were the reprice to go on, its lookup would wait out timeout_ms (30 s), and the HTTP server's 2 s grace would cut its answer.
  t.true(took < 1500, `the stop took ${Math.round(took)} ms`);
  const res = await answer;
  const body = (await res.json()) as { error: string; message: string; repriced?: { calls: number; rows_changed: number; influxdb?: { error: string | null } } };
  const shown = `${res.status} ${JSON.stringify(body)}\n${lines.join('\n')}`;
  t.is(res.status, 503, shown);
  t.is(body.error, 'stopped', shown);
  t.is(body.repriced?.calls, REPRICE_CHUNK_ROWS, shown);
  t.truthy(body.repriced?.influxdb?.error, 'InfluxDB\'s part is reported not done');
  t.deepEqual(readStore(db).versions, { 'test-2': REPRICE_CHUNK_ROWS, 'test-1': total - REPRICE_CHUNK_ROWS });
  t.false(lines.some((l) => l.startsWith('error ')), shown);
  await waitFor(() => silent.waiting() === 0, 'the lookup\'s connection closed', 2000);
});

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
