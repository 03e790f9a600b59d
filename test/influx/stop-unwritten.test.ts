/**
 * Stopping the daemon while InfluxDB does not take writes: the batches in flight are given up
 * unwritten, their checkpoints kept, so nothing is lost. The stop says so in a warning naming
 * how many calls wait for the next start (not an error), and the next start sends them.
 */
import { testWith } from '../helpers/external.js';
import { tempHome, waitFor, writeEventFile } from '../helpers/event-files.js';
import { startInfluxd } from '../helpers/influxd.js';
import { testPricer } from '../helpers/test-pricer.js';
import { mixedWorkload } from '../daemon/workload.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { loadDaemonConfig } from '../../src/daemon/config.js';
import { startForwarder } from './harness.js';

const it = testWith('influxd');
const CALLS = 1000; // two batches of the tailer (1 MiB each at most), both in flight

it('a stop while InfluxDB answers 503 warns that the calls in flight were not written and are sent at the next start; no error; the next start sends each once', async (t) => {
  const influx = await startInfluxd();
  t.teardown(() => influx.dispose());
  await influx.createDatabase('fleet');
  const fwd = await startForwarder(influx.url);
  t.teardown(() => fwd.close());
  fwd.down = true;
  const h = tempHome();
  t.teardown(h.cleanup);
  writeEventFile({ dir: h.events, calls: mixedWorkload(CALLS), sealed: true });
  const base = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: h.home }, flags: { pollIntervalMs: 50 } });
  const config = {
    ...base, listen: { host: '127.0.0.1', port: 0 }, rules: { dirs: ['rules'], store: null },
    retention: { ...base.retention, sealedFiles: 'keep' as const },
    influxdb: { url: fwd.url, api: 'v1', database: 'fleet', embedded_store: false, health_interval_ms: 0, min_retry_delay_ms: 20, max_retry_delay_ms: 50, stop_timeout_ms: 200 },
  };
  const lines: { level: string; msg: string }[] = [];
  const log = (level: string, msg: string): void => { lines.push({ level, msg }); };

  const first = await Daemon.start({ config, pricer: testPricer(), log });
  await waitFor(() => first.pipeline.health().linesRead >= CALLS && (first.pipeline.health().influx?.retries ?? 0) > 0, 'every line read and handed over, InfluxDB refusing');
  await first.stop();
  const shown = lines.map((l) => `${l.level}: ${l.msg}`).join('\n');
  t.deepEqual(lines.filter((l) => l.level === 'error'), [], shown);
  t.true(lines.some((l) => l.level === 'warn' && l.msg.startsWith(`${CALLS} call(s) not written before the stop`) && /sent again at the next start/.test(l.msg)), shown);
  t.is(Number((await influx.values('SELECT COUNT("event_id") FROM claude_call', 'fleet'))[0]?.[1] ?? 0), 0);

  fwd.down = false;
  lines.length = 0;
  const second = await Daemon.start({ config, pricer: testPricer(), log });
  t.teardown(() => second.stop());
  const count = async (): Promise<number> => Number((await influx.values('SELECT COUNT("event_id") FROM claude_call', 'fleet'))[0]?.[1] ?? 0);
  await waitFor(async () => (await count()) === CALLS, `all ${CALLS} calls in InfluxDB`);
  t.is((await influx.values('SELECT DISTINCT("event_id") FROM claude_call', 'fleet')).length, CALLS);
  await second.stop();
  t.false(lines.some((l) => l.level === 'error' || /not written before the stop/.test(l.msg)), lines.map((l) => `${l.level}: ${l.msg}`).join('\n'));
});
