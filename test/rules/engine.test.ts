import test from 'ava';
import { emailNotifier } from '../../src/notify/email.js';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import type { Notification, Notifier } from '../../src/notify/types.js';
import type { QueryOptions } from '../../src/store/types.js';
import { DEFAULT_ROUTING } from '../../src/notify/types.js';
import { webhookNotifier } from '../../src/notify/webhook.js';
import { createRuleEngine } from '../../src/rules/rule-engine.js';
import { RuleFileError } from '../../src/rules/rule-schema.js';
import { activeSilenceIdFor, parseMatcher } from '../../src/rules/silences.js';
import { StateDb } from '../../src/rules/state-db.js';
import { tempDir } from '../helpers/events.js';
import { hangingReceiver, hangingSmtp, receiver } from '../notify/helpers.js';
import { MIN, T0, commit, errorCall, openStore, rulesFrom, spread } from './helpers.js';

function recorder(name = 'rec', routing: Partial<typeof DEFAULT_ROUTING> = {}): Notifier & { got: Notification[] } {
  const got: Notification[] = [];
  return { name, kind: 'test', routing: { ...DEFAULT_ROUTING, ...routing }, got, async send(n) { got.push(n); } };
}

const ERRORS = (extra = '') => rulesFrom(`
rules:
  - alert: HighErrors
    kind: error_rate
    window: 5m
    min_calls: 10
    threshold: 5%
    group_by: [model]
${extra}
`);

test('for: pending until the condition held long enough, then firing', async (t) => {
  const store = openStore(t);
  commit(store, spread(60, T0 - 5 * MIN, T0 + 10 * MIN, errorCall()));
  const rec = recorder();
  const engine = createRuleEngine({ query: store, rules: ERRORS('    for: 2m'), notifiers: [rec] });
  t.teardown(() => engine.stop());
  await engine.evaluateOnce(T0);
  t.is(engine.alerts(T0)[0]?.state, 'pending');
  await engine.evaluateOnce(T0 + MIN);
  t.is(engine.alerts()[0]?.state, 'pending');
  t.is(rec.got.length, 0, 'pending alerts are not notified');
  await engine.evaluateOnce(T0 + 2 * MIN);
  t.is(engine.alerts()[0]?.state, 'firing');
  t.is(rec.got.length, 1);
});

test('for: a pending alert whose condition clears is dropped without a notification', async (t) => {
  const store = openStore(t);
  commit(store, spread(20, T0 - 5 * MIN, T0, errorCall()));
  const rec = recorder();
  const engine = createRuleEngine({ query: store, rules: ERRORS('    for: 10m'), notifiers: [rec] });
  t.teardown(() => engine.stop());
  await engine.evaluateOnce(T0);
  t.is(engine.alerts()[0]?.state, 'pending');
  await engine.evaluateOnce(T0 + 6 * MIN);
  t.deepEqual(engine.alerts(), []);
  t.is(rec.got.length, 0);
});

test('keep_firing_for: keeps firing after the condition cleared, then resolves with a notification', async (t) => {
  const store = openStore(t);
  commit(store, spread(20, T0 - 5 * MIN, T0, errorCall()));
  const rec = recorder();
  const engine = createRuleEngine({ query: store, rules: ERRORS('    keep_firing_for: 10m'), notifiers: [rec] });
  t.teardown(() => engine.stop());
  await engine.evaluateOnce(T0);
  await engine.evaluateOnce(T0 + 6 * MIN);
  t.is(engine.alerts()[0]?.state, 'firing');
  await engine.evaluateOnce(T0 + 9 * MIN);
  t.is(engine.alerts()[0]?.state, 'firing');
  await engine.evaluateOnce(T0 + 10 * MIN);
  t.deepEqual(engine.alerts(), []);
  t.deepEqual(rec.got.map((n) => n.status), ['firing', 'resolved']);
  t.is(rec.got[1]?.alerts[0]?.status, 'resolved');
});

