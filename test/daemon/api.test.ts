import test from 'ava';
import { request as httpRequest } from 'node:http';
import type { ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempHome, writeEventFile, waitFor } from '../helpers/event-files.js';
import { testPricer } from '../helpers/test-pricer.js';
import { testWith } from '../helpers/external.js';
import { takeReleasedPorts } from '../helpers/ports.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { loadDaemonConfig, type DaemonConfig } from '../../src/daemon/config.js';
import { parseExposition, promtoolCheck, sumOf } from '../metrics/exposition.js';
import { mixedWorkload } from './workload.js';

const TOKEN = 'api-test-token-0123456789abcdef';
const SECRETS = {
  smtpPassword: 'smtp-password-never-shown-7f3a',
  webhookSecret: 'webhook-hmac-secret-never-shown-91c2',
  slackPath: 'T000/B000/slack-path-never-shown-55d1',
};

async function start(t: ExecutionContext, over: Partial<DaemonConfig> = {}, events = mixedWorkload(70)): Promise<Daemon> {
  const h = tempHome();
  t.teardown(h.cleanup);
  writeEventFile({ dir: h.events, calls: events, sealed: true });
  const base = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: h.home }, flags: { pollIntervalMs: 50 } });
  const daemon = await Daemon.start({ config: { ...base, listen: { host: '127.0.0.1', port: 0 }, budgets: { dailyUsd: 5, monthlyUsd: 100, perFeature: {} }, ...over }, pricer: testPricer(), log: () => {} });
  t.teardown(() => daemon.stop());
  await waitFor(() => daemon.pipeline.health().eventsInserted === events.length, 'events stored');
  return daemon;
}

const get = async (d: Daemon, path: string): Promise<{ status: number; body: Record<string, unknown> }> => {
  const r = await fetch(`${d.url}${path}`);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};

test('the API refuses unknown parameters, bad times, bad ranges and bad steps with a 400 saying what is wrong', async (t) => {
  const d = await start(t);
  const cases: [string, RegExp][] = [
    ['/api/summary?form=now-1h', /unknown query parameter "form" \(known: from, to\)/],
    ['/api/summary?from=yesterday', /from: expected epoch milliseconds, an ISO 8601 time with its zone, now or now-24h, got "yesterday"/],
    ['/api/summary?from=2026-01-01T00:00:00', /from: "2026-01-01T00:00:00" has no time zone: add Z/],
    ['/api/summary?from=2026-02-31', /from: expected epoch milliseconds, .*, got "2026-02-31"/],
    ['/api/summary?from=now-1h&to=now-2h', /bad range: from .* must be before to/],
    ['/api/summary?from=now-3000d', /bad range: 3000 days is longer than the 400 days allowed/],
    ['/api/summary?from=now-1h&from=now-2h', /given twice/],
    ['/api/summary?from=now-1x', /not now-<duration>/],
    ['/api/timeseries?step=90s', /step: "90s" must be a whole number of minutes/],
    ['/api/timeseries?from=now-30d&step=1m', /at most 2000/],
    ['/api/timeseries?stack_by=host', /stack_by: "host" is not one of model, feature/],
    ['/api/calls?limit=100000', /limit: expected an integer 1-500/],
    ['/api/calls?status=weird', /status: "weird" is not one of ok, error, aborted/],
    ['/api/calls?cursor=!!', /cursor/],
    ['/api/config?x=1', /this endpoint takes none/],
  ];
  for (const [path, message] of cases) {
    const r = await get(d, path);
    t.is(r.status, 400, path);
    t.is(r.body['error'], 'bad_request', path);
    t.regex(String(r.body['message']), message, path);
  }
  const missing = await get(d, '/api/calls/no-such-event');
  t.is(missing.status, 404);
});

test('a call whose stored line is gone (its batch deleted outside claudescope) answers 500 store_damaged naming the call, and the daemon goes on', async (t) => {
  const d = await start(t);
  const { calls } = await d.pipeline.query.recentCalls({ limit: 1 });
  const id = calls[0]!.event_id;
  d.pipeline.store!.db.prepare('DELETE FROM call_lines').run();
  const r = await get(d, `/api/calls/${id}`);
  t.is(r.status, 500);
  t.is(r.body['error'], 'store_damaged');
  t.regex(String(r.body['message']), new RegExp(`stored line of call ${id} is missing`));
  t.is((await get(d, '/api/summary')).status, 200);
});

