import test from 'ava';
import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon } from '../../src/daemon/daemon.js';
import { loadDaemonConfig, type DaemonConfig } from '../../src/daemon/config.js';
import { createDaemonPricer } from '../../src/daemon/pricer-loader.js';
import { createPricer } from '../../src/pricing/index.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { CallEvent } from '../../src/event/types.js';
import { call, tempHome, waitFor, writeEventFile, type TempHome } from '../helpers/event-files.js';
import { parseExposition, promtoolCheck, sumOf } from '../metrics/exposition.js';
import { testWith } from '../helpers/external.js';
import { acquireLock } from '../../src/tail/lock-file.js';
import { REPRICE_CHUNK_ROWS } from '../../src/daemon/reprice.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const T0 = Date.parse('2026-11-20T10:00:00Z');
const TOKEN = 'reprice-token-0123456789abcdef';
const OVERRIDE_YAML = `pricing:
  providers:
    anthropic:
      multiplier: 0.5
  models:
    claude-nope-9:
      - { input: 1, output: 5, cache_read: 0.1 }
`;

/** Runs the CLI from source; resolves with its exit code and output. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // 'close', not 'exit': only then has all the output been read.
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function events(): CallEvent[] {
  const spec: [string, CallEvent['provider']][] = [
    ['claude-sonnet-4-5', 'anthropic'], ['anthropic.claude-haiku-4-5-20251001-v1:0', 'bedrock'], ['claude-nope-9', 'anthropic'],
  ];
  return Array.from({ length: 12 }, (_, i) => {
    const [model, provider] = spec[i % spec.length]!;
    const base = call({ ts: T0 + i * 20_000, model, model_requested: model, provider });
    return { ...base, usage: { ...base.usage!, input_tokens: 2000 + i, output_tokens: 300 + i, cache_read_input_tokens: 50 * i } };
  });
}

function configOf(home: string, over: Partial<DaemonConfig> = {}, file?: string): DaemonConfig {
  const c = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: home }, flags: { pollIntervalMs: 50, ...(file ? { config: file } : {}) } });
  return { ...c, listen: { host: '127.0.0.1', port: 0 }, ...over };
}

async function startDaemon(t: ExecutionContext, config: DaemonConfig, pricer?: ReturnType<typeof createDaemonPricer>): Promise<{ daemon: Daemon; logs: string[] }> {
  const logs: string[] = [];
  const daemon = await Daemon.start({ config, ...(pricer ? { pricer } : {}), log: (level, msg, fields) => logs.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`) });
  t.teardown(() => daemon.stop());
  return { daemon, logs };
}

const committed = async (d: Daemon): Promise<number> => ((await (await fetch(`${d.url}/healthz`)).json()) as { events_committed: number }).events_committed;

/** Ingests the workload with list prices (no overrides), then stops: history to reprice. */
async function ingest(t: ExecutionContext, h: TempHome, evs: CallEvent[]): Promise<void> {
  writeEventFile({ dir: h.events, calls: evs, sealed: true });
  const { daemon } = await startDaemon(t, configOf(h.home));
  await waitFor(async () => (await committed(daemon)) === evs.length, 'all events committed');
  await daemon.stop();
}

function storedCosts(h: TempHome): Map<string, { model: string; cost_nanousd: number | null; pricing_version: string }> {
  const s = SqliteStore.open({ path: join(h.data, 'claudescope.db'), readonly: true });
  try {
    return new Map((s.db.prepare('SELECT event_id, model, cost_nanousd, pricing_version FROM calls').all() as { event_id: string; model: string; cost_nanousd: number | null; pricing_version: string }[]).map((r) => [r.event_id, r]));
  } finally {
    s.close();
  }
}