test('repeat_interval: a still-firing group is sent again only after the interval', async (t) => {
  const store = openStore(t);
  commit(store, spread(400, T0 - 5 * MIN, T0 + 60 * MIN, errorCall()));
  const rec = recorder('rec', { repeatIntervalMs: 30 * MIN });
  const engine = createRuleEngine({ query: store, rules: ERRORS(), notifiers: [rec] });
  t.teardown(() => engine.stop());
  for (let m = 0; m <= 30; m += 5) await engine.evaluateOnce(T0 + m * MIN);
  t.is(rec.got.length, 2);
});

test('alerts of one group go out in one notification', async (t) => {
  const store = openStore(t);
  commit(store, [...spread(20, T0 - 5 * MIN, T0, errorCall()), ...spread(20, T0 - 5 * MIN, T0, errorCall('overloaded_error', { model: 'claude-test-2' }))]);
  const rec = recorder();
  const engine = createRuleEngine({ query: store, rules: ERRORS(), notifiers: [rec] });
  t.teardown(() => engine.stop());
  await engine.evaluateOnce(T0);
  t.is(rec.got.length, 1);
  t.deepEqual(rec.got[0]?.alerts.map((a) => a.labels['model']).sort(), ['claude-test-1', 'claude-test-2']);
  t.deepEqual(rec.got[0]?.groupLabels, { alertname: 'HighErrors' });
});

test('silences hold back notifications of matching alerts until they expire', async (t) => {
  const store = openStore(t);
  commit(store, spread(100, T0 - 5 * MIN, T0 + 30 * MIN, errorCall()));
  const rec = recorder();
  const now = { t: T0 };
  const engine = createRuleEngine({ query: store, rules: ERRORS(), notifiers: [rec], clock: () => now.t });
  t.teardown(() => engine.stop());
  const s = engine.addSilence([parseMatcher('alertname=HighErrors'), parseMatcher('model=~claude-.*')], { durationMs: 10 * MIN, comment: 'deploy' });
  await engine.evaluateOnce(T0);
  t.is(rec.got.length, 0);
  t.is(engine.alerts(T0)[0]?.silencedBy, s.id);
  now.t = T0 + 5 * MIN;
  t.true(engine.expireSilence(s.id));
  await engine.evaluateOnce(T0 + 5 * MIN);
  t.is(rec.got.length, 1);
});

test('a silence holds back its alerts from the notifiers claudescope delivers itself, not from an Alertmanager, which silences on its own side', async (t) => {
  const store = openStore(t);
  commit(store, spread(100, T0 - 5 * MIN, T0 + 30 * MIN, errorCall()));
  const rec = recorder();
  const am = { ...recorder('am', { repeatIntervalMs: 5 * MIN }), kind: 'alertmanager' };
  const engine = createRuleEngine({ query: store, rules: ERRORS(), notifiers: [rec, am], clock: () => T0 });
  t.teardown(() => engine.stop());
  engine.addSilence([parseMatcher('alertname=HighErrors')], { durationMs: 60 * MIN, startsAt: T0 });
  for (let m = 0; m <= 10; m += 5) await engine.evaluateOnce(T0 + m * MIN);
  t.is(rec.got.length, 0);
  t.deepEqual(am.got.map((n) => n.alerts.map((a) => a.status)), [['firing'], ['firing'], ['firing']], 'posted when it fires, then re-posted at each interval');
});

test('does not notify twice after a restart, and remembers the firing alert', async (t) => {
  const store = openStore(t);
  const statePath = join(tempDir(t), 'alerts.db');
  commit(store, spread(100, T0 - 5 * MIN, T0 + 30 * MIN, errorCall()));
  const r = await receiver(t);
  const mk = () => createRuleEngine({ query: store, rules: ERRORS(), notifiers: [webhookNotifier({ name: 'hook', url: r.url })], statePath });
  const first = mk();
  await first.evaluateOnce(T0);
  t.is(r.got.length, 1);
  await first.stop();
  const second = mk();
  t.teardown(() => second.stop());
  t.is(second.alerts(T0)[0]?.state, 'firing', 'state survived the restart');
  t.is(second.alerts(T0)[0]?.firedAt, T0);
  await second.evaluateOnce(T0 + MIN);
  await second.evaluateOnce(T0 + 2 * MIN);
  t.is(r.got.length, 1, 'no second notification');
});

