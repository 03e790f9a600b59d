/**
 * Compares the local and billed side of each cell: differences, capture ratios (local ÷
 * billed), a flag beyond the tolerance, and the likely causes, chosen from what the numbers
 * show:
 *
 * - `batch_unread` — batch-tier tokens billed but not recorded: batch results not yet read
 *   (the emitter records a batch item when the app reads its result);
 * - `missing_calls` — standard-tier tokens billed but not recorded: calls from processes
 *   without the emitter (another app or host, the Console workbench, Claude Code);
 * - `stale_price` — the billed tokens, priced at the local prices, do not come to the billed
 *   amount: the local price table is out of date (the token types whose rates differ are named);
 * - `unseen_spend` — billed spend with no tokens behind it (code execution, session hours);
 * - `local_exceeds_billed` — more recorded than billed: report lag or calls billed elsewhere;
 * - `unpriced_local` — local calls without a price, so the local cost is unknown, not $0.
 *
 * A cell with unpriced local calls has no cost comparison (no difference, no capture), and is
 * flagged when it was billed: the priced calls' cost against the whole bill would show a gap
 * that is only the unpriced calls' cost (or, within the tolerance, hide one).
 */
import type { Cell } from './local-side.js';
import { formatUsd, nanoToUsd } from '../pricing/money.js';
import { bucketMs, iso } from './range.js';
import {
  TOKEN_TYPES, totalTokens, zeroTokens, type BucketWidth, type Cause, type CellDimension, type ModelSummary, type ReconciledCell,
  type PriceClass, type SideTotals, type TokenCounts, type TokenType,
} from './types.js';

/**
 * The local price of each token type (USD per million tokens) of a model at a service tier
 * and time, for calls run where and at the speed `cls` says (default global, standard); null
 * when the model has no local price.
 */
export type LocalRates = (model: string, serviceTier: string, at: number, cls?: Omit<PriceClass, 'tier'>) => Record<TokenType, number> | null;

export interface CompareOptions {
  width: BucketWidth;
  split: readonly CellDimension[];
  /** Relative difference beyond which a cell is flagged, e.g. 0.02. */
  tolerance: number;
  rates?: LocalRates | undefined;
  /**
   * Whether the billed usage was grouped by inference geo and speed. Without them the billed
   * tokens cannot be priced as they were billed (a `us` or fast-mode token costs more), so
   * stale prices are named only where tokens agree and cost does not.
   */
  priceClassKnown?: boolean | undefined;
  dataRefreshedAt?: string | null | undefined;
}

const TYPE_LABEL: Record<TokenType, string> = {
  uncached_input: 'input', cache_read: 'cache read', cache_write_5m: '5m cache write', cache_write_1h: '1h cache write', output: 'output',
};
const OTHER_LABEL: Record<string, string> = { code_execution: 'code execution', session_usage: 'session hours', web_search: 'web search' };
const WEB_SEARCH_USD = 0.01;

const usd = (nano: number | null): number | null => (nano === null ? null : Math.round(nano) / 1e9);
const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : a / b);
const beyond = (local: number, billed: number, tol: number): boolean => (billed === 0 ? local !== 0 : Math.abs(local - billed) / billed > tol);
const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const perMTok = (usdPerMTok: number): string => `$${usdPerMTok.toFixed(usdPerMTok < 1 ? 4 : 2)}/MTok`;

function tokensIn(side: SideTotals, tier: string): TokenCounts {
  return side.byTier[tier]?.tokens ?? zeroTokens();
}

/** Compares every cell, in bucket, model, workspace, key order. */
export function compareCells(cells: Iterable<Cell>, o: CompareOptions): ReconciledCell[] {
  const out: ReconciledCell[] = [];
  const sorted = [...cells].sort((a, b) => a.key.start - b.key.start
    || String(a.key.model ?? '~').localeCompare(String(b.key.model ?? '~'))
    || String(a.key.workspace ?? '').localeCompare(String(b.key.workspace ?? ''))
    || String(a.key.apiKey ?? '').localeCompare(String(b.key.apiKey ?? '')));
  for (const c of sorted) out.push(compareCell(c, o));
  return out;
}

