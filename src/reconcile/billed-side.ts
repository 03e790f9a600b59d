/**
 * The billed side of a reconciliation: report rows folded into the same cells as the local
 * side (bucket × model × workspace × API key), keeping the service tier and, for cost, the
 * token type and cost type, which the causes are read from.
 */
import type { BilledCostRow, BilledUsageRow } from './admin-client.js';
import { cellFor, type ApiKeyMap, type Cell } from './local-side.js';
import { addTokens, zeroTokens, type CellDimension, type CellKey } from './types.js';

function keyOf(r: { start: number; model: string | null; workspaceId: string | null; apiKeyId: string | null }, split: readonly CellDimension[], aliasOf: Map<string, string>): CellKey {
  const key: CellKey = { start: r.start, model: r.model };
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
): void {
  const aliasOf = new Map(Object.entries(apiKeys).map(([alias, id]) => [id, alias]));
  for (const r of usage) {
    const total = r.tokens.uncached_input + r.tokens.cache_read + r.tokens.cache_write_5m + r.tokens.cache_write_1h + r.tokens.output;
    // The older report lists empty buckets: they add no cell.
    if (total === 0 && r.webSearchRequests === 0 && !r.requests) continue;
    const side = cellFor(cells, keyOf(r, split, aliasOf)).billed;
    addTokens(side.tokens, r.tokens);
    side.webSearchRequests += r.webSearchRequests;
    if (r.requests !== null) side.requests = (side.requests ?? 0) + r.requests;
    const tier = r.serviceTier ?? 'standard';
    addTokens((side.byTier[tier] ??= { tokens: zeroTokens(), costNanoUsd: null }).tokens, r.tokens);
  }
  if (cost === null) return;
  // Every cell gets a known cost (0 when the report has none for it): the report covered it.
  for (const c of cells.values()) c.billed.costNanoUsd ??= 0;
  for (const r of cost) {
    if (r.amountNanoUsd === 0) continue;
    const side = cellFor(cells, keyOf(r, split, aliasOf)).billed;
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
