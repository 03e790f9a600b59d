/**
 * The local side of a reconciliation: what claudescope recorded, per bucket × model (×
 * workspace × API key alias) and service tier, read through the {@link QueryApi} (so the
 * SQLite store opened read-only, or any other store) from its per-minute rollups.
 *
 * Only calls made to Anthropic's own API count: Bedrock, Vertex and Foundry bill through the
 * cloud and never appear in Anthropic's reports. Cache writes whose TTL is unknown count as
 * 5-minute writes, the rule the cost engine prices them by.
 */
import type { CallDimension, QueryApi, SeriesRow } from '../store/types.js';
import { bucketMs } from './range.js';
import { addTokens, cellKeyString, emptySide, zeroTokens, type BucketWidth, type CellDimension, type CellKey, type SideTotals } from './types.js';

/**
 * Operations whose calls are billed requests, through `client.beta` too: messages, and each
 * batch result read (`…batches.result`). Counting tokens is free, a batch bills through its
 * results, and downloading them (`…batches.results`, one event per download) is no request.
 */
const PLAIN_BILLED_OPERATIONS = ['messages.create', 'messages.stream', 'messages.batches.result'];
export const BILLED_OPERATIONS = [...PLAIN_BILLED_OPERATIONS, ...PLAIN_BILLED_OPERATIONS.map((op) => `beta.${op}`)];

export interface Cell {
  key: CellKey;
  local: SideTotals;
  billed: SideTotals;
}

/** Map of the API key aliases the emitters use to the billed key ids (`apikey_…`). */
export type ApiKeyMap = Readonly<Record<string, string>>;

export async function readLocal(
  query: QueryApi,
  range: { start: number; end: number },
  width: BucketWidth,
  split: readonly CellDimension[],
  cells: Map<string, Cell>,
): Promise<void> {
  const groupBy: CallDimension[] = ['model', 'service_tier'];
  if (split.includes('workspace')) groupBy.push('workspace_id');
  if (split.includes('api_key')) groupBy.push('api_key_alias');
  const shape = { window: range, stepMs: bucketMs(width), groupBy };
  const [rows, answered] = await Promise.all([
    query.series({
      ...shape,
      filter: { provider: 'anthropic' },
      aggregates: {
        calls: { op: 'count_where', filter: { operation: BILLED_OPERATIONS } },
        input: { op: 'sum', field: 'input_tokens' },
        output: { op: 'sum', field: 'output_tokens' },
        cache_read: { op: 'sum', field: 'cache_read_input_tokens' },
        cache_write: { op: 'sum', field: 'cache_write_input_tokens' },
        cache_write_1h: { op: 'sum', field: 'cache_write_1h_input_tokens' },
        cost: { op: 'sum', field: 'cost_usd' },
      },
    }),
    // Unpriced calls are counted among the answered ones only: a call that failed or was aborted
    // before any usage came (a timeout, a dropped connection) has no price for want of usage, but
    // the API bills nothing it did not report, so it leaves the local cost known, as it leaves a
    // budget's spend known.
    query.series({ ...shape, filter: { provider: 'anthropic', status: 'ok' }, aggregates: { unpriced: { op: 'unpriced_count' } } }),
  ]);
  const rowKey = (r: SeriesRow): string => JSON.stringify([r.t, ...groupBy.map((d) => r.group[d] ?? null)]);
  const unpricedOf = new Map(answered.map((r) => [rowKey(r), r.values['unpriced'] ?? 0]));
  for (const r of rows) {
    const v = r.values;
    const w1h = v['cache_write_1h'] ?? 0;
    const tokens = zeroTokens();
    tokens.uncached_input = v['input'] ?? 0;
    tokens.output = v['output'] ?? 0;
    tokens.cache_read = v['cache_read'] ?? 0;
    tokens.cache_write_1h = w1h;
    // Writes without a known TTL are in the total but in neither split: 5-minute writes, as priced.
    tokens.cache_write_5m = Math.max(0, (v['cache_write'] ?? 0) - w1h);
    const calls = v['calls'] ?? 0;
    const unpriced = unpricedOf.get(rowKey(r)) ?? 0;
    const cost = v['cost'];
    if (calls === 0 && Object.values(tokens).every((n) => n === 0)) continue;
    const key: CellKey = { start: r.t, model: r.group.model ?? null };
    if (split.includes('workspace')) key.workspace = r.group.workspace_id ?? null;
    if (split.includes('api_key')) key.apiKey = r.group.api_key_alias ?? null;
    const cell = cellFor(cells, key);
    const side = cell.local;
    addTokens(side.tokens, tokens);
    side.requests = (side.requests ?? 0) + calls;
    side.unpricedCalls += unpriced;
    const nano = cost === null || cost === undefined ? null : Math.round(cost * 1e9);
    if (nano !== null) side.costNanoUsd = (side.costNanoUsd ?? 0) + nano;
    const tier = r.group.service_tier ?? 'standard';
    const t = (side.byTier[tier] ??= { tokens: zeroTokens(), costNanoUsd: null });
    addTokens(t.tokens, tokens);
    if (nano !== null) t.costNanoUsd = (t.costNanoUsd ?? 0) + nano;
  }
}

export function cellFor(cells: Map<string, Cell>, key: CellKey): Cell {
  const k = cellKeyString(key);
  let c = cells.get(k);
  if (!c) cells.set(k, (c = { key, local: emptySide(), billed: emptySide() }));
  return c;
}
