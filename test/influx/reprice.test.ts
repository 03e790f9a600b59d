/**
 * `claudescope reprice` with InfluxDB configured: the calls' `claude_call` points are
 * rewritten with the new prices (a real influxd, a daemon ingesting real event files), so
 * InfluxDB's cost sums agree with the store's, exactly in nanodollars; a dry run changes
 * nothing; with InfluxDB down the store is repriced, the command says InfluxDB was not
 * updated and exits 1, and the same reprice run once InfluxDB is back completes it.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon } from '../../src/daemon/daemon.js';
import { loadDaemonConfig, type DaemonConfig } from '../../src/daemon/config.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { CallEvent } from '../../src/event/types.js';
import type { RepriceSummary } from '../../src/daemon/reprice.js';
import { InfluxRepricer, nanosOfRfc3339 } from '../../src/store/influx-reprice.js';
import { repriceStore } from '../../src/daemon/reprice.js';
import { createDaemonPricer } from '../../src/daemon/pricer-loader.js';
import { parseInfluxSettings } from '../../src/store/influx-config.js';
import { call, tempHome, waitFor, writeEventFile, type TempHome } from '../helpers/event-files.js';
import { testWith } from '../helpers/external.js';
import { freePort, startInfluxd, type Influxd } from '../helpers/influxd.js';

const it = testWith('influxd');
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DB = 'reprice';
const DAY = 86_400_000;
/** A recent whole hour: the points must be inside the database's 30-day retention policy. */
const T0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 2 * 3_600_000;
/** Older than the retention policy: stored in SQLite, dropped by InfluxDB. */
const OLD = T0 - 40 * DAY;
const SINCE = new Date(OLD - DAY).toISOString();

/** The prices the calls were ingested with: claude-nope-9 priced, the gateway name unknown. */
const BEFORE_YAML = `pricing:
  models:
    claude-nope-9:
      - { input: 1, output: 5, cache_read: 0.1 }
`;
/**
 * The prices they are repriced with: direct API calls at half price (points overwritten),
 * claude-nope-9 no longer priced (its cost fields must go: deleted, written again), the
 * gateway name an alias of a priced model (another model tag: another series).
 */
const AFTER_YAML = `pricing:
  providers:
    anthropic:
      multiplier: 0.5
  models:
    my-gateway-model:
      aliases: [gw/claude]
      prices:
        - { input: 3, output: 15, cache_read: 0.3 }
`;

function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, env: { ...process.env, CLAUDESCOPE_CONFIG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function events(): CallEvent[] {
  const spec: [string, CallEvent['provider']][] = [
    ['claude-sonnet-4-5', 'anthropic'], ['anthropic.claude-haiku-4-5-20251001-v1:0', 'bedrock'], ['claude-nope-9', 'anthropic'], ['gw/claude', 'anthropic'],
  ];
  const recent = Array.from({ length: 16 }, (_, i) => {
    const [model, provider] = spec[i % spec.length]!;
    const base = call({ ts: T0 + i * 20_000, model, model_requested: model, provider, tags: { feature: i % 2 === 0 ? 'chat' : 'search' } });
    return { ...base, usage: { ...base.usage!, input_tokens: 2000 + i, output_tokens: 300 + i, cache_read_input_tokens: 50 * i } };
  });
  const old = [0, 1].map((i) => call({ ts: OLD + i * 1000, model: 'claude-sonnet-4-5', model_requested: 'claude-sonnet-4-5' }));
  return [...recent, ...old];
}

interface Setup {
  h: TempHome;
  influx: Influxd;
  file: string;
  port: number;
  evs: CallEvent[];
}

function writeConfig(s: { file: string; port: number; influx: Influxd }, pricing: string): void {
  writeFileSync(s.file, `listen:\n  port: ${s.port}\ninfluxdb:\n  url: ${s.influx.url}\n  api: v1\n  database: ${DB}\n  health_interval_ms: 0\n${pricing}`);
}

function configOf(s: { h: TempHome; file: string; port: number }): DaemonConfig {
  const c = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: s.h.home }, flags: { pollIntervalMs: 50, config: s.file } });
  return { ...c, listen: { host: '127.0.0.1', port: s.port } };
}

const committed = async (d: Daemon): Promise<number> => ((await (await fetch(`${d.url}/healthz`)).json()) as { events_committed: number }).events_committed;