export function compareCell(c: Cell, o: CompareOptions): ReconciledCell {
  const L = c.local;
  const B = c.billed;
  const lt = totalTokens(L.tokens);
  const bt = totalTokens(B.tokens);
  const diffTokens = zeroTokens();
  for (const k of TOKEN_TYPES) diffTokens[k] = L.tokens[k] - B.tokens[k];
  const localCost = L.costNanoUsd;
  const billedCost = B.costNanoUsd;
  // The local cost is known only when every call is priced: with unpriced calls it is a part.
  const localKnown = localCost !== null && L.unpricedCalls === 0;
  const costKnown = localKnown && billedCost !== null;
  const flagged = beyond(lt, bt, o.tolerance) || (costKnown && beyond(localCost, billedCost, o.tolerance)) || (billedCost !== null && billedCost > 0 && !localKnown);
  const cell: ReconciledCell = {
    bucket_start: iso(c.key.start),
    bucket_end: iso(c.key.start + bucketMs(o.width)),
    model: c.key.model,
    ...(o.split.includes('workspace') ? { workspace: c.key.workspace ?? null } : {}),
    ...(o.split.includes('api_key') ? { api_key: c.key.apiKey ?? null } : {}),
    local: { tokens: L.tokens, total_tokens: lt, cost_usd: usd(localCost), calls: L.requests ?? 0, unpriced_calls: L.unpricedCalls },
    billed: {
      tokens: B.tokens, total_tokens: bt, cost_usd: usd(billedCost), requests: B.requests,
      other_costs_usd: Object.fromEntries(Object.entries(B.otherCosts).map(([k, v]) => [k, nanoToUsd(v)])),
    },
    diff: { tokens: diffTokens, total_tokens: lt - bt, cost_usd: costKnown ? usd(localCost - billedCost) : null },
    capture: { tokens: ratio(lt, bt), cost: costKnown ? ratio(localCost, billedCost) : null },
    flagged,
    causes: [],
  };
  if (flagged) cell.causes = causesOf(c, o);
  return cell;
}