test('the API answers the store\'s numbers for a window, and pages recent calls with filters', async (t) => {
  const d = await start(t);
  const q = d.pipeline.query;
  const to = Date.now() + 1;
  const from = to - 3_600_000;
  const s = await get(d, `/api/summary?from=${from}&to=${to}`);
  t.is(s.status, 200);
  const [want] = await q.aggregate({ window: { start: from, end: to }, aggregates: { n: { op: 'count' }, cost: { op: 'sum', field: 'cost_usd' }, read: { op: 'sum', field: 'cache_read_input_tokens' } } });
  t.is(s.body['calls'], want!.values['n']);
  t.is(s.body['cost_usd'], want!.values['cost'] ?? null);
  t.is((s.body['tokens'] as Record<string, number>)['cache_read'], want!.values['read'] ?? 0);
  const ts = await get(d, `/api/timeseries?from=${from}&to=${to}&step=5m`);
  t.is(ts.status, 200);
  const series = ts.body as { t: number[]; calls: { calls: number[] } };
  t.is(series.t.length, 12 + (from % 300_000 === 0 ? 0 : 1));
  t.is(series.calls.calls.reduce((a, b) => a + b, 0), want!.values['n']!);
  // The unpriced model's cost is unknown in every bucket, not $0; the priced ones have numbers.
  const byModel = (ts.body as { cost_usd: { series: Record<string, (number | null)[]> } }).cost_usd.series;
  t.true(byModel['unpriced-model']!.every((v) => v === null), JSON.stringify(byModel['unpriced-model']));
  t.true(byModel['claude-test-1']!.some((v) => typeof v === 'number' && v > 0));
  // Filtered paging: every error call, 10 at a time, none twice.
  const seen = new Set<string>();
  let cursor: string | null = null;
  do {
    const page = await get(d, `/api/calls?from=${from}&to=${to}&status=error&limit=10${cursor ? `&cursor=${cursor}` : ''}`);
    const calls = page.body['calls'] as { event_id: string; status: string }[];
    for (const c of calls) {
      t.is(c.status, 'error');
      t.false(seen.has(c.event_id));
      seen.add(c.event_id);
    }
    cursor = page.body['next_cursor'] as string | null;
  } while (cursor);
  const [errs] = await q.aggregate({ window: { start: from, end: to }, aggregates: { n: { op: 'count_where', filter: { status: 'error' } } } });
  t.is(seen.size, errs!.values['n']!);
  const detail = await get(d, `/api/calls/${[...seen][0]}`);
  t.is(detail.status, 200);
  t.true(Array.isArray(detail.body['attempts']));
  t.false('content' in (detail.body['event'] as Record<string, unknown>));
});

test('no API answer carries the token, SMTP passwords, webhook secrets or secret URLs', async (t) => {
  // One rule that cannot fire, so no notification is attempted (the notifiers point nowhere).
  const rulesDir = tempHome();
  t.teardown(rulesDir.cleanup);
  writeFileSync(join(rulesDir.home, 'quiet.yaml'), 'rules:\n  - alert: NeverFires\n    kind: error_rate\n    window: 5m\n    min_calls: 1000000\n    threshold: 99%\n');
  const d = await start(t, {
    rules: { dirs: [rulesDir.home], store: null },
    auth: { token: TOKEN, requireToken: false },
    notifiers: [
      { name: 'mail', type: 'email', host: '127.0.0.1', port: 2525, auth: { user: 'alerts', pass: SECRETS.smtpPassword }, from: 'a@example.com', to: ['b@example.com'] },
      { name: 'hook', type: 'webhook', url: 'http://127.0.0.1:9/hook', secret: SECRETS.webhookSecret },
      { name: 'slack', type: 'slack', url: `http://127.0.0.1:9/services/${SECRETS.slackPath}` },
    ],
  });
  await d.ruleEngine.evaluateOnce();
  const ev = (await get(d, '/api/calls?limit=1')).body['calls'] as { event_id: string }[];
  const paths = ['/api/config', '/api/summary', '/api/timeseries', '/api/ratelimits', '/api/calls', `/api/calls/${ev[0]!.event_id}`, '/api/alerts', '/api/silences', '/', '/app.js'];
  for (const p of paths) {
    const r = await fetch(`${d.url}${p}`);
    t.is(r.status, 200, p);
    const text = await r.text();
    for (const secret of [TOKEN, ...Object.values(SECRETS)]) t.false(text.includes(secret), `${p} shows a secret`);
  }
});

