import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Point } from '@influxdata/influxdb-client';
import { testWith } from '../helpers/external.js';
import { tempDir } from '../helpers/events.js';
import { startInfluxd, type Influxd } from '../helpers/influxd.js';
import { mixedWorkload, expectedSums } from '../daemon/workload.js';
import { InfluxSink } from '../../src/store/influx-sink.js';
import { parseInfluxSettings } from '../../src/store/influx-config.js';
import { InfluxQueryApi } from '../../src/store/influx-query.js';
import { callTimestampNs, fnv1a } from '../../src/store/influx-point-schema.js';
import { connection, priced, startForwarder } from './harness.js';

const it = testWith('influxd');
let influx: Influxd;
let small: Influxd;

test.before(async () => {
  if (it === test) {
    [influx, small] = await Promise.all([startInfluxd(), startInfluxd({ maxBodySize: 20_000 })]);
  }
});
test.after.always(async () => {
  await influx?.dispose();
  await small?.dispose();
});

let dbSeq = 0;
async function freshDb(i: Influxd): Promise<string> {
  const db = `sink_${process.pid}_${++dbSeq}`;
  await i.createDatabase(db);
  return db;
}
const count = async (i: Influxd, db: string): Promise<number> => Number((await i.values('SELECT COUNT("event_id") FROM claude_call', db))[0]?.[1] ?? 0);

it('v1 mode: every call lands once, with its tags, token sums and exact nanodollar cost', async (t) => {
  const db = await freshDb(influx);
  const events = mixedWorkload(140);
  const sink = new InfluxSink({ connection: connection(influx.url, db), deadLetterPath: join(tempDir(t), 'dl.ndjson') });
  await sink.writeCalls(priced(events));
  await sink.close();
  const want = expectedSums(events);
  t.is(await count(influx, db), 140);
  const [row] = await influx.values('SELECT SUM("input_tokens"), SUM("output_tokens"), SUM("cache_read_input_tokens"), SUM("cost_nanousd"), SUM("unpriced"), SUM("attempts") FROM claude_call', db);
  t.deepEqual(row?.slice(1), [want.tokens['input'], want.tokens['output'], want.tokens['cache_read'], Math.round(want.costUsd * 1e9), want.unpriced, want.attempts]);
  const byStatus = await influx.query('SELECT COUNT("event_id") FROM claude_call GROUP BY "status"', db);
  t.deepEqual(Object.fromEntries((byStatus[0]?.series ?? []).map((s) => [s.tags?.['status'], s.values?.[0]?.[1]])), want.byStatus);
  // Unbounded values are fields, never tags.
  const tagKeys = (await influx.values('SHOW TAG KEYS FROM claude_call', db)).map((v) => v[0]);
  t.false(tagKeys.includes('event_id'));
  t.false(tagKeys.includes('request_id'));
  t.deepEqual(sink.health().pointsWritten, 140);
});

it('v2 mode through @influxdata/influxdb-client lands the same points, and a replay overwrites itself', async (t) => {
  const db = await freshDb(influx);
  const fwd = await startForwarder(influx.url);
  t.teardown(() => fwd.close());
  const events = mixedWorkload(60);
  const sink = new InfluxSink({ connection: connection(fwd.url, db, { api: 'v2', org: 'o', bucket: db, token: 'tok' }), deadLetterPath: join(tempDir(t), 'dl.ndjson') });
  await sink.writeCalls(priced(events));
  await sink.writeCalls(priced(events)); // the same events again: same keys
  await sink.close();
  t.is(await count(influx, db), 60);
  const ids = await influx.values('SELECT DISTINCT("event_id") FROM claude_call', db);
  t.is(ids.length, 60);
  t.true(fwd.writes.every((w) => w.path === '/api/v2/write' && w.answered === 204));
});

it('v2 mode with a database/retention_policy bucket: the points land in that retention policy, and the queries read them there', async (t) => {
  const db = await freshDb(influx);
  await influx.query(`CREATE RETENTION POLICY "short" ON "${db}" DURATION 7d REPLICATION 1`);
  const fwd = await startForwarder(influx.url);
  t.teardown(() => fwd.close());
  const settings = parseInfluxSettings({ url: fwd.url, api: 'v2', bucket: `${db}/short`, token: 'tok' }, null, {});
  if (!settings) throw new Error('no settings');
  const events = mixedWorkload(30);
  const sink = new InfluxSink({ connection: settings.connection, deadLetterPath: join(tempDir(t), 'dl.ndjson') });
  await sink.writeCalls(priced(events));
  await sink.close();
  t.deepEqual(await influx.values(`SELECT COUNT("event_id") FROM "${db}"."short"."claude_call"`, db).then((v) => v[0]?.[1]), 30);
  t.deepEqual(await influx.values(`SELECT COUNT("event_id") FROM "${db}"."autogen"."claude_call"`, db), [], 'nothing in the default retention policy');
  const q = new InfluxQueryApi({ connection: settings.connection });
  const ts = events.map((e) => e.ts);
  const [row] = await q.aggregate({ window: { start: Math.min(...ts), end: Math.max(...ts) + 1 }, aggregates: { calls: { op: 'count' } } });
  t.is(row?.values['calls'], 30);
});

