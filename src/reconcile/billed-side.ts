/**
 * The billed side of a reconciliation: report rows folded into the same cells as the local
 * side (bucket × model × workspace × API key), keeping the service tier and, for cost, the
 * token type and cost type, which the causes are read from.
 */
import type { BilledCostRow, BilledUsageRow } from './admin-client.js';
import { cellFor, type ApiKeyMap, type Cell } from './local-side.js';
import { addTokens, zeroTokens, type CellDimension, type CellKey } from './types.js';

function keyOf(r: { start: number; model: string | null; workspaceId: string | null; apiKeyId: string | null }, split: readonly CellDimension[], aliasOf: Map<string, string>, canonical: (model: string) => string): CellKey {
  // The local side stores each call's canonical model id: a report naming the model by an alias
  // (`claude-haiku-4-5`) must land in the same cell as the calls (`claude-haiku-4-5-20251001`).
  const key: CellKey = { start: r.start, model: r.model === null ? null : canonical(r.model) };
  if (split.includes('workspace')) key.workspace = r.workspaceId;
  if (split.includes('api_key')) key.apiKey = r.apiKeyId === null ? null : aliasOf.get(r.apiKeyId) ?? r.apiKeyId;
  return key;
}

export function foldBilled(
  usage: readonly BilledUsageRow[],
  cost: readonly BilledCostRow[] | null,
  split: readonly CellDimension[],
  apiKeys: ApiKeyMap,
  cells: Map<string, Cell>,
  /** A model id as the local side names it (the price catalog's canonical id). Default: as reported. */
  canonical: (model: string) => string = (model) => model,
): void {
  const aliasOf = new Map(Object.entries(apiKeys).map(([alias, id]) => [id, alias]));
  for (const r of usage) {
    const total = r.tokens.uncached_input + r.tokens.cache_read + r.tokens.cache_write_5m + r.tokens.cache_write_1h + r.tokens.output;
    // The older report lists empty buckets: they add no cell.
    if (total === 0 && r.webSearchRequests === 0 && !r.requests) continue;
    const side = cellFor(cells, keyOf(r, split, aliasOf, canonical)).billed;
    addTokens(side.tokens, r.tokens);
    side.webSearchRequests += r.webSearchRequests;
    if (r.requests !== null) side.requests = (side.requests ?? 0) + r.requests;
    const tier = r.serviceTier ?? 'standard';
    addTokens((side.byTier[tier] ??= { tokens: zeroTokens(), costNanoUsd: null }).tokens, r.tokens);
    const cls = { tier, inferenceGeo: r.inferenceGeo, speed: r.speed, contextWindow: r.contextWindow };
    addTokens((side.byPriceClass[JSON.stringify(cls)] ??= { ...cls, tokens: zeroTokens() }).tokens, r.tokens);
  }
  if (cost === null) return;
  // Every cell gets a known cost (0 when the report has none for it): the report covered it.
  for (const c of cells.values()) c.billed.costNanoUsd ??= 0;
  for (const r of cost) {
    if (r.amountNanoUsd === 0) continue;
    const side = cellFor(cells, keyOf(r, split, aliasOf, canonical)).billed;
    side.costNanoUsd = (side.costNanoUsd ?? 0) + r.amountNanoUsd;
    if (r.costType === 'tokens') {
      const tier = r.serviceTier ?? 'standard';
      const t = (side.byTier[tier] ??= { tokens: zeroTokens(), costNanoUsd: null });
      t.costNanoUsd = (t.costNanoUsd ?? 0) + r.amountNanoUsd;
      if (r.tokenType !== null) side.costByType[r.tokenType] = (side.costByType[r.tokenType] ?? 0) + r.amountNanoUsd;
    } else {
      side.otherCosts[r.costType] = (side.otherCosts[r.costType] ?? 0) + r.amountNanoUsd;
    }
  }
}
