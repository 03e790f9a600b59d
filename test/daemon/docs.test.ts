/**
 * docs/daemon.md and the README show the daemon's configuration, flags, environment, /healthz
 * and metrics: the examples must load as the daemon loads them, and the lists must name what
 * the daemon has, no more and no less.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { ENV_FIELDS, loadDaemonConfig, ConfigError, type DaemonConfig } from '../../src/daemon/config.js';
import { CONFIG_SCHEMA } from '../../src/daemon/config-schema.js';
import { createDaemonPricer } from '../../src/daemon/pricer-loader.js';
import { prepareAlerting } from '../../src/daemon/alerting.js';
import { daemonInfluxSettings } from '../../src/daemon/influx-settings.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { daemonOptions } from '../../src/cli/commands/daemon.js';
import { tempHome, waitFor, writeEventFile } from '../helpers/event-files.js';
import { mixedWorkload } from './workload.js';
import { findExecutable, testWith } from '../helpers/external.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (file: string): string => readFileSync(join(root, file), 'utf8');

/** The fenced blocks of a markdown file in one language. */
function blocks(file: string, lang: string): string[] {
  return [...read(file).matchAll(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'gm'))].map((m) => m[1]!);
}

/** The part of a markdown file under a `## ` heading, up to the next one. */
function section(file: string, heading: string): string {
  const text = read(file);
  const start = text.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`${file} lost its section ${heading}`);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
}

/** Loads `text` as the daemon's config file, with its absolute paths moved into a temporary home. */
function loadAsConfig(text: string, home: string): DaemonConfig {
  const file = join(home, 'config.yaml');
  writeFileSync(file, text.replaceAll('/etc/claudescope/', `${home}/`));
  return loadDaemonConfig({ flags: { config: file }, env: { CLAUDESCOPE_HOME: home } });
}

test('the configuration example of docs/daemon.md loads, and starts, as the daemon loads it', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const example = blocks('docs/daemon.md', 'yaml').find((b) => b.startsWith('listen:'));
  if (!example) throw new Error('docs/daemon.md lost its configuration example');
  writeFileSync(join(h.home, 'token'), 'a-token-of-at-least-16-characters\n');
  mkdirSync(join(h.home, 'rules.d'));
  const config = loadAsConfig(example, h.home);
  t.like(config, {
    listen: { host: '127.0.0.1', port: 9471 },
    auth: { token: 'a-token-of-at-least-16-characters', requireToken: false },
    retention: { rowsMaxAgeMs: 30 * 86_400_000, rollupsMaxAgeMs: 400 * 86_400_000, sealedFiles: 'delete' },
    tail: { pollIntervalMs: 1000, batchIntervalMs: 200, maxOpenFiles: 256 },
    budgets: { dailyUsd: 50, monthlyUsd: 1000, perFeature: { search: { dailyUsd: 10, monthlyUsd: null } } },
    metrics: { featureLabelAllowlist: ['search', 'chat'] },
    rules: { dirs: [join(h.home, 'rules.d')], store: 'embedded' },
  });
  // What the daemon checks at start beyond the file's schema.
  createDaemonPricer(config);
  await prepareAlerting(config, {});
  t.is(daemonInfluxSettings(config, {}), null);
  // Every section of the configuration is shown or pointed to.
  const page = read('docs/daemon.md');
  for (const key of ['listen', 'auth', 'retention', 'tail', 'budgets', 'metrics', 'pricing', 'rules', 'influxdb', 'notifiers', 'reconcile']) {
    t.regex(page, new RegExp(`(^|\`)${key}:`, 'm'), key);
  }
});

test('the documented error of a bad setting is the one the daemon gives', (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const documented = /^ {2}\/etc\/claudescope\/config\.yaml:(\d+): (listen\.port: .*)$/m.exec(read('docs/daemon.md'));
  if (!documented) throw new Error('docs/daemon.md lost its example of an invalid configuration');
  const line = Number(documented[1]);
  const text = `${'# a comment\n'.repeat(line - 3)}listen:\n  host: 127.0.0.1\n  port: abc\n`;
  const err = t.throws(() => loadAsConfig(text, h.home), { instanceOf: ConfigError });
  t.is(err!.message, `invalid configuration:\n  ${join(h.home, 'config.yaml')}:${line}: ${documented[2]}`);
});

