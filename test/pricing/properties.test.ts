/**
 * Properties the cost engine keeps for any usage: cost never decreases when a count grows;
 * batch is exactly half; a cache read never costs more than the same tokens uncached; a
 * stream folded from snapshots costs what the final usage costs.
 */
import test from 'ava';
import fc from 'fast-check';
import type { Usage } from '../../src/event/types.js';
import { foldUsage, usageFromApi } from '../../src/event/usage.js';
import { createPricer } from '../../src/pricing/cost-engine.js';
import { UNKNOWN } from '../../src/pricing/price-table.js';
import { callEvent } from './helpers.js';

const pricer = createPricer();
const DAY = 86_400_000;
const LAST = Date.parse('2026-11-26T00:00:00Z');

/** (model, time) pairs where every standard rate is known, one per catalog period. */
const priced: { model: string; from: number; to: number; geoUs: boolean }[] = [];
for (const m of pricer.table.models.values()) {
  for (const layer of m.layers) {
    for (const p of layer.prices) {
      const r = p.rates;
      if ([r.input, r.output, r.cache_read, r.cache_write_5m, r.cache_write_1h].includes(UNKNOWN)) continue;
      const from = Number.isFinite(p.declaredFrom) ? p.declaredFrom : Date.parse('2026-01-01T00:00:00Z');
      const to = Math.min(Number.isFinite(p.to) ? p.to : LAST, from + 400 * DAY);
      priced.push({ model: m.id, from, to, geoUs: m.geoUs });
    }
  }
}

const count = fc.integer({ min: 0, max: 2_000_000 });
const usageArb = fc.record({
  input_tokens: count,
  output_tokens: fc.integer({ min: 0, max: 200_000 }),
  cache_read_input_tokens: count,
  cache_write_5m_input_tokens: fc.integer({ min: 0, max: 300_000 }),
  cache_write_1h_input_tokens: fc.integer({ min: 0, max: 300_000 }),
  cache_write_unknown_ttl_input_tokens: fc.integer({ min: 0, max: 50_000 }),
  web_search_requests: fc.integer({ min: 0, max: 20 }),
  inference_geo: fc.constantFrom(null, 'global', 'us'),
});
type U = typeof usageArb extends fc.Arbitrary<infer T> ? T : never;

function toUsage(u: U, tier: string | null = null): Usage {
  return {
    input_tokens: u.input_tokens,
    output_tokens: u.output_tokens,
    cache_read_input_tokens: u.cache_read_input_tokens,
    cache_creation_input_tokens: u.cache_write_5m_input_tokens + u.cache_write_1h_input_tokens + u.cache_write_unknown_ttl_input_tokens,
    cache_write_5m_input_tokens: u.cache_write_5m_input_tokens,
    cache_write_1h_input_tokens: u.cache_write_1h_input_tokens,
    cache_write_unknown_ttl_input_tokens: u.cache_write_unknown_ttl_input_tokens,
    thinking_tokens: null,
    web_search_requests: u.web_search_requests,
    web_fetch_requests: 0,
    code_execution_requests: 0,
    service_tier: tier,
    speed: null,
    inference_geo: u.inference_geo,
  };
}

const callArb = fc.record({
  target: fc.constantFrom(...priced),
  frac: fc.double({ min: 0, max: 0.999, noNaN: true }),
  usage: usageArb,
  batch: fc.boolean(),
});

function cost(model: string, ts: number, usage: Usage): number {
  const r = pricer.price(callEvent({ model, date: ts, usage }));
  if (r.cost_nanousd === null) throw new Error(`unpriced: ${model} ${new Date(ts).toISOString()} ${r.flags.join(',')}`);
  return r.cost_nanousd;
}

const FIELDS = [
  'input_tokens',
  'output_tokens',
  'cache_read_input_tokens',
  'cache_write_5m_input_tokens',
  'cache_write_1h_input_tokens',
  'cache_write_unknown_ttl_input_tokens',
  'web_search_requests',
] as const;

test('there are priced (model, period) pairs to sample', (t) => {
  t.true(priced.length >= 25, `${priced.length}`);
});

