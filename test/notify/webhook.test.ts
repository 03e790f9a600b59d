import test from 'ava';
import { createHmac } from 'node:crypto';
import { deliver } from '../../src/notify/retry.js';
import { redactText, redactUrl } from '../../src/notify/redact.js';
import { SIGNATURE_HEADER, slackNotifier, webhookNotifier } from '../../src/notify/webhook.js';
import { noSleep, receiver, sampleNotification } from './helpers.js';

const counters = () => ({ sent: 0, failed: 0, retries: 0, permanentFailures: 0 });

test('generic webhook posts the Alertmanager-shaped JSON with a verifiable HMAC signature', async (t) => {
  const r = await receiver(t);
  const n = webhookNotifier({ name: 'hook', url: `${r.url}/hook`, secret: 's3cret', clock: () => 1_700_000_000_000 });
  const c = counters();
  t.true((await deliver(n, sampleNotification(), c, noSleep)).ok);
  const got = r.got[0]!;
  const body = JSON.parse(got.body) as { version: string; status: string; alerts: { labels: Record<string, string> }[] };
  t.is(body.version, '4');
  t.is(body.status, 'firing');
  t.is(body.alerts[0]?.labels['model'], 'claude-opus-4-5');
  const sig = String(got.headers[SIGNATURE_HEADER]);
  const expected = createHmac('sha256', 's3cret').update(`1700000000.${got.body}`).digest('hex');
  t.is(sig, `t=1700000000,v1=${expected}`);
  t.is(c.sent, 1);
});

test('no signature header without a secret', async (t) => {
  const r = await receiver(t);
  await deliver(webhookNotifier({ name: 'hook', url: r.url }), sampleNotification(), counters(), noSleep);
  t.is(r.got[0]?.headers[SIGNATURE_HEADER], undefined);
});

test('a 4xx other than 429 is permanent: one attempt, counted failed', async (t) => {
  const r = await receiver(t, [400]);
  const c = counters();
  const res = await deliver(webhookNotifier({ name: 'hook', url: r.url }), sampleNotification(), c, noSleep);
  t.false(res.ok);
  t.is(r.got.length, 1);
  t.deepEqual(c, { sent: 0, failed: 1, retries: 0, permanentFailures: 1 });
});

test('429 and 5xx are retried with backoff honouring Retry-After, then succeed', async (t) => {
  const r = await receiver(t, [429, 503, 200], { 'retry-after': '2' });
  const c = counters();
  const waits: number[] = [];
  const res = await deliver(webhookNotifier({ name: 'hook', url: r.url }), sampleNotification(), c, { sleep: async (ms) => { waits.push(ms); }, baseDelayMs: 10 });
  t.true(res.ok);
  t.is(r.got.length, 3);
  t.is(c.retries, 2);
  t.true((waits[0] ?? 0) >= 2000, 'Retry-After honoured');
});

test('an unreachable webhook fails after its attempts without throwing, and never prints the secret in its URL', async (t) => {
  const c = counters();
  const url = 'http://user:hunter2@127.0.0.1:9/hook?token=abcdef';
  const res = await deliver(webhookNotifier({ name: 'hook', url }), sampleNotification(), c, { ...noSleep, attempts: 3 });
  t.false(res.ok);
  t.is(c.failed, 1);
  t.is(c.retries, 2);
  t.false(res.error?.includes('hunter2') ?? true);
  t.false(res.error?.includes('abcdef') ?? true);
});

test('redactUrl hides user info, query values and Slack webhook tokens', (t) => {
  t.is(redactUrl('https://u:p@example.com/a?k=v'), 'https://***@example.com/a?k=***');
  t.is(redactUrl('https://hooks.slack.com/services/T000/B000/XXXX'), 'https://hooks.slack.com/services/***');
  // Tokens in the paths of other services' webhooks.
  t.is(redactUrl('https://hooks.zapier.com/hooks/catch/1234567/abcdefg/'), 'https://hooks.zapier.com/hooks/catch/***');
  t.is(redactUrl('https://chat.example.com/hooks/8xnbmj5cqtrd3k6f1xpq4zgzha'), 'https://chat.example.com/hooks/***');
  t.is(redactUrl('https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage'), 'https://api.telegram.org/***');
  t.is(redactUrl('https://maker.ifttt.com/trigger/alert/with/key/dQw4w9WgXcQ-abcdefghij'), 'https://maker.ifttt.com/trigger/alert/with/key/***');
  // Plain paths stay readable.
  t.is(redactUrl('http://127.0.0.1:9093/api/v2/alerts'), 'http://127.0.0.1:9093/api/v2/alerts');
  t.is(redactUrl('https://example.com/hook'), 'https://example.com/hook');
  // In a message, the punctuation after a URL stays the message's, and the path readable.
  t.is(redactText('POST http://127.0.0.1:9093/api/v2/alerts: HTTP 503'), 'POST http://127.0.0.1:9093/api/v2/alerts: HTTP 503');
  t.is(redactText('POST https://hooks.zapier.com/hooks/catch/1234567/abc: HTTP 500.'), 'POST https://hooks.zapier.com/hooks/catch/***: HTTP 500.');
});

test('slack notifier posts an incoming-webhook text message', async (t) => {
  const r = await receiver(t);
  await deliver(slackNotifier({ name: 'slack', url: r.url, channel: '#ops' }), sampleNotification(), counters(), noSleep);
  const body = JSON.parse(r.got[0]!.body) as { text: string; channel: string };
  t.is(body.channel, '#ops');
  t.regex(body.text, /FIRING:1/);
  t.regex(body.text, /ClaudeHighErrorRate\* errors at 12%/);
});

test('slack text escapes &, < and > of alert texts, as Slack requires, so they are shown and not taken as links', async (t) => {
  const r = await receiver(t);
  const n = sampleNotification({ groupLabels: { alertname: 'ClaudeHighErrorRate', feature: 'a<b>' } });
  n.alerts[0]!.annotations = { summary: 'p99 > 10s & <rising|now>' };
  n.alerts[0]!.labels = { ...n.alerts[0]!.labels, feature: 'a<b>' };
  await deliver(slackNotifier({ name: 'slack', url: r.url }), n, counters(), noSleep);
  const { text } = JSON.parse(r.got[0]!.body) as { text: string };
  t.regex(text, /p99 &gt; 10s &amp; &lt;rising\|now&gt;/);
  t.regex(text, /feature=a&lt;b&gt;/);
  t.regex(text, /\] ClaudeHighErrorRate a&lt;b&gt;\n/);
  t.false(/<|>/.test(text.replace(/^:rotating_light:/, '')), 'no raw angle brackets left');
});