function rollupsEqualRows(h: TempHome): { rollups: unknown[]; rows: unknown[] } {
  const s = SqliteStore.open({ path: join(h.data, 'claudescope.db'), readonly: true });
  try {
    return {
      rollups: s.db.prepare('SELECT minute, model, SUM(count) AS n, SUM(unpriced_count) AS u, SUM(cost_nanousd) AS c, SUM(cost_without_cache_nanousd) AS nc FROM rollup_minute GROUP BY 1, 2 ORDER BY 1, 2').all(),
      rows: s.db.prepare('SELECT (ts / 60000) * 60000 AS minute, model, COUNT(*) AS n, SUM(cost_nanousd IS NULL) AS u, SUM(cost_nanousd) AS c, SUM(cost_without_cache_nanousd) AS nc FROM calls GROUP BY 1, 2 ORDER BY 1, 2').all(),
    };
  } finally {
    s.close();
  }
}

const usd = (n: bigint): string => `${n < 0n ? '-' : ''}${(n < 0n ? -n : n) / 1_000_000_000n}.${((n < 0n ? -n : n) % 1_000_000_000n).toString().padStart(9, '0')}`;
const total = (p: ReturnType<typeof createPricer>, evs: CallEvent[]): bigint => evs.reduce((a, e) => a + BigInt(p.price(e).cost_nanousd ?? 0), 0n);

test('the daemon prices with the cost engine: stored cost = the engine\'s price, canonical model; an unknown model is warned once, counted, and null', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const evs = events();
  writeEventFile({ dir: h.events, calls: evs, sealed: true });
  const { daemon, logs } = await startDaemon(t, configOf(h.home));
  await waitFor(async () => (await committed(daemon)) === evs.length, 'all events committed');

  const engine = createPricer();
  const stored = storedCosts(h);
  for (const e of evs) {
    const want = engine.price(e);
    const got = stored.get(e.event_id)!;
    t.is(got.cost_nanousd, want.cost_nanousd, e.model ?? '');
    t.is<string | null, string | null>(got.model, engine.normalizeModel(e.model), 'the canonical model is stored');
    t.is(got.pricing_version, engine.version);
  }
  t.is(stored.get(evs[1]!.event_id)!.model, 'claude-haiku-4-5-20251001', 'a Bedrock spelling is stored canonical');
  t.is(stored.get(evs[2]!.event_id)!.cost_nanousd, null, 'an unknown model is unpriced, never $0');

  const text = await (await fetch(`${daemon.url}/metrics`)).text();
  const samples = parseExposition(text);
  t.is(sumOf(samples, 'claude_unpriced_requests_total', { model: 'claude-nope-9' }), 4);
  t.is(sumOf(samples, 'claudescope_unknown_model_events_total', { model: 'claude-nope-9' }), 4);
  t.is(sumOf(samples, 'claudescope_pricing_warnings_total', { reason: 'unknown_model' }), 1);
  t.is(sumOf(samples, 'claude_requests_total', { model: 'claude-haiku-4-5-20251001' }), 4, 'the metric label is canonical');
  t.is(sumOf(samples, 'claudescope_price_catalog_stale'), 0);
  t.true(sumOf(samples, 'claudescope_price_catalog_age_seconds') >= 0);
  t.is(sumOf(samples, 'claudescope_price_catalog_info', { version: engine.version, as_of: engine.catalogAsOf }), 1);
  const warned = logs.filter((l) => l.includes('claude-nope-9'));
  t.is(warned.length, 1, 'warned once');
  t.regex(warned[0]!, /^warn calls to claude-nope-9 are unpriced/);
  t.false(logs.some((l) => l.includes('no cost engine')));
});

testWith('promtool')('the exposition with the pricing metrics passes promtool check metrics', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const evs = events();
  writeEventFile({ dir: h.events, calls: evs, sealed: true });
  const { daemon } = await startDaemon(t, configOf(h.home));
  await waitFor(async () => (await committed(daemon)) === evs.length, 'all events committed');
  const text = await (await fetch(`${daemon.url}/metrics`)).text();
  t.true(text.includes('claudescope_unknown_model_events_total{model="claude-nope-9"} 4'));
  const r = promtoolCheck(text);
  t.is(r.status, 0, r.output);
  t.is(r.output, '', 'promtool prints no warning');
});

