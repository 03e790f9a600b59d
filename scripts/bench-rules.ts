/**
 * Benchmark of one rule-engine tick: every default rule over N stored calls (default 100k,
 * `--calls 10000000` for 10M), spread over the last `--days` days (default 1) across 4 models
 * and 5 features. Prints the seed time, the number of calls, the machine's load, then each
 * tick's median, min and max.
 *
 * Seeded through the store's write path (`commitBatch`, the default) or, with `--bulk`, by
 * the bulk seed of scripts/bench-seed.ts (rows and rollups by SQL, 10M calls in minutes; weighted
 * model, feature and status shares). `--db PATH` keeps the store (and reuses it when it
 * exists; with `--bulk` it is topped up to the present first).
 *
 *   node --import tsx scripts/bench-rules.ts [--calls N] [--bulk] [--days D] [--ticks K] [--db PATH]
 *
 * `BENCH_CALLS=N` and `BENCH_SEED=bulk` do the same as `--calls N` and `--bulk`.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore, type PricedCall } from '../src/store/sqlite-store.js';
import { createRuleEngine } from '../src/rules/rule-engine.js';
import { fixtureCall } from '../src/rules/rule-test.js';
import { numArg, strArg } from './bench-args.js';
import { bulkSeed, topUpSeed } from './bench-seed.js';

const N = numArg('calls', Number(process.env['BENCH_CALLS'] ?? 100_000));
const BULK = process.argv.includes('--bulk') || process.env['BENCH_SEED'] === 'bulk';
const DAYS = numArg('days', 1);
const TICKS = numArg('ticks', 10);
const keep = strArg('db');
const dir = keep === undefined ? mkdtempSync(join(tmpdir(), 'claudescope-bench-rules-')) : undefined;
const dbPath = keep ?? join(dir!, 'claudescope.db');
let now = Date.now();
const DAY = 86_400_000;
const models = ['claude-opus-4-5', 'claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-sonnet-4'];
const features = ['chat', 'search', 'summarise', 'classify', 'agent'];
const fmtN = (n: number): string => n.toLocaleString('en-US');
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(', ');

const reuse = existsSync(dbPath);
const t0 = performance.now();
if (reuse && BULK) {
  now = Date.now();
  const r = topUpSeed(dbPath, now);
  process.stdout.write(`reusing ${dbPath}, topped up with ${fmtN(r.calls)} calls to the present in ${r.seconds.toFixed(1)} s\n`);
} else if (reuse) {
  process.stdout.write(`reusing ${dbPath}\n`);
} else if (BULK) {
  const r = bulkSeed(dbPath, { calls: N, from: now - DAYS * DAY, to: now, log: (l) => void process.stderr.write(`${l}\n`) });
  process.stdout.write(`bulk-seeded ${fmtN(N)} calls over ${DAYS} day(s) in ${r.seconds.toFixed(1)} s (${fmtN(Math.round(N / r.seconds))} calls/s)\n`);
} else {
  const store = SqliteStore.open({ path: dbPath });
  const BATCH = 10_000;
  const span = DAYS * DAY;
  for (let i = 0; i < N; i += BATCH) {
    const calls: PricedCall[] = [];
    for (let k = i; k < Math.min(N, i + BATCH); k++) {
      const ts = now - span + Math.floor((span * k) / N);
      const r = k % 100;
      calls.push(fixtureCall({
        model: models[k % models.length]!, feature: features[k % features.length]!,
        ...(r < 3 ? { error_type: r === 0 ? 'overloaded_error' : 'api_error' } : {}),
        ...(r === 5 ? { stop_reason: 'max_tokens' } : {}),
        duration_ms: 300 + ((k * 7919) % 9000), output_tokens: 20 + (k % 400), cost_usd: 0.0005 + (k % 10) * 0.0001,
        rate_limits: { requests: { limit: 4000, remaining: 4000 - (k % 4000) } },
      }, ts));
    }
    store.commitBatch({ calls, checkpoints: [], emitterStats: [] });
  }
  // As the daemon does every few seconds: the coarse rollup levels built from the per-minute deltas.
  store.foldRollups();
  store.close();
  const buildS = (performance.now() - t0) / 1000;
  process.stdout.write(`built ${fmtN(N)} calls in ${buildS.toFixed(1)} s (${fmtN(Math.round(N / buildS))} calls/s)\n`);
}
const store = SqliteStore.open({ path: dbPath });
const stored = store.db.prepare('SELECT COUNT(*) FROM calls').pluck().get() as number;
process.stdout.write(`calls stored: ${fmtN(stored)}; load average (1, 5, 15 min) before the ticks: ${load()} on ${availableParallelism()} cores\n`);

const engine = createRuleEngine({
  query: store, rulesDirs: [join(process.cwd(), 'rules')], clock: () => now,
  budgets: { daily: 500, monthly: 10_000, features: { chat: { daily: 100 }, agent: { daily: 50 } } },
  health: () => ({ tailLagBytes: 0, deadLettersTotal: 0, emitterDroppedEventsTotal: 0, influxAuthFailed: null, unreadableEventFiles: 0, descriptorShortagesTotal: 0 }),
});
const times: number[] = [];
for (let i = 0; i < TICKS; i++) {
  const r = await engine.evaluateOnce(now + i * 1000);
  times.push(r.durationMs);
  if (i === 0) process.stdout.write(`rules: ${r.rules.length}, samples: ${r.rules.reduce((a, x) => a + x.samples.length, 0)}, errors: ${r.rules.filter((x) => x.error).length}\n`);
}
await engine.stop();
times.sort((a, b) => a - b);
const med = times[times.length >> 1] ?? 0;
process.stdout.write(`tick over ${fmtN(stored)} calls, ${engine.rules.length} default rules: median ${med.toFixed(1)} ms, min ${times[0]?.toFixed(1)} ms, max ${times[times.length - 1]?.toFixed(1)} ms (${TICKS} ticks; budget 250 ms: ${(med / 250).toFixed(2)}×); load average ${load()}\n`);
store.close();
if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