async function startDaemon(t: ExecutionContext, s: Setup): Promise<Daemon> {
  const daemon = await Daemon.start({ config: configOf(s), log: () => {} });
  t.teardown(() => daemon.stop());
  return daemon;
}

/** A real influxd (30-day retention), and a daemon that ingested the calls into both stores with the BEFORE prices. */
async function setup(t: ExecutionContext): Promise<Setup> {
  t.timeout(180_000);
  const influx = await startInfluxd();
  t.teardown(() => influx.dispose());
  await influx.query(`CREATE DATABASE "${DB}" WITH DURATION 30d`);
  const h = tempHome();
  t.teardown(h.cleanup);
  // Port 0 until a daemon that the CLI must reach runs: the daemon takes a free port itself,
  // which the file then names (a port found free beforehand could be taken by a concurrent
  // test's server before the daemon binds it).
  const s: Setup = { h, influx, file: join(h.home, 'config.yaml'), port: 0, evs: events() };
  writeConfig(s, BEFORE_YAML);
  writeEventFile({ dir: h.events, calls: s.evs, sealed: true });
  const daemon = await startDaemon(t, s);
  await waitFor(async () => (await committed(daemon)) === s.evs.length, 'all events committed');
  await waitFor(async () => (await influxPoints(influx)).size === 16, 'the recent points in InfluxDB');
  await daemon.stop();
  return s;
}

interface Point { model: string; feature: string; nano: number | null; usd: number | null; unpriced: number; version: string | null }

/** Every `claude_call` point by event id (a call twice in InfluxDB fails the test). */
async function influxPoints(influx: Influxd): Promise<Map<string, Point>> {
  const res = await influx.query('SELECT "event_id", "cost_nanousd", "cost_usd", "unpriced", "pricing_version" FROM "claude_call" GROUP BY *', DB);
  const out = new Map<string, Point>();
  for (const series of res[0]?.series ?? []) {
    for (const [, id, nano, usd, unpriced, version] of series.values ?? []) {
      if (out.has(id as string)) throw new Error(`event ${String(id)} has two points`);
      out.set(id as string, { model: series.tags?.['model'] ?? '', feature: series.tags?.['feature'] ?? '', nano: nano as number | null, usd: usd as number | null, unpriced: unpriced as number, version: version as string | null });
    }
  }
  return out;
}

/** The sum InfluxDB answers for the window, in nanodollars (as the InfluxQL query interface sums it). */
async function influxSum(influx: Influxd): Promise<number> {
  const v = await influx.values(`SELECT SUM("cost_nanousd") FROM "claude_call" WHERE time >= '${SINCE}'`, DB);
  return Number(v[0]?.[1] ?? 0);
}

interface Row { event_id: string; model: string; cost_nanousd: number | null; pricing_version: string; ts: number }

function storeRows(h: TempHome): Map<string, Row> {
  const s = SqliteStore.open({ path: join(h.data, 'claudescope.db'), readonly: true });
  try {
    return new Map((s.db.prepare('SELECT event_id, model, cost_nanousd, pricing_version, ts FROM calls').all() as Row[]).map((r) => [r.event_id, r]));
  } finally {
    s.close();
  }
}

/** InfluxDB agrees with the store: every recent call's point has the row's model, cost and version; the sums are equal. */
async function assertAgree(t: ExecutionContext, s: Setup): Promise<void> {
  const points = await influxPoints(s.influx);
  const rows = storeRows(s.h);
  t.is(points.size, 16, 'one point per recent call, none doubled');
  let storeSum = 0;
  for (const r of rows.values()) {
    if (r.ts === OLD || r.ts === OLD + 1000) {
      t.false(points.has(r.event_id), 'a call older than the retention policy has no point');
      continue;
    }
    storeSum += r.cost_nanousd ?? 0;
    const p = points.get(r.event_id)!;
    t.is(p.model, r.model, `model of ${r.event_id}`);
    t.is(p.nano, r.cost_nanousd, `cost of ${r.event_id} (${r.model})`);
    t.is(p.usd, r.cost_nanousd === null ? null : r.cost_nanousd / 1e9, 'an unpriced call has no cost field, never 0');
    t.is(p.unpriced, r.cost_nanousd === null ? 1 : 0);
    t.is(p.version, r.pricing_version);
  }
  t.is(await influxSum(s.influx), storeSum, 'InfluxDB sums the store\'s nanodollars');
}

