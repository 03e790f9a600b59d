/**
 * A daemon whose only store is InfluxDB, with InfluxDB unreachable: the dashboard API says so
 * (503, naming InfluxDB) instead of answering an opaque internal error.
 */
import test from 'ava';
import { tempHome, writeEventFile } from '../helpers/event-files.js';
import { freePort } from '../helpers/influxd.js';
import { testPricer } from '../helpers/test-pricer.js';
import { mixedWorkload } from '../daemon/workload.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { loadDaemonConfig } from '../../src/daemon/config.js';

test('InfluxDB alone and unreachable: /api/summary, /api/timeseries and /api/calls answer 503 naming InfluxDB', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  writeEventFile({ dir: h.events, calls: mixedWorkload(5), sealed: true });
  const dead = await freePort(); // nothing listens there
  const base = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: h.home }, flags: { pollIntervalMs: 50 } });
  const daemon = await Daemon.start({
    config: {
      ...base, listen: { host: '127.0.0.1', port: 0 }, rules: { dirs: ['rules'], store: null },
      influxdb: { url: `http://127.0.0.1:${dead}`, api: 'v1', database: 'x', embedded_store: false, health_interval_ms: 0, min_retry_delay_ms: 50, max_retry_delay_ms: 100, stop_timeout_ms: 100 },
    },
    pricer: testPricer(),
    log: () => {},
  });
  t.teardown(() => daemon.stop());
  for (const path of ['/api/summary', '/api/timeseries', '/api/calls']) {
    const res = await fetch(`${daemon.url}${path}`);
    const body = (await res.json()) as { error: string; message?: string };
    t.is(res.status, 503, `${path}: ${JSON.stringify(body)}`);
    t.is(body.error, 'unavailable', path);
    t.regex(body.message ?? '', /InfluxDB unreachable/, path);
  }
});

test('InfluxDB alone: /healthz and the start line name InfluxDB as the store, not a SQLite file that does not exist', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const dead = await freePort();
  const lines: string[] = [];
  const base = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: h.home }, flags: { pollIntervalMs: 50 } });
  const daemon = await Daemon.start({
    config: {
      ...base, listen: { host: '127.0.0.1', port: 0 }, rules: { dirs: ['rules'], store: null },
      influxdb: { url: `http://127.0.0.1:${dead}`, api: 'v1', database: 'fleet', embedded_store: false, health_interval_ms: 0, stop_timeout_ms: 100 },
    },
    pricer: testPricer(),
    log: (_level, msg, fields) => { lines.push(`${msg} ${JSON.stringify(fields ?? {})}`); },
  });
  t.teardown(() => daemon.stop());
  const hz = (await (await fetch(`${daemon.url}/healthz`)).json()) as { store: string };
  t.is(hz.store, `influxdb http://127.0.0.1:${dead} (database fleet; no embedded store)`);
  t.true(lines.some((l) => l.startsWith('started on') && l.includes('no embedded store')), lines.join('\n'));
  t.false(lines.some((l) => l.includes('claudescope.db')), lines.join('\n'));
});
