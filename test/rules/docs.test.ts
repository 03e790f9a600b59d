/**
 * docs/rules.md shows a rule file, a rule test file and notifiers: each must load as `claudescope
 * rules check`, `rules test` and the daemon load them, the test must pass against the shipped
 * rules it names, and the kinds table and notifier settings must be the loaders' own.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseRuleFile, runRuleTests } from '../../src/rules/index.js';
import { RULE_KINDS } from '../../src/rules/rule-types.js';
import { loadDaemonConfig } from '../../src/daemon/config.js';
import { checkNotifiers } from '../../src/daemon/alerting.js';
import { createNotifiers, notifierProblems } from '../../src/notify/index.js';
import { tempDir } from '../helpers/events.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const page = readFileSync(join(root, 'docs', 'rules.md'), 'utf8');
const yamlBlocks = [...page.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);

test('the rule file example of docs/rules.md loads with every field it shows', (t) => {
  const example = yamlBlocks.find((b) => b.startsWith('rules:'));
  if (!example) throw new Error('docs/rules.md lost its rule file example');
  const [rule] = parseRuleFile(example, 'docs/rules.md');
  t.like(rule, {
    name: 'ClaudeHighErrorRate', kind: 'error_rate', windowMs: 300_000, minCalls: 20, filter: { feature: 'chat' }, groupBy: ['model'],
    comparison: '>', threshold: 0.05, forMs: 120_000, keepFiringForMs: 300_000, severity: 'critical', repeatIntervalMs: 3_600_000,
    labels: { team: 'platform' },
  });
});

test('the rule unit test example of docs/rules.md passes against the shipped rules', async (t) => {
  const example = yamlBlocks.find((b) => b.startsWith('rule_files:'));
  if (!example) throw new Error('docs/rules.md lost its rule unit test example');
  // `claude.yaml`, relative to the test file, is the shipped rules/claude.yaml.
  const shipped = join(root, 'rules', 'claude.yaml');
  const file = join(tempDir(t), 'claude.test.yaml');
  writeFileSync(file, example.replace(/^rule_files: \[claude\.yaml\]/m, `rule_files: [${JSON.stringify(shipped)}]`));
  const outcomes = await runRuleTests(file);
  t.is(outcomes.length, 1);
  t.deepEqual(outcomes[0]!.failures, []);
});

test('the kinds table of docs/rules.md lists every rule kind', (t) => {
  const start = page.indexOf('## Rule kinds');
  const table = page.slice(start, page.indexOf('\n## ', start + 1));
  const documented = [...table.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]!);
  t.deepEqual(documented, [...RULE_KINDS]);
});

test('the notifiers example of docs/rules.md loads as the daemon loads it, and the section names every setting', async (t) => {
  const example = yamlBlocks.find((b) => b.startsWith('notifiers:'));
  if (!example) throw new Error('docs/rules.md lost its notifiers example');
  const dir = tempDir(t);
  const file = join(dir, 'config.yaml');
  writeFileSync(file, example);
  const config = loadDaemonConfig({ flags: { config: file }, env: { CLAUDESCOPE_HOME: dir } });
  const env = { SMTP_PASSWORD: 'smtp-pass', WEBHOOK_SECRET: 'hook-secret', SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/x' };
  const configs = await checkNotifiers(config, env);
  t.like(configs[0], { name: 'oncall', type: 'email', auth: { user: 'alerts', pass: 'smtp-pass' } });
  t.like(configs[2], { url: env.SLACK_WEBHOOK_URL });
  const notifiers = await createNotifiers(configs);
  t.deepEqual(notifiers.map((n) => n.name), ['oncall', 'hook', 'chat', 'am']);
  // A variable that is not set refuses start.
  await t.throwsAsync(checkNotifiers(config, {}), { message: /environment variable SMTP_PASSWORD is not set/ });

  const start = page.indexOf('## Notifications');
  const section = page.slice(start, page.indexOf('\n## ', start + 1));
  for (const type of ['email', 'webhook', 'slack', 'alertmanager']) {
    const problems = notifierProblems([{ name: 'x', type, no_such_setting: 1 }]);
    const known = problems.map((p) => /no_such_setting: unknown setting .*\(known: ([^)]*)\)/.exec(p)?.[1]).find((k) => k !== undefined);
    if (known === undefined) throw new Error(`notifiers of type ${type} took an unknown setting`);
    t.deepEqual(known.split(', ').filter((k) => !section.includes(`\`${k}\``) && !new RegExp(`^ +(- )?${k}:`, 'm').test(example)), [], type);
  }
});
