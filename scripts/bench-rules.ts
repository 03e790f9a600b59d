/**
 * Benchmark of one rule-engine tick: every default rule over N stored calls (default 1M,
 * `--calls 10000000` for 10M), spread over the last 24 h across 4 models and 5 features.
 * Prints the build time, then each tick's time and the median.
 *
 *   node --import tsx scripts/bench-rules.ts [--calls N] [--ticks K] [--db PATH]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore, type PricedCall } from '../src/store/sqlite-store.js';
import { createRuleEngine } from '../src/rules/rule-engine.js';
import { fixtureCall } from '../src/rules/rule-test.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const N = arg('calls', 1_000_000);
const TICKS = arg('ticks', 10);
const dir = mkdtempSync(join(tmpdir(), 'claudescope-bench-rules-'));
const store = SqliteStore.open({ path: join(dir, 'claudescope.db') });
const now = Date.now();
const DAY = 86_400_000;
const models = ['claude-opus-4-5', 'claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-sonnet-4'];
const features = ['chat', 'search', 'summarise', 'classify', 'agent'];

const t0 = performance.now();
const BATCH = 10_000;
for (let i = 0; i < N; i += BATCH) {
  const calls: PricedCall[] = [];
  for (let k = i; k < Math.min(N, i + BATCH); k++) {
    const ts = now - DAY + Math.floor((DAY * k) / N);
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
const buildS = (performance.now() - t0) / 1000;
process.stdout.write(`built ${N.toLocaleString('en-US')} calls in ${buildS.toFixed(1)} s (${Math.round(N / buildS).toLocaleString('en-US')} calls/s)\n`);

const engine = createRuleEngine({
  query: store, rulesDirs: [join(process.cwd(), 'rules')], clock: () => now,
  budgets: { daily: 500, monthly: 10_000, features: { chat: { daily: 100 }, agent: { daily: 50 } } },
  health: () => ({ tailLagBytes: 0, deadLettersTotal: 0, emitterDroppedEventsTotal: 0 }),
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
process.stdout.write(`tick over ${N.toLocaleString('en-US')} calls, ${engine.rules.length} default rules: median ${med.toFixed(1)} ms, min ${times[0]?.toFixed(1)} ms, max ${times[times.length - 1]?.toFixed(1)} ms (${TICKS} ticks; budget 250 ms: ${(med / 250).toFixed(2)}×)\n`);
store.close();
rmSync(dir, { recursive: true, force: true });