test('a stale catalog is logged at start and exported as claudescope_price_catalog_stale 1', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const config = configOf(h.home);
  const later = Date.parse('2031-01-01T00:00:00Z');
  const { daemon, logs } = await startDaemon(t, config, createDaemonPricer(config, { now: () => later }));
  t.true(logs.some((l) => l.startsWith('warn the price catalog is older than 60 days')), logs.join('\n'));
  const samples = parseExposition(await (await fetch(`${daemon.url}/metrics`)).text());
  t.is(sumOf(samples, 'claudescope_price_catalog_stale'), 1);
});

test('a bad pricing block refuses start naming the file, the line and the field', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const file = join(h.home, 'config.yaml');
  writeFileSync(file, `listen:\n  port: ${await freePort()}\npricing:\n  models:\n    claude-fable-5-2:\n      - from: 2026-11-09\n        input: cheap\n        output: 50\n`);
  const config = configOf(h.home, {}, file);
  const err = await t.throwsAsync(Daemon.start({ config, log: () => {} }));
  t.regex(err!.message, /config\.yaml:7: pricing\.models\["claude-fable-5-2"\]\[0\]\.input: /);
  const run = await cli(['daemon', '--config', file], { CLAUDESCOPE_HOME: h.home });
  t.not(run.code, 0);
  t.regex(run.stderr, /config\.yaml:7: pricing\.models\["claude-fable-5-2"\]\[0\]\.input: expected/);
  t.false(run.stderr.includes('started on'));
});

test('reprice without a daemon takes the lock, applies the overrides, prints the totals, keeps rollups equal to rows', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const evs = events();
  await ingest(t, h, evs);
  const file = join(h.home, 'config.yaml');
  writeFileSync(file, `listen:\n  port: ${await freePort()}\n${OVERRIDE_YAML}`);
  const before = createPricer();
  const after = createPricer({ overrides: { providers: { anthropic: { multiplier: 0.5 } }, models: { 'claude-nope-9': [{ input: 1, output: 5, cache_read: 0.1 }] } } as never });
  const b = total(before, evs);
  const a = total(after, evs);

  const dry = await cli(['reprice', '--since', '2026-11-20', '--dry-run', '--config', file], { CLAUDESCOPE_HOME: h.home });
  t.is(dry.code, 0, dry.stderr);
  t.regex(dry.stdout, /^Dry run \(nothing changed\): would reprice 12 calls/);
  t.is(storedCosts(h).get(evs[0]!.event_id)!.cost_nanousd, before.price(evs[0]!).cost_nanousd, 'a dry run stores nothing');

  const run = await cli(['reprice', '--since', '2026-11-20', '--config', file], { CLAUDESCOPE_HOME: h.home });
  t.is(run.code, 0, run.stderr);
  t.log(run.stdout);
  t.true(run.stdout.includes(`Total: ${usd(b)} USD → ${usd(a)} USD (${usd(a - b)} USD).`), run.stdout);
  t.regex(run.stdout, /Calls whose price changed: 8; newly priced: 4; newly unpriced: 0/);
  t.regex(run.stdout, /claude-nope-9\s+4\s+4\s+0\.000000000\s+\S+\s+\+\S+\s+4→0/);
  const stored = storedCosts(h);
  for (const e of evs) t.is(stored.get(e.event_id)!.cost_nanousd, after.price(e).cost_nanousd);
  const { rollups, rows } = rollupsEqualRows(h);
  t.deepEqual(rollups, rows);

  const json = await cli(['reprice', '--since', '2026-11-20', '--json', '--config', file], { CLAUDESCOPE_HOME: h.home });
  t.is(json.code, 0, json.stderr);
  const s = JSON.parse(json.stdout) as { price_changed: number; difference_usd: string };
  t.is(s.price_changed, 0, 'a second reprice changes nothing');
  t.is(s.difference_usd, '0.000000000');
});

