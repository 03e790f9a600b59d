/**
 * The shapes reconciliation works with: token counts by type, one side's totals per cell,
 * and one compared cell with its differences, capture ratios and named causes.
 */

/** Token types as Anthropic's usage and cost reports split them. */
export const TOKEN_TYPES = ['uncached_input', 'cache_read', 'cache_write_5m', 'cache_write_1h', 'output'] as const;
export type TokenType = (typeof TOKEN_TYPES)[number];
export type TokenCounts = Record<TokenType, number>;

/** The report's `token_type` spelling of each {@link TokenType}. */
export const REPORT_TOKEN_TYPE: Record<TokenType, string> = {
  uncached_input: 'uncached_input_tokens',
  cache_read: 'cache_read_input_tokens',
  cache_write_5m: 'cache_creation.ephemeral_5m_input_tokens',
  cache_write_1h: 'cache_creation.ephemeral_1h_input_tokens',
  output: 'output_tokens',
};

export const zeroTokens = (): TokenCounts => ({ uncached_input: 0, cache_read: 0, cache_write_5m: 0, cache_write_1h: 0, output: 0 });
export const totalTokens = (t: TokenCounts): number => TOKEN_TYPES.reduce((a, k) => a + t[k], 0);
export function addTokens(into: TokenCounts, t: Partial<TokenCounts>): void {
  for (const k of TOKEN_TYPES) into[k] += t[k] ?? 0;
}

/** Which Anthropic report family to read. */
export type ReportApi = 'analytics' | 'legacy';
/** Bucket width of the comparison. */
export type BucketWidth = '1d' | '1h';
/** Extra dimensions a cell can be split by (the model and the bucket always are). */
export type CellDimension = 'workspace' | 'api_key';

/**
 * What sets a token's price besides the model: the service tier, where it ran (`us` costs
 * 1.1× on newer models) and its speed (fast mode costs several times standard).
 */
export interface PriceClass {
  tier: string;
  /** Null: `global` (the report has none for this row). */
  inferenceGeo: string | null;
  /** Null: `standard`. */
  speed: string | null;
  /**
   * The report's context window (`0-200k`, `200k-1M`): the prompt size band its tokens were
   * billed in. Null: not known (priced as prompts below every long-context threshold).
   */
  contextWindow: string | null;
}

/** What one side (local or billed) holds for one cell. */
export interface SideTotals {
  tokens: TokenCounts;
  /** USD; null when unknown (nothing priced locally, or no cost report for this width). */
  costNanoUsd: number | null;
  /** Calls (local) or API requests (billed, analytics API only); null when unknown. */
  requests: number | null;
  /** Per `service_tier` (standard, batch, priority, …): tokens and cost. */
  byTier: Record<string, { tokens: TokenCounts; costNanoUsd: number | null }>;
  /** Billed tokens per price class (keyed by its JSON), to price them at local rates; empty for the local side. */
  byPriceClass: Record<string, PriceClass & { tokens: TokenCounts }>;
  /** Billed cost per token type (summed over tiers), nanodollars; empty for the local side. */
  costByType: Partial<Record<TokenType, number>>;
  /** Billed spend that is not tokens: web_search, code_execution, session_usage (nanodollars). */
  otherCosts: Record<string, number>;
  /** Web search requests. */
  webSearchRequests: number;
  /** Local calls without a price (their cost is unknown, not $0). */
  unpricedCalls: number;
}

export function emptySide(): SideTotals {
  return { tokens: zeroTokens(), costNanoUsd: null, requests: null, byTier: {}, byPriceClass: {}, costByType: {}, otherCosts: {}, webSearchRequests: 0, unpricedCalls: 0 };
}

/** The identity of a cell: bucket × model (× workspace × API key when asked). */
export interface CellKey {
  /** Bucket start, epoch ms (UTC). */
  start: number;
  /** Canonical model id; null for billed spend no model carries (code execution, session hours). */
  model: string | null;
  /** Only when split by workspace. */
  workspace?: string | null;
  /** Only when split by API key: the local alias (mapped from the billed key id), else the key id. */
  apiKey?: string | null;
}

export const cellKeyString = (k: CellKey): string => JSON.stringify([k.start, k.model, k.workspace ?? null, k.apiKey ?? null]);

/** Why a cell differs, as far as the data shows. */
export type CauseCode =
  | 'missing_calls'
  | 'stale_price'
  | 'batch_unread'
  | 'unseen_spend'
  | 'local_exceeds_billed'
  | 'unpriced_local'
  | 'no_billed_data';

export interface Cause {
  code: CauseCode;
  /** One line naming the difference with its numbers. */
  message: string;
  /** The numbers behind the message (tokens, USD, rates), for JSON readers and tests. */
  details: Record<string, number | string | null>;
}

/** One compared cell. Costs are USD (rounded to the nanodollar). */
export interface ReconciledCell {
  bucket_start: string;
  bucket_end: string;
  model: string | null;
  workspace?: string | null;
  api_key?: string | null;
  /** `cost_usd` is the priced calls' cost: with `unpriced_calls` it is not the whole local cost. */
  local: { tokens: TokenCounts; total_tokens: number; cost_usd: number | null; calls: number; unpriced_calls: number };
  billed: { tokens: TokenCounts; total_tokens: number; cost_usd: number | null; requests: number | null; other_costs_usd: Record<string, number> };
  /** local − billed. */
  diff: { tokens: TokenCounts; total_tokens: number; cost_usd: number | null };
  /** local ÷ billed; null when billed is 0 (or a cost unknown, as the local one with unpriced calls). */
  capture: { tokens: number | null; cost: number | null };
  /** Beyond the tolerance on tokens or cost. */
  flagged: boolean;
  causes: Cause[];
}

export interface ModelSummary {
  model: string | null;
  local_tokens: number;
  billed_tokens: number;
  /** The priced calls' cost (with `unpriced_calls`, not the whole local cost). */
  local_cost_usd: number | null;
  billed_cost_usd: number | null;
  token_capture: number | null;
  /** Null when billed is 0 or unknown, or when local calls are unpriced (the local cost is unknown). */
  cost_capture: number | null;
  /** Local calls without a price. Absent in runs stored before it was recorded. */
  unpriced_calls?: number;
}

/** The result of one run. */
export interface ReconciliationResult {
  run_id: string;
  started_at: string;
  finished_at: string;
  api: ReportApi;
  bucket: BucketWidth;
  split_by: CellDimension[];
  range: { start: string; end: string };
  tolerance: number;
  /** The report's freshness watermark (analytics API), when given. */
  data_refreshed_at: string | null;
  cells: ReconciledCell[];
  /** Per model over the whole range (the metric's source). */
  models: ModelSummary[];
  total: ModelSummary;
  flagged_cells: number;
}