test('a notifier that is down does not stop evaluation, and the notification goes out once it is back', async (t) => {
  const store = openStore(t);
  commit(store, spread(100, T0 - 5 * MIN, T0 + 30 * MIN, errorCall()));
  const r = await receiver(t, [503, 503, 503, 200]);
  const rec = recorder('ok');
  const engine = createRuleEngine({
    query: store, rules: ERRORS(), notifiers: [webhookNotifier({ name: 'hook', url: r.url }), rec],
    retry: { attempts: 3, sleep: async () => {}, baseDelayMs: 1 },
  });
  t.teardown(() => engine.stop());
  const res = await engine.evaluateOnce(T0);
  t.is(engine.alerts()[0]?.state, 'firing');
  t.is(res.dispatch?.failed, 1);
  t.is(rec.got.length, 1, 'the other notifier still got it');
  t.is(engine.metrics().notifications['hook']?.failed, 1);
  await engine.evaluateOnce(T0 + MIN);
  t.is(r.got.length, 4);
  t.is(engine.metrics().notifications['hook']?.sent, 1);
  await engine.evaluateOnce(T0 + 2 * MIN);
  t.is(r.got.length, 4, 'sent once, not again');
});

test('a notifier still delivering (a receiver that hangs) does not hold back the other notifiers\' next notifications', async (t) => {
  const store = openStore(t);
  commit(store, spread(20, T0 - 5 * MIN, T0, errorCall('overloaded_error', { model: 'claude-a' })));
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const slowGot: Notification[] = [];
  const slow: Notifier = { name: 'slow', kind: 'test', routing: DEFAULT_ROUTING, async send(n) { await gate; slowGot.push(n); } };
  const rec = recorder('rec');
  const now = { t: T0 };
  const engine = createRuleEngine({ query: store, rules: ERRORS(), notifiers: [slow, rec], clock: () => now.t });
  t.teardown(async () => {
    release();
    await engine.stop();
  });
  const settle = () => new Promise((r) => setTimeout(r, 50));
  await engine.tick();
  await settle();
  t.is(rec.got.length, 1);
  // A second model starts failing while the slow notifier is still on the first notification.
  commit(store, spread(20, T0, T0 + MIN, errorCall('overloaded_error', { model: 'claude-b' })));
  now.t = T0 + MIN;
  await engine.tick();
  await settle();
  t.is(rec.got.length, 2, 'the healthy notifier got the new alert at once');
  t.deepEqual(rec.got[1]!.alerts.map((a) => a.labels['model']).sort(), ['claude-a', 'claude-b']);
  t.is(slowGot.length, 0);
  // Once free, the slow one catches up at its next dispatch, with both alerts, once.
  release();
  await settle();
  t.is(slowGot.length, 1);
  now.t = T0 + 2 * MIN;
  await engine.tick();
  await settle();
  t.is(slowGot.length, 2);
  t.deepEqual(slowGot[1]!.alerts.map((a) => a.labels['model']).sort(), ['claude-a', 'claude-b']);
  t.is(rec.got.length, 2, 'nothing new for the healthy one');
});

test('stopping ends a delivery in flight at once, without its retries, and the next start sends it', async (t) => {
  const store = openStore(t);
  commit(store, spread(100, T0 - 5 * MIN, T0 + 30 * MIN, errorCall()));
  // A receiver that takes every request and never answers.
  const { url, held } = await hangingReceiver(t);
  const statePath = join(tempDir(t), 'state.db');
  // The default retries: 4 attempts of up to 10 s each, with backoff between them.
  const first = createRuleEngine({ query: store, rules: ERRORS(), notifiers: [webhookNotifier({ name: 'hook', url })], statePath, clock: () => T0 });
  await first.tick();
  while (held.length === 0) await new Promise((r) => setTimeout(r, 10));
  const t0 = performance.now();
  await first.stop();
  const stopMs = performance.now() - t0;
  t.true(stopMs < 5000, `stop took ${Math.round(stopMs)} ms`);
  t.is(held.length, 1, 'no retry after the stop');
  t.like(first.metrics().notifications['hook'], { sent: 0, failed: 0, retries: 0 }, 'neither failed nor retried: stopped');
  const r = await receiver(t, [200]);
  const second = createRuleEngine({ query: store, rules: ERRORS(), notifiers: [webhookNotifier({ name: 'hook', url: r.url })], statePath });
  t.teardown(() => second.stop());
  await second.evaluateOnce(T0 + MIN);
  t.is(r.got.length, 1, 'the notification the stop cut short is sent by the next start');
});

