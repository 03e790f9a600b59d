/**
 * InfluxDB refusing the daemon's credentials stops ingestion (the InfluxDB sink stops and the
 * store waits on it). The shipped rules raise it at once, from the daemon's own health: a real
 * daemon, a real influxd behind a forwarder that answers 401.
 */
import type { ExecutionContext } from 'ava';
import { testWith } from '../helpers/external.js';
import { tempHome, waitFor, writeEventFile } from '../helpers/event-files.js';
import { startInfluxd } from '../helpers/influxd.js';
import { testPricer } from '../helpers/test-pricer.js';
import { mixedWorkload } from '../daemon/workload.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { loadDaemonConfig, type DaemonConfig } from '../../src/daemon/config.js';
import { startForwarder } from './harness.js';

const it = testWith('influxd');

async function start(t: ExecutionContext, influxdb: DaemonConfig['influxdb']): Promise<Daemon> {
  const h = tempHome();
  t.teardown(h.cleanup);
  writeEventFile({ dir: h.events, calls: mixedWorkload(20), sealed: true });
  const base = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: h.home }, flags: { pollIntervalMs: 50 } });
  const daemon = await Daemon.start({
    config: { ...base, listen: { host: '127.0.0.1', port: 0 }, rules: { dirs: ['rules'], store: null }, influxdb },
    pricer: testPricer(),
    log: () => {},
  });
  t.teardown(() => daemon.stop());
  return daemon;
}

const firing = (d: Daemon): string[] => d.ruleEngine.alerts().filter((a) => a.state === 'firing').map((a) => a.name);

/** A daemon writing to a database `db` of a real influxd, through a forwarder that refuses its credentials (401) once. */
async function refusedDaemon(t: ExecutionContext, db: string, embeddedStore: boolean): Promise<Daemon> {
  const influx = await startInfluxd();
  t.teardown(() => influx.dispose());
  await influx.createDatabase(db);
  const fwd = await startForwarder(influx.url);
  t.teardown(() => fwd.close());
  fwd.faults.push({ status: 401, body: '{"error":"authorization failed"}' });
  const d = await start(t, { url: fwd.url, api: 'v1', database: db, embedded_store: embeddedStore, health_interval_ms: 0 });
  await waitFor(() => d.pipeline.health().influx?.authFailed === true, 'the sink stopped on 401');
  return d;
}

it('InfluxDB refusing the credentials raises ClaudescopeInfluxAuthFailed (critical) at the next evaluation', async (t) => {
  const d = await refusedDaemon(t, 'authdb', true);
  t.is(d.pipelineHealth().influxAuthFailed, 1);
  t.is(d.pipeline.health().eventsInserted, 0, 'the store waits on the stopped sink');
  await d.ruleEngine.evaluateOnce(Date.now());
  const alert = d.ruleEngine.alerts().find((a) => a.name === 'ClaudescopeInfluxAuthFailed');
  t.is(alert?.state, 'firing');
  t.is(alert?.labels['severity'], 'critical');
});

it('with InfluxDB alone (rules reading the fleet\'s health from it), the daemon still raises it of its own credentials', async (t) => {
  const d = await refusedDaemon(t, 'authonly', false);
  t.is(d.pipeline.store, undefined, 'no embedded store: the rules read InfluxDB');
  await d.ruleEngine.evaluateOnce(Date.now());
  t.true(firing(d).includes('ClaudescopeInfluxAuthFailed'));
});

it('with InfluxDB taking the writes, or without InfluxDB, the alert stays quiet', async (t) => {
  const influx = await startInfluxd();
  t.teardown(() => influx.dispose());
  await influx.createDatabase('okdb');
  const ok = await start(t, { url: influx.url, api: 'v1', database: 'okdb', embedded_store: true, health_interval_ms: 0 });
  await waitFor(() => ok.pipeline.health().eventsInserted === 20, 'events stored');
  t.is(ok.pipelineHealth().influxAuthFailed, 0);
  await ok.ruleEngine.evaluateOnce(Date.now());
  t.false(firing(ok).includes('ClaudescopeInfluxAuthFailed'));
  const none = await start(t, null);
  await waitFor(() => none.pipeline.health().eventsInserted === 20, 'events stored');
  t.is(none.pipelineHealth().influxAuthFailed, null);
  await none.ruleEngine.evaluateOnce(Date.now());
  t.false(firing(none).includes('ClaudescopeInfluxAuthFailed'));
});
