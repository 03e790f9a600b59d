/**
 * One reconciliation run: the billed side from Anthropic's reports, the local side from the
 * store, compared cell by cell.
 *
 * @example
 * const client = new AdminClient({ adminKey, api: 'analytics' });
 * const result = await reconcile({ query: store, client, range: { start, end }, bucket: '1d' });
 * process.stdout.write(formatTable(result));
 */
import { randomUUID } from 'node:crypto';
import type { QueryApi } from '../store/types.js';
import { PRICE_CLASS_NEEDED, type AdminClient, type BilledGroupBy } from './admin-client.js';
import { foldBilled } from './billed-side.js';
import { compareCells, summarize, type LocalRates } from './compare.js';
import { readLocal, type ApiKeyMap, type Cell } from './local-side.js';
import { iso, snapRange } from './range.js';
import type { BucketWidth, CellDimension, ReconciliationResult } from './types.js';

/** Default relative difference beyond which a cell is flagged: 2 %. */
export const DEFAULT_TOLERANCE = 0.02;

export interface ReconcileOptions {
  /** The local store (read-only is enough). */
  query: QueryApi;
  client: AdminClient;
  /** [start, end), epoch ms; snapped outwards to whole UTC buckets. */
  range: { start: number; end: number };
  /** Default `1d`. */
  bucket?: BucketWidth;
  /** Also split cells by workspace and/or API key. Default none (bucket × model). */
  split?: CellDimension[];
  /** Default {@link DEFAULT_TOLERANCE}. */
  tolerance?: number;
  /** Emitter API key aliases → billed key ids, for `split: ['api_key']`. */
  apiKeys?: ApiKeyMap;
  /** Local prices per token type, to name stale prices exactly. Default: compare totals only. */
  rates?: LocalRates;
  /** A reported model id as the local store names it (canonical, aliases resolved). Default: as reported. */
  canonicalModel?: (model: string) => string;
  now?: () => number;
}

export async function reconcile(o: ReconcileOptions): Promise<ReconciliationResult> {
  const now = o.now ?? Date.now;
  const startedAt = now();
  const bucket = o.bucket ?? '1d';
  const split = o.split ?? [];
  const tolerance = o.tolerance ?? DEFAULT_TOLERANCE;
  if (!(tolerance >= 0)) throw new RangeError(`tolerance must be ≥ 0, got ${tolerance}`);
  const range = snapRange(o.range.start, o.range.end, bucket);
  const groupBy: BilledGroupBy[] = ['model', 'service_tier'];
  if (split.includes('workspace')) groupBy.push('workspace_id');
  if (split.includes('api_key')) groupBy.push('api_key_id');

  const client = o.client;
  const costChunks = client.costAvailable(bucket, groupBy) ? client.chunks(range, bucket, 'cost').length : 0;
  client.plan(client.chunks(range, bucket, 'usage').length + costChunks);
  // Usage also by what sets a token's price, so the billed tokens are priced as they were billed.
  const priceDims = client.priceClassGroupBy(groupBy);
  const usage = await client.usage(range, bucket, [...groupBy, ...priceDims]);
  const cost = await client.cost(range, bucket, groupBy);

  const cells = new Map<string, Cell>();
  await readLocal(o.query, range, bucket, split, cells);
  foldBilled(usage, cost, split, o.apiKeys ?? {}, cells, o.canonicalModel);
  const compared = compareCells(cells.values(), {
    width: bucket, split, tolerance, rates: o.rates, priceClassKnown: PRICE_CLASS_NEEDED.every((d) => priceDims.includes(d)), dataRefreshedAt: client.dataRefreshedAt,
  });
  const { models, total } = summarize(compared);
  return {
    run_id: randomUUID(),
    started_at: new Date(startedAt).toISOString(),
    finished_at: new Date(now()).toISOString(),
    api: client.api,
    bucket,
    split_by: split,
    range: { start: iso(range.start), end: iso(range.end) },
    tolerance,
    data_refreshed_at: client.dataRefreshedAt,
    cells: compared,
    models,
    total,
    flagged_cells: compared.filter((c) => c.flagged).length,
  };
}
