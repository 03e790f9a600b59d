// Throughput of the cost engine on a realistic mix of call events, in one process.
//   node --expose-gc --import=tsx scripts/bench-pricing.ts [events]
// Mix: 12 models (aliases, Bedrock and Vertex spellings), cache reads and writes, streams with
// TTL-unknown writes, batch, US geo, fast mode, web search, long-context tiers, unknown
// models. Prints events/s of price() against a baseline that only reads the same fields and
// sums them (the floor any pricer pays), and bytes allocated per call.
import { createPricer } from '../src/pricing/cost-engine.js';
import { callEvent, apiUsage } from '../test/pricing/helpers.js';
import type { CallEvent } from '../src/event/types.js';

const N = Number(process.argv[2] ?? 100_000);
const ROUNDS = 5;
const models = [
  'claude-opus-4-8', 'claude-sonnet-4-5', 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'claude-haiku-5-5',
  'claude-opus-4-6', 'claude-sonnet-5-5', 'claude-opus-4@20250514', 'claude-haiku-4-5-20251001', 'claude-opus-5-5',
  'claude-fable-5-1', 'claude-opus-4-6[1m]', 'claude-unknown-9',
];
const providers = ['anthropic', 'anthropic', 'bedrock', 'anthropic', 'anthropic', 'anthropic', 'vertex', 'anthropic', 'anthropic', 'anthropic', 'anthropic', 'anthropic'] as const;
const dates = ['2026-03-01T00:00:00Z', '2026-06-15T00:00:00Z', '2026-10-20T00:00:00Z'];

function make(i: number): CallEvent {
  const k = i % models.length;
  const usage = apiUsage({
    input_tokens: 100 + ((i * 7919) % 250_000),
    output_tokens: 1 + ((i * 104_729) % 8000),
    cache_read_input_tokens: (i * 31) % 50_000,
    cache_creation_input_tokens: i % 3 === 0 ? (i * 13) % 20_000 : 0,
    cache_creation: i % 5 === 0 ? null : { ephemeral_5m_input_tokens: i % 3 === 0 ? (i * 13) % 10_000 : 0, ephemeral_1h_input_tokens: 0 },
    service_tier: i % 7 === 0 ? 'batch' : 'standard',
    inference_geo: i % 4 === 0 ? 'us' : 'global',
    speed: k === 0 && i % 11 === 0 ? 'fast' : 'standard',
    server_tool_use: i % 9 === 0 ? { web_search_requests: 2, web_fetch_requests: 0 } : null,
  });
  return callEvent({ model: models[k]!, provider: providers[k]!, date: dates[i % dates.length]!, usage });
}

const events = Array.from({ length: N }, (_, i) => make(i));
const pricer = createPricer();
const gc = (globalThis as { gc?: () => void }).gc;

function baseline(): number {
  let sum = 0;
  for (const e of events) {
    const u = e.usage!;
    sum += u.input_tokens * 3 + u.output_tokens * 15 + u.cache_read_input_tokens + u.cache_write_5m_input_tokens + u.cache_write_unknown_ttl_input_tokens + (e.model?.length ?? 0) + e.ts;
  }
  return sum;
}

function price(): number {
  let sum = 0;
  for (const e of events) sum += pricer.price(e).cost_nanousd ?? 0;
  return sum;
}

function run(name: string, fn: () => number): number {
  let best = Infinity;
  let bytes = 0;
  for (let r = 0; r < ROUNDS; r++) {
    gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = process.hrtime.bigint();
    fn();
    const ns = Number(process.hrtime.bigint() - t0);
    const heap1 = process.memoryUsage().heapUsed;
    best = Math.min(best, ns);
    if (r === ROUNDS - 1) bytes = Math.max(0, heap1 - heap0);
  }
  const perSec = N / (best / 1e9);
  process.stdout.write(`${name.padEnd(10)} ${Math.round(perSec).toLocaleString('en-US').padStart(12)} events/s  ${(best / N).toFixed(0).padStart(6)} ns/event${gc ? `  ~${Math.round(bytes / N)} B/event retained+garbage` : ''}\n`);
  return perSec;
}

process.stdout.write(`${N.toLocaleString('en-US')} events, best of ${ROUNDS} rounds\n`);
price(); // warm up: memoise ids, JIT
const b = run('baseline', baseline);
const p = run('price()', price);
process.stdout.write(`price() costs ${(b / p).toFixed(1)}× the baseline field reads\n`);
