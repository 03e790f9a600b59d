/**
 * A fleet's dead-letter and emitter-drop rules read every host's health points from InfluxDB.
 * Each host's counters restart at 0 with its daemon; one host restarting must not read as
 * new dead letters of the whole fleet.
 */
import { testWith } from '../helpers/external.js';
import { startInfluxd } from '../helpers/influxd.js';
import { healthLine, type HealthPoint } from '../../src/store/influx-point-schema.js';
import { InfluxQueryApi } from '../../src/store/influx-query.js';
import { createRuleEngine } from '../../src/rules/rule-engine.js';
import { rulesFrom } from '../rules/helpers.js';
import { connection } from './harness.js';

const it = testWith('influxd');
const MIN = 60_000;

it('one host restarting (its counters back to 0) does not fire the fleet\'s dead-letter rule; new dead letters still do', async (t) => {
  const influx = await startInfluxd();
  t.teardown(() => influx.dispose());
  await influx.createDatabase('fleet');
  const q = new InfluxQueryApi({ connection: connection(influx.url, 'fleet') });
  let ts = Date.now() - 10_000;
  const point = (host: string, deadLetters: number, drops = 0): HealthPoint => ({
    host, ts: ts++, lagBytes: 0, oldestUnackedAgeSeconds: 0, deadLettersTotal: deadLetters, emitterDroppedEventsTotal: drops, eventsCommittedTotal: 1, sinkRetriesTotal: 0, sinkAuthFailed: false,
  });
  const report = (...ps: HealthPoint[]): Promise<void> => influx.write('fleet', ps.map(healthLine).join('\n'));
  const rules = rulesFrom(`
rules:
  - { alert: DeadLetters, kind: pipeline_health, metric: dead_letters, window: 15m, threshold: 0 }
  - { alert: EmitterDrops, kind: pipeline_health, metric: emitter_dropped_events, window: 15m, threshold: 0 }
`);
  const engine = createRuleEngine({ query: q, rules, health: () => q.pipelineHealth() });
  t.teardown(() => engine.stop());
  const T = Date.now();

  await report(point('h1', 5, 3), point('h2', 100, 40));
  await engine.evaluateOnce(T);
  t.deepEqual(engine.alerts(), [], 'steady counters');

  // h2's daemon restarts: its counters start again at 0; h1 is unchanged.
  await report(point('h2', 0, 0));
  const r = await engine.evaluateOnce(T + MIN);
  t.deepEqual(r.rules.map((x) => x.samples[0]?.value), [0, 0]);
  t.deepEqual(engine.alerts(), [], 'a restart is not a dead letter');

  // Then h2 dead-letters 2 lines: the fleet's increase is 2.
  await report(point('h2', 2, 0));
  const r2 = await engine.evaluateOnce(T + 2 * MIN);
  t.is(r2.rules[0]?.samples[0]?.value, 2);
  t.deepEqual(engine.alerts().map((a) => a.name), ['DeadLetters']);
  t.deepEqual(await q.pipelineHealth().then((h) => [h.deadLettersTotal, h.emitterDroppedEventsTotal]), [7, 3], 'the totals are still the sum of the latest samples');
});
