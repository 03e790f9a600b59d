/**
 * Tokens a report bills in a higher context window (`200k-1M`) are priced at local rates as
 * prompts in that window: a long-context premium in force then is no "price out of date".
 */
import test from 'ava';
import { createPricer } from '../../src/pricing/cost-engine.js';
import type { BilledCostRow, BilledUsageRow } from '../../src/reconcile/admin-client.js';
import { foldBilled } from '../../src/reconcile/billed-side.js';
import { compareCells } from '../../src/reconcile/compare.js';
import { contextWindowPrompt, ratesFromPricer } from '../../src/reconcile/local-rates.js';
import { cellFor, type Cell } from '../../src/reconcile/local-side.js';
import { zeroTokens } from '../../src/reconcile/types.js';

// Sonnet 4.5 kept its long-context premium ($6 in / $22.50 out over 200K) until 2026-03-31.
const MODEL = 'claude-sonnet-4-5-20250929';
const DAY_START = Date.parse('2026-03-20T00:00:00Z');
const DAY_END = DAY_START + 86_400_000;

/**
 * Two calls of a 250,000-token prompt and 2,000 output tokens each, billed at the premium in
 * the context window `window`; one of them recorded (so the cell is flagged, for a missing call).
 */
function cellsBilledIn(window: string | null): Map<string, Cell> {
  const cells = new Map<string, Cell>();
  const local = cellFor(cells, { start: DAY_START, model: MODEL }).local;
  local.tokens.uncached_input = 250_000;
  local.tokens.output = 2_000;
  local.costNanoUsd = 1_545_000_000; // 250,000 × $6 + 2,000 × $22.50
  local.requests = 1;
  const tokens = { ...zeroTokens(), uncached_input: 500_000, output: 4_000 };
  const usage: BilledUsageRow[] = [{
    start: DAY_START, end: DAY_END, model: MODEL, serviceTier: 'standard', workspaceId: null, apiKeyId: null,
    inferenceGeo: 'global', speed: 'standard', contextWindow: window, tokens, webSearchRequests: 0, requests: 2,
  }];
  const row = (tokenType: 'uncached_input' | 'output', amountNanoUsd: number): BilledCostRow => ({
    start: DAY_START, end: DAY_END, model: MODEL, serviceTier: 'standard', workspaceId: null, apiKeyId: null, costType: 'tokens', tokenType, amountNanoUsd,
  });
  foldBilled(usage, [row('uncached_input', 3_000_000_000), row('output', 90_000_000)], [], {}, cells);
  return cells;
}

const causes = (cells: Map<string, Cell>): string[] => {
  const [c] = compareCells(cells.values(), { width: '1d', split: [], tolerance: 0.02, rates: ratesFromPricer(createPricer()), priceClassKnown: true });
  return c!.causes.map((x) => x.code);
};

test('tokens billed in the 200k-1M context window while a long-context premium was in force are priced at it, not named as prices out of date', (t) => {
  t.deepEqual(causes(cellsBilledIn('200k-1M')), ['missing_calls']);
});

test('without the context window, the same bill priced as short prompts reads as prices out of date (what the window tells apart)', (t) => {
  t.deepEqual(causes(cellsBilledIn(null)), ['missing_calls', 'stale_price']);
});

test('a context window label gives the fewest prompt tokens in it; one it does not know gives none', (t) => {
  t.is(contextWindowPrompt(null), 0);
  t.is(contextWindowPrompt('0-200k'), 0);
  t.is(contextWindowPrompt('200k-1M'), 200_001);
  t.is(contextWindowPrompt('1M-2M'), 1_000_001);
  t.is(contextWindowPrompt('large'), null);
});
