/**
 * What the fake Claude API "bills": every successful Messages call it served and every
 * succeeded item of a batch it processed (billed when the batch ends, whether or not anyone
 * reads the results), plus usage and costs a test adds (a Console session, code execution).
 * The Admin usage and cost report routes read it.
 *
 * Prices are the fake's own (USD per million tokens), settable per model, so a test can make
 * the bill differ from a local price table on purpose. Batch tokens cost half; web searches
 * $0.01 each.
 *
 * @example
 * api.billing.setPrices('claude-sonnet-5-5', { input: 2, output: 12, cache_read: 0.2, cache_write_5m: 2.5, cache_write_1h: 4 });
 * api.billing.addUsage({ at: Date.parse('2026-11-01T10:00:00Z'), model: 'claude-haiku-5-5', output_tokens: 5000, apiKeyId: null });
 * api.billing.addCost({ at: Date.now(), costType: 'code_execution', amountUsd: 0.35 });
 */
import { createHash } from 'node:crypto';

/** USD per million tokens of each type. */
export interface BillingPrices {
  input: number;
  output: number;
  cache_read: number;
  cache_write_5m: number;
  cache_write_1h: number;
}

/** One billed usage entry (a call, a batch item, or an addition of a test). */
export interface BilledUsage {
  at: number;
  model: string;
  workspaceId: string | null;
  apiKeyId: string | null;
  serviceTier: string;
  contextWindow: string;
  inferenceGeo: string;
  speed: string;
  uncached_input_tokens: number;
  cache_read_input_tokens: number;
  ephemeral_5m_input_tokens: number;
  ephemeral_1h_input_tokens: number;
  output_tokens: number;
  web_search_requests: number;
  requests: number;
}

/** Spend with no tokens behind it. */
export interface BilledCost {
  at: number;
  costType: 'code_execution' | 'session_usage' | 'web_search' | 'tokens';
  amountUsd: number;
  model: string | null;
  workspaceId: string | null;
  apiKeyId: string | null;
}

/** The default prices of the fake's bill (as listed on 2026-11-26); other models use `fallback`. */
export const DEFAULT_BILLING_PRICES: Readonly<Record<string, BillingPrices>> = {
  'claude-haiku-5-5': { input: 0.1, output: 0.5, cache_read: 0.01, cache_write_5m: 0.125, cache_write_1h: 0.2 },
  'claude-sonnet-5-5': { input: 2, output: 10, cache_read: 0.1, cache_write_5m: 2.5, cache_write_1h: 4 },
  'claude-opus-5-5': { input: 4, output: 20, cache_read: 0.2, cache_write_5m: 5, cache_write_1h: 8 },
  'claude-sonnet-5': { input: 2, output: 10, cache_read: 0.2, cache_write_5m: 2.5, cache_write_1h: 4 },
  'claude-opus-4-8': { input: 5, output: 25, cache_read: 0.5, cache_write_5m: 6.25, cache_write_1h: 10 },
  'claude-haiku-4-5': { input: 1, output: 5, cache_read: 0.1, cache_write_5m: 1.25, cache_write_1h: 2 },
  'claude-sonnet-4-5': { input: 3, output: 15, cache_read: 0.3, cache_write_5m: 3.75, cache_write_1h: 6 },
};
const FALLBACK_PRICES: BillingPrices = { input: 3, output: 15, cache_read: 0.3, cache_write_5m: 3.75, cache_write_1h: 6 };

/** The tagged API key id the fake reports for a key (`apikey_01…`, stable per key). */
export function apiKeyIdOf(key: string): string {
  return `apikey_01${createHash('sha256').update(key).digest('hex').slice(0, 22)}`;
}

/** Token types with their report spelling and price field. */
export const BILLED_TOKEN_TYPES = [
  { field: 'uncached_input_tokens', tokenType: 'uncached_input_tokens', price: 'input', label: 'Input Tokens' },
  { field: 'cache_read_input_tokens', tokenType: 'cache_read_input_tokens', price: 'cache_read', label: 'Cache Read' },
  { field: 'ephemeral_5m_input_tokens', tokenType: 'cache_creation.ephemeral_5m_input_tokens', price: 'cache_write_5m', label: '5m Cache Write' },
  { field: 'ephemeral_1h_input_tokens', tokenType: 'cache_creation.ephemeral_1h_input_tokens', price: 'cache_write_1h', label: '1h Cache Write' },
  { field: 'output_tokens', tokenType: 'output_tokens', price: 'output', label: 'Output Tokens' },
] as const;

