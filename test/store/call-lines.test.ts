import test from 'ava';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore, type PricedCall } from '../../src/store/sqlite-store.js';
import { CallLinesReader, lineColumns } from '../../src/store/call-lines.js';
import { MIGRATIONS, migrate } from '../../src/store/migrations.js';
import type { CallEvent } from '../../src/event/types.js';
import { call, tempHome } from '../helpers/event-files.js';
import { testPricer } from '../helpers/test-pricer.js';
import { openStore } from '../helpers/store.js';

const pricer = testPricer();
const priced = (e: CallEvent, raw = JSON.stringify(e)): PricedCall => ({ event: e, raw, price: pricer.price(e) });
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 1, 0, 0, 0);
const batchOf = (calls: PricedCall[]) => ({ calls, checkpoints: [], emitterStats: [] });

const open = openStore;

const count = (db: Database.Database, sql: string): number => (db.prepare(sql).get() as { n: number }).n;

/** Every stored row's line, as the store reads it back, by event id. */
function storedLines(db: Database.Database): Map<string, string> {
  const reader = new CallLinesReader(db);
  const rows = db.prepare(`SELECT event_id, ${lineColumns(db)} FROM calls ORDER BY id`).all() as Record<string, unknown>[];
  return new Map(rows.map((r) => [r['event_id'] as string, reader.lineOf(r)]));
}

/** Calls as emitters write them: ids, request ids and tokens that differ from call to call. */
function calls(n: number, t0 = T0): CallEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const e = call({ ts: t0 + i * 1000, model: ['claude-a', 'claude-b'][i % 2]!, request_id: `req_${(i * 7919).toString(36)}${i}` });
    e.usage = { ...e.usage!, input_tokens: (i * 37) % 5000, output_tokens: (i * 13) % 900 };
    return e;
  });
}

test("each call's line is stored with its batch's, compressed, and read back byte for byte, non-ASCII and escapes included", async (t) => {
  const { store } = open(t);
  const events = calls(600);
  // Lines as another writer might format them: key order, spacing, escapes and text past ASCII are the line's own.
  const raws = events.map((e, i) => (i % 50 === 0 ? JSON.stringify(e).replace('"t":"call"', '"t" : "call"').replace('"app":"test-app"', '"app":"t\\u00e9st-app \u00e9 \u2028 \ud83d\ude00"') : JSON.stringify(e)));
  const stored = events.map((e, i) => priced(i % 50 === 0 ? { ...e, app: 't\u00e9st-app \u00e9 \u2028 \ud83d\ude00' } : e, raws[i]));
  store.commitBatch(batchOf(stored.slice(0, 300)));
  store.commitBatch(batchOf(stored.slice(300)));
  t.is(count(store.db, 'SELECT COUNT(*) AS n FROM call_lines'), 2);
  t.is(count(store.db, "SELECT COUNT(*) AS n FROM calls WHERE event_json <> ''"), 0);
  const lines = storedLines(store.db);
  t.is(lines.size, 600);
  events.forEach((e, i) => t.is(lines.get(e.event_id), raws[i]));
  // The detail view parses the stored line.
  t.deepEqual((await store.call(events[50]!.event_id))?.event, JSON.parse(raws[50]!));
  t.deepEqual((await store.call(events[599]!.event_id))?.event, events[599]);
  // Less than a third of the lines' size: what a row holding its line whole took for them.
  const rawBytes = raws.reduce((a, r) => a + Buffer.byteLength(r), 0);
  const blobBytes = count(store.db, 'SELECT SUM(LENGTH(lines)) AS n FROM call_lines');
  t.true(blobBytes < rawBytes / 3, `${blobBytes} bytes stored for ${rawBytes} bytes of lines`);
});

