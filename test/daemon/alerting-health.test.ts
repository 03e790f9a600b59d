/**
 * The daemon's own pipeline health as its `pipeline_health` rules read it: the tailer's counters
 * become the rule metrics, and the default rules fire on them.
 */
import test from 'ava';
import { join } from 'node:path';
import { pipelineHealthOf } from '../../src/daemon/alerting.js';
import { createRuleEngine } from '../../src/rules/rule-engine.js';
import { loadRules } from '../../src/rules/rule-loader.js';
import { MIN, T0, openStore } from '../rules/helpers.js';

const tailer = (descriptorShortages: number) => ({ lagBytes: 0, deadLettered: { invalid_json: 1 }, filesUnreadable: 0, descriptorShortages });

test('opens refused for want of descriptors become descriptor_shortages, and the default ClaudescopeDescriptorShortage rule fires on an increase', async (t) => {
  t.deepEqual(pipelineHealthOf(tailer(3), []), { tailLagBytes: 0, deadLettersTotal: 1, emitterDroppedEventsTotal: 0, influxAuthFailed: null, unreadableEventFiles: 0, descriptorShortagesTotal: 3 });
  t.is(pipelineHealthOf(null, []).descriptorShortagesTotal, null);

  const rules = loadRules([join(import.meta.dirname, '../../rules/claude.yaml')]).filter((r) => r.name === 'ClaudescopeDescriptorShortage');
  t.is(rules.length, 1);
  let shortages = 0;
  const engine = createRuleEngine({ query: openStore(t), rules, health: () => pipelineHealthOf(tailer(shortages), []) });
  t.teardown(() => engine.stop());
  await engine.evaluateOnce(T0);
  t.deepEqual(engine.alerts(), [], 'none yet');
  shortages = 2;
  await engine.evaluateOnce(T0 + MIN);
  t.deepEqual(engine.alerts().map((a) => [a.name, a.state]), [['ClaudescopeDescriptorShortage', 'firing']]);
  t.regex(engine.alerts()[0]!.annotations['summary']!, /ran out of file descriptors 2 times in the last 15m/);
  await engine.evaluateOnce(T0 + 17 * MIN);
  t.deepEqual(engine.alerts(), [], 'resolved once 15m passed without another');
});