it('reprice rewrites the InfluxDB points (overwritten, relabelled, no longer priced); a dry run changes nothing; with InfluxDB down it says so, exits 1, and a re-run completes it', async (t) => {
  const s = await setup(t);
  const env = { CLAUDESCOPE_HOME: s.h.home };
  const ingested = await influxPoints(s.influx);
  t.is(ingested.get(s.evs[2]!.event_id)!.unpriced, 0, 'claude-nope-9 was priced at ingestion');
  t.is(ingested.get(s.evs[3]!.event_id)!.model, 'gw/claude');
  const sumBefore = await influxSum(s.influx);
  writeConfig(s, AFTER_YAML);

  const dry = await cli(['reprice', '--since', SINCE, '--dry-run', '--config', s.file], env);
  t.is(dry.code, 0, dry.stderr);
  t.regex(dry.stdout, /InfluxDB: 16 points to rewrite \(8 old to delete: another model or a cost no longer known\), 0 already right; 2 calls have no point there/);
  t.deepEqual(await influxPoints(s.influx), ingested, 'a dry run changes no point');

  await s.influx.stop();
  const down = await cli(['reprice', '--since', SINCE, '--config', s.file], env);
  t.is(down.code, 1, down.stderr);
  t.regex(down.stdout, /^Repriced 18 calls/);
  t.regex(down.stdout, /InfluxDB NOT updated: InfluxDB unreachable: .*run the same reprice again/);
  t.regex(down.stderr, /the store is repriced, but InfluxDB was not updated \(.*\): run the same reprice again once InfluxDB answers/);
  const repriced = storeRows(s.h);
  t.is(repriced.get(s.evs[2]!.event_id)!.cost_nanousd, null, 'the store is repriced all the same');
  t.is(repriced.get(s.evs[3]!.event_id)!.model, 'my-gateway-model');

  await s.influx.restart();
  t.deepEqual(await influxPoints(s.influx), ingested, 'InfluxDB still has the old costs');
  t.is(await influxSum(s.influx), sumBefore);

  const again = await cli(['reprice', '--since', SINCE, '--json', '--config', s.file], env);
  t.is(again.code, 0, again.stderr);
  const sum = JSON.parse(again.stdout) as RepriceSummary;
  t.is(sum.price_changed, 0, 'the store had nothing left to change');
  await assertAgree(t, s);
  t.deepEqual(sum.influxdb, { checked: 18, rewritten: 16, deleted: 8, missing: 2, error: null });
  t.not(await influxSum(s.influx), sumBefore);

  const third = await cli(['reprice', '--since', SINCE, '--config', s.file], env);
  t.is(third.code, 0, third.stderr);
  t.regex(third.stdout, /InfluxDB: 0 points rewritten, 16 already right; 2 calls have no point there/);
  await assertAgree(t, s);
});

