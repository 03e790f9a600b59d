/**
 * Benchmark of the dashboard over a large store: each JSON API call's time per window
 * (median of several runs, after one warm-up), against `/healthz` measured in the same run as
 * the baseline, and the page's first render in headless Chromium (navigation start until every
 * tile, chart and the calls table are drawn). Prints the number of calls and the machine's load.
 *
 * The store is seeded either through the store's own write path (`commitBatch`: rows, rollups
 * and rate limits in one transaction per batch; the default) or, with `--bulk`, by the bulk
 * seed of scripts/bench-seed.ts (rows and rollups written by SQL: 10M calls in minutes), which also tops a kept store up to the present before measuring. Neither goes
 * through event files and the tailer (see bench-pipeline.ts for that). The seeded store's
 * coarse rollup levels are folded before measuring, as the daemon does at start.
 *
 *   node --import tsx scripts/bench-dashboard.ts [--calls 100000] [--bulk] [--days 30] [--runs 5] [--home DIR] [--no-browser]
 *
 * `BENCH_CALLS=N` and `BENCH_SEED=bulk` do the same as `--calls N` and `--bulk`.
 * `--home DIR` keeps (or reuses, when it already holds a store) the seeded store.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { SqliteStore, type PricedCall } from '../src/store/sqlite-store.js';
import type { CallEvent } from '../src/event/types.js';
import type { Pricer, PriceResult } from '../src/pricing/types.js';
import { Daemon } from '../src/daemon/daemon.js';
import { loadDaemonConfig } from '../src/daemon/config.js';
import { numArg, strArg } from './bench-args.js';
import { bulkSeed, topUpSeed } from './bench-seed.js';

const N = numArg('calls', Number(process.env['BENCH_CALLS'] ?? 100_000));
const BULK = process.argv.includes('--bulk') || process.env['BENCH_SEED'] === 'bulk';
const DAYS = numArg('days', 30);
const RUNS = numArg('runs', 5);
const BROWSER = !process.argv.includes('--no-browser');
const keep = strArg('home');
const home = keep ?? mkdtempSync(join(tmpdir(), 'claudescope-bench-dash-'));
const DAY = 86_400_000;
const now = Date.now();
const models = ['claude-opus-4-5', 'claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-sonnet-4'];
const features = ['chat', 'search', 'summarise', 'classify', 'agent'];
const RATES = { input: 3, output: 15, cache_read: 0.3 };

/** One synthetic call: a few error kinds, streams with TTFT, cache reads, rate-limit headers. */
function syntheticCall(k: number, ts: number): PricedCall {
  const r = k % 100;
  const status = r < 2 ? 'error' : r === 2 ? 'aborted' : 'ok';
  const errorType = r === 0 ? 'overloaded_error' : r === 1 ? 'rate_limit_error' : null;
  const duration = 300 + ((k * 7919) % 9000);
  const input = 200 + (k % 900);
  const output = status === 'ok' ? 20 + (k % 400) : 0;
  const cacheRead = k % 3 === 0 ? 2000 : 0;
  const attempts = r < 5 ? 2 : 1;
  const event = {
    t: 'call', v: 1, event_id: randomUUID(), seq: k, ts, ts_start: ts - duration, app: 'bench', env: null, host: 'bench', pid: 1,
    tags: { feature: features[k % features.length]! }, provider: 'anthropic', operation: 'messages.create',
    model_requested: models[k % models.length]!, model: models[k % models.length]!, stream: k % 2 === 0, max_tokens: 1024, tool_count: 0,
    status, http_status: r === 0 ? 529 : r === 1 ? 429 : 200, error_type: errorType, error_code: null,
    stop_reason: status === 'ok' ? 'end_turn' : null, request_id: `req_${k}`, message_id: null, organization_id: null, workspace_id: null,
    api_key_alias: null, attempts,
    attempt_log: Array.from({ length: attempts }, (_, i) => ({ status: i < attempts - 1 ? 529 : 200, error_type: i < attempts - 1 ? 'overloaded_error' : null, request_id: null, start_offset_ms: i * 1000, duration_ms: 200, retry_after_ms: null })),
    duration_ms: duration, ttft_ms: k % 2 === 0 ? 100 + (k % 700) : null, output_tokens_per_second: null, complete: true,
    usage: {
      input_tokens: input, output_tokens: output, cache_read_input_tokens: cacheRead, cache_creation_input_tokens: 0, cache_write_5m_input_tokens: 0,
      cache_write_1h_input_tokens: 0, cache_write_unknown_ttl_input_tokens: 0, thinking_tokens: null, web_search_requests: 0, web_fetch_requests: 0,
      code_execution_requests: 0, service_tier: 'standard', speed: null, inference_geo: null,
    },
    rate_limits: { requests: { limit: 4000, remaining: 4000 - (k % 4000), reset: null }, tokens: { limit: 400_000, remaining: 400_000 - (k % 300_000), reset: null } },
  } as unknown as CallEvent;
  return { event, raw: JSON.stringify({ event_id: event.event_id, attempt_log: event.attempt_log, usage: { input_tokens: input, output_tokens: output, cache_read_input_tokens: cacheRead } }), price: price(event) };
}