test('alerts: every loaded rule with its state and last value; silences are added, listed and expired through the API', async (t) => {
  const d = await start(t);
  await d.ruleEngine.evaluateOnce();
  const a = await get(d, '/api/alerts');
  const rules = a.body['rules'] as { name: string; state: string; value: number | null; kind: string }[];
  t.is(rules.length, d.ruleEngine.rules.length);
  t.true(typeof a.body['evaluated_at'] === 'number');
  // Each rule's samples are the engine's last evaluation; its value that of its worst sample.
  const last = new Map(d.ruleEngine.lastResults().rules.map((r) => [r.rule, r]));
  for (const r of rules as unknown as { name: string; samples: { value: number | null; labels: Record<string, string> }[] }[]) {
    t.deepEqual(r.samples.map((s) => [s.labels, s.value]), last.get(r.name)!.samples.map((s) => [s.labels, s.value]), r.name);
  }
  const errorRate = rules.find((r) => r.name === 'ClaudeHighErrorRate') as unknown as { value: number; samples: { value: number }[] };
  t.is(errorRate.value, Math.max(...errorRate.samples.map((s) => s.value)));
  t.true(errorRate.value > 0, 'the scripted workload has errors');

  const post = (body: unknown, type = 'application/json') => fetch(`${d.url}/api/silences`, { method: 'POST', headers: { 'content-type': type }, body: JSON.stringify(body) });
  const bad = await post({ matchers: ['alertname~~x'], duration: '1h' });
  t.is(bad.status, 400);
  t.regex(((await bad.json()) as { message: string }).message, /invalid matcher/);
  t.is((await post({ matchers: ['alertname=X'], duration: '1h', colour: 'red' })).status, 400);
  t.is((await post({ matchers: ['alertname=X'], duration: 'soon' })).status, 400);
  t.is((await post({ matchers: ['alertname=X'], duration: '1h' }, 'text/plain')).status, 415);
  const ok = await post({ matchers: ['alertname=ClaudeDailyBudget', 'severity=~"warn.*"'], duration: '2h', comment: 'deploy' });
  t.is(ok.status, 201);
  const { silence } = (await ok.json()) as { silence: { id: string; endsAt: number; startsAt: number } };
  t.is(silence.endsAt - silence.startsAt, 7_200_000);
  t.deepEqual(((await get(d, '/api/silences')).body['silences'] as { id: string }[]).map((s) => s.id), [silence.id]);
  t.is((await fetch(`${d.url}/api/silences/${silence.id}`, { method: 'DELETE' })).status, 200);
  t.deepEqual((await get(d, '/api/silences')).body['silences'], []);
  t.deepEqual(((await get(d, '/api/silences?all=true')).body['silences'] as { id: string }[]).map((s) => s.id), [silence.id], 'an expired silence with all=true');
  t.deepEqual((await get(d, '/api/silences?all=false')).body['silences'], []);
  const notBool = await fetch(`${d.url}/api/silences?all=yes`);
  t.is(notBool.status, 400);
  t.regex(((await notBool.json()) as { message: string }).message, /all: "yes" is not true or false/);
  t.is((await fetch(`${d.url}/api/silences/${silence.id}`, { method: 'DELETE' })).status, 404);
});

testWith('promtool')('the alert engine\'s counters are exported as promtool-clean claudescope_* metrics', async (t) => {
  const d = await start(t);
  await d.ruleEngine.evaluateOnce();
  await d.ruleEngine.evaluateOnce();
  const before = d.ruleEngine.metrics().evaluations;
  const text = await (await fetch(`${d.url}/metrics`)).text();
  const after = d.ruleEngine.metrics().evaluations;
  const samples = parseExposition(text);
  // The daemon's own every-minute schedule may have run more meanwhile: the metric is what the engine counted.
  t.true(before >= 2);
  const exported = sumOf(samples, 'claudescope_rule_evaluations_total');
  t.true(exported >= before && exported <= after, `exported ${exported}, engine ${before}..${after}`);
  t.is(sumOf(samples, 'claudescope_alerts', { state: 'firing' }), d.ruleEngine.metrics().alertsFiring);
  t.true(text.includes('claudescope_notifications_sent_total'));
  const r = promtoolCheck(text);
  t.is(r.status, 0, r.output);
});

