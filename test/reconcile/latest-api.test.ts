import test from 'ava';
import { join } from 'node:path';
import { DEFAULT_RECONCILE } from '../../src/reconcile/settings.js';
import { runReconciliation } from '../../src/reconcile/job.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { ReconciledCell, ReconciliationResult } from '../../src/reconcile/types.js';
import type { ReconcileView } from '../../src/daemon/reconcile-view.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { ADMIN_KEY, UNPRICED_MODEL, addUnpricedCall, localPricer, runWorkload, startDaemonOver } from './helpers.js';

const TOKEN = 'reconcile-api-token-0123456789abcdef';
const DAY = 86_400_000;

async function latest(d: Daemon, query = '', headers: Record<string, string> = {}): Promise<{ status: number; text: string; body: ReconcileView & { error?: string; message?: string } }> {
  const r = await fetch(`${d.url}/api/reconcile/latest${query}`, { headers });
  const text = await r.text();
  return { status: r.status, text, body: JSON.parse(text) as ReconcileView & { error?: string; message?: string } };
}

/** The run's flagged cells in the order the endpoint lists them: newest bucket first, then by model. */
const flaggedOf = (r: ReconciliationResult): ReconciledCell[] => r.cells.filter((c) => c.flagged)
  .sort((a, b) => b.bucket_start.localeCompare(a.bucket_start) || (a.model === null ? 1 : b.model === null ? -1 : a.model.localeCompare(b.model)));

test('GET /api/reconcile/latest: nothing before the first scheduled run, then that run as stored, its flagged cells with their causes, unpriced calls as n/a', async (t) => {
  const w = await runWorkload(t, { pipeline: false });
  const calls = addUnpricedCall(w);
  const d = await startDaemonOver(t, w, { schedule: '0 0 1 1 *', calls });

  const before = await latest(d);
  t.is(before.status, 200);
  t.deepEqual(before.body, { schedule: '0 0 1 1 *', embedded_store: true, run: null });

  const r = await d.reconcileJob!.runNow();
  if (!r) return t.fail('the scheduled run failed');
  const after = await latest(d);
  t.is(after.status, 200);
  const run = after.body.run!;
  t.like(run, { run_id: r.run_id, started_at: r.started_at, finished_at: r.finished_at, api: 'analytics', bucket: '1d', split_by: [], range: r.range, tolerance: r.tolerance, data_refreshed_at: r.data_refreshed_at });
  t.deepEqual(run.models, r.models);
  t.deepEqual(run.total, r.total);
  // The three differences of the workload and the unpriced model's cell.
  t.is(run.flagged_cells, 4);
  t.is(r.flagged_cells, 4);
  t.deepEqual(run.flagged, flaggedOf(r));
  const causes = Object.fromEntries(run.flagged.map((c) => [c.model, c.causes.map((x) => x.code)]));
  t.deepEqual(causes, {
    'claude-sonnet-5-5': ['missing_calls'], 'claude-opus-5-5': ['stale_price'], 'claude-haiku-5-5': ['batch_unread'], [UNPRICED_MODEL]: ['unpriced_local'],
  });

  // Unpriced local calls: no cost capture for the model or the total (unknown, not 0 %), the calls counted.
  const mystery = run.models.find((m) => m.model === UNPRICED_MODEL)!;
  t.is(mystery.cost_capture, null);
  t.is(mystery.unpriced_calls, 1);
  t.is(mystery.token_capture, 1);
  t.is(run.total!.cost_capture, null);
  t.is(run.total!.unpriced_calls, 1);
  const cell = run.flagged.find((c) => c.model === UNPRICED_MODEL)!;
  t.deepEqual(cell.capture, { tokens: 1, cost: null });
  t.regex(cell.causes[0]!.message, /1 of 1 recorded call\(s\) have no local price/);
  // The priced models keep their cost capture.
  t.true(run.models.filter((m) => m.model !== UNPRICED_MODEL).every((m) => typeof m.cost_capture === 'number'));

  // `limit` keeps the newest flagged cells and still counts them all.
  const two = await latest(d, '?limit=2');
  t.is(two.body.run!.flagged.length, 2);
  t.is(two.body.run!.flagged_cells, 4);
  t.deepEqual(two.body.run!.flagged, flaggedOf(r).slice(0, 2));

  for (const [query, message] of [
    ['?limit=0', /limit: expected an integer 1-1000, got "0"/],
    ['?limit=abc', /limit: expected an integer 1-1000/],
    ['?limit=1&limit=2', /query parameter "limit" given twice/],
    ['?run=latest', /unknown query parameter "run" \(known: limit\)/],
  ] as const) {
    const bad = await latest(d, query);
    t.is(bad.status, 400, query);
    t.is(bad.body.error, 'bad_request', query);
    t.regex(bad.body.message ?? '', message, query);
  }
  t.false(after.text.includes(ADMIN_KEY));
});

test('GET /api/reconcile/latest: a daemon that never reconciles shows the run `claudescope reconcile` stored beside it, behind the token like every endpoint', async (t) => {
  const w = await runWorkload(t, { pipeline: false });
  const d = await startDaemonOver(t, w, { schedule: null, calls: w.recordedCalls, over: { auth: { token: TOKEN, requireToken: true } } });
  const auth = { authorization: `Bearer ${TOKEN}` };
  t.is((await latest(d)).status, 401);
  t.is((await latest(d, '', { authorization: 'Bearer not-the-token-0123456789' })).status, 401);
  t.deepEqual((await latest(d, '', auth)).body, { schedule: null, embedded_store: true, run: null });

  // What the CLI does: its own connection to the daemon's store, the results written there.
  const store = SqliteStore.open({ path: join(w.home, 'data', 'claudescope.db') });
  t.teardown(() => store.close());
  const now = Date.now();
  const r = await runReconciliation({
    settings: { ...DEFAULT_RECONCILE, adminKey: ADMIN_KEY, baseUrl: w.api.url }, query: store, resultsStore: store, pricer: localPricer(), range: { start: now - DAY, end: now },
  });
  const after = await latest(d, '', auth);
  t.is(after.status, 200);
  t.is(after.body.schedule, null);
  t.is(after.body.run?.run_id, r.run_id);
  t.deepEqual(after.body.run?.models, r.models);
  t.is(after.body.run?.flagged_cells, 3);
  t.deepEqual(after.body.run?.flagged, flaggedOf(r));
  t.false(after.text.includes(ADMIN_KEY));
});