test('a pending alert that was not observed while the daemon was down starts its for over after the restart', async (t) => {
  const store = openStore(t);
  commit(store, spread(400, T0 - 5 * MIN, T0 + 3 * 60 * MIN, errorCall()));
  const statePath = join(tempDir(t), 'state.db');
  const first = createRuleEngine({ query: store, rules: ERRORS('    for: 10m'), statePath });
  await first.evaluateOnce(T0);
  t.is(first.alerts(T0)[0]?.state, 'pending');
  await first.stop();
  // Two hours down: the condition was never seen to hold through them.
  const second = createRuleEngine({ query: store, rules: ERRORS('    for: 10m'), statePath });
  t.teardown(() => second.stop());
  await second.evaluateOnce(T0 + 120 * MIN);
  t.is(second.alerts(T0 + 120 * MIN)[0]?.state, 'pending', 'not firing at the first evaluation after the restart');
  await second.evaluateOnce(T0 + 125 * MIN);
  t.is(second.alerts(T0 + 125 * MIN)[0]?.state, 'pending');
  await second.evaluateOnce(T0 + 130 * MIN);
  t.is(second.alerts(T0 + 130 * MIN)[0]?.state, 'firing', 'firing once held for 10 min since the restart');
});

test('evaluations further apart than for (a slow schedule, no restart) fire a pending alert at the next one', async (t) => {
  const store = openStore(t);
  commit(store, spread(400, T0 - 5 * MIN, T0 + 60 * MIN, errorCall()));
  const engine = createRuleEngine({ query: store, rules: ERRORS('    for: 5m') });
  t.teardown(() => engine.stop());
  await engine.evaluateOnce(T0);
  t.is(engine.alerts(T0)[0]?.state, 'pending');
  await engine.evaluateOnce(T0 + 10 * MIN);
  t.is(engine.alerts(T0 + 10 * MIN)[0]?.state, 'firing');
});

test('stopping ends an email delivery to an SMTP server that hangs at once', async (t) => {
  const store = openStore(t);
  commit(store, spread(100, T0 - 5 * MIN, T0 + 30 * MIN, errorCall()));
  // Greets, then answers nothing (nodemailer would wait out its 20 s socket timeout).
  const { port, sockets } = await hangingSmtp(t);
  const mail = emailNotifier({ name: 'mail', host: '127.0.0.1', port, from: 'a@example.com', to: ['b@example.com'] });
  const engine = createRuleEngine({ query: store, rules: ERRORS(), notifiers: [mail], clock: () => T0 });
  await engine.tick();
  while (sockets.length === 0) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 100));
  const t0 = performance.now();
  await engine.stop();
  const stopMs = performance.now() - t0;
  t.true(stopMs < 5000, `stop took ${Math.round(stopMs)} ms`);
  t.like(engine.metrics().notifications['mail'], { sent: 0, failed: 0, retries: 0 });
});