test('a malformed rule file refuses start with the file, line and field, and leaves the data folder unlocked', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const rules = join(h.home, 'rules.d');
  mkdirSync(rules);
  writeFileSync(join(rules, 'bad.yaml'), 'rules:\n  - alert: Slow\n    kind: latency\n    threshold: 10s\n    for: soon\n');
  const base = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: h.home } });
  const config = { ...base, listen: { host: '127.0.0.1', port: 0 }, rules: { dirs: [rules], store: null } };
  const err = await t.throwsAsync(Daemon.start({ config, pricer: testPricer(), log: () => {} }));
  t.true(err!.message.includes(`${join(rules, 'bad.yaml')}:5: rules[0].for`), err!.message);
  const d = await Daemon.start({ config: { ...config, rules: { dirs: [], store: null } }, pricer: testPricer(), log: () => {} });
  t.teardown(() => d.stop());
  t.true(d.ruleEngine.rules.length > 0, 'the package\'s own rules/ by default');
});

const run = promisify(execFile);
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { env: { ...process.env, CLAUDESCOPE_HOME: '' } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err: unknown) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/**
 * A daemon on a free port of a new home whose config file requires its token, as the CLI finds it.
 * The daemon takes the port itself (port 0), which the file then names for the CLI: a port
 * found free beforehand could be taken by a concurrent test's server before the daemon binds it.
 */
async function tokenDaemon(t: ExecutionContext): Promise<{ h: ReturnType<typeof tempHome>; cfgFile: string; d: Daemon }> {
  const h = tempHome();
  t.teardown(h.cleanup);
  const cfgFile = join(h.home, 'daemon.yaml');
  const yaml = (port: number): string => `listen:\n  port: ${port}\nauth:\n  token: ${TOKEN}\n  require_token: true\n`;
  writeFileSync(cfgFile, yaml(0));
  const config = loadDaemonConfig({ flags: { home: h.home, config: cfgFile }, env: {} });
  const d = await Daemon.start({ config, pricer: testPricer(), log: () => {} });
  writeFileSync(cfgFile, yaml(Number(new URL(d.url).port)));
  return { h, cfgFile, d };
}