test('a batch whose every call was stored before leaves no batch of lines behind; a partly replayed one keeps its new calls readable', (t) => {
  const { store } = open(t);
  const events = calls(40);
  store.commitBatch(batchOf(events.slice(0, 20).map((e) => priced(e))));
  t.deepEqual(store.commitBatch(batchOf(events.slice(0, 20).map((e) => priced(e)))), { inserted: 0, ignored: 20 });
  t.is(count(store.db, 'SELECT COUNT(*) AS n FROM call_lines'), 1);
  t.deepEqual(store.commitBatch(batchOf(events.slice(10).map((e) => priced(e)))), { inserted: 20, ignored: 10 });
  t.is(count(store.db, 'SELECT COUNT(*) AS n FROM call_lines'), 2);
  const lines = storedLines(store.db);
  for (const e of events) t.is(lines.get(e.event_id), JSON.stringify(e));
});

test('retention deletes a batch of lines once every call of it is past the cutoff, and keeps a batch with a call still kept', async (t) => {
  const { store } = open(t);
  const now = Date.now();
  const old = calls(30, now - 10 * DAY);
  const mixed = [...calls(5, now - 9 * DAY), ...calls(5, now - DAY)];
  const recent = calls(30, now - 60_000);
  for (const b of [old, mixed, recent]) store.commitBatch(batchOf(b.map((e) => priced(e))));
  t.is(count(store.db, 'SELECT COUNT(*) AS n FROM call_lines'), 3);
  t.deepEqual(store.applyRetention({ rowsMaxAgeMs: 5 * DAY }, now), { rowsDeleted: 35, rollupsDeleted: 0 });
  t.is(count(store.db, 'SELECT COUNT(*) AS n FROM call_lines'), 2);
  const lines = storedLines(store.db);
  t.is(lines.size, 35);
  for (const e of [...mixed.slice(5), ...recent]) t.is(lines.get(e.event_id), JSON.stringify(e));
  t.deepEqual((await store.call(mixed[7]!.event_id))?.event, mixed[7]);
  store.applyRetention({ rowsMaxAgeMs: 0 }, now + 1);
  t.is(count(store.db, 'SELECT COUNT(*) AS n FROM call_lines'), 0);
});

