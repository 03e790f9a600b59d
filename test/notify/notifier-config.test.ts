import test from 'ava';
import { NotifierConfigError, createNotifiers, notifierProblems } from '../../src/notify/index.js';

test('notifiers as the docs spell them are built, with repeat_interval as a duration and group_by as a list', async (t) => {
  const built = await createNotifiers([
    { name: 'mail', type: 'email', host: '127.0.0.1', port: 2525, from: 'a@example.com', to: ['b@example.com'], auth: { user: 'u', pass: 'p' }, repeat_interval: '1h', group_by: ['alertname', 'model'] },
    { name: 'hook', type: 'webhook', url: 'https://example.com/hook', secret: 's', send_resolved: false, match: { severity: 'critical' } },
    { name: 'slack', type: 'slack', url: 'https://hooks.slack.com/services/x', repeat_interval_ms: 60_000 },
    { name: 'am', type: 'alertmanager', url: 'http://127.0.0.1:9093' },
  ] as never);
  t.deepEqual(built.map((n) => [n.name, n.kind]), [['mail', 'email'], ['hook', 'webhook'], ['slack', 'slack'], ['am', 'alertmanager']]);
  t.is(built[0]!.routing.repeatIntervalMs, 3_600_000);
  t.deepEqual(built[0]!.routing.groupBy, ['alertname', 'model']);
  t.false(built[1]!.routing.sendResolved);
  t.deepEqual(built[1]!.routing.match, { severity: 'critical' });
  t.is(built[2]!.routing.repeatIntervalMs, 60_000);
  for (const n of built) await n.close?.();
});

test('notifier settings that cannot work are all refused before any is built, by notifier and field, without their secrets', async (t) => {
  const configs = [
    { name: 'hook', type: 'webhook', url: 'not a url', group_by: 'alertname', sendResolved: false },
    { name: 'mail', type: 'email', host: 'smtp.example.com', port: 587, from: 'a@example.com', auth: { user: 'u', pass: 'hunter2-secret', token: 'x' } },
    { name: 'am', type: 'alertmanager', url: 'ftp://127.0.0.1:9093', repeat_interval: 'soon' },
    { name: 'hook', type: 'pager' },
    'oops',
  ];
  const problems = notifierProblems(configs);
  t.deepEqual(problems, [
    'notifiers[0] (hook): url: expected an http(s) URL',
    'notifiers[0] (hook): group_by: expected a list of label names, got "alertname"',
    'notifiers[0] (hook): sendResolved: unknown setting for type webhook (known: name, type, match, group_by, repeat_interval, repeat_interval_ms, send_resolved, url, secret, headers)',
    'notifiers[1] (mail): to: is required for type email',
    'notifiers[1] (mail): auth: expected { user, pass }',
    'notifiers[2] (am): url: expected an http(s) URL',
    'notifiers[2] (am): repeat_interval: expected a duration such as 4h or 30m, got "soon"',
    'notifiers[3] (hook): type: expected one of email, webhook, slack, alertmanager, got "pager"',
    'notifiers[4]: expected a mapping',
  ]);
  const err = await t.throwsAsync(createNotifiers(configs as never), { instanceOf: NotifierConfigError });
  t.false(err!.message.includes('hunter2-secret'));
  t.regex(err!.message, /notifiers\[0\] \(hook\): url: expected an http\(s\) URL/);
  // What ${ENV} references expand to (strings), and an empty group_by (one group), are fine.
  t.deepEqual(notifierProblems([
    { name: 'm', type: 'email', host: 'h', port: '587', secure: 'false', from: 'a@example.com', to: ['b@example.com'], group_by: [] },
    { name: 'w', type: 'webhook', url: 'https://example.com/hook', secret: '' },
  ]), []);
  const [mail] = await createNotifiers([{ name: 'm', type: 'email', host: 'h', port: '587', secure: 'false', from: 'a@example.com', to: ['b@example.com'], send_resolved: 'false' }] as never);
  t.false(mail!.routing.sendResolved, 'the string "false" is false');
  await mail!.close?.();
  t.deepEqual(notifierProblems([{ name: 'am', type: 'alertmanager', url: 'http://127.0.0.1:9093', send_resolved: false }]), [
    'notifiers[0] (am): send_resolved: Alertmanager needs resolutions posted; set send_resolved in its own receiver instead',
  ]);
  // Two notifiers may not share a name.
  t.deepEqual(notifierProblems([{ name: 'a', type: 'slack', url: 'https://x.example' }, { name: 'a', type: 'slack', url: 'https://y.example' }]), ['notifiers[1] (a): name: another notifier has the name a']);
});

test('an email notifier\'s tls settings are checked: a misspelt key, a CA file name or a string for rejectUnauthorized is refused; PEM text is taken', (t) => {
  const mail = { name: 'm', type: 'email', host: 'h', port: 587, from: 'a@example.com', to: ['b@example.com'] };
  t.deepEqual(notifierProblems([
    { ...mail, tls: { rejectUnauthorised: false } },
    { ...mail, name: 'n', tls: { ca: '/etc/ssl/certs/internal-ca.pem' } },
    { ...mail, name: 'o', tls: 'insecure' },
    // What `rejectUnauthorized: ${TLS_VERIFY}` expands to: tls.connect would verify all the same.
    { ...mail, name: 'p', tls: { rejectUnauthorized: 'false' } },
  ]), [
    'notifiers[0] (m): tls: rejectUnauthorised: unknown setting (known: ca, rejectUnauthorized, servername)',
    'notifiers[1] (n): tls: ca: expected the PEM text of a certificate (-----BEGIN CERTIFICATE-----…), or a list of them, not a file name',
    'notifiers[2] (o): tls: expected a mapping of ca, rejectUnauthorized, servername',
    'notifiers[3] (p): tls: rejectUnauthorized: expected true or false (written as such, not from an environment variable)',
  ]);
  const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  t.deepEqual(notifierProblems([{ ...mail, tls: { ca: [ca], rejectUnauthorized: false, servername: 'smtp.internal' } }, { ...mail, name: 'n', tls: { ca } }]), []);
});

test('with a locator, every notifier problem starts with where its setting is written', (t) => {
  const lines: Record<string, number> = { 'notifiers[0]': 3, 'notifiers[0].repeat_interval': 6, 'notifiers[0].send_resolved': 7, 'notifiers[1]': 8 };
  const locate = (path: string): string | undefined => (lines[path] === undefined ? undefined : `c.yaml:${lines[path]}`);
  t.deepEqual(notifierProblems([
    { name: 'w2', type: 'webhook', url: 'http://127.0.0.1:1/x', repeat_interval: '2x', send_resolved: 'maybe' },
    { name: 'm', type: 'email', host: 'h', port: 25, from: 'a@example.com' },
  ], locate), [
    'c.yaml:6: notifiers[0] (w2): repeat_interval: expected a duration such as 4h or 30m, got "2x"',
    'c.yaml:7: notifiers[0] (w2): send_resolved: expected true or false, got "maybe"',
    'c.yaml:8: notifiers[1] (m): to: is required for type email',
  ]);
});