// Serial (so before the others): it changes how this process's servers close while it runs.
test.serial('a token daemon starts while every port this process finds free is taken before it is passed on', async (t) => {
  const squat = takeReleasedPorts();
  try {
    const { d } = await tokenDaemon(t);
    t.teardown(() => d.stop());
    t.is((await fetch(`${d.url}/healthz`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  } finally {
    await squat.restore();
  }
});

test('silence add goes through the running daemon of its home (with its token), and writes the state file when none runs', async (t) => {
  const { h, cfgFile, d } = await tokenDaemon(t);
  let stopped = false;
  t.teardown(() => (stopped ? undefined : d.stop()));
  const r = await cli(['silence', 'add', 'alertname=ClaudeDailyBudget', '--duration', '30m', '--comment', 'via api', '--home', h.home, '--config', cfgFile]);
  t.is(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  t.deepEqual(d.ruleEngine.silences().map((s) => s.id), [id]);
  const list = await cli(['silence', 'list', '--home', h.home, '--config', cfgFile]);
  t.true(list.stdout.includes(id), list.stdout);
  // A daemon of another home on that port is not this home's: its state file is used instead.
  const other = tempHome();
  t.teardown(other.cleanup);
  const elsewhere = await cli(['silence', 'add', 'alertname=Y', '--home', other.home, '--config', cfgFile]);
  t.is(elsewhere.code, 0, elsewhere.stderr);
  t.is(d.ruleEngine.silences().length, 1, 'not sent to the other home\'s daemon');
  t.true(existsSync(join(other.data, 'alerts.db')));
  await d.stop();
  stopped = true;
  const offline = await cli(['silence', 'expire', id, '--home', h.home, '--config', cfgFile]);
  t.is(offline.code, 0, offline.stderr);
  t.is(offline.stdout.trim(), `expired ${id}`, 'no daemon: the state file is changed directly');
});

test('spend this month counts a call committed late for an earlier day (the closed-day cache is dropped)', async (t) => {
  const { periodAt } = await import('../../src/rules/budget-period.js');
  const now = Date.now();
  const day = periodAt(now, 'day');
  const month = periodAt(now, 'month');
  if (day.start === month.start) {
    t.pass('the first day of the month has no closed days');
    return;
  }
  const d = await start(t);
  const before = (await get(d, '/api/summary')).body['spend'] as { month_usd: number; month_calls: number };
  const late = mixedWorkload(1, month.start + 120_000)[0]!;
  late.model = 'claude-test-1';
  writeEventFile({ dir: join(d.config.home, 'events'), calls: [late], sealed: true });
  await waitFor(() => d.pipeline.health().eventsInserted === 71, 'late call stored');
  const after = (await get(d, '/api/summary')).body['spend'] as { month_usd: number; month_calls: number };
  t.is(after.month_calls, before.month_calls + 1);
  const [want] = await d.pipeline.query.aggregate({ window: { start: month.start, end: Date.now() + 1 }, aggregates: { c: { op: 'sum', field: 'cost_usd' } } });
  t.true(Math.abs(after.month_usd - want!.values['c']!) < 1e-9);
  t.true(after.month_usd > before.month_usd);
});

test('on loopback a request naming another host (DNS rebinding) is refused: no reading calls, no silencing alerts', async (t) => {
  const d = await start(t);
  const port = new URL(d.url).port;
  const send = (host: string, method: string, path: string, body?: string): Promise<number> => new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { host, ...(body ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
  t.is(await send('evil.example', 'GET', '/api/calls'), 421);
  t.is(await send(`evil.example:${port}`, 'GET', '/api/summary'), 421);
  t.is(await send(`evil.example:${port}`, 'POST', '/api/silences', JSON.stringify({ matchers: ['alertname=~".*"'], duration: '400d' })), 421);
  t.deepEqual((await get(d, '/api/silences')).body['silences'], []);
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'localhost']) t.is(await send(host, 'GET', '/api/calls'), 200, host);
});

test('a malformed percent-escape in an id is a 400, not a 500', async (t) => {
  const d = await start(t);
  for (const path of ['/api/calls/%E0']) {
    const r = await get(d, path);
    t.is(r.status, 400, path);
    t.regex(String(r.body['message']), /malformed percent-encoding/);
  }
  const del = await fetch(`${d.url}/api/silences/%E0`, { method: 'DELETE' });
  t.is(del.status, 400);
});

test('ISO times with a zone, and bare dates as midnight UTC, are read exactly', async (t) => {
  const d = await start(t);
  for (const [from, ms] of [['2026-01-01', Date.UTC(2026, 0, 1)], ['2026-01-01T06:30:00Z', Date.UTC(2026, 0, 1, 6, 30)], ['2026-01-01T08:30:00%2B02:00', Date.UTC(2026, 0, 1, 6, 30)]] as const) {
    const r = await get(d, `/api/summary?from=${from}&to=2026-01-02`);
    t.is(r.status, 200, from);
    t.is((r.body['window'] as { from_ms: number }).from_ms, ms, from);
  }
});

test('silence expire with a prefix of an id, through the running daemon, expires that silence and prints its full id', async (t) => {
  const { h, cfgFile, d } = await tokenDaemon(t);
  t.teardown(() => d.stop());
  const id = (await cli(['silence', 'add', 'alertname=ClaudeDailyBudget', '--home', h.home, '--config', cfgFile])).stdout.trim();
  const other = (await cli(['silence', 'add', 'alertname=Other', '--home', h.home, '--config', cfgFile])).stdout.trim();
  t.deepEqual(d.ruleEngine.silences().map((s) => s.id).sort(), [id, other].sort());
  let prefix = id.slice(0, 4);
  while (other.startsWith(prefix)) prefix = id.slice(0, prefix.length + 1);
  const r = await cli(['silence', 'expire', prefix, '--home', h.home, '--config', cfgFile]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `expired ${id}\n`);
  const now = Date.now();
  t.deepEqual(d.ruleEngine.silences().filter((s) => s.endsAt > now).map((s) => s.id), [other], 'the daemon expired that silence, not the other');
  const none = await cli(['silence', 'expire', 'no-such-id', '--home', h.home, '--config', cfgFile]);
  t.not(none.code, 0);
  t.regex(none.stderr, /no silence no-such-id/);
});