test('stopping during an evaluation ends the read in progress and drops the evaluation: nothing saved or notified, no rule failure reported', async (t) => {
  const store = openStore(t);
  commit(store, spread(100, T0 - 5 * MIN, T0 + 30 * MIN, errorCall()));
  const statePath = join(tempDir(t), 'state.db');
  // HighErrors answers (and fires); Headroom's read then hangs until its signal aborts. Were the
  // stop to wait for it instead, the read would fail after 3 s.
  let reading = false;
  const query = {
    ...bind(store),
    latestRateLimits: (_filter?: { model?: string }, o?: QueryOptions) => new Promise<never>((_resolve, reject) => {
      reading = true;
      const timer = setTimeout(() => reject(new Error('no answer within 3000 ms')), 3000);
      o?.signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new Error('cancelled'));
      }, { once: true });
    }),
  };
  const rules = rulesFrom(`
rules:
  - { alert: HighErrors, kind: error_rate, window: 5m, min_calls: 10, threshold: 5%, group_by: [model] }
  - { alert: Headroom, kind: rate_limit_headroom, threshold: 10% }
`);
  const rec = recorder();
  const errors: string[] = [];
  const infos: string[] = [];
  const first = createRuleEngine({ query, rules, notifiers: [rec], statePath, clock: () => T0, onError: (m) => errors.push(m), onInfo: (m) => infos.push(m) });
  const ticked = first.tick();
  while (!reading) await new Promise((r) => setTimeout(r, 10));
  const t0 = performance.now();
  await first.stop();
  await ticked;
  const stopMs = performance.now() - t0;
  t.true(stopMs < 1000, `stop took ${Math.round(stopMs)} ms`);
  t.deepEqual(errors, []);
  t.is(infos.length, 1, infos.join('\n'));
  t.regex(infos[0] ?? '', /stopped during the evaluation \(at rule Headroom\): nothing of it was saved or notified/);
  t.is(rec.got.length, 0, 'no notification from a partial evaluation');
  t.like(first.metrics(), { evaluations: 0, ruleFailures: 0 });
  // Nothing saved: the next start finds no alert, evaluates anew and notifies.
  const rec2 = recorder();
  const second = createRuleEngine({ query: bind(store), rules, notifiers: [rec2], statePath, clock: () => T0 });
  t.teardown(() => second.stop());
  t.deepEqual(second.alerts(T0), []);
  await second.evaluateOnce(T0);
  t.is(rec2.got.length, 1);
  t.is(second.alerts(T0)[0]?.name, 'HighErrors');
});

test('an evaluation in progress, or one the stop dropped, is not shown: alerts() and metrics() show the last saved state, during the stop and after it', async (t) => {
  const store = openStore(t);
  commit(store, spread(100, T0 - 5 * MIN, T0 + 30 * MIN, errorCall()));
  // The state outlives the engine (the engine closes only a state it opened), so what it
  // shows after the stop can be read.
  const state = StateDb.open(join(tempDir(t), 'state.db'));
  t.teardown(() => state.close());
  // HighErrors answers (its alert would start pending); Headroom's read hangs until the stop.
  let reading = false;
  const query = {
    ...bind(store),
    latestRateLimits: (_filter?: { model?: string }, o?: QueryOptions) => new Promise<never>((_resolve, reject) => {
      reading = true;
      o?.signal?.addEventListener('abort', () => reject(new Error('cancelled')), { once: true });
    }),
  };
  const rules = rulesFrom(`
rules:
  - { alert: HighErrors, kind: error_rate, window: 5m, min_calls: 10, threshold: 5%, for: 5m, group_by: [model] }
  - { alert: Headroom, kind: rate_limit_headroom, threshold: 10% }
`);
  const engine = createRuleEngine({ query, rules, stateDb: state, clock: () => T0 });
  const ticked = engine.tick();
  while (!reading) await new Promise((r) => setTimeout(r, 10));
  // HighErrors is evaluated, Headroom is not: nothing of this evaluation is shown yet.
  t.deepEqual(engine.alerts(T0), [], 'an evaluation in progress');
  t.like(engine.metrics(), { alertsPending: 0, alertsFiring: 0 });
  const stopped = engine.stop();
  t.deepEqual(engine.alerts(T0), [], 'during the stop');
  t.like(engine.metrics(), { alertsPending: 0, alertsFiring: 0 });
  await stopped;
  await ticked;
  t.deepEqual(engine.alerts(T0), [], 'after the stop');
  t.like(engine.metrics(), { evaluations: 0, alertsPending: 0, alertsFiring: 0 });
  t.deepEqual(engine.lastResults(), { at: null, rules: [] });
  t.deepEqual(state.loadAlerts(), [], 'nothing saved');

  // The next start evaluates anew: the alert is pending from then, as it would have been.
  const second = createRuleEngine({ query: bind(store), rules, stateDb: state, clock: () => T0 + MIN });
  t.teardown(() => second.stop());
  await second.evaluateOnce(T0 + MIN);
  t.like(second.alerts(T0 + MIN)[0], { name: 'HighErrors', state: 'pending', activeAt: T0 + MIN });
});

