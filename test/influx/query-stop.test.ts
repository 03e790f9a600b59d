/**
 * InfluxDB taking queries but never answering them: a query ends when its signal aborts or
 * its interface closes, not at its timeout_ms; a daemon with InfluxDB alone serves at once
 * (the stored rate limits are read in the background), and its stop cancels the queries in
 * progress, a rule evaluation's included, without reporting them as failures.
 */
import test from 'ava';
import { getEventListeners } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempHome, waitFor, writeEventFile } from '../helpers/event-files.js';
import { tempDir } from '../helpers/events.js';
import { testPricer } from '../helpers/test-pricer.js';
import { mixedWorkload } from '../daemon/workload.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { loadDaemonConfig } from '../../src/daemon/config.js';
import { InfluxQueryApi, InfluxQueryError } from '../../src/store/influx-query.js';
import { connection, silentServer } from './harness.js';

const STOP_TIMEOUT_MS = 300;
// A stop or start that waited for a query's timeout would take 30 s; the margin is the rest of
// the stop (tailer, HTTP server) on a loaded machine.
const MARGIN_MS = 2000;
const WINDOW = { start: Date.now() - 300_000, end: Date.now() };

test('a query InfluxDB never answers ends at once when its signal aborts or the interface closes, cancelled, its connection closed', async (t) => {
  const silent = await silentServer();
  t.teardown(() => silent.close());
  const q = new InfluxQueryApi({ connection: connection(silent.url, 'x', { timeoutMs: 30_000 }) });

  const ac = new AbortController();
  const p = q.aggregate({ window: WINDOW, aggregates: { calls: { op: 'count' } } }, { signal: ac.signal });
  await waitFor(() => silent.waiting('/query') === 1, 'the query sent');
  let started = performance.now();
  ac.abort();
  const err = await t.throwsAsync(p, { instanceOf: InfluxQueryError });
  t.true(performance.now() - started < 1000, `ended ${Math.round(performance.now() - started)} ms after the abort`);
  t.true(err?.cancelled);
  t.is(err?.code, 'E_QUERY_INFLUX');
  await waitFor(() => silent.waiting() === 0, 'the query\'s connection closed', 2000);

  const p2 = q.latestRateLimits();
  await waitFor(() => silent.waiting('/query') === 1, 'the second query sent');
  started = performance.now();
  q.close();
  const err2 = await t.throwsAsync(p2, { instanceOf: InfluxQueryError });
  t.true(performance.now() - started < 1000, `ended ${Math.round(performance.now() - started)} ms after the close`);
  t.true(err2?.cancelled);
  await waitFor(() => silent.waiting() === 0, 'the second query\'s connection closed', 2000);
  // Closed: refused without a request.
  const err3 = await t.throwsAsync(q.pipelineHealth(), { instanceOf: InfluxQueryError });
  t.true(err3?.cancelled);
  t.is(silent.requested('/query'), 2);
});

test('queries that time out are no cancellation, and leave no listener on the signal they were given', async (t) => {
  const silent = await silentServer();
  t.teardown(() => silent.close());
  const q = new InfluxQueryApi({ connection: connection(silent.url, 'x', { timeoutMs: 150 }) });
  t.teardown(() => q.close());
  // A signal that outlives many queries, as a daemon's stop signal does.
  const keep = new AbortController();
  for (let i = 0; i < 3; i++) {
    const err = await t.throwsAsync(q.series({ window: WINDOW, stepMs: 60_000, aggregates: { calls: { op: 'count' } } }, { signal: keep.signal }), { instanceOf: InfluxQueryError });
    t.false(err?.cancelled);
    t.regex(err?.message ?? '', /InfluxDB unreachable: no answer within 150 ms/);
  }
  t.is(getEventListeners(keep.signal, 'abort').length, 0);
  // Refused at once with a signal already aborted.
  keep.abort();
  t.true((await t.throwsAsync(q.aggregate({ window: WINDOW, aggregates: { calls: { op: 'count' } } }, { signal: keep.signal }), { instanceOf: InfluxQueryError }))?.cancelled);
  t.is(silent.requested('/query'), 3);
});

test('a dozen queries at once, as a dashboard\'s requests run them, and their close draw no listener-leak warning', async (t) => {
  const silent = await silentServer();
  t.teardown(() => silent.close());
  const q = new InfluxQueryApi({ connection: connection(silent.url, 'x', { timeoutMs: 30_000 }) });
  const warnings: string[] = [];
  const onWarning = (w: Error): void => { if (w.name === 'MaxListenersExceededWarning') warnings.push(w.message); };
  process.on('warning', onWarning);
  t.teardown(() => { process.off('warning', onWarning); });

  const queries = Array.from({ length: 12 }, () => q.aggregate({ window: WINDOW, aggregates: { calls: { op: 'count' } } }).then(() => false, (err: unknown) => err instanceof InfluxQueryError && err.cancelled));
  await waitFor(() => silent.waiting('/query') === 12, 'the queries sent');
  q.close();
  t.deepEqual(await Promise.all(queries), new Array<boolean>(12).fill(true));
  // A warning is emitted on a later tick.
  await new Promise((r) => setImmediate(r));
  t.deepEqual(warnings, []);
  await waitFor(() => silent.waiting() === 0, 'the queries\' connections closed', 2000);
});

