import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon.js';
import { loadDaemonConfig } from '../../src/daemon/config.js';
import { createRuleEngine } from '../../src/rules/index.js';
import { byLabel, parseExposition, sumOf } from '../metrics/exposition.js';
import { startFakeApi } from '../../src/testing/index.js';
import { tempHome, waitFor } from '../helpers/event-files.js';
import { ADMIN_KEY, localPricer, runWorkload } from './helpers.js';

test('the daemon runs the scheduled reconciliation, stores it, exports the capture ratios and the default rules fire on low capture', async (t) => {
  const w = await runWorkload(t, { pipeline: false });
  const cfgPath = join(w.home, 'config.yaml');
  // A schedule that never comes due during the test: the run is triggered by hand.
  writeFileSync(cfgPath, `reconcile:\n  schedule: "0 0 1 1 *"\n  api: analytics\n  lookback_days: 1\n  base_url: ${w.api.url}\n`);
  const logs: string[] = [];
  const config = { ...loadDaemonConfig({ env: { CLAUDESCOPE_HOME: w.home, ANTHROPIC_ADMIN_KEY: ADMIN_KEY }, flags: { pollIntervalMs: 50 } }), listen: { host: '127.0.0.1', port: 0 } };
  t.is(config.reconcile?.schedule, '0 0 1 1 *');
  const d = await Daemon.start({ config, pricer: localPricer(), log: (level, msg, fields) => logs.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`), ruleSchedule: '0 0 1 1 *' });
  t.teardown(() => d.stop());
  await waitFor(() => d.pipeline.health().eventsInserted >= w.recordedCalls, 'calls stored');

  // Before any run: no capture series.
  let text = await (await fetch(`${d.url}/metrics`)).text();
  t.false(text.includes('claude_reconciliation_capture_ratio{'));

  const r = await d.reconcileJob!.runNow();
  t.truthy(r);
  t.is(r!.flagged_cells, 3);
  const stored = await d.pipeline.store!.reconciliationCapture();
  t.is(stored.length, 3);

  text = await (await fetch(`${d.url}/metrics`)).text();
  const m = parseExposition(text);
  for (const model of r!.models) {
    t.is(byLabel(m, 'claude_reconciliation_capture_ratio', 'model')[model.model!], model.token_capture!);
    t.is(byLabel(m, 'claude_reconciliation_cost_capture_ratio', 'model')[model.model!], model.cost_capture!);
  }
  t.true(text.includes('claude_reconciliation_last_run_timestamp_seconds'));
  t.false(text.includes(ADMIN_KEY));
  t.false(logs.join('\n').includes(ADMIN_KEY));
  t.true(logs.some((l) => l.startsWith('warn reconciliation: 3 cell(s) beyond')));

  // The default rules, evaluated by the rule engine over the daemon's store.
  const engine = createRuleEngine({ query: d.pipeline.query, rulesDirs: [join(process.cwd(), 'rules', 'reconcile.yaml')] });
  t.teardown(() => engine.stop());
  const ev = await engine.evaluateOnce();
  const active = (name: string): string[] => ev.rules.find((x) => x.rule === name)!.samples.filter((s) => s.active).map((s) => s.labels['model']!).sort();
  // Tokens: Haiku (the unread batch) is far below 95 %; Sonnet misses one small call (above 95 %).
  t.deepEqual(active('ClaudeReconciliationCaptureLow'), ['claude-haiku-5-5']);
  // Cost: Opus (stale price), Haiku (batch) and Sonnet (the missing call's output is expensive).
  t.deepEqual(active('ClaudeReconciliationCostCaptureLow'), ['claude-haiku-5-5', 'claude-opus-5-5', 'claude-sonnet-5-5']);
  const haiku = ev.rules.find((x) => x.rule === 'ClaudeReconciliationCaptureLow')!.samples.find((s) => s.labels['model'] === 'claude-haiku-5-5')!;
  t.is(haiku.value, r!.models.find((x) => x.model === 'claude-haiku-5-5')!.token_capture);
  t.is(haiku.state, 'firing');
});

test('a run with nothing recorded or billed exports when it finished all the same, though no model has a capture', async (t) => {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  const h = tempHome();
  t.teardown(() => h.cleanup());
  writeFileSync(join(h.home, 'config.yaml'), `reconcile:\n  schedule: "0 0 1 1 *"\n  api: analytics\n  lookback_days: 1\n  base_url: ${api.url}\n`);
  const config = { ...loadDaemonConfig({ env: { CLAUDESCOPE_HOME: h.home, ANTHROPIC_ADMIN_KEY: ADMIN_KEY }, flags: { pollIntervalMs: 50 } }), listen: { host: '127.0.0.1', port: 0 } };
  const d = await Daemon.start({ config, pricer: localPricer(), log: () => {}, ruleSchedule: '0 0 1 1 *' });
  t.teardown(() => d.stop());
  const r = await d.reconcileJob!.runNow();
  t.deepEqual(r?.models, []);
  const m = parseExposition(await (await fetch(`${d.url}/metrics`)).text());
  t.is(sumOf(m, 'claude_reconciliation_last_run_timestamp_seconds'), Date.parse(r!.finished_at) / 1000);
});