test('a rule that throws is counted and the other rules still evaluate', async (t) => {
  const store = openStore(t);
  commit(store, spread(20, T0 - 5 * MIN, T0, errorCall()));
  const query = { ...bind(store), latestRateLimits: () => Promise.reject(new Error('store unavailable')) };
  const rules = rulesFrom(`
rules:
  - { alert: Headroom, kind: rate_limit_headroom, threshold: 10% }
  - { alert: HighErrors, kind: error_rate, threshold: 5% }
`);
  const engine = createRuleEngine({ query, rules });
  t.teardown(() => engine.stop());
  const res = await engine.evaluateOnce(T0);
  t.is(res.rules[0]?.error, 'store unavailable');
  t.is(engine.alerts()[0]?.name, 'HighErrors');
  t.is(engine.metrics().ruleFailures, 1);
});

test('overlapping cron ticks are skipped, not stacked', async (t) => {
  const store = openStore(t);
  let release: () => void = () => {};
  let calls = 0;
  const gate = new Promise<void>((r) => (release = r));
  const q = bind(store);
  const query = { ...q, aggregate: async (x: Parameters<typeof q.aggregate>[0]) => { calls++; await gate; return q.aggregate(x); } };
  const engine = createRuleEngine({ query, rules: ERRORS(), clock: () => T0 });
  t.teardown(() => engine.stop());
  const first = engine.tick();
  await engine.tick();
  await engine.tick();
  release();
  await first;
  t.is(calls, 1);
  t.is(engine.metrics().skippedTicks, 2);
  t.is(engine.metrics().evaluations, 1);
});

test('a malformed rule file is refused at start with file, line and field', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'bad.yaml'), 'rules:\n  - alert: HighErrors\n    kind: error_rate\n    window: five minutes\n    threshold: 5%\n');
  const err = t.throws(() => createRuleEngine({ query: bindless(), rulesDirs: [dir] }), { instanceOf: RuleFileError });
  t.regex(err?.message ?? '', /bad\.yaml:4: rules\[0\]\.window: must be a duration/);
});

test('rule settings that cannot mean what they say are refused: a ratio threshold past 1, an empty threshold, $value in a label', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'bad.yaml'), [
    'rules:',
    '  - { alert: Errors, kind: error_rate, threshold: 5 }',
    '  - { alert: Headroom, kind: rate_limit_headroom, threshold: 10 }',
    '  - alert: Empty',
    '    kind: error_rate',
    '    threshold:',
    '  - { alert: Moving, kind: error_rate, threshold: 5%, labels: { rate: "{{ $value }}", other: "{{ .Value }}" } }',
    '  - { alert: Fine, kind: error_rate, threshold: 0.05, annotations: { summary: "{{ $value }}" } }',
    '',
  ].join('\n'));
  const err = t.throws(() => createRuleEngine({ query: bindless(), rulesDirs: [dir] }), { instanceOf: RuleFileError });
  const msg = err?.message ?? '';
  t.regex(msg, /bad\.yaml:2: rules\[0\]\.threshold: is a ratio for kind error_rate/);
  t.regex(msg, /bad\.yaml:3: rules\[1\]\.threshold: is a ratio for kind rate_limit_headroom/);
  t.regex(msg, /rules\[2\]\.threshold: is required/);
  t.regex(msg, /rules\[3\]\.labels\.rate: labels must not use \$value/);
  t.regex(msg, /rules\[3\]\.labels\.other: labels must not use \$value/);
  t.notRegex(msg, /rules\[4\]/);
});

