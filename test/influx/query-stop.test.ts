/**
 * InfluxDB taking queries but never answering them: a query ends when its signal aborts or
 * its interface closes, not at its timeout_ms.
 */
import test from 'ava';
import { getEventListeners } from 'node:events';
import { waitFor } from '../helpers/event-files.js';
import { InfluxQueryApi, InfluxQueryError } from '../../src/store/influx-query.js';
import { connection, silentServer } from './harness.js';

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