function causesOf(c: Cell, o: CompareOptions): Cause[] {
  const L = c.local;
  const B = c.billed;
  const tol = o.tolerance;
  const causes: Cause[] = [];
  const bt = totalTokens(B.tokens);
  const lt = totalTokens(L.tokens);

  // Spend with no tokens behind it.
  const other = Object.entries(B.otherCosts).filter(([k, v]) => k !== 'web_search' && v > 0);
  if (other.length > 0) {
    const parts = other.map(([k, v]) => `${OTHER_LABEL[k] ?? k} ${formatUsd(nanoToUsd(v))}`);
    causes.push({
      code: 'unseen_spend',
      message: `spend claudescope never sees: ${parts.join(', ')} (not in any call's usage; only the cost report has it)`,
      details: Object.fromEntries(other.map(([k, v]) => [`${k}_usd`, nanoToUsd(v)])),
    });
  }
  if (bt === 0 && lt > 0) {
    causes.push({
      code: 'local_exceeds_billed',
      message: `${fmtInt(lt)} tokens recorded, none billed: the report may lag${o.dataRefreshedAt ? ` (data refreshed at ${o.dataRefreshedAt})` : ' (~5 min, longer near midnight UTC)'}, or the calls were billed to another organization`,
      details: { local_tokens: lt, billed_tokens: 0 },
    });
    return causes;
  }

  // Batch tokens billed but never recorded.
  const bBatch = totalTokens(tokensIn(B, 'batch'));
  const lBatch = totalTokens(tokensIn(L, 'batch'));
  const batchGap = bBatch - lBatch;
  if (batchGap > 0 && batchGap > tol * bt) {
    const billedBatchCost = B.byTier['batch']?.costNanoUsd ?? null;
    const missingCost = billedBatchCost !== null && bBatch > 0 ? (billedBatchCost * batchGap) / bBatch : null;
    causes.push({
      code: 'batch_unread',
      message: `batch results not yet read: ${fmtInt(bBatch)} batch tokens billed, ${fmtInt(lBatch)} recorded (${fmtInt(batchGap)} missing${missingCost !== null ? `, ${formatUsd(nanoToUsd(missingCost))}` : ''}); results are recorded when the app reads them`,
      details: { billed_batch_tokens: bBatch, local_batch_tokens: lBatch, missing_batch_tokens: batchGap, missing_batch_cost_usd: usd(missingCost) },
    });
  }

  // Other tiers: tokens billed but not recorded, or the reverse.
  const gapByType = zeroTokens();
  for (const k of TOKEN_TYPES) gapByType[k] = (B.tokens[k] - tokensIn(B, 'batch')[k]) - (L.tokens[k] - tokensIn(L, 'batch')[k]);
  const gap = totalTokens(gapByType);
  // What the gap costs at the billed rates of each token type, each way: a few output tokens
  // can be beyond the tolerance in money while within it in tokens.
  const billedTokenCost = B.costNanoUsd === null ? null : B.costNanoUsd - sumOther(B);
  const gapCost = billedTokenCost === null ? null : costAtBilledRates(B, gapByType, 1);
  const extraCost = billedTokenCost === null ? null : costAtBilledRates(B, gapByType, -1);
  const costMatters = (v: number | null): boolean => v !== null && billedTokenCost !== null && billedTokenCost > 0 && v > tol * billedTokenCost;
  if (gap > 0 && (gap > tol * bt || costMatters(gapCost))) {
    const typeParts = TOKEN_TYPES.filter((k) => gapByType[k] !== 0).map((k) => `${TYPE_LABEL[k]} ${fmtInt(gapByType[k])}`);
    const missingReq = B.requests !== null && L.requests !== null ? B.requests - L.requests : null;
    const cost = gapCost;
    const who = c.key.apiKey === null && o.split.includes('api_key') ? 'usage with no API key: the Console workbench or Claude Code sign-ins' : 'calls from processes without the emitter (another app or host, the Console workbench, Claude Code)';
    causes.push({
      code: 'missing_calls',
      message: `${who}: ${fmtInt(gap)} tokens billed but not recorded (${typeParts.join(', ')})${missingReq !== null && missingReq > 0 ? `, ${fmtInt(missingReq)} request(s): ${fmtInt(B.requests ?? 0)} billed, ${fmtInt(L.requests ?? 0)} recorded` : ''}${cost !== null ? `, about ${formatUsd(nanoToUsd(cost))}` : ''}`,
      details: { missing_tokens: gap, ...Object.fromEntries(TOKEN_TYPES.map((k) => [`missing_${k}_tokens`, gapByType[k]])), billed_requests: B.requests, local_calls: L.requests, missing_requests: missingReq, missing_cost_usd: usd(cost) },
    });
  } else if (gap < 0 && (-gap > tol * bt || costMatters(extraCost))) {
    const typeParts = TOKEN_TYPES.filter((k) => gapByType[k] < 0).map((k) => `${TYPE_LABEL[k]} ${fmtInt(-gapByType[k])}`);
    causes.push({
      code: 'local_exceeds_billed',
      message: `${fmtInt(-gap)} more tokens recorded than billed (${typeParts.join(', ')})${extraCost !== null ? `, about ${formatUsd(nanoToUsd(extraCost))}` : ''}: the report may lag${o.dataRefreshedAt ? ` (data refreshed at ${o.dataRefreshedAt})` : ''}, calls were billed to another organization, or events were recorded twice by two stores`,
      details: { extra_tokens: -gap, ...Object.fromEntries(TOKEN_TYPES.map((k) => [`extra_${k}_tokens`, Math.max(0, -gapByType[k])])), extra_cost_usd: usd(extraCost) },
    });
  }

  // Prices: do the billed tokens at local prices come to the billed amount?
  const stale = priceCause(c, o);
  if (stale) causes.push(stale);

  if (L.unpricedCalls > 0) {
    const calls = L.requests ?? 0;
    const pricedCalls = calls - L.unpricedCalls;
    const of = calls >= L.unpricedCalls ? ` of ${fmtInt(calls)}` : '';
    const pricedPart = L.costNanoUsd !== null && pricedCalls > 0 ? `; the local cost ${formatUsd(usd(L.costNanoUsd))} is that of the ${fmtInt(pricedCalls)} priced call(s) only` : '';
    causes.push({
      code: 'unpriced_local',
      message: `${fmtInt(L.unpricedCalls)}${of} recorded call(s) have no local price: their cost is unknown locally, not $0, so the cost is not compared${pricedPart} (add the model or its service tier to the price table)`,
      details: { unpriced_calls: L.unpricedCalls, local_calls: calls, priced_cost_usd: usd(L.costNanoUsd) },
    });
  }
  if (causes.length === 0) {
    // The table shows totals only: name each token type's difference here, so the line says where.
    const byType = TOKEN_TYPES.filter((k) => L.tokens[k] !== B.tokens[k]).map((k) => `${TYPE_LABEL[k]} ${L.tokens[k] > B.tokens[k] ? '+' : ''}${fmtInt(L.tokens[k] - B.tokens[k])}`);
    causes.push({
      code: 'no_billed_data',
      message: `no single cause stands out: recorded − billed tokens by type: ${byType.length > 0 ? byType.join(', ') : 'none differ'}`,
      details: Object.fromEntries(TOKEN_TYPES.map((k) => [`diff_${k}_tokens`, L.tokens[k] - B.tokens[k]])),
    });
  }
  return causes;
}