interface MessageUsageLike {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_creation?: { ephemeral_5m_input_tokens?: number; ephemeral_1h_input_tokens?: number } | null;
  server_tool_use?: { web_search_requests?: number } | null;
  service_tier?: string | null;
  speed?: string | null;
  inference_geo?: string | null;
}

export class BillingLedger {
  #usage: BilledUsage[] = [];
  #costs: BilledCost[] = [];
  #prices = new Map<string, BillingPrices>(Object.entries(DEFAULT_BILLING_PRICES));
  #fallback: BillingPrices = FALLBACK_PRICES;
  /** Set false to stop billing served calls (only additions are billed). Default true. */
  billServedCalls = true;

  /** Prices (USD/MTok) the bill uses for `model`. */
  setPrices(model: string, prices: BillingPrices): void {
    this.#prices.set(model, { ...prices });
  }
  /** Prices for models without their own. */
  setFallbackPrices(prices: BillingPrices): void {
    this.#fallback = { ...prices };
  }
  pricesOf(model: string): BillingPrices {
    return this.#prices.get(model) ?? this.#fallback;
  }

  /** Bills one served message (a call or a batch item) from its final `usage`. */
  recordMessage(at: number, model: string, usage: MessageUsageLike, ids: { workspaceId: string | null; apiKeyId: string | null }): void {
    if (!this.billServedCalls) return;
    const split = usage.cache_creation;
    const writes = usage.cache_creation_input_tokens ?? 0;
    const w1h = split?.ephemeral_1h_input_tokens ?? 0;
    const input = usage.input_tokens ?? 0;
    const read = usage.cache_read_input_tokens ?? 0;
    this.#usage.push({
      at, model, workspaceId: ids.workspaceId, apiKeyId: ids.apiKeyId,
      serviceTier: usage.service_tier ?? 'standard',
      contextWindow: input + read + writes > 200_000 ? '200k-1M' : '0-200k',
      inferenceGeo: usage.inference_geo ?? 'global',
      speed: usage.speed ?? 'standard',
      uncached_input_tokens: input,
      cache_read_input_tokens: read,
      // Writes beyond the TTL split are billed as 5-minute writes.
      ephemeral_5m_input_tokens: Math.max(0, writes - w1h),
      ephemeral_1h_input_tokens: w1h,
      output_tokens: usage.output_tokens ?? 0,
      web_search_requests: usage.server_tool_use?.web_search_requests ?? 0,
      requests: 1,
    });
  }

  /** Adds billed usage a test scripts (calls the fake never served: another app, the Console). */
  addUsage(u: Partial<BilledUsage> & { at: number; model: string }): void {
    this.#usage.push({
      workspaceId: null, apiKeyId: null, serviceTier: 'standard', contextWindow: '0-200k', inferenceGeo: 'global', speed: 'standard',
      uncached_input_tokens: 0, cache_read_input_tokens: 0, ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0, output_tokens: 0,
      web_search_requests: 0, requests: 1, ...u,
    });
  }

  /** Adds spend with no tokens (code execution, session hours). */
  addCost(c: Partial<BilledCost> & { at: number; costType: BilledCost['costType']; amountUsd: number }): void {
    this.#costs.push({ model: null, workspaceId: null, apiKeyId: null, ...c });
  }

  get usage(): readonly BilledUsage[] {
    return this.#usage;
  }
  get costs(): readonly BilledCost[] {
    return this.#costs;
  }

  /**
   * Cost rows of one usage entry, in nanodollars: one per token type with tokens, and the
   * web searches. Computed in integers (picodollars) and rounded once per row.
   */
  costRows(u: BilledUsage): { costType: 'tokens' | 'web_search'; tokenType: string | null; label: string; nanoUsd: number }[] {
    const p = this.pricesOf(u.model);
    const batch = u.serviceTier === 'batch' ? 0.5 : 1;
    const out: { costType: 'tokens' | 'web_search'; tokenType: string | null; label: string; nanoUsd: number }[] = [];
    for (const t of BILLED_TOKEN_TYPES) {
      const n = u[t.field];
      if (n === 0) continue;
      // tokens × USD/MTok = µUSD; ×1000 = nanodollars.
      out.push({ costType: 'tokens', tokenType: t.tokenType, label: t.label, nanoUsd: Math.round(n * p[t.price] * batch * 1000) });
    }
    if (u.web_search_requests > 0) out.push({ costType: 'web_search', tokenType: null, label: 'Web Search', nanoUsd: u.web_search_requests * 10_000_000 });
    return out;
  }

  clear(): void {
    this.#usage = [];
    this.#costs = [];
  }
}