test('reprice without a daemon stops at Ctrl-C between two chunks: prints what it did, exits 130, leaves rollups equal to rows; run again, it finishes the window', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const from = Date.UTC(2026, 10, 20);
  const calls = 100_000;
  const pricer = createPricer();
  const store = SqliteStore.open({ path: join(h.data, 'claudescope.db') });
  for (let i = 0; i < calls; i += 5000) {
    const batch = Array.from({ length: 5000 }, (_, k) => call({ ts: from + (i + k) * 800, model: ['claude-sonnet-4-5', 'claude-nope-9'][k % 2]! }));
    store.commitBatch({ calls: batch.map((e) => ({ event: e, raw: JSON.stringify(e), price: pricer.price(e) })), checkpoints: [], emitterStats: [] });
  }
  store.foldRollups();
  store.close();
  const file = join(h.home, 'config.yaml');
  writeFileSync(file, `listen:\n  port: ${await freePort()}\n${OVERRIDE_YAML}`);
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'reprice', '--since', '2026-11-20', '--json', '--config', file];
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, CLAUDESCOPE_HOME: h.home }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let interrupted = false;
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    // Once, when it says it runs: the first chunk is under way (the signal is heard after it).
    if (!interrupted && stderr.includes('Ctrl-C stops between two chunks')) {
      interrupted = true;
      child.kill('SIGINT');
    }
  });
  const [code] = (await once(child, 'close')) as [number | null];
  t.is(code, 130, stderr);
  t.regex(stderr, /claudescope: stopped: \d+ of the window's calls were repriced \(\d+ rows rewritten, in whole chunks\), the calls after them were not; run the same reprice again to finish the window\n$/);
  const part = JSON.parse(stdout) as { calls: number };
  t.true(part.calls > 0 && part.calls < calls && part.calls % REPRICE_CHUNK_ROWS === 0, `${part.calls} calls in whole chunks of ${REPRICE_CHUNK_ROWS}`);
  const { rollups, rows } = rollupsEqualRows(h);
  t.deepEqual(rollups, rows);
  // The rest: a second run reads the whole window and finds the calls already done right.
  const again = await cli(['reprice', '--since', '2026-11-20', '--json', '--config', file], { CLAUDESCOPE_HOME: h.home });
  t.is(again.code, 0, again.stderr);
  t.is((JSON.parse(again.stdout) as { calls: number }).calls, calls);
});

test('reprice goes through the running daemon\'s API (with its bearer token) while the daemon holds the store', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const evs = events();
  await ingest(t, h, evs);
  const file = join(h.home, 'config.yaml');
  const yaml = (port: number): string => `listen:\n  port: ${port}\nauth:\n  token: ${TOKEN}\n  require_token: true\n${OVERRIDE_YAML}`;
  // The daemon takes a free port itself, which the file then names for the CLI: a port found
  // free beforehand could be taken by a concurrent test's server before the daemon binds it.
  writeFileSync(file, yaml(0));
  const config = { ...configOf(h.home, {}, file), listen: { host: '127.0.0.1', port: 0 } };
  const { daemon, logs } = await startDaemon(t, config);
  writeFileSync(file, yaml(Number(new URL(daemon.url).port)));
  const unauthorized = await fetch(`${daemon.url}/api/reprice`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"since":"2026-11-20"}' });
  t.is(unauthorized.status, 401);
  const bad = await fetch(`${daemon.url}/api/reprice`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: '{"since":"last week"}' });
  t.is(bad.status, 400);
  t.regex(((await bad.json()) as { message: string }).message, /^since: expected a date/);

  const run = await cli(['reprice', '--since', '2026-11-20', '--json', '--config', file], { CLAUDESCOPE_HOME: h.home });
  t.is(run.code, 0, run.stderr);
  const s = JSON.parse(run.stdout) as { calls: number; price_changed: number; newly_priced: number; after_usd: string; pricing_version: string };
  t.is(s.calls, 12);
  t.is(s.price_changed, 8);
  t.is(s.newly_priced, 4);
  t.is(s.pricing_version, createDaemonPricer(config).version);
  t.true(logs.some((l) => l.startsWith('info repriced 12 calls')), 'the daemon did the work');
  const [sum] = await daemon.pipeline.query.aggregate({ window: { start: T0, end: T0 + 3_600_000 }, aggregates: { cost: { op: 'sum', field: 'cost_usd' }, unpriced: { op: 'unpriced_count' } } });
  t.is(sum!.values['unpriced'], 0);
  t.is(Math.round(sum!.values['cost']! * 1e9), Number(s.after_usd.replace('.', '')), 'the store answers the repriced total');

  // The file's prices changed after the daemon started: it reprices with its own, which is
  // not what was asked, so the command says to restart it and fails (a dry run only says so).
  writeFileSync(file, yaml(Number(new URL(daemon.url).port)).replace('multiplier: 0.5', 'multiplier: 0.8'));
  const restartNote = /^claudescope: the running daemon prices with \S+, but the configuration now gives \S+: restart the daemon to apply the changed pricing: block, then reprice again\n$/;
  const stale = await cli(['reprice', '--since', '2026-11-20', '--config', file], { CLAUDESCOPE_HOME: h.home });
  t.is(stale.code, 1, stale.stderr);
  t.regex(stale.stderr, restartNote);
  const staleDry = await cli(['reprice', '--since', '2026-11-20', '--dry-run', '--config', file], { CLAUDESCOPE_HOME: h.home });
  t.is(staleDry.code, 0, staleDry.stderr);
  t.regex(staleDry.stderr, restartNote);
  await daemon.stop();
  const { rollups, rows } = rollupsEqualRows(h);
  t.deepEqual(rollups, rows);
});

