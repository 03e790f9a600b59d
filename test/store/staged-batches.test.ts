import test from 'ava';
import { join } from 'node:path';
import { SqliteStore, type CheckpointRecord, type PricedCall } from '../../src/store/sqlite-store.js';
import type { CallEvent } from '../../src/event/types.js';
import { call, tempHome } from '../helpers/event-files.js';
import { testPricer } from '../helpers/test-pricer.js';

const pricer = testPricer();
const priced = (e: CallEvent): PricedCall => ({ event: e, raw: JSON.stringify(e), price: pricer.price(e) });
const T0 = Date.UTC(2026, 10, 1, 0, 0, 0);
const MINUTE = 60_000;

function open(t: { teardown(fn: () => void): void }): SqliteStore {
  const h = tempHome();
  t.teardown(h.cleanup);
  const store = SqliteStore.open({ path: join(h.data, 'claudescope.db') });
  t.teardown(() => store.db.open && store.close());
  return store;
}

const checkpoint = (offset: number): CheckpointRecord => ({ fileKey: 'f1', path: '/events/f1.ndjson', offset, checkHash: 'h', sealed: false });
const calls = (n: number, from: number): PricedCall[] => Array.from({ length: n }, (_, i) => priced(call({ ts: from + i * 7_000 })));
const count = (s: SqliteStore, sql: string): number => s.db.prepare(sql).pluck().get() as number;

for (const next of ['the next batch', 'the commit', 'the next batch after another write'] as const) {
  test(`a staged transaction that SQLite ended underneath fails ${next}: no checkpoint passes the lost batch`, (t) => {
    const s = open(t);
    let durable = 0;
    s.stageBatch({ calls: calls(20, T0), checkpoints: [checkpoint(1000)], emitterStats: [] }, undefined, () => durable++);
    // SQLite rolls the whole transaction back by itself after some errors (disk full, I/O
    // error, out of memory) of any statement on the connection; this stands for one.
    s.db.exec('ROLLBACK');
    const more = { calls: calls(20, T0 + 10 * MINUTE), checkpoints: [checkpoint(2000)], emitterStats: [] };
    if (next === 'the commit') {
      t.throws(() => s.commitStaged(), { instanceOf: Error, message: /staged/ });
    } else {
      // A write of another kind meanwhile has nothing left to commit first; the stager still learns of the loss.
      if (next === 'the next batch after another write') t.is(s.foldRollups(), 0);
      t.throws(() => s.stageBatch(more), { instanceOf: Error, message: /staged/ });
    }
    s.rollbackStaged();
    t.is(durable, 0);
    t.deepEqual(s.loadCheckpoints(), [], 'no checkpoint became durable past the lines of the lost batch');
    t.is(count(s, 'SELECT COUNT(*) FROM calls'), 0);
    // The store stages again afterwards.
    s.stageBatch({ calls: calls(5, T0), checkpoints: [checkpoint(300)], emitterStats: [] });
    s.commitStaged();
    t.is(count(s, 'SELECT COUNT(*) FROM calls'), 5);
    t.is(s.loadCheckpoints()[0]?.offset, 300);
  });
}

test('a reprice chunk or retention run while batches are staged is not undone when the staged batches roll back', (t) => {
  const s = open(t);
  const old = calls(30, T0);
  s.commitBatch({ calls: old, checkpoints: [], emitterStats: [] });
  let durable = 0;
  s.stageBatch({ calls: calls(10, T0 + 2 * 86_400_000), checkpoints: [checkpoint(500)], emitterStats: [] }, undefined, () => durable++);
  // Every stored call becomes unpriced (a pricer that fails on each).
  const r = s.repriceChunk({ since: 0, until: T0 + 86_400_000, afterId: 0, limit: 1000, price: () => null });
  t.is(r.rows.filter((x) => x.changed).length, 30);
  t.is(durable, 1, 'the staged batches were made durable before the reprice wrote, and their stager told');
  // A batch staged after the reprice fails and rolls back: the reprice (and what was staged before it) stays.
  s.stageBatch({ calls: calls(10, T0 + 3 * 86_400_000), checkpoints: [checkpoint(900)], emitterStats: [] }, undefined, () => durable++);
  s.rollbackStaged();
  t.is(durable, 1);
  t.is(count(s, `SELECT COUNT(*) FROM calls WHERE cost_nanousd IS NOT NULL AND ts < ${T0 + 86_400_000}`), 0, 'the reprice is durable');
  t.is(count(s, 'SELECT COUNT(*) FROM calls'), 40);
  t.is(s.loadCheckpoints()[0]?.offset, 500);
  // Retention likewise.
  s.stageBatch({ calls: calls(10, T0 + 4 * 86_400_000), checkpoints: [checkpoint(1200)], emitterStats: [] }, undefined, () => durable++);
  t.is(s.applyRetention({ rowsMaxAgeMs: 86_400_000 }, T0 + 2 * 86_400_000).rowsDeleted, 30);
  t.is(durable, 2);
  s.stageBatch({ calls: calls(10, T0 + 5 * 86_400_000), checkpoints: [checkpoint(1500)], emitterStats: [] }, undefined, () => durable++);
  s.rollbackStaged();
  t.is(count(s, 'SELECT COUNT(*) FROM calls'), 20, 'the retention is durable, and so are the batches staged before it');
  t.is(s.loadCheckpoints()[0]?.offset, 1200);
  // The rollups equal the rows: the unpriced count of the repriced day as the rows say.
  s.foldRollups();
  t.is(count(s, 'SELECT COALESCE(SUM(count), 0) FROM rollup_minute'), 50, 'rollups keep the calls retention deleted (rows and rollups have separate retention)');
  t.is(count(s, `SELECT SUM(unpriced_count) FROM rollup_minute WHERE minute < ${T0 + 86_400_000}`), 30);
});

test('a write lent the connection through exclusive() while batches are staged is not undone when later staged batches roll back', (t) => {
  const s = open(t);
  let durable = 0;
  s.stageBatch({ calls: calls(5, T0), checkpoints: [checkpoint(100)], emitterStats: [] }, undefined, () => durable++);
  s.exclusive((db) => db.prepare("INSERT INTO reconciliation_runs (run_id, started_at, finished_at, range_start, range_end, api, bucket, tolerance, summary_json) VALUES ('r1', 1, 2, 0, 1, 'usage', '1d', 0.05, '{}')").run());
  t.is(durable, 1, 'the staged batches were made durable first');
  s.stageBatch({ calls: calls(5, T0 + 86_400_000), checkpoints: [checkpoint(200)], emitterStats: [] }, undefined, () => durable++);
  s.rollbackStaged();
  t.is(count(s, 'SELECT COUNT(*) FROM reconciliation_runs'), 1);
  t.is(count(s, 'SELECT COUNT(*) FROM calls'), 5);
  t.is(s.loadCheckpoints()[0]?.offset, 100);
});