test('fields a rule kind has no use for are refused, saying why', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'bad.yaml'), [
    'rules:',
    '  - { alert: Budget, kind: budget, threshold: 80%, window: 1h }',
    '  - { alert: Lag, kind: pipeline_health, metric: tail_lag_bytes, threshold: 1000, min_calls: 10 }',
    '  - { alert: Headroom, kind: rate_limit_headroom, threshold: 10%, group_by: [feature] }',
    '',
  ].join('\n'));
  const err = t.throws(() => createRuleEngine({ query: bindless(), rulesDirs: [dir] }), { instanceOf: RuleFileError });
  const msg = err?.message ?? '';
  t.regex(msg, /bad\.yaml:2: rules\[0\]\.window: not used by kind budget: a budget covers its period/);
  t.regex(msg, /bad\.yaml:3: rules\[1\]\.min_calls: not used by kind pipeline_health: it counts no calls, so it would never fire/);
  t.regex(msg, /bad\.yaml:4: rules\[2\]\.group_by: not used by kind rate_limit_headroom/);
});

test('value, per and measure refuse keys their op has no use for, naming the keys it takes (percentile: 99 is p: 99)', (t) => {
  const err = t.throws(() => rulesFrom([
    'rules:',
    '  - { alert: A, kind: threshold, threshold: 1, value: { op: count, bogus: 1 } }',
    '  - { alert: B, kind: threshold, threshold: 1, value: { op: percentile, field: duration_ms, percentile: 99 } }',
    '  - { alert: C, kind: spike, threshold: 3, measure: { op: sum, field: output_tokens, filter: { model: x } } }',
    '  - { alert: D, kind: threshold, threshold: 1, value: { op: count }, per: { op: count_where, filter: { model: x }, field: cost_usd } }',
    '  - { alert: E, kind: threshold, threshold: 1, value: { op: percentile, field: ttft_ms, p: 99 }, per: { op: sum, field: cost_usd } }',
    '',
  ].join('\n')), { instanceOf: RuleFileError });
  const msg = err?.message ?? '';
  t.regex(msg, /test\.yaml:2: rules\[0\]\.value\.bogus: unknown field \(value with op count takes op\)/);
  t.regex(msg, /test\.yaml:3: rules\[1\]\.value\.percentile: unknown field \(value with op percentile takes op, field, p\): the percentile is p, such as p: 99/);
  t.regex(msg, /test\.yaml:4: rules\[2\]\.measure\.filter: unknown field \(measure with op sum takes op, field\)/);
  t.regex(msg, /test\.yaml:5: rules\[3\]\.per\.field: unknown field \(per with op count_where takes op, filter\)/);
  t.notRegex(msg, /rules\[4\]/);
});

function bind(store: ReturnType<typeof openStore>) {
  return {
    aggregate: store.aggregate.bind(store), series: store.series.bind(store), latestRateLimits: store.latestRateLimits.bind(store),
    recentCalls: store.recentCalls.bind(store), call: store.call.bind(store),
  };
}

function bindless() {
  const no = () => Promise.reject(new Error('unused'));
  return { aggregate: no, series: no, latestRateLimits: no, recentCalls: no, call: no };
}

