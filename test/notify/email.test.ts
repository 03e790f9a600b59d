import test from 'ava';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { emailNotifier, emailText } from '../../src/notify/email.js';
import { deliver } from '../../src/notify/retry.js';
import { createRuleEngine } from '../../src/rules/rule-engine.js';
import { formatRuleValue } from '../../src/rules/rule-kinds.js';
import { MIN, T0, commit, errorCall, openStore, rulesFrom, spread } from '../rules/helpers.js';
import { hangingSmtp, noSleep, sampleNotification } from './helpers.js';

interface Mail { from: string; to: string[]; data: string; user: string | undefined }

async function smtp(t: import('ava').ExecutionContext, opts: { reject?: number; dataDelayMs?: number } = {}): Promise<{ port: number; mails: Mail[] }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    secure: false, disabledCommands: ['STARTTLS'], authOptional: false, logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === 'alerts' && auth.password === 'pa55word') cb(null, { user: auth.username });
      else cb(new Error('Invalid username or password'));
    },
    onRcptTo(addr, _s, cb) {
      if (opts.reject) {
        const err = new Error('mailbox unavailable') as Error & { responseCode: number };
        err.responseCode = opts.reject;
        cb(err);
      } else cb();
    },
    onData(stream, session, cb) {
      let data = '';
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => (data += c));
      stream.on('end', () => {
        mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), data, user: session.user as string | undefined });
        if (opts.dataDelayMs) setTimeout(cb, opts.dataDelayMs);
        else cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.server.address() as AddressInfo).port, mails };
}

const counters = () => ({ sent: 0, failed: 0, retries: 0, permanentFailures: 0 });

test('email arrives at a real SMTP server with subject, alert text and authenticated sender', async (t) => {
  const s = await smtp(t);
  const n = emailNotifier({ name: 'mail', host: '127.0.0.1', port: s.port, auth: { user: 'alerts', pass: 'pa55word' }, from: 'claudescope@example.com', to: ['ops@example.com'] });
  t.teardown(() => n.close?.());
  const r = await deliver(n, sampleNotification(), counters(), noSleep);
  t.true(r.ok, r.error ?? '');
  const m = s.mails[0]!;
  t.is(m.user, 'alerts');
  t.is(m.from, 'claudescope@example.com');
  t.deepEqual(m.to, ['ops@example.com']);
  t.regex(m.data, /Subject: \[claudescope\] \[FIRING:1\] ClaudeHighErrorRate/);
  t.regex(m.data, /summary: errors at 12%/);
  t.regex(m.data.replace(/=\r\n/g, ""), /model=3Dclaude-opus-4-5/);
});

test('a refused login is reported without the password', async (t) => {
  const s = await smtp(t);
  const n = emailNotifier({ name: 'mail', host: '127.0.0.1', port: s.port, auth: { user: 'alerts', pass: 'wrong-secret' }, from: 'a@example.com', to: ['b@example.com'] });
  t.teardown(() => n.close?.());
  const c = counters();
  const r = await deliver(n, sampleNotification(), c, noSleep);
  t.false(r.ok);
  t.is(c.permanentFailures, 1, 'SMTP 535 is permanent');
  t.false(r.error?.includes('wrong-secret') ?? true);
  t.is(s.mails.length, 0);
});

test('a resolved notification says RESOLVED', async (t) => {
  const s = await smtp(t);
  const n = emailNotifier({ name: 'mail', host: '127.0.0.1', port: s.port, auth: { user: 'alerts', pass: 'pa55word' }, from: 'a@example.com', to: ['b@example.com'] });
  t.teardown(() => n.close?.());
  const base = sampleNotification();
  await deliver(n, { ...base, status: 'resolved', alerts: base.alerts.map((a) => ({ ...a, status: 'resolved' as const, endsAt: a.startsAt + 600_000 })) }, counters(), noSleep);
  t.regex(s.mails[0]!.data, /\[RESOLVED\]/);
  t.regex(s.mails[0]!.data, /after 10m/);
});

test('a slow SMTP server past the per-attempt timeout gets the mail once: the attempt waits for it instead of sending again', async (t) => {
  const s = await smtp(t, { dataDelayMs: 600 });
  const n = emailNotifier({ name: 'mail', host: '127.0.0.1', port: s.port, auth: { user: 'alerts', pass: 'pa55word' }, from: 'claudescope@example.com', to: ['ops@example.com'] });
  t.teardown(() => n.close?.());
  const c = counters();
  const r = await deliver(n, sampleNotification(), c, { ...noSleep, timeoutMs: 200 });
  t.true(r.ok, r.error ?? '');
  await new Promise((res) => setTimeout(res, 800));
  t.is(s.mails.length, 1, 'one mail, not one per attempt');
  t.like(c, { sent: 1, retries: 0 });
});