test('cost never decreases when any token count grows (tier thresholds included)', (t) => {
  fc.assert(
    fc.property(callArb, fc.constantFrom(...FIELDS), fc.integer({ min: 1, max: 500_000 }), ({ target, frac, usage, batch }, field, grow) => {
      const ts = Math.floor(target.from + frac * (target.to - target.from));
      const before = toUsage(usage, batch ? 'batch' : null);
      const after = { ...before, [field]: before[field] + grow };
      if (field.startsWith('cache_write')) after.cache_creation_input_tokens = before.cache_creation_input_tokens + grow;
      return cost(target.model, ts, after) >= cost(target.model, ts, before);
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('batch is exactly half of standard (exact amounts; tokens, not the per-search fee)', (t) => {
  fc.assert(
    fc.property(callArb, ({ target, frac, usage }) => {
      const ts = Math.floor(target.from + frac * (target.to - target.from));
      const u = { ...usage, web_search_requests: 0 };
      const std = pricer.priceDetailed(callEvent({ model: target.model, date: ts, usage: toUsage(u, 'standard') })).detail.exact;
      const bat = pricer.priceDetailed(callEvent({ model: target.model, date: ts, usage: toUsage(u, 'batch') })).detail.exact;
      // bat.num / bat.den × 2 === std.num / std.den
      return bat.num * 2n * std.den === std.num * bat.den;
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(callArb, ({ target, frac, usage }) => {
      const ts = Math.floor(target.from + frac * (target.to - target.from));
      const u = { ...usage, web_search_requests: 0 };
      const std = cost(target.model, ts, toUsage(u, 'standard'));
      const bat = cost(target.model, ts, toUsage(u, 'batch'));
      return Math.abs(2 * bat - std) <= 1; // each rounded once, to the nearest nanodollar
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('a cache read never costs more than the same tokens uncached', (t) => {
  fc.assert(
    fc.property(callArb, ({ target, frac, usage, batch }) => {
      const ts = Math.floor(target.from + frac * (target.to - target.from));
      const cached = toUsage(usage, batch ? 'batch' : null);
      const uncached = { ...cached, input_tokens: cached.input_tokens + cached.cache_read_input_tokens, cache_read_input_tokens: 0 };
      return cost(target.model, ts, cached) <= cost(target.model, ts, uncached);
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('cost_without_cache is the same tokens at uncached prices, never less than the cost without cache writes', (t) => {
  fc.assert(
    fc.property(callArb, ({ target, frac, usage }) => {
      const ts = Math.floor(target.from + frac * (target.to - target.from));
      const u = toUsage({ ...usage, cache_write_5m_input_tokens: 0, cache_write_1h_input_tokens: 0, cache_write_unknown_ttl_input_tokens: 0 });
      const r = pricer.price(callEvent({ model: target.model, date: ts, usage: u }));
      const plain = pricer.price(
        callEvent({ model: target.model, date: ts, usage: { ...u, input_tokens: u.input_tokens + u.cache_read_input_tokens, cache_read_input_tokens: 0 } }),
      );
      return r.cost_without_cache_nanousd! >= r.cost_nanousd! && r.cost_without_cache_nanousd === plain.cost_nanousd;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('a stream of cumulative snapshots costs what its final usage costs', (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom(...priced),
      fc.record({ input: count, read: count, w5: fc.nat(100_000), w1: fc.nat(100_000) }),
      fc.array(fc.nat(50_000), { minLength: 1, maxLength: 8 }),
      ({ model, from }, start, outputs) => {
        const sorted = [...outputs].sort((a, b) => a - b);
        const startUsage = {
          input_tokens: start.input,
          output_tokens: 1,
          cache_read_input_tokens: start.read,
          cache_creation_input_tokens: start.w5 + start.w1,
          cache_creation: { ephemeral_5m_input_tokens: start.w5, ephemeral_1h_input_tokens: start.w1 },
          service_tier: 'standard',
        };
        const snapshots = [{ type: 'message_start', message: { usage: startUsage } }, ...sorted.map((o) => ({ type: 'message_delta', usage: { output_tokens: o } }))];
        const streamed = foldUsage(snapshots);
        const final = usageFromApi({ ...startUsage, output_tokens: sorted[sorted.length - 1] });
        return cost(model, from, streamed) === cost(model, from, final);
      },
    ),
    { numRuns: 1000 },
  );
  t.pass();
});