it('the client Point accepts the nanosecond timestamp as a string (a BigInt would write nothing)', (t) => {
  const ts = callTimestampNs(1_732_600_000_123, fnv1a('file-x'), 7);
  t.regex(ts, /^1732600000123\d{6}$/);
  const line = new Point('claude_call').tag('model', 'm').floatField('duration_ms', 5).timestamp(ts).toLineProtocol();
  t.is(line, `claude_call,model=m duration_ms=5 ${ts}`);
});

it('two events of one file in the same millisecond never share a timestamp; a replay keeps its own', (t) => {
  const h = fnv1a('file-y');
  const seen = new Set<string>();
  for (let seq = 1; seq <= 50_000; seq++) seen.add(callTimestampNs(1_732_600_000_000, h, seq));
  t.is(seen.size, 50_000);
  t.is(callTimestampNs(1_732_600_000_000, h, 42), callTimestampNs(1_732_600_000_000, h, 42));
});

it('a 413 from a real InfluxDB splits the batch until it fits, and every point lands', async (t) => {
  const db = await freshDb(small);
  const events = mixedWorkload(140);
  const sink = new InfluxSink({ connection: connection(small.url, db), deadLetterPath: join(tempDir(t), 'dl.ndjson') });
  await sink.writeCalls(priced(events));
  await sink.close();
  t.is(await count(small, db), 140);
  t.true(sink.health().errors.split > 0);
  t.is(sink.health().deadLettered, 0);
});

it('429 with Retry-After and 500s are retried in place, and nothing is lost or doubled', async (t) => {
  const db = await freshDb(influx);
  const fwd = await startForwarder(influx.url);
  t.teardown(() => fwd.close());
  fwd.faults.push({ status: 429, headers: { 'retry-after': '0' } }, { status: 500 }, { status: 503 });
  const sink = new InfluxSink({ connection: connection(fwd.url, db), deadLetterPath: join(tempDir(t), 'dl.ndjson'), minRetryDelayMs: 10, maxRetryDelayMs: 50 });
  await sink.writeCalls(priced(mixedWorkload(30)));
  await sink.close();
  t.is(await count(influx, db), 30);
  t.is(sink.health().retries, 3);
  t.deepEqual(fwd.writes.map((w) => w.answered), [429, 500, 503, 204]);
});

