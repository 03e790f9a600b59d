import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alertmanagerNotifier } from '../../src/notify/alertmanager.js';
import { deliver } from '../../src/notify/retry.js';
import { DEFAULT_ROUTING, type Notification, type Notifier } from '../../src/notify/types.js';
import { createRuleEngine } from '../../src/rules/rule-engine.js';
import { parseMatcher } from '../../src/rules/silences.js';
import { testWith } from '../helpers/external.js';
import { tempDir } from '../helpers/events.js';
import { listenedPort, takeReleasedPorts } from '../helpers/ports.js';
import { commit, errorCall, openStore, rulesFrom, spread } from '../rules/helpers.js';
import { noSleep, receiver, sampleNotification } from './helpers.js';

const AM = '/usr/bin/prometheus-alertmanager';
const test = testWith(AM);

/**
 * An Alertmanager on a port it binds itself (127.0.0.1:0), read from its "Listening on" line:
 * a port found free first could be taken by a concurrent test's server before it binds it.
 * Clustering is off, so it opens no cluster port either.
 */
async function startAlertmanager(t: import('ava').ExecutionContext, yaml = "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n"): Promise<string> {
  const dir = tempDir(t, 'claudescope-am-');
  const config = join(dir, 'alertmanager.yml');
  writeFileSync(config, yaml);
  const child = spawn(AM, [`--config.file=${config}`, `--storage.path=${join(dir, 'data')}`, '--web.listen-address=127.0.0.1:0', '--cluster.listen-address='], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let port: number | undefined;
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    port ??= listenedPort(stderr, /msg="Listening on"/);
  });
  t.teardown(() => new Promise<void>((r) => {
    if (child.exitCode !== null) return r();
    child.once('exit', () => r());
    child.kill('SIGTERM');
  }));
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`alertmanager exited: ${stderr}`);
    if (port !== undefined) {
      const url = `http://127.0.0.1:${port}`;
      try {
        if ((await fetch(`${url}/-/ready`)).ok) return url;
      } catch {
        // not ready yet
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`alertmanager did not become ready: ${stderr}`);
}

// Serial (so before the others): it changes how this process's servers close while it runs.
test.serial('an Alertmanager starts while every port this process finds free is taken before it is passed on', async (t) => {
  const squat = takeReleasedPorts();
  try {
    const url = await startAlertmanager(t);
    t.true((await fetch(`${url}/-/ready`)).ok);
  } finally {
    await squat.restore();
  }
});

test('alerts posted to a real Alertmanager arrive with their labels and annotations', async (t) => {
  const url = await startAlertmanager(t);
  const n = alertmanagerNotifier({ name: 'am', url });
  const r = await deliver(n, sampleNotification({ alerts: [{ ...sampleNotification().alerts[0]!, startsAt: Date.now() - 60_000 }] }), { sent: 0, failed: 0, retries: 0, permanentFailures: 0 }, noSleep);
  t.true(r.ok, r.error ?? '');
  const alerts = await (await fetch(`${url}/api/v2/alerts`)).json() as { labels: Record<string, string>; annotations: Record<string, string>; status: { state: string }; endsAt: string }[];
  t.is(alerts.length, 1);
  // Held firing for four re-post intervals (5 min each), not Alertmanager's 5 min resolve_timeout.
  const heldMin = (Date.parse(alerts[0]!.endsAt) - Date.now()) / 60_000;
  t.true(heldMin > 19 && heldMin <= 20, `endsAt ${alerts[0]!.endsAt}`);
  t.deepEqual(alerts[0]?.labels, { alertname: 'ClaudeHighErrorRate', severity: 'critical', model: 'claude-opus-4-5' });
  t.is(alerts[0]?.annotations['summary'], 'errors at 12%');
  t.is(alerts[0]?.status.state, 'active');
});

test('a resolved alert posted with endsAt is no longer active in Alertmanager', async (t) => {
  const url = await startAlertmanager(t);
  const n = alertmanagerNotifier({ name: 'am', url });
  const c = { sent: 0, failed: 0, retries: 0, permanentFailures: 0 };
  const base = sampleNotification().alerts[0]!;
  await deliver(n, sampleNotification({ alerts: [{ ...base, startsAt: Date.now() - 120_000 }] }), c, noSleep);
  await deliver(n, sampleNotification({ status: 'resolved', alerts: [{ ...base, status: 'resolved', startsAt: Date.now() - 120_000, endsAt: Date.now() - 1000 }] }), c, noSleep);
  const active = await (await fetch(`${url}/api/v2/alerts?active=true&inhibited=false&silenced=false&unprocessed=true`)).json() as unknown[];
  t.is(active.length, 0);
  t.is(c.sent, 2);
});

test('claudescope\'s silences mute its own notifiers, not an Alertmanager: a silenced alert keeps firing there, no "resolved" while it holds, no new firing when it ends', async (t) => {
  // Alertmanager notifies a webhook of ours, at once and with a repeat far beyond the test.
  const hook = await receiver(t);
  const url = await startAlertmanager(t, [
    'route:', "  receiver: 'hook'", '  group_by: [alertname]', '  group_wait: 100ms', '  group_interval: 500ms', '  repeat_interval: 1h',
    'receivers:', "  - name: 'hook'", '    webhook_configs:', `      - url: '${hook.url}/am'`, '        send_resolved: true', '',
  ].join('\n'));
  const store = openStore(t);
  const now = Date.now();
  commit(store, spread(60, now - 4 * 60_000, now + 5 * 60_000, errorCall()));
  // Re-posted every 1.5 s, so a posted alert is held 6 s: the silence below lasts longer.
  const am = alertmanagerNotifier({ name: 'am', url, routing: { repeatIntervalMs: 1500 } });
  const direct: Notifier & { got: Notification[] } = { name: 'direct', kind: 'test', routing: { ...DEFAULT_ROUTING }, got: [], async send(n) { this.got.push(n); } };
  const engine = createRuleEngine({
    query: store, notifiers: [am, direct], retry: noSleep,
    rules: rulesFrom('rules:\n  - alert: HighErrors\n    kind: error_rate\n    window: 5m\n    threshold: 5%\n'),
  });
  t.teardown(() => engine.stop());
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const amNotices = () => hook.got.map((g) => JSON.parse(g.body) as { status: string; alerts: { status: string }[] });
  const activeInAm = async () => ((await (await fetch(`${url}/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true`)).json()) as { status: { state: string } }[]).filter((a) => a.status.state === 'active').length;

  await engine.evaluateOnce();
  for (let i = 0; i < 50 && amNotices().length === 0; i++) await sleep(100);
  t.deepEqual(amNotices().map((b) => b.status), ['firing']);
  t.is(direct.got.length, 1);

  const silence = engine.addSilence([parseMatcher('alertname=HighErrors')], { durationMs: 60 * 60_000, comment: 'deploy' });
  // Ticks for 9 s, longer than a posted alert is held.
  for (const stop = Date.now() + 9000; Date.now() < stop;) {
    await engine.evaluateOnce();
    await sleep(750);
  }
  t.is(await activeInAm(), 1, 'still firing in Alertmanager while silenced');
  t.is(direct.got.length, 1, 'the silence still mutes the notifiers claudescope delivers to itself');

  t.true(engine.expireSilence(silence.id));
  for (let i = 0; i < 4; i++) {
    await engine.evaluateOnce();
    await sleep(750);
  }
  t.is(await activeInAm(), 1);
  t.deepEqual(amNotices().map((b) => b.status), ['firing'], 'Alertmanager notified neither "resolved" nor a second firing');
});
