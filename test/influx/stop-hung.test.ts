/**
 * InfluxDB taking the connection but never answering the write: closing the sink ends the
 * request, and a daemon's stop does so once influxdb.stop_timeout_ms is over, not when the
 * request's own timeout_ms runs out; the batches given up are sent at the next start, each
 * call once.
 */
import test from 'ava';
import { join } from 'node:path';
import { testWith } from '../helpers/external.js';
import { tempHome, waitFor, writeEventFile } from '../helpers/event-files.js';
import { tempDir } from '../helpers/events.js';
import { startInfluxd } from '../helpers/influxd.js';
import { testPricer } from '../helpers/test-pricer.js';
import { mixedWorkload } from '../daemon/workload.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { loadDaemonConfig } from '../../src/daemon/config.js';
import { InfluxSink } from '../../src/store/influx-sink.js';
import { connection, priced, silentServer, startForwarder } from './harness.js';

const it = testWith('influxd');
const APIS = ['v1', 'v2'] as const;
const CALLS = 1000;
const STOP_TIMEOUT_MS = 300;
// A stop that waited for the request's timeout would take 30 s; the margin is the rest of the
// stop (rules, HTTP server) on a loaded machine.
const MARGIN_MS = 2000;

for (const api of APIS) {
  test(`api ${api}: closing the sink ends a write InfluxDB never answers, at once and unacknowledged, whatever the back-off`, async (t) => {
    const silent = await silentServer();
    t.teardown(() => silent.close());
    // Long back-offs: a write that failed as the sink closed must not wait one out before giving up.
    const sink = new InfluxSink({
      connection: connection(silent.url, 'x', { api, bucket: 'x', timeoutMs: 30_000 }), deadLetterPath: join(tempDir(t), 'dl.ndjson'),
      minRetryDelayMs: 20_000, maxRetryDelayMs: 30_000,
    });
    const p = sink.writeCalls(priced(mixedWorkload(3)));
    await waitFor(() => silent.requested() > 0 && sink.health().requests === 1, 'the write sent');
    const started = performance.now();
    await sink.close();
    const err = await t.throwsAsync(p, { message: /closing/ });
    const took = performance.now() - started;
    t.is((err as { code?: string } | undefined)?.code, 'E_SINK_CLOSED');
    t.true(took < 1000, `the write ended ${Math.round(took)} ms after the close`);
    t.is(sink.health().pointsWritten, 0);
    t.is(sink.health().requests, 1);
    // Ended, not left to run out its timeout.
    await waitFor(() => silent.waiting() === 0, 'the request\'s connection closed', 2000);
  });
}

for (const api of APIS) {
  it(`api ${api}: a stop while InfluxDB never answers ends the write in progress at stop_timeout_ms; the next start sends each call once`, async (t) => {
    const influx = await startInfluxd();
    t.teardown(() => influx.dispose());
    const db = 'fleet';
    await influx.createDatabase(db);
    const silent = await silentServer();
    t.teardown(() => silent.close());
    const h = tempHome();
    t.teardown(h.cleanup);
    writeEventFile({ dir: h.events, calls: mixedWorkload(CALLS), sealed: true });
    const base = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: h.home }, flags: { pollIntervalMs: 50 } });
    const influxdb = {
      // With the embedded store, rules and the start's reads query SQLite: only the sink meets the silent server.
      api, database: db, bucket: db, embedded_store: true, health_interval_ms: 0,
      min_retry_delay_ms: 20, max_retry_delay_ms: 50, timeout_ms: 30_000, stop_timeout_ms: STOP_TIMEOUT_MS,
    };
    const config = {
      ...base, listen: { host: '127.0.0.1', port: 0 }, rules: { dirs: ['rules'], store: null },
      retention: { ...base.retention, sealedFiles: 'keep' as const },
      influxdb: { ...influxdb, url: silent.url },
    };
    const lines: { level: string; msg: string }[] = [];
    const log = (level: string, msg: string): void => { lines.push({ level, msg }); };

    const first = await Daemon.start({ config, pricer: testPricer(), log });
    await waitFor(() => first.pipeline.health().linesRead >= CALLS && (first.pipeline.health().influx?.requests ?? 0) > 0 && silent.requested() > 0, 'a write sent, InfluxDB silent');
    const started = performance.now();
    await first.stop();
    const took = performance.now() - started;
    t.true(took < STOP_TIMEOUT_MS + MARGIN_MS, `the stop took ${Math.round(took)} ms`);
    const shown = lines.map((l) => `${l.level}: ${l.msg}`).join('\n');
    t.deepEqual(lines.filter((l) => l.level === 'error'), [], shown);
    t.true(lines.some((l) => l.level === 'warn' && /^\d+ call\(s\) not written before the stop/.test(l.msg) && /sent again at the next start/.test(l.msg)), shown);

    // The next start, against an InfluxDB that answers (v2 writes through the forwarder, which
    // reads them as InfluxDB 1.8 does).
    const fwd = await startForwarder(influx.url);
    t.teardown(() => fwd.close());
    lines.length = 0;
    const second = await Daemon.start({ config: { ...config, influxdb: { ...influxdb, url: fwd.url } }, pricer: testPricer(), log });
    t.teardown(() => second.stop());
    const count = async (): Promise<number> => Number((await influx.values('SELECT COUNT("event_id") FROM claude_call', db))[0]?.[1] ?? 0);
    await waitFor(async () => (await count()) === CALLS && second.pipeline.health().lagBytes === 0, `all ${CALLS} calls in InfluxDB`);
    t.is((await influx.values('SELECT DISTINCT("event_id") FROM claude_call', db)).length, CALLS);
    // Sent once: each call in one acknowledged request.
    t.is(fwd.writes.reduce((a, w) => a + w.lines, 0), CALLS, JSON.stringify(fwd.writes));
    t.true(fwd.writes.every((w) => w.answered === 204), JSON.stringify(fwd.writes));
    await second.stop();
    t.is(await count(), CALLS);
    t.false(lines.some((l) => l.level === 'error' || /not written before the stop/.test(l.msg)), lines.map((l) => `${l.level}: ${l.msg}`).join('\n'));
  });
}