test('pricing explain --id prints a stored call part by part, its stored price and what the current catalog says', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const evs = events();
  await ingest(t, h, evs);
  const id = evs[0]!.event_id;
  const list = createPricer().price(evs[0]!);

  const same = await cli(['pricing', 'explain', '--id', id, '--home', h.home]);
  t.is(same.code, 0, same.stderr);
  t.regex(same.stdout, new RegExp(`Call\\s+${id}`));
  t.regex(same.stdout, /^\s+input\s+2,000\s/m);
  t.regex(same.stdout, /^\s+output\s+300\s/m);
  t.regex(same.stdout, new RegExp(`Stored\\s+${(list.cost_nanousd! / 1e9).toFixed(9).replace('.', '\\.')} USD · prices ${list.pricing_version.replace(/\./g, '\\.')}`));
  t.regex(same.stdout, /Current\s+the same/);

  const file = join(h.home, 'other.yaml');
  writeFileSync(file, OVERRIDE_YAML);
  const differs = await cli(['pricing', 'explain', '--id', id, '--home', h.home, '--config', file]);
  t.is(differs.code, 0, differs.stderr);
  t.regex(differs.stdout, /Current\s+\d+\.\d{9} USD \(-\d+\.\d{9} USD\) · prices \S+\+o\./);
  t.regex(differs.stdout, /pricing\.providers\.anthropic\.multiplier/);

  const missing = await cli(['pricing', 'explain', '--id', 'no-such-id', '--home', h.home]);
  t.not(missing.code, 0);
  t.regex(missing.stderr, /no stored call with event_id "no-such-id"/);
});

test('reprice decides by the data-folder lock: a live owner that does not answer is an error, nothing is repriced', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const evs = events();
  await ingest(t, h, evs);
  const lock = acquireLock(join(h.data, 'daemon.lock'));
  t.teardown(() => lock.release());
  const file = join(h.home, 'config.yaml');
  writeFileSync(file, `listen:\n  port: ${await freePort()}\n${OVERRIDE_YAML}`);
  const run = await cli(['reprice', '--since', '2026-11-20', '--config', file], { CLAUDESCOPE_HOME: h.home });
  t.not(run.code, 0);
  t.regex(run.stderr, new RegExp(`a daemon \\(pid ${process.pid}\\) owns .* but does not answer at http://127\\.0\\.0\\.1:\\d+`));
  // The port of a daemon started with --port is in no file: the message says how to give it.
  t.regex(run.stderr, /set CLAUDESCOPE_LISTEN_PORT or CLAUDESCOPE_LISTEN_HOST to the same/);
  t.is(storedCosts(h).get(evs[0]!.event_id)!.cost_nanousd, createPricer().price(evs[0]!).cost_nanousd);
});