test('the settings table of docs/daemon.md names every flag and environment variable of the daemon, and no other', (t) => {
  const table = section('docs/daemon.md', 'Configuration').split('\n').filter((l) => l.startsWith('| '));
  const documentedEnv = new Set(table.flatMap((l) => [...l.matchAll(/`(CLAUDESCOPE_[A-Z_]+)`/g)].map((m) => m[1]!)));
  t.deepEqual([...documentedEnv].sort(), ['CLAUDESCOPE_HOME', 'CLAUDESCOPE_CONFIG', ...Object.keys(ENV_FIELDS)].sort());
  const documentedFlags = new Set(table.flatMap((l) => [...l.matchAll(/`(--[a-z-]+)/g)].map((m) => m[1]!)));
  // yargs keeps the options it was given in getOptions(), which its types leave out.
  const parser = daemonOptions(yargs([])) as unknown as { getOptions(): { key: Record<string, unknown> } };
  const flags = Object.keys(parser.getOptions().key).filter((k) => !['help', 'version'].includes(k) && !/[A-Z]/.test(k)).map((k) => `--${k}`);
  t.deepEqual([...documentedFlags].sort(), flags.sort());
});

test('the InfluxDB example of the README loads as the daemon loads it', (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const example = blocks('README.md', 'yaml').find((b) => b.startsWith('influxdb:'));
  if (!example) throw new Error('README.md lost its influxdb: example');
  writeFileSync(join(h.home, 'influx-token'), 'influx-token-value\n');
  const settings = daemonInfluxSettings(loadAsConfig(example, h.home), {});
  t.like(settings, { connection: { url: 'http://influx.internal:8086', api: 'v2', org: 'acme', bucket: 'claudescope', token: 'influx-token-value' }, embeddedStore: true });
});

test('the influxdb: example of docs/influxdb.md loads as the daemon loads it, every field shown', (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const example = blocks('docs/influxdb.md', 'yaml').find((b) => b.startsWith('influxdb:'));
  if (!example) throw new Error('docs/influxdb.md lost its influxdb: example');
  writeFileSync(join(h.home, 'influxdb_token'), 'influx-token-value\n');
  const config = loadAsConfig(example.replaceAll('/run/secrets/', `${h.home}/`), h.home);
  t.like(daemonInfluxSettings(config, {}), {
    connection: { url: 'http://influxdb:8086', api: 'v2', org: 'claudescope', bucket: 'claudescope', database: 'claudescope', retentionPolicy: null, token: 'influx-token-value', timeoutMs: 10_000 },
    embeddedStore: true, minRetryDelayMs: 500, maxRetryDelayMs: 30_000, healthIntervalMs: 10_000, instance: null, stopTimeoutMs: 5000,
  });
  const schema = CONFIG_SCHEMA.kind === 'object' ? CONFIG_SCHEMA.fields['influxdb'] : undefined;
  if (schema?.kind !== 'object') throw new Error('the influxdb: schema is not a mapping');
  // Each field as a key, or named in a comment (`# or token: …`, `(password, password_file,`).
  t.deepEqual(Object.keys(schema.fields).filter((k) => !new RegExp(`[\\s(]${k}[:,)]`).test(example)), []);
});

test('/healthz and /metrics answer as docs/daemon.md lists them', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const events = mixedWorkload(70);
  writeEventFile({ dir: h.events, calls: events, sealed: true });
  const c = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: h.home }, flags: { featureLabels: 'search', pollIntervalMs: 50 } });
  const daemon = await Daemon.start({
    config: { ...c, listen: { host: '127.0.0.1', port: 0 }, budgets: { dailyUsd: 10, monthlyUsd: 200, perFeature: { search: { dailyUsd: 2, monthlyUsd: null } } } },
    log: () => {},
  });
  t.teardown(() => daemon.stop());
  await waitFor(async () => ((await (await fetch(`${daemon.url}/healthz`)).json()) as { events_committed: number }).events_committed === events.length, 'every event committed');

  const healthz = /^`200` with `(\{.*\})`;$/m.exec(read('docs/daemon.md'));
  if (!healthz) throw new Error('docs/daemon.md lost its /healthz example');
  const documentedKeys = Object.keys(JSON.parse(healthz[1]!.replaceAll(':…', ':null').replaceAll('"…', '"')) as object);
  const res = await fetch(`${daemon.url}/healthz`);
  t.is(res.status, 200);
  t.deepEqual(Object.keys((await res.json()) as object), documentedKeys);

  const exposition = await (await fetch(`${daemon.url}/metrics`)).text();
  const served = new Set([...exposition.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!).filter((n) => !/^claudescope_(process|nodejs)_/.test(n)));
  const metrics = section('docs/daemon.md', 'Metrics');
  const table = metrics.slice(0, metrics.indexOf('Useful queries'));
  const documented = new Set([...table.matchAll(/`((?:claude|claudescope)_[a-z0-9_]+)`/g)].map((m) => m[1]!));
  t.deepEqual([...served].filter((n) => !documented.has(n)), [], 'served but not documented');
  // InfluxDB's metrics are served with an influxdb: sink only (docs/influxdb.md lists them).
  t.deepEqual([...documented].filter((n) => !served.has(n)), [], 'documented but not served');
  t.true(table.includes('`claudescope_influx_*`'));

  // Each served label is in its metric's row.
  const rows = table.split('\n').filter((l) => l.startsWith('| `'));
  const rowOf = (name: string) => rows.find((r) => r.split(' | ')[0]!.includes(`\`${name}\``));
  const labelsOf = (row: string) => new Set(row.split(' | ').slice(2).join(' ').match(/`[^`]+`/g)?.flatMap((m) => m.slice(1, -1).split(/,\s*/)) ?? []);
  const problems: string[] = [];
  for (const m of exposition.matchAll(/^([a-z_:]+)\{([^}]*)\} /gm)) {
    const family = [...served].find((n) => m[1] === n || (m[1]!.startsWith(n) && /^_(bucket|sum|count)$/.test(m[1]!.slice(n.length))));
    if (family === undefined) continue;
    const documentedLabels = labelsOf(rowOf(family) ?? '');
    for (const label of m[2]!.matchAll(/([a-z_]+)="/g)) {
      if (label[1] !== 'le' && !documentedLabels.has(label[1]!)) problems.push(`${family}{${label[1]}}`);
    }
  }
  t.deepEqual([...new Set(problems)], [], 'labels served but not documented');
});

testWith('promtool')('the Prometheus scrape configuration of docs/daemon.md is one promtool accepts', (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const example = blocks('docs/daemon.md', 'yaml').find((b) => b.startsWith('scrape_configs:'));
  if (!example) throw new Error('docs/daemon.md lost its Prometheus example');
  writeFileSync(join(h.home, 'claudescope.token'), 'a-token-of-at-least-16-characters\n');
  const file = join(h.home, 'prometheus.yml');
  writeFileSync(file, example.replaceAll('/etc/prometheus/', `${h.home}/`));
  const r = spawnSync(findExecutable('promtool')!, ['check', 'config', file], { encoding: 'utf8', timeout: 60_000 });
  t.is(r.status, 0, r.stdout + r.stderr);
});