test('a reprice reads the stored lines: of batches, and of rows stored before schema 5 with their line in event_json', (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const path = join(h.data, 'claudescope.db');
  const old = calls(50);
  // A database of schema 4 holding rows as that schema stored them: each line in its row.
  const db4 = new Database(path);
  db4.pragma('journal_mode = WAL');
  migrate(db4, MIGRATIONS.filter((m) => m.version <= 4));
  db4.close();
  const ref = open(t).store;
  ref.commitBatch(batchOf(old.map((e) => priced(e))));
  const v4 = new Database(path);
  const cols = v4.prepare('SELECT * FROM calls LIMIT 1').columns().map((c) => c.name);
  const insert = v4.prepare(`INSERT INTO calls (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
  const lineOf = new Map(old.map((e) => [e.event_id, JSON.stringify(e)]));
  for (const r of ref.db.prepare(`SELECT ${cols.join(', ')} FROM calls`).all() as Record<string, unknown>[]) {
    insert.run(...cols.map((c) => (c === 'event_json' ? lineOf.get(r['event_id'] as string) : r[c])));
  }
  v4.close();

  // Read-only, as the CLI reads a store the daemon has not migrated yet: lines from event_json.
  const ro = SqliteStore.open({ path, readonly: true });
  t.is(ro.db.pragma('user_version', { simple: true }), 4);

  const roRows = ro.repriceChunk({ since: 0, until: Number.MAX_SAFE_INTEGER, afterId: 0, limit: 1000, price: (e) => pricer.price(e), dryRun: true }).rows;
  t.deepEqual(roRows.map((r) => r.event), old);
  ro.close();

  const store = SqliteStore.open({ path });
  t.teardown(() => store.db.open && store.close());
  const fresh = calls(50, T0 + DAY);
  store.commitBatch(batchOf(fresh.map((e) => priced(e))));
  const rows: CallEvent[] = [];
  for (let afterId = 0; ;) {
    const r = store.repriceChunk({ since: 0, until: Number.MAX_SAFE_INTEGER, afterId, limit: 16, price: (e) => pricer.price(e) });
    rows.push(...r.rows.map((x) => x.event));
    if (r.lastId === null) break;
    afterId = r.lastId;
  }
  t.deepEqual(rows, [...old, ...fresh]);
});

test('a row whose batch of lines is gone fails its read with E_STORE_LINE_MISSING, naming the call', async (t) => {
  const { store } = open(t);
  const [e] = calls(1);
  store.commitBatch(batchOf([priced(e!)]));
  store.db.prepare('DELETE FROM call_lines').run();
  await t.throwsAsync(store.call(e!.event_id), { code: 'E_STORE_LINE_MISSING', message: new RegExp(e!.event_id) } as never);
});

test('a batch staged, read by a dry-run reprice and rolled back, then stored again under the same id, is read as stored the second time', (t) => {
  const { store } = open(t);
  const dry = () => store.repriceChunk({ since: 0, until: Number.MAX_SAFE_INTEGER, afterId: 0, limit: 1000, price: (e) => pricer.price(e), dryRun: true }).rows.map((r) => r.event);
  const first = calls(5);
  store.stageBatch(batchOf(first.map((e) => priced(e))));
  // The daemon's dry-run reprice, served between two staged batches, sees the staged calls.
  t.deepEqual(dry(), first);
  store.rollbackStaged();
  // The rolled-back batch's id is free again (its AUTOINCREMENT step was rolled back with it).
  const second = calls(5, T0 + DAY);
  store.commitBatch(batchOf(second.map((e) => priced(e))));
  t.deepEqual(dry(), second);
  // A reprice that writes prices the stored calls' own lines, not those of the rolled-back batch.
  const written = store.repriceChunk({ since: 0, until: Number.MAX_SAFE_INTEGER, afterId: 0, limit: 1000, price: (e) => pricer.price(e) }).rows;
  t.deepEqual(written.map((r) => r.event), second);
});

test('a read-only dry-run reprice reads the lines of the rows it read, though retention deletes them meanwhile', (t) => {
  const { store, path } = open(t);
  const now = Date.now();
  const older = calls(5, now - 10 * DAY);
  const old = calls(5, now - 9 * DAY);
  store.commitBatch(batchOf(older.map((e) => priced(e))));
  store.commitBatch(batchOf(old.map((e) => priced(e))));
  const ro = SqliteStore.open({ path, readonly: true });
  t.teardown(() => ro.db.open && ro.close());
  let retained = false;
  const rows = ro.repriceChunk({
    since: 0, until: Number.MAX_SAFE_INTEGER, afterId: 0, limit: 1000, dryRun: true,
    price: (e) => {
      // The daemon's retention, in another process, while the CLI prices the chunk.
      if (!retained) retained = store.applyRetention({ rowsMaxAgeMs: 5 * DAY }, now).rowsDeleted > 0;
      return pricer.price(e);
    },
  }).rows;
  t.true(retained);
  t.deepEqual(rows.map((r) => r.event), [...older, ...old]);
});

test('a read-only reprice begun on a database of schema 4 reads the lines of the calls stored after the daemon migrated it to schema 5', (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const path = join(h.data, 'claudescope.db');
  const db4 = new Database(path);
  db4.pragma('journal_mode = WAL');
  migrate(db4, MIGRATIONS.filter((m) => m.version <= 4));
  db4.close();
  const ro = SqliteStore.open({ path, readonly: true });
  t.teardown(() => ro.db.open && ro.close());
  const dry = () => ro.repriceChunk({ since: 0, until: Number.MAX_SAFE_INTEGER, afterId: 0, limit: 1000, price: (e) => pricer.price(e), dryRun: true }).rows.map((r) => r.event);
  t.deepEqual(dry(), []);
  // The daemon starts meanwhile: it migrates the database, then stores calls.
  const store = SqliteStore.open({ path });
  t.teardown(() => store.db.open && store.close());
  const events = calls(5);
  store.commitBatch(batchOf(events.map((e) => priced(e))));
  t.deepEqual(dry(), events);
});