test('stopping ends an email send to a server that hangs at once, also after its attempt timed out', async (t) => {
  const server = await hangingSmtp(t);
  const n = emailNotifier({ name: 'mail', host: '127.0.0.1', port: server.port, from: 'a@example.com', to: ['b@example.com'] });
  t.teardown(() => n.close?.());
  const stop = new AbortController();
  const c = counters();
  // The attempt times out after 300 ms (and keeps waiting for nodemailer); the stop comes at 1 s.
  setTimeout(() => stop.abort(), 1000);
  const t0 = performance.now();
  const r = await deliver(n, sampleNotification(), c, { ...noSleep, timeoutMs: 300, signal: stop.signal });
  const ms = performance.now() - t0;
  t.true(r.stopped);
  t.true(ms < 5000, `returned after ${Math.round(ms)} ms`);
  t.like(c, { sent: 0, failed: 0, retries: 0 });
});

test('an email gives each alert\'s value as its rule\'s kind reads it (a share as a percentage, a latency in seconds), not as a raw float', async (t) => {
  const s = await smtp(t);
  const store = openStore(t);
  // 4 errors in 11 calls (0.36363636363636365), all slow (p99 10.4 s).
  commit(store, [...spread(7, T0 - 4 * MIN, T0, { duration_ms: 10_400 }), ...spread(4, T0 - 4 * MIN, T0, errorCall('overloaded_error', { duration_ms: 10_400 }))]);
  const n = emailNotifier({ name: 'mail', host: '127.0.0.1', port: s.port, auth: { user: 'alerts', pass: 'pa55word' }, from: 'a@example.com', to: ['b@example.com'], routing: { groupBy: [] } });
  const engine = createRuleEngine({
    query: store, notifiers: [n], retry: noSleep,
    rules: rulesFrom([
      'rules:',
      '  - { alert: HighErrors, kind: error_rate, threshold: 5% }',
      '  - { alert: SlowCalls, kind: latency, threshold: 10s }',
      '  - { alert: ErrorShare, kind: threshold, value: { op: count_where, filter: { status: error } }, per: { op: count }, threshold: 0.1 }',
    ].join('\n')),
  });
  t.teardown(() => engine.stop());
  await engine.evaluateOnce(T0);
  t.is(s.mails.length, 1);
  const body = s.mails[0]!.data.replace(/=\r\n/g, '');
  const values = [...body.matchAll(/^ {2}value: (.*)$/gm)].map((m) => m[1]!.trim()).sort();
  t.is(values.length, 3);
  t.is(values[0], '0.3636');
  t.regex(values[1]!, /^10\.4\d?s$/, 'the p99 in seconds, from the store\'s percentile');
  t.is(values[2], '36.36%');
  t.false(body.includes('0.36363636'));
});

test('a value is rounded for reading but a small one is kept, as a rule kind reads it or as a plain number', (t) => {
  const [errors, latency, spike, lag, threshold] = rulesFrom([
    'rules:',
    '  - { alert: A, kind: error_rate, threshold: 5% }',
    '  - { alert: B, kind: latency, threshold: 10s }',
    '  - { alert: C, kind: spike, measure: { op: count }, threshold: 3 }',
    '  - { alert: D, kind: pipeline_health, metric: tail_lag_bytes, threshold: 50000000 }',
    '  - { alert: E, kind: threshold, value: { op: count }, threshold: 1 }',
  ].join('\n'));
  t.is(formatRuleValue(errors!, 0.36363636363636365), '36.36%');
  t.is(formatRuleValue(errors!, 0.00000123), '0.000123%');
  t.is(formatRuleValue(latency!, 0.000123), '123µs');
  t.is(formatRuleValue(latency!, 0.25), '250ms');
  t.is(formatRuleValue(latency!, 5400), '1h30m');
  t.is(formatRuleValue(spike!, 3.2345), '3.23×');
  t.is(formatRuleValue(lag!, 52_428_800), '52.43MB');
  t.is(formatRuleValue(threshold!, 0.000123), '0.000123');
  t.is(formatRuleValue(threshold!, 1234567.891), '1234567.89');
  t.is(formatRuleValue(threshold!, null), 'unknown');
  // A notification built without the rule's reading (a notifier driven on its own) still rounds.
  const one = (value: number | null) => emailText(sampleNotification({ alerts: [{ ...sampleNotification().alerts[0]!, value }] }));
  t.regex(one(0.36363636363636365), /^ {2}value: 0\.3636$/m);
  t.regex(one(0.000123), /^ {2}value: 0\.000123$/m);
  t.regex(one(null), /^ {2}value: unknown$/m);
});