/** What the token types the gap has on one side (`sign` 1: billed more; -1: recorded more) cost at the billed rates. */
function costAtBilledRates(B: SideTotals, gapByType: TokenCounts, sign: 1 | -1): number {
  let cost = 0;
  for (const k of TOKEN_TYPES) {
    const n = B.tokens[k];
    const c = B.costByType[k];
    const gap = sign * gapByType[k];
    if (gap > 0 && n > 0 && c !== undefined) cost += (c / n) * gap;
  }
  return cost;
}

function sumOther(side: SideTotals): number {
  return Object.values(side.otherCosts).reduce((a, b) => a + b, 0);
}

function priceCause(c: Cell, o: CompareOptions): Cause | null {
  const L = c.local;
  const B = c.billed;
  if (B.costNanoUsd === null || L.costNanoUsd === null || c.key.model === null) return null;
  const billedTokenCost = B.costNanoUsd - sumOther(B) + (B.otherCosts['web_search'] ?? 0);
  const bt = totalTokens(B.tokens);
  if (bt === 0 || billedTokenCost <= 0) return null;
  const tol = o.tolerance;
  if (o.rates && o.priceClassKnown !== false) {
    // The billed tokens at local prices, per token type (each tier, geo, speed and context window priced at its own rates).
    const expectedByType: Partial<Record<TokenType, number>> = {};
    let expected = B.webSearchRequests * WEB_SEARCH_USD * 1e9;
    for (const t of Object.values(B.byPriceClass)) {
      const r = o.rates(c.key.model, t.tier, c.key.start, { inferenceGeo: t.inferenceGeo, speed: t.speed, contextWindow: t.contextWindow });
      if (!r) return null; // no local price: reported as unpriced, not as stale
      for (const k of TOKEN_TYPES) {
        const v = (t.tokens[k] * r[k] * 1e9) / 1e6;
        expectedByType[k] = (expectedByType[k] ?? 0) + v;
        expected += v;
      }
    }
    if (!beyond(expected, billedTokenCost, tol)) return null;
    const differing: string[] = [];
    const details: Record<string, number | string | null> = { billed_cost_usd: usd(billedTokenCost), local_price_cost_usd: usd(expected), difference_usd: usd(expected - billedTokenCost) };
    for (const k of TOKEN_TYPES) {
      const n = B.tokens[k];
      const billed = B.costByType[k];
      if (n === 0 || billed === undefined) continue;
      const billedRate = (billed / n) * 1e6 / 1e9;
      const localRate = ((expectedByType[k] ?? 0) / n) * 1e6 / 1e9;
      if (beyond(localRate, billedRate, tol)) {
        differing.push(`${TYPE_LABEL[k]} billed at ${perMTok(billedRate)}, local price ${perMTok(localRate)}`);
        details[`${k}_billed_usd_per_mtok`] = Math.round(billedRate * 1e6) / 1e6;
        details[`${k}_local_usd_per_mtok`] = Math.round(localRate * 1e6) / 1e6;
      }
    }
    return {
      code: 'stale_price',
      message: `prices out of date: the billed tokens at local prices cost ${formatUsd(usd(expected))}, billed ${formatUsd(usd(billedTokenCost))}${differing.length ? ` (${differing.join('; ')})` : ''}`,
      details,
    };
  }
  // Without local rates: tokens agree but money does not. Not with unpriced calls: the local
  // cost lacks theirs, which is no sign of a price out of date (they are named as unpriced).
  if (L.unpricedCalls > 0) return null;
  if (beyond(totalTokens(L.tokens), bt, tol) || !beyond(L.costNanoUsd, billedTokenCost, tol)) return null;
  return {
    code: 'stale_price',
    message: `prices out of date: tokens agree but the local cost is ${formatUsd(usd(L.costNanoUsd))}, billed ${formatUsd(usd(billedTokenCost))}`,
    details: { billed_cost_usd: usd(billedTokenCost), local_cost_usd: usd(L.costNanoUsd), difference_usd: usd(L.costNanoUsd - billedTokenCost) },
  };
}