it('a 400 is bisected down to the refused point, which goes to the dead-letter file by file and offset; the rest lands', async (t) => {
  const db = await freshDb(influx);
  const fwd = await startForwarder(influx.url);
  t.teardown(() => fwd.close());
  // 8 points: 400 for all; first half ok; second half 400; its first quarter ok; then 400, 400 (the point), ok.
  fwd.faults.push({ status: 400 }, { status: 0 }, { status: 400 }, { status: 0 }, { status: 400 }, { status: 400 }, { status: 0 });
  const dl = join(tempDir(t), 'dl.ndjson');
  const sink = new InfluxSink({ connection: connection(fwd.url, db), deadLetterPath: dl });
  const calls = priced(mixedWorkload(8));
  await sink.writeCalls(calls);
  await sink.close();
  t.is(await count(influx, db), 7);
  const letters = readFileSync(dl, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.is(letters.length, 1);
  t.like(letters[0], { reason: 'sink_rejected', file_id: 'file-a', offset: calls[6]!.source!.offset, length: 99 });
  t.is(sink.health().deadLettered, 1);
});

it('401 stops the sink: the batch fails, later batches fail fast, the flag is raised and nothing is written', async (t) => {
  const db = await freshDb(influx);
  const fwd = await startForwarder(influx.url);
  t.teardown(() => fwd.close());
  fwd.faults.push({ status: 401, body: '{"error":"authorization failed"}' });
  const sink = new InfluxSink({ connection: connection(fwd.url, db), deadLetterPath: join(tempDir(t), 'dl.ndjson') });
  await t.throwsAsync(sink.writeCalls(priced(mixedWorkload(5))), { instanceOf: Error, message: /401/ });
  t.true(sink.health().authFailed);
  await t.throwsAsync(sink.writeCalls(priced(mixedWorkload(5))), { message: /refused the credentials/ });
  t.is(fwd.writes.length, 1);
  t.is(await count(influx, db), 0);
  await sink.close();
});

it('an unreachable InfluxDB is retried until the sink closes; then the write rejects and nothing is acknowledged', async (t) => {
  const sink = new InfluxSink({ connection: connection('http://127.0.0.1:1', 'x', { timeoutMs: 500 }), deadLetterPath: join(tempDir(t), 'dl.ndjson'), minRetryDelayMs: 5, maxRetryDelayMs: 20 });
  const p = sink.writeCalls(priced(mixedWorkload(3)));
  while (sink.health().retries < 3) await new Promise((r) => setTimeout(r, 10));
  await sink.close();
  await t.throwsAsync(p, { message: /closing/ });
  t.is(sink.health().pointsWritten, 0);
});

it('a write answered 404 is retried with a warning that says what to do: api v1 for an InfluxDB without /api/v2/write, or create the database', async (t) => {
  const warnings: Record<string, unknown>[] = [];
  const firstWarning = async (conn: ReturnType<typeof connection>): Promise<Record<string, unknown>> => {
    warnings.length = 0;
    const sink = new InfluxSink({ connection: conn, deadLetterPath: join(tempDir(t), 'dl.ndjson'), log: (_level, _msg, fields) => warnings.push(fields ?? {}) });
    const writing = sink.writeCalls(priced(mixedWorkload(3))).catch((err: unknown) => err);
    while (warnings.length === 0) await new Promise((r) => setTimeout(r, 20));
    await sink.close();
    t.is(((await writing) as { code?: string }).code, 'E_SINK_CLOSED');
    return warnings[0]!;
  };
  // The default api, v2, against this InfluxDB 1.6, which has no /api/v2/write.
  const v2 = await firstWarning(connection(influx.url, 'claudescope', { api: 'v2' }));
  t.is(v2['status'], 404);
  t.regex(String(v2['hint']), /no \/api\/v2\/write .*set influxdb\.api: v1/);
  const v1 = await firstWarning(connection(influx.url, `missing_${process.pid}`));
  t.is(v1['status'], 404);
  t.regex(String(v1['hint']), /no database "missing_\d+" on this InfluxDB: create it/);
});

it('health points InfluxDB refuses are logged when the failures start, then at most once per interval with their count, and once when they pass again', async (t) => {
  const db = await freshDb(influx);
  const fwd = await startForwarder(influx.url);
  t.teardown(() => fwd.close());
  const logged: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const sink = new InfluxSink({
    connection: connection(fwd.url, db), deadLetterPath: join(tempDir(t), 'dl.ndjson'), healthWarnIntervalMs: 400,
    log: (level, msg, fields) => logged.push({ level, msg, fields: fields ?? {} }),
  });
  t.teardown(() => sink.close());
  const point = { host: 'h1', ts: Date.now(), lagBytes: 0, oldestUnackedAgeSeconds: 0, deadLettersTotal: 0, emitterDroppedEventsTotal: 0, eventsCommittedTotal: 0, sinkRetriesTotal: 0, sinkAuthFailed: false, unreadableFiles: 0, descriptorShortagesTotal: 0 };
  const health = async (n: number): Promise<boolean[]> => {
    const results: boolean[] = [];
    for (let i = 0; i < n; i++) results.push(await sink.writeHealth({ ...point, ts: point.ts + results.length }));
    return results;
  };
  fwd.down = true;
  t.deepEqual(await health(5), [false, false, false, false, false], 'the health reporting itself is unchanged: every failure is returned');
  t.is(logged.length, 1, JSON.stringify(logged));
  t.like(logged[0], { level: 'warn' });
  t.regex(logged[0]!.msg, /^could not write the pipeline health point to InfluxDB/);
  t.regex(String(logged[0]!.fields['err']), /down|503/);
  await new Promise((r) => setTimeout(r, 450));
  await health(1);
  t.is(logged.length, 2);
  t.like(logged[1], { level: 'warn', msg: 'still cannot write the pipeline health point to InfluxDB', fields: { failures: 5 } });
  await health(3);
  t.is(logged.length, 2, 'within the interval, nothing more');
  fwd.down = false;
  t.deepEqual(await health(2), [true, true]);
  t.is(logged.length, 3);
  t.like(logged[2], { level: 'info', msg: 'the pipeline health point is written to InfluxDB again', fields: { failures: 9 } });
  t.is(Number((await influx.values('SELECT COUNT("lag_bytes") FROM claudescope_pipeline', db))[0]?.[1] ?? 0), 2);
  // A new run of failures is logged at once.
  fwd.down = true;
  await health(1);
  t.is(logged.length, 4);
  t.regex(logged[3]!.msg, /^could not write the pipeline health point/);
});
