/**
 * A backlog older than the retention policy: InfluxDB writes the recent points of a request
 * and refuses it with `partial write: points beyond retention policy dropped=N`. The batch is
 * done in one request: the old points are counted, not bisected one by one into the
 * dead-letter file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testWith } from '../helpers/external.js';
import { tempDir } from '../helpers/events.js';
import { call } from '../helpers/event-files.js';
import { startInfluxd } from '../helpers/influxd.js';
import { InfluxSink, beyondRetention } from '../../src/store/influx-sink.js';
import { InfluxWriteError } from '../../src/store/influx-writer.js';
import { connection, priced, startForwarder } from './harness.js';

const it = testWith('influxd');

it('points older than the retention policy are dropped by InfluxDB in one request; the rest lands, nothing is dead-lettered', async (t) => {
  const influx = await startInfluxd();
  t.teardown(() => influx.dispose());
  await influx.query('CREATE DATABASE short WITH DURATION 1h');
  const fwd = await startForwarder(influx.url);
  t.teardown(() => fwd.close());
  const dl = join(tempDir(t), 'dl.ndjson');
  const logs: string[] = [];
  const sink = new InfluxSink({ connection: connection(fwd.url, 'short'), deadLetterPath: dl, log: (_l, msg) => logs.push(msg) });
  const now = Date.now();
  const events = Array.from({ length: 400 }, (_, i) => call({ ts: i % 4 === 0 ? now - 60_000 + i : now - 3 * 3_600_000 + i }));
  await sink.writeCalls(priced(events));
  await sink.close();
  const h = sink.health();
  t.is(h.beyondRetention, 300);
  t.is(h.pointsWritten, 100);
  t.is(h.deadLettered, 0);
  t.is(fwd.writes.length, 1, 'one request, not a bisection');
  t.false(existsSync(dl) && readFileSync(dl, 'utf8').trim() !== '', 'no dead letters');
  t.is(logs.filter((m) => m.includes('retention')).length, 1, logs.join('\n'));
  const [row] = await influx.values('SELECT COUNT("event_id") FROM claude_call', 'short');
  t.is(row?.[1], 100);
});

it('beyondRetention reads InfluxDB 1.x (400) and 2.x (422) answers, and nothing else', (t) => {
  t.is(beyondRetention(new InfluxWriteError(400, null, '{"error":"partial write: points beyond retention policy dropped=7"}')), 7);
  t.is(beyondRetention(new InfluxWriteError(422, null, '{"code":"unprocessable entity","message":"failure writing points to database: partial write: points beyond retention policy dropped=2"}')), 2);
  t.is(beyondRetention(new InfluxWriteError(400, null, '{"error":"partial write: field type conflict: input field \\"x\\" on measurement \\"claude_call\\" is type float, already exists as type integer dropped=1"}')), null);
  t.is(beyondRetention(new InfluxWriteError(500, null, 'partial write: points beyond retention policy dropped=1')), null);
});