it('reprice through the running daemon rewrites its InfluxDB points too; with InfluxDB down the daemon answers why and the command exits 1', async (t) => {
  const s = await setup(t);
  const env = { CLAUDESCOPE_HOME: s.h.home };
  const ingested = await influxPoints(s.influx);
  writeConfig(s, AFTER_YAML);
  const logs: string[] = [];
  const daemon = await Daemon.start({ config: configOf(s), log: (level, msg, fields) => logs.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`) });
  t.teardown(() => daemon.stop());
  s.port = Number(new URL(daemon.url).port);
  writeConfig(s, AFTER_YAML);

  await s.influx.stop();
  const down = await cli(['reprice', '--since', SINCE, '--json', '--config', s.file], env);
  t.is(down.code, 1, down.stderr);
  t.regex(down.stderr, /the store is repriced, but InfluxDB was not updated/);
  const failed = JSON.parse(down.stdout) as RepriceSummary;
  t.is(failed.price_changed, 14, 'the store is repriced all the same');
  t.is(failed.influxdb?.checked, 0);
  t.regex(failed.influxdb?.error ?? '', /^InfluxDB unreachable/);
  t.true(logs.some((l) => l.startsWith('warn repriced the store, but InfluxDB was not updated')), logs.join('\n'));

  await s.influx.restart();
  t.deepEqual(await influxPoints(s.influx), ingested, 'InfluxDB still has the old costs');
  const run = await cli(['reprice', '--since', SINCE, '--json', '--config', s.file], env);
  t.is(run.code, 0, run.stderr);
  const sum = JSON.parse(run.stdout) as RepriceSummary;
  t.is(sum.calls, 18);
  await assertAgree(t, s);
  t.deepEqual(sum.influxdb, { checked: 18, rewritten: 16, deleted: 8, missing: 2, error: null });
  await daemon.stop();
});

it('the store and InfluxDB are repriced chunk by chunk alike (small chunks, calls of a chunk far apart in time)', async (t) => {
  const s = await setup(t);
  writeConfig(s, AFTER_YAML);
  const config = configOf(s);
  const settings = parseInfluxSettings(config.influxdb, config.configFile)!;
  const store = SqliteStore.open({ path: join(s.h.data, 'claudescope.db') });
  const influx = new InfluxRepricer({ connection: settings.connection, dryRun: false });
  try {
    const sum = await repriceStore(store, createDaemonPricer(config), { since: Date.parse(SINCE), until: Infinity, dryRun: false, chunkRows: 5 }, influx);
    t.deepEqual(sum.influxdb, { checked: 18, rewritten: 16, deleted: 8, missing: 2, error: null });
  } finally {
    store.close();
    await influx.close();
  }
  await assertAgree(t, s);
});

/**
 * InfluxDB as Cloud Serverless and 3.x answer DELETE: refused. Everything else is passed to
 * the real influxd.
 */
async function refusingDeletes(t: ExecutionContext, target: string): Promise<string> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const q = new URLSearchParams(body.toString()).get('q') ?? new URL(req.url ?? '/', 'http://x').searchParams.get('q') ?? '';
      if (/^\s*DELETE\b/im.test(q)) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'error parsing query: DELETE is not supported' }));
        return;
      }
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'content-length', 'connection'].includes(k))) as Record<string, string>;
      void fetch(`${target}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, ...(body.length > 0 ? { body } : {}) })
        .then(async (r) => res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await r.arrayBuffer())))
        .catch(() => res.writeHead(502).end());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

it('where InfluxDB refuses DELETE, a reprice that needs one writes nothing there (a relabelled call is never left under two models) and says why', async (t) => {
  const s = await setup(t);
  const ingested = await influxPoints(s.influx);
  writeConfig(s, AFTER_YAML);
  const config = configOf(s);
  const settings = parseInfluxSettings(config.influxdb, config.configFile)!;
  const url = await refusingDeletes(t, s.influx.url);
  const store = SqliteStore.open({ path: join(s.h.data, 'claudescope.db') });
  const influx = new InfluxRepricer({ connection: { ...settings.connection, url }, dryRun: false });
  try {
    const sum = await repriceStore(store, createDaemonPricer(config), { since: Date.parse(SINCE), until: Infinity, dryRun: false }, influx);
    t.regex(sum.influxdb?.error ?? '', /^InfluxDB refuses DELETE .*DELETE is not supported.*cannot be rewritten there/);
  } finally {
    store.close();
    await influx.close();
  }
  t.deepEqual(await influxPoints(s.influx), ingested, 'no point written, none doubled');
  t.is(storeRows(s.h).get(s.evs[3]!.event_id)!.model, 'my-gateway-model', 'the store is repriced all the same');
});

test('reprice refuses a configuration that keeps no embedded store', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const file = join(h.home, 'config.yaml');
  writeFileSync(file, `listen:\n  port: ${await freePort()}\ninfluxdb:\n  url: http://127.0.0.1:9\n  api: v1\n  embedded_store: false\n`);
  const run = await cli(['reprice', '--since', '2026-11-01', '--config', file], { CLAUDESCOPE_HOME: h.home });
  t.not(run.code, 0);
  t.regex(run.stderr, /repricing works on the embedded store; this configuration keeps none \(influxdb\.embedded_store: false\)/);
});

test('InfluxDB times are read to the nanosecond', (t) => {
  t.is(nanosOfRfc3339('2026-11-20T10:00:00.123000042Z'), '1795168800123000042');
  t.is(nanosOfRfc3339('2026-11-20T10:00:00.5Z'), '1795168800500000000');
  t.is(nanosOfRfc3339('2026-11-20T10:00:00Z'), '1795168800000000000');
  t.throws(() => nanosOfRfc3339('1795168800123000042'), { message: /unexpected time/ });
});
