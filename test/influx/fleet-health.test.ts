/**
 * A fleet's dead-letter and emitter-drop rules read every host's health points from InfluxDB.
 * Each host's counters restart at 0 with its daemon; one host restarting must not read as
 * new dead letters of the whole fleet. A daemon keeps its name (the points' `host` tag) with
 * its data folder, so a container re-created with a new host name is not a second host.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testWith } from '../helpers/external.js';
import { tempDir } from '../helpers/events.js';
import { tempHome, waitFor, writeEventFile } from '../helpers/event-files.js';
import { startInfluxd } from '../helpers/influxd.js';
import { testPricer } from '../helpers/test-pricer.js';
import { mixedWorkload } from '../daemon/workload.js';
import { Pipeline } from '../../src/daemon/pipeline.js';
import { instanceName } from '../../src/daemon/instance-name.js';
import { parseInfluxSettings } from '../../src/store/influx-config.js';
import { healthLine, type HealthPoint } from '../../src/store/influx-point-schema.js';
import { InfluxQueryApi } from '../../src/store/influx-query.js';
import { createRuleEngine } from '../../src/rules/rule-engine.js';
import { rulesFrom } from '../rules/helpers.js';
import { connection } from './harness.js';

const it = testWith('influxd');
const MIN = 60_000;

it('one host restarting (its counters back to 0) does not fire the fleet\'s dead-letter or descriptor-shortage rules; new dead letters and shortages still do', async (t) => {
  const influx = await startInfluxd();
  t.teardown(() => influx.dispose());
  await influx.createDatabase('fleet');
  const q = new InfluxQueryApi({ connection: connection(influx.url, 'fleet') });
  let ts = Date.now() - 10_000;
  const point = (host: string, deadLetters: number, drops = 0, shortages = 0): HealthPoint => ({
    host, ts: ts++, lagBytes: 0, oldestUnackedAgeSeconds: 0, deadLettersTotal: deadLetters, emitterDroppedEventsTotal: drops, eventsCommittedTotal: 1, sinkRetriesTotal: 0, sinkAuthFailed: false, unreadableFiles: 0, descriptorShortagesTotal: shortages,
  });
  const report = (...ps: HealthPoint[]): Promise<void> => influx.write('fleet', ps.map(healthLine).join('\n'));
  const rules = rulesFrom(`
rules:
  - { alert: DeadLetters, kind: pipeline_health, metric: dead_letters, window: 15m, threshold: 0 }
  - { alert: EmitterDrops, kind: pipeline_health, metric: emitter_dropped_events, window: 15m, threshold: 0 }
  - { alert: DescriptorShortages, kind: pipeline_health, metric: descriptor_shortages, window: 15m, threshold: 0 }
`);
  const engine = createRuleEngine({ query: q, rules, health: () => q.pipelineHealth() });
  t.teardown(() => engine.stop());
  const T = Date.now();

  await report(point('h1', 5, 3, 1), point('h2', 100, 40, 6));
  await engine.evaluateOnce(T);
  t.deepEqual(engine.alerts(), [], 'steady counters');

  // h2's daemon restarts: its counters start again at 0; h1 is unchanged.
  await report(point('h2', 0, 0, 0));
  const r = await engine.evaluateOnce(T + MIN);
  t.deepEqual(r.rules.map((x) => x.samples[0]?.value), [0, 0, 0]);
  t.deepEqual(engine.alerts(), [], 'a restart is not a dead letter, nor a shortage');

  // Then h2 dead-letters 2 lines and runs short of descriptors 3 times: the fleet's increases are 2 and 3.
  await report(point('h2', 2, 0, 3));
  const r2 = await engine.evaluateOnce(T + 2 * MIN);
  t.is(r2.rules[0]?.samples[0]?.value, 2);
  t.is(r2.rules[2]?.samples[0]?.value, 3);
  t.deepEqual(engine.alerts().map((a) => a.name).sort(), ['DeadLetters', 'DescriptorShortages']);
  t.deepEqual(await q.pipelineHealth().then((h) => [h.deadLettersTotal, h.emitterDroppedEventsTotal, h.descriptorShortagesTotal]), [7, 3, 4], 'the totals are still the sum of the latest samples');
});

it('the fleet\'s unreadable event files are the sum of each host\'s latest count, and unreadable_event_files fires on it until none is left', async (t) => {
  const influx = await startInfluxd();
  t.teardown(() => influx.dispose());
  await influx.createDatabase('fleet');
  const q = new InfluxQueryApi({ connection: connection(influx.url, 'fleet') });
  let ts = Date.now() - 10_000;
  const point = (host: string, unreadableFiles: number): HealthPoint => ({
    host, ts: ts++, lagBytes: 0, oldestUnackedAgeSeconds: 0, deadLettersTotal: 0, emitterDroppedEventsTotal: 0, eventsCommittedTotal: 1, sinkRetriesTotal: 0, sinkAuthFailed: false, unreadableFiles, descriptorShortagesTotal: 0,
  });
  const report = (...ps: HealthPoint[]): Promise<void> => influx.write('fleet', ps.map(healthLine).join('\n'));
  // A host whose daemon predates the field reports none: it adds nothing, and is no error.
  await influx.write('fleet', healthLine(point('old', 0)).replace(',unreadable_files=0i', ''));
  t.is((await q.pipelineHealth()).unreadableEventFiles, null);
  const rules = rulesFrom(`
rules:
  - { alert: UnreadableEventFiles, kind: pipeline_health, metric: unreadable_event_files, threshold: 0 }
`);
  const engine = createRuleEngine({ query: q, rules, health: () => q.pipelineHealth() });
  t.teardown(() => engine.stop());
  const T = Date.now();

  await report(point('h1', 2), point('h2', 1));
  t.is((await q.pipelineHealth()).unreadableEventFiles, 3);
  await engine.evaluateOnce(T);
  t.deepEqual(engine.alerts().map((a) => [a.name, a.value]), [['UnreadableEventFiles', 3]]);

  await report(point('h1', 0));
  await engine.evaluateOnce(T + MIN);
  t.deepEqual(engine.alerts().map((a) => [a.name, a.value]), [['UnreadableEventFiles', 1]], 'h2 still has one');

  await report(point('h2', 0));
  await engine.evaluateOnce(T + 2 * MIN);
  t.deepEqual(engine.alerts(), []);
});

test('the instance name: influxdb.instance when set, else the host name of the data folder\'s first start, kept there', (t) => {
  const data = tempDir(t);
  t.is(instanceName('web-1', data, undefined, 'container-a'), 'web-1');
  t.is(instanceName(null, data, undefined, 'container-a'), 'container-a');
  t.is(readFileSync(join(data, 'instance'), 'utf8'), 'container-a\n');
  // Re-created with a new host name over the same data folder: still the same daemon.
  t.is(instanceName(null, data, undefined, 'container-b'), 'container-a');
  t.is(instanceName('web-1', data, undefined, 'container-b'), 'web-1');
});

it('a daemon re-created with a new host name over the same data folder reports as the same host: its old lag leaves the fleet\'s sum', async (t) => {
  const influx = await startInfluxd();
  t.teardown(() => influx.dispose());
  await influx.createDatabase('fleet');
  const h = tempHome();
  t.teardown(h.cleanup);
  // The container before: its first start kept its host name; its last point had a backlog.
  writeFileSync(join(h.data, 'instance'), 'container-a\n');
  await influx.write('fleet', healthLine({
    host: 'container-a', ts: Date.now() - 20_000, lagBytes: 80_000_000, oldestUnackedAgeSeconds: 600, deadLettersTotal: 0, emitterDroppedEventsTotal: 0, eventsCommittedTotal: 10, sinkRetriesTotal: 0, sinkAuthFailed: false, unreadableFiles: 0, descriptorShortagesTotal: 0,
  }));
  // The container after (this process's host name): it reads the same files to the end.
  writeEventFile({ dir: h.events, calls: mixedWorkload(5), sealed: true });
  const influxSettings = parseInfluxSettings({ url: influx.url, api: 'v1', database: 'fleet', health_interval_ms: 0 }, null, {});
  const p = new Pipeline({ home: h.home, pricer: testPricer(), tailer: { pollIntervalMs: 20 }, influx: influxSettings });
  await p.start();
  t.teardown(() => p.stop());
  await waitFor(() => p.health().lagBytes === 0 && p.health().eventsCommitted === 5, 'the files read');
  t.true(await p.writeHealth());
  const q = new InfluxQueryApi({ connection: connection(influx.url, 'fleet') });
  const fleet = await q.pipelineHealth();
  t.is(fleet.tailLagBytes, 0, 'the old container\'s backlog is not summed with the new one\'s');
  t.deepEqual(Object.keys(fleet.byHost ?? {}), ['container-a']);
});