/** Per-model totals over the whole range, and the grand total. */
export function summarize(cells: readonly ReconciledCell[]): { models: ModelSummary[]; total: ModelSummary } {
  interface Acc { model: string | null; lt: number; bt: number; lc: number | null; bc: number | null; unpriced: number }
  const fresh = (model: string | null): Acc => ({ model, lt: 0, bt: 0, lc: null, bc: null, unpriced: 0 });
  const add = (s: Acc, c: ReconciledCell): void => {
    s.lt += c.local.total_tokens;
    s.bt += c.billed.total_tokens;
    s.unpriced += c.local.unpriced_calls;
    if (c.local.cost_usd !== null) s.lc = (s.lc ?? 0) + Math.round(c.local.cost_usd * 1e9);
    if (c.billed.cost_usd !== null) s.bc = (s.bc ?? 0) + Math.round(c.billed.cost_usd * 1e9);
  };
  const by = new Map<string | null, Acc>();
  const total = fresh(null);
  for (const c of cells) {
    let s = by.get(c.model);
    if (!s) by.set(c.model, (s = fresh(c.model)));
    add(s, c);
    add(total, c);
  }
  const finish = (s: Acc): ModelSummary => ({
    model: s.model,
    local_tokens: s.lt,
    billed_tokens: s.bt,
    local_cost_usd: usd(s.lc),
    billed_cost_usd: usd(s.bc),
    token_capture: ratio(s.lt, s.bt),
    // As for a cell: the priced calls' cost against the whole bill is no capture (the metric and
    // the cost-capture rule would report the unpriced calls' cost as spend not recorded).
    cost_capture: s.unpriced > 0 ? null : ratio(s.lc, s.bc),
    unpriced_calls: s.unpriced,
  });
  return {
    models: [...by.values()].sort((a, b) => String(a.model ?? '~').localeCompare(String(b.model ?? '~'))).map(finish),
    total: finish(total),
  };
}