function price(e: CallEvent): PriceResult {
  const u = e.usage!;
  const nano = Math.round((u.input_tokens * RATES.input + u.output_tokens * RATES.output + u.cache_read_input_tokens * RATES.cache_read) * 1000);
  const noCache = Math.round(((u.input_tokens + u.cache_read_input_tokens) * RATES.input + u.output_tokens * RATES.output) * 1000);
  return {
    cost_usd: nano / 1e9, cost_nanousd: nano, cost_without_cache_usd: noCache / 1e9, cost_without_cache_nanousd: noCache, provider: 'anthropic',
    parts: [
      { dimension: 'input', quantity: u.input_tokens, rate_usd: RATES.input, cost_usd: (u.input_tokens * RATES.input) / 1e6, source: 'bench' },
      { dimension: 'output', quantity: u.output_tokens, rate_usd: RATES.output, cost_usd: (u.output_tokens * RATES.output) / 1e6, source: 'bench' },
      { dimension: 'cache_read', quantity: u.cache_read_input_tokens, rate_usd: RATES.cache_read, cost_usd: (u.cache_read_input_tokens * RATES.cache_read) / 1e6, source: 'bench' },
    ],
    pricing_version: 'bench', priced: true, model: e.model, flags: [],
  } as PriceResult;
}

const out = (s: string): void => void process.stdout.write(`${s}\n`);
const fmtN = (n: number): string => n.toLocaleString('en-US');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(', ');

// ---- seed ----
const dbPath = join(home, 'data', 'claudescope.db');
if (!existsSync(dbPath) && BULK) {
  mkdirSync(join(home, 'data'), { recursive: true });
  mkdirSync(join(home, 'events'), { recursive: true });
  const r = bulkSeed(dbPath, { calls: N, from: now - DAYS * DAY, to: now, log: (l) => void process.stderr.write(`${l}\n`) });
  out(`bulk-seeded ${fmtN(N)} calls over ${DAYS} days in ${r.seconds.toFixed(1)} s (${fmtN(Math.round(N / r.seconds))} calls/s), ${fmtN(r.minuteRollups)} per-minute rollup rows`);
} else if (!existsSync(dbPath)) {
  mkdirSync(join(home, 'data'), { recursive: true });
  mkdirSync(join(home, 'events'), { recursive: true });
  const store = SqliteStore.open({ path: dbPath });
  const t0 = performance.now();
  const BATCH = 20_000;
  const span = DAYS * DAY;
  for (let i = 0; i < N; i += BATCH) {
    const calls: PricedCall[] = [];
    for (let k = i; k < Math.min(N, i + BATCH); k++) calls.push(syntheticCall(k, now - span + Math.floor((span * k) / N)));
    store.commitBatch({ calls, checkpoints: [], emitterStats: [] });
    if ((i / BATCH) % 50 === 49) process.stderr.write(`  seeded ${fmtN(i + BATCH)}\n`);
  }
  store.foldRollups();
  const s = (performance.now() - t0) / 1000;
  const rollups = (store.db.prepare('SELECT COUNT(*) AS n FROM rollup_minute').get() as { n: number }).n;
  store.close();
  out(`seeded ${fmtN(N)} calls over ${DAYS} days in ${s.toFixed(1)} s (${fmtN(Math.round(N / s))} calls/s), ${fmtN(rollups)} rollup rows`);
} else {
  out(`reusing the store in ${home}`);
}
if (BULK) {
  // Calls up to the present, so the last hour is as full as the others (seeding took minutes; a kept store may be days old).
  const r = topUpSeed(dbPath, Date.now());
  out(`topped up with ${fmtN(r.calls)} calls to the present in ${r.seconds.toFixed(1)} s`);
}
const stored = ((): number => {
  const s = SqliteStore.open({ path: dbPath, readonly: true });
  const n = s.db.prepare('SELECT COUNT(*) FROM calls').pluck().get() as number;
  s.close();
  return n;
})();
out(`calls stored: ${fmtN(stored)}; load average (1, 5, 15 min) before measuring: ${load()} on ${availableParallelism()} cores`);