function influxOnly(home: string, url: string, rulesDirs = ['rules']): ReturnType<typeof loadDaemonConfig> {
  const base = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: home }, flags: { pollIntervalMs: 50 } });
  return {
    ...base, listen: { host: '127.0.0.1', port: 0 }, rules: { dirs: rulesDirs, store: null },
    influxdb: {
      url, api: 'v1', database: 'fleet', embedded_store: false, health_interval_ms: 0,
      min_retry_delay_ms: 20, max_retry_delay_ms: 50, timeout_ms: 30_000, stop_timeout_ms: STOP_TIMEOUT_MS,
    },
  };
}

test('InfluxDB alone and silent: the daemon serves /healthz at once, reading the rate limits in the background; a stop during that read and a dashboard request is prompt and quiet', async (t) => {
  const silent = await silentServer();
  t.teardown(() => silent.close());
  const h = tempHome();
  t.teardown(h.cleanup);
  const lines: { level: string; msg: string }[] = [];
  const log = (level: string, msg: string): void => { lines.push({ level, msg }); };

  let started = performance.now();
  const daemon = await Daemon.start({ config: influxOnly(h.home, silent.url), pricer: testPricer(), log });
  t.teardown(() => daemon.stop());
  const startMs = performance.now() - started;
  t.true(startMs < 2000, `the start took ${Math.round(startMs)} ms`);
  const res = await fetch(`${daemon.url}/healthz`);
  t.is(res.status, 200);
  t.true(((await res.json()) as { ok: boolean }).ok);
  // The read of the stored rate limits and a dashboard request's, unanswered.
  await waitFor(() => silent.waiting('/query') === 1, 'the rate limits\' query sent', 5000);
  const summary = fetch(`${daemon.url}/api/summary`);
  await waitFor(() => silent.waiting('/query') >= 2, 'the dashboard\'s query sent', 5000);

  started = performance.now();
  await daemon.stop();
  const took = performance.now() - started;
  // Nothing to give up (no write in progress), nor any request for the HTTP server's 2 s grace
  // to wait for: the dashboard's was answered as its query was cancelled.
  t.true(took < 1500, `the stop took ${Math.round(took)} ms`);
  const shown = lines.map((l) => `${l.level}: ${l.msg}`).join('\n');
  t.deepEqual(lines.filter((l) => l.level !== 'info'), [], shown);
  const answer = await summary;
  t.is(answer.status, 503);
  // Cancelled by the stop: answered as every API request during a stop is.
  t.like(await answer.json(), { error: 'unavailable', message: 'the daemon is stopping: it answers no more requests; ask again once it runs' });
  await waitFor(() => silent.waiting() === 0, 'the queries\' connections closed', 2000);
});

test('InfluxDB alone and silent: a stop during a rule evaluation cancels its queries and ends within stop_timeout_ms, the evaluation dropped without an error', async (t) => {
  const silent = await silentServer();
  t.teardown(() => silent.close());
  const h = tempHome();
  t.teardown(h.cleanup);
  // Calls to ship too: the stop also gives up a write InfluxDB does not answer.
  writeEventFile({ dir: h.events, calls: mixedWorkload(50), sealed: true });
  // One rule, one read an evaluation: a stop that waited for the evaluation would wait out one
  // timeout_ms (the default rules, a dozen reads one after the other, each waiting it out).
  const rulesDir = tempDir(t);
  writeFileSync(join(rulesDir, 'errors.yaml'), 'rules:\n  - { alert: HighErrors, kind: error_rate, window: 5m, threshold: 5% }\n');
  const lines: { level: string; msg: string }[] = [];
  const log = (level: string, msg: string): void => { lines.push({ level, msg }); };

  const daemon = await Daemon.start({ config: influxOnly(h.home, silent.url, [rulesDir]), pricer: testPricer(), log, ruleSchedule: '* * * * * *' });
  t.teardown(() => daemon.stop());
  // The rate limits' read, then the evaluation's first: InfluxDB answers neither.
  await waitFor(() => silent.requested('/query') >= 2 && silent.waiting('/query') >= 1 && silent.requested('/write') > 0, 'an evaluation reading InfluxDB, a write sent', 10_000);
  t.is(daemon.ruleEngine.metrics().evaluations, 0, 'the evaluation is in progress');

  const started = performance.now();
  await daemon.stop();
  const took = performance.now() - started;
  t.true(took < STOP_TIMEOUT_MS + MARGIN_MS, `the stop took ${Math.round(took)} ms`);
  const shown = lines.map((l) => `${l.level}: ${l.msg}`).join('\n');
  t.deepEqual(lines.filter((l) => l.level === 'error'), [], shown);
  // Neither a rule failure nor a failed read: the one warning is the calls not written.
  const warned = lines.filter((l) => l.level === 'warn');
  t.is(warned.length, 1, shown);
  t.regex(warned[0]?.msg ?? '', /^\d+ call\(s\) not written before the stop/, shown);
  t.true(lines.some((l) => l.level === 'info' && /^alerts: the alert engine stopped during the evaluation \(at rule HighErrors\): nothing of it was saved or notified/.test(l.msg)), shown);
  t.like(daemon.ruleEngine.metrics(), { evaluations: 0, ruleFailures: 0 });
  await waitFor(() => silent.waiting() === 0, 'every connection closed', 2000);
});