test('expiring a silence by id takes its exact id or a prefix naming it alone, never a pattern', (t) => {
  const dir = tempDir(t);
  const db = StateDb.open(join(dir, 'state.db'));
  t.teardown(() => db.close());
  const silence = (id: string) => ({ id, matchers: [parseMatcher('alertname=X')], startsAt: T0, endsAt: T0 + 60 * MIN, createdBy: 'me', comment: '' });
  for (const id of ['abc123', 'abc456', 'zzz789']) db.addSilence(silence(id));
  const active = () => db.silences().filter((s) => s.endsAt > T0 + MIN).map((s) => s.id).sort();
  t.false(db.expireSilence('%', T0 + MIN), 'a LIKE pattern is no id');
  t.false(db.expireSilence('abc', T0 + MIN), 'a prefix of two');
  t.false(db.expireSilence('', T0 + MIN));
  t.deepEqual(active(), ['abc123', 'abc456', 'zzz789']);
  t.is(db.silenceIdFor('abc4', T0 + MIN), 'abc456', 'the full id a prefix names');
  t.is(db.silenceIdFor('zzz789', T0 + MIN), 'zzz789');
  t.is(db.silenceIdFor('abc', T0 + MIN), null);
  t.is(activeSilenceIdFor(db.silences(), 'abc4', T0 + MIN), 'abc456', 'the same from a list of silences (what the daemon serves)');
  t.is(activeSilenceIdFor(db.silences(), 'abc', T0 + MIN), null);
  t.is(activeSilenceIdFor(db.silences(), '', T0 + MIN), null);
  t.is(activeSilenceIdFor(db.silences(), 'zzz789', T0 + 61 * MIN), null, 'an ended silence is no longer named');
  t.true(db.expireSilence('abc4', T0 + MIN));
  t.true(db.expireSilence('zzz789', T0 + MIN));
  t.deepEqual(active(), ['abc123']);
  // abc456 has ended: 'abc' now names one active silence.
  t.true(db.expireSilence('abc', T0 + 2 * MIN));
  t.deepEqual(db.silences().filter((s) => s.endsAt > T0 + 2 * MIN).map((s) => s.id), []);
});

test('changing a notifier\'s group_by across a restart does not report still-firing alerts resolved', async (t) => {
  const store = openStore(t);
  const statePath = join(tempDir(t), 'alerts.db');
  commit(store, spread(100, T0 - 5 * MIN, T0 + 30 * MIN, errorCall()));
  const r = await receiver(t);
  const mk = (groupBy: string[]) => createRuleEngine({ query: store, rules: ERRORS(), notifiers: [webhookNotifier({ name: 'hook', url: r.url, routing: { groupBy } })], statePath });
  const first = mk(['alertname']);
  await first.evaluateOnce(T0);
  t.is(r.got.length, 1);
  await first.stop();
  const second = mk(['alertname', 'model']);
  t.teardown(() => second.stop());
  await second.evaluateOnce(T0 + MIN);
  const bodies = r.got.slice(1).map((g) => JSON.parse(g.body) as { status: string; alerts: { status: string }[] });
  t.false(bodies.some((b) => b.alerts.some((a) => a.status === 'resolved')), 'the alert still fires: no resolved notification');
  // Once it really resolves, the receiver hears it, once.
  await second.evaluateOnce(T0 + 60 * MIN);
  const resolved = r.got.map((g) => JSON.parse(g.body) as { alerts: { status: string }[] }).filter((b) => b.alerts.some((a) => a.status === 'resolved'));
  t.is(resolved.length, 1);
});

test('a rule\'s repeat_interval overrides the notifier\'s, longer as well as shorter', async (t) => {
  const store = openStore(t);
  commit(store, spread(2000, T0 - 5 * MIN, T0 + 10 * 60 * MIN, errorCall()));
  const longer = recorder('longer', { repeatIntervalMs: 60 * MIN });
  const engine = createRuleEngine({ query: store, rules: ERRORS('    repeat_interval: 4h'), notifiers: [longer] });
  t.teardown(() => engine.stop());
  for (let m = 0; m <= 5 * 60; m += 30) await engine.evaluateOnce(T0 + m * MIN);
  t.is(longer.got.length, 2, 'at 0 and after 4h, not every hour');
  const shorter = recorder('shorter', { repeatIntervalMs: 4 * 60 * MIN });
  const engine2 = createRuleEngine({ query: store, rules: ERRORS('    repeat_interval: 1h'), notifiers: [shorter] });
  t.teardown(() => engine2.stop());
  for (let m = 0; m <= 2 * 60; m += 30) await engine2.evaluateOnce(T0 + m * MIN);
  t.is(shorter.got.length, 3, 'at 0, 1h and 2h');
});