// ---- daemon ----
const pricer: Pricer = { version: 'bench', price };
const config = { ...loadDaemonConfig({ env: { CLAUDESCOPE_HOME: home } }), listen: { host: '127.0.0.1', port: 0 } };
// The alert engine's minute tick (bench-rules.ts measures it) runs in the same thread and would
// land inside some measurements: scheduled out of the way here, so the API is measured alone.
const daemon = await Daemon.start({ config, pricer, log: () => {}, ruleSchedule: '0 0 0 1 1 *' });
const base = daemon.url;

async function timed(path: string): Promise<number> {
  const t = performance.now();
  const r = await fetch(`${base}${path}`);
  await r.arrayBuffer();
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return performance.now() - t;
}
async function measure(path: string): Promise<number> {
  await timed(path);
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) xs.push(await timed(path));
  return median(xs);
}

const baseline = await measure('/healthz');
out(`\nAPI (median of ${RUNS} after a warm-up; baseline /healthz ${baseline.toFixed(2)} ms)`);
out(`${'endpoint'.padEnd(44)} ${'ms'.padStart(9)} ${'× baseline'.padStart(11)}`);
const rows: [string, number][] = [];
const windows = [['1h', 3_600_000], ['24h', DAY], ['7d', 7 * DAY], ['30d', 30 * DAY]] as const;
const end = Date.now();
const someCall = ((await (await fetch(`${base}/api/calls?limit=1`)).json()) as { calls: { event_id: string }[] }).calls[0]?.event_id ?? 'none';
for (const [label, span] of windows) {
  const qs = `from=${end - span}&to=${end}`;
  rows.push([`/api/summary ${label}`, await measure(`/api/summary?${qs}`)]);
  rows.push([`/api/timeseries ${label}`, await measure(`/api/timeseries?${qs}`)]);
  rows.push([`/api/calls ${label} (50, newest)`, await measure(`/api/calls?${qs}`)]);
  rows.push([`/api/calls ${label} model= filter`, await measure(`/api/calls?${qs}&model=claude-haiku-4-5&status=error`)]);
  rows.push([`/api/calls ${label} feature= filter`, await measure(`/api/calls?${qs}&feature=agent`)]);
  rows.push([`/api/calls ${label} error_type= filter`, await measure(`/api/calls?${qs}&error_type=invalid_request_error`)]);
  rows.push([`/api/calls ${label} filter matching none`, await measure(`/api/calls?${qs}&feature=no-such-feature`)]);
}
rows.push(['/api/ratelimits', await measure('/api/ratelimits')]);
rows.push(['/api/alerts', await measure('/api/alerts')]);
rows.push(['/api/reconcile/latest', await measure('/api/reconcile/latest')]);
rows.push(['/api/calls/<id>', await measure(`/api/calls/${someCall}`)]);
for (const [name, ms] of rows) out(`${name.padEnd(44)} ${ms.toFixed(2).padStart(9)} ${(ms / baseline).toFixed(1).padStart(11)}`);
const slowest = rows.reduce((a, b) => (b[1] > a[1] ? b : a));
out(`slowest: ${slowest[0]} ${slowest[1].toFixed(1)} ms (target < 100 ms) with ${fmtN(stored)} calls stored; load average ${load()}`);

// ---- first render in Chromium ----
if (BROWSER && existsSync('/usr/bin/chromium')) {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'claudescope-bench-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const renders: number[] = [];
  for (let i = 0; i < RUNS + 1; i++) {
    const page = await ctx.newPage();
    await page.setViewportSize({ width: 1400, height: 1000 });
    await page.goto(`${base}/`);
    await page.waitForFunction(() => (globalThis as unknown as { document: { body: { dataset: Record<string, string | undefined> } } }).document.body.dataset['state'] === 'ready', undefined, { timeout: 60_000 });
    // Navigation start → the end of the first full load (tiles, 6 charts, tables drawn).
    const ms = (await page.evaluate(() => (globalThis as unknown as { dashboard: { firstRenderMs: number } }).dashboard.firstRenderMs)) as number;
    if (i > 0) renders.push(ms);
    await page.close();
  }
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
  out(`\nfirst render of the page (default 24 h window), median of ${RUNS}: ${median(renders).toFixed(0)} ms (runs: ${renders.map((x) => x.toFixed(0)).join(', ')}; target < 1000 ms) with ${fmtN(stored)} calls stored; load average ${load()}`);
}

await daemon.stop();
if (!keep) rmSync(home, { recursive: true, force: true });
