/**
 * A tiny stand-in for the cost engine, so the store and pipeline tests do not depend on the
 * price catalog: fixed rates per million tokens; the model `unpriced-model` is unpriced.
 */
import type { CallEvent } from '../../src/event/types.js';
import type { CostPart, Pricer, PriceResult } from '../../src/pricing/types.js';

export const TEST_RATES = { input: 3, output: 15, cache_read: 0.3, cache_write_5m: 3.75, cache_write_1h: 6 } as const;

export function testCost(e: CallEvent): number | null {
  if (e.model === 'unpriced-model' || !e.usage) return e.usage ? null : 0;
  const u = e.usage;
  return Math.round((u.input_tokens * TEST_RATES.input + u.output_tokens * TEST_RATES.output + u.cache_read_input_tokens * TEST_RATES.cache_read
    + u.cache_write_5m_input_tokens * TEST_RATES.cache_write_5m + u.cache_write_1h_input_tokens * TEST_RATES.cache_write_1h)) / 1e6;
}

export function testPricer(opts: { busyMicros?: number } = {}): Pricer {
  const busy = opts.busyMicros ?? 0;
  return {
    version: 'test-1',
    price(e: CallEvent): PriceResult {
      if (busy > 0) {
        // Slows each batch so a SIGKILL lands inside one.
        const until = process.hrtime.bigint() + BigInt(busy * 1000);
        while (process.hrtime.bigint() < until) { /* spin */ }
      }
      const cost = testCost(e);
      const u = e.usage;
      if (cost === null || !u) {
        return { cost_usd: null, cost_nanousd: null, cost_without_cache_usd: null, cost_without_cache_nanousd: null, parts: [], pricing_version: 'test-1', priced: false, model: e.model, provider: e.provider, flags: ['unknown_model'] };
      }
      const part = (dimension: CostPart['dimension'], quantity: number, rate: number): CostPart =>
        ({ dimension, quantity, rate_usd: rate, cost_usd: (quantity * rate) / 1e6, source: 'test' });
      const parts = [
        part('input', u.input_tokens, TEST_RATES.input), part('output', u.output_tokens, TEST_RATES.output),
        part('cache_read', u.cache_read_input_tokens, TEST_RATES.cache_read),
        part('cache_write_5m', u.cache_write_5m_input_tokens, TEST_RATES.cache_write_5m),
        part('cache_write_1h', u.cache_write_1h_input_tokens, TEST_RATES.cache_write_1h),
      ];
      const noCache = (u.input_tokens + u.cache_read_input_tokens + u.cache_write_5m_input_tokens + u.cache_write_1h_input_tokens) * TEST_RATES.input + u.output_tokens * TEST_RATES.output;
      return {
        cost_usd: cost, cost_nanousd: Math.round(cost * 1e9), cost_without_cache_usd: Math.round(noCache) / 1e6, cost_without_cache_nanousd: Math.round(noCache) * 1000,
        parts, pricing_version: 'test-1', priced: true, model: e.model, provider: e.provider, flags: [],
      };
    },
  };
}
