/**
 * The price of one call, part by part: tokens, rate, where the rate came from, multipliers,
 * flags and the total before and after its one rounding. `claudescope pricing explain` prints
 * it for an event file; the same two functions serve a stored call (pass its event).
 */
import type { CallEvent, Provider } from '../event/types.js';
import type { CostEngine } from './cost-engine.js';
import { flagMeaning } from './flags.js';
import { exactDecimal, formatNanoUsd } from './money.js';
import type { PriceDimension } from './types.js';

/** One part of an explanation; amounts are exact decimal strings in USD. */
export interface ExplainedPart {
  dimension: PriceDimension;
  /** Tokens, or requests for web_search. */
  quantity: number;
  /** The price before multipliers: USD per MTok (per request for web_search). */
  list_rate_usd: string;
  /** After every multiplier. */
  rate_usd: string;
  /** quantity × rate, exact, before the call's rounding. */
  cost_usd: string;
  source: string;
  iteration?: string;
  model?: string;
}

/** Everything `pricing explain` shows, as data (also printed as JSON with `--json`). */
export interface PriceExplanation {
  event_id: string | null;
  /** The time prices were taken at (the call's start), ISO 8601. */
  request_time: string | null;
  provider: Provider;
  model_served: string | null;
  model_requested: string | null;
  /** Canonical model id priced. */
  model: string | null;
  pricing_version: string;
  catalog_as_of: string;
  priced: boolean;
  complete: boolean;
  /** input + cache reads + cache writes: what tier thresholds compare. */
  prompt_tokens: number;
  /** Multipliers applied to every token part (not web search). */
  multipliers: { name: string; value: string }[];
  parts: ExplainedPart[];
  /** Exact sum of the parts, USD. */
  exact_usd: string | null;
  /** Rounded once, half-to-even, to 1e-9 USD. */
  cost_usd: string | null;
  cost_nanousd: number | null;
  cost_without_cache_usd: string | null;
  /** cost_without_cache − cost (negative when cache writes cost more than they saved). */
  saved_by_cache_usd: string | null;
  flags: { flag: string; meaning: string }[];
  rounding: string;
}

const ROUNDING = 'half-to-even, once per call, to whole nanodollars (1e-9 USD)';
const PICO = 1_000_000_000_000n;
const MICRO = 1_000_000n;

/**
 * Prices `event` with `pricer` and explains the result.
 *
 * @example
 * const x = explainPrice(pricer, event);
 * process.stdout.write(formatExplanation(x));
 */
export function explainPrice(pricer: CostEngine, event: CallEvent): PriceExplanation {
  const { result, detail } = pricer.priceDetailed(event);
  const N = BigInt(detail.tokenMultiplier.num);
  const D = BigInt(detail.tokenMultiplier.den);
  const parts: ExplainedPart[] = result.parts.map((p, i) => {
    const base = BigInt(detail.baseRatesPico[i] ?? 0);
    const q = BigInt(p.quantity);
    const web = p.dimension === 'web_search';
    const part: ExplainedPart = {
      dimension: p.dimension,
      quantity: p.quantity,
      list_rate_usd: web ? exactDecimal(base, 1n, PICO) : exactDecimal(base, 1n, MICRO),
      rate_usd: web ? exactDecimal(base, 1n, PICO) : exactDecimal(base * N, D, MICRO),
      cost_usd: web ? exactDecimal(q * base, 1n, PICO) : exactDecimal(q * base * N, D, PICO),
      source: p.source,
    };
    if (p.iteration !== undefined) part.iteration = p.iteration;
    if (p.model !== undefined) part.model = p.model;
    return part;
  });
  const t = detail.requestTimeMs;
  const nano = result.cost_nanousd;
  const nanoNc = result.cost_without_cache_nanousd;
  return {
    event_id: typeof event.event_id === 'string' ? event.event_id : null,
    request_time: Number.isFinite(t) ? new Date(t).toISOString() : null,
    provider: result.provider,
    model_served: event.model ?? null,
    model_requested: event.model_requested ?? null,
    model: result.model,
    pricing_version: result.pricing_version,
    catalog_as_of: pricer.catalogAsOf,
    priced: result.priced,
    complete: event.complete !== false,
    prompt_tokens: detail.promptTokens,
    multipliers: detail.multipliers.map((m) => ({ name: m.name, value: exactDecimal(BigInt(m.value.num), BigInt(m.value.den), 1n) })),
    parts,
    exact_usd: result.priced ? exactDecimal(detail.exact.num, detail.exact.den, PICO) : null,
    cost_usd: nano === null ? null : formatNanoUsd(nano),
    cost_nanousd: nano,
    cost_without_cache_usd: nanoNc === null ? null : formatNanoUsd(nanoNc),
    saved_by_cache_usd: nano === null || nanoNc === null ? null : formatNanoUsd(nanoNc - nano),
    flags: result.flags.map((flag) => ({ flag, meaning: flagMeaning(flag) })),
    rounding: ROUNDING,
  };
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

function thousands(n: number): string {
  return n.toLocaleString('en-US');
}

/** A plain-text rendering of {@link explainPrice}'s result, for a terminal. */
export function formatExplanation(x: PriceExplanation): string {
  const lines: string[] = [];
  const served = x.model_served === null ? 'none' : JSON.stringify(x.model_served);
  const requested = x.model_requested === null ? '' : `, requested ${JSON.stringify(x.model_requested)}`;
  lines.push(`Call         ${x.event_id ?? '(no event_id)'} · ${x.request_time ?? 'no time'} · provider ${x.provider}${x.complete ? '' : ' · INCOMPLETE usage'}`);
  lines.push(`Model        ${x.model ?? 'unknown'} (served ${served}${requested})`);
  lines.push(`Prices       ${x.pricing_version} (catalog as of ${x.catalog_as_of})`);
  lines.push(`Prompt       ${thousands(x.prompt_tokens)} tokens (input + cache reads + cache writes)`);
  if (x.multipliers.length > 0) {
    lines.push(`Multipliers  ${x.multipliers.map((m) => `${m.name} ×${m.value}`).join(', ')} (every token part)`);
  }
  lines.push('');
  if (x.parts.length > 0) {
    const head = [pad('part', 24), pad('quantity', 12, true), pad('list $/MTok', 13, true), pad('applied $/MTok', 16, true), pad('cost USD (exact)', 22, true)];
    lines.push(`  ${head.join('  ')}`);
    for (const p of x.parts) {
      const web = p.dimension === 'web_search';
      const name = p.iteration === undefined ? p.dimension : `${p.dimension} (${p.iteration}${p.model === undefined ? '' : ` ${p.model}`})`;
      const row = [
        pad(name, 24),
        pad(web ? `${thousands(p.quantity)} req` : thousands(p.quantity), 12, true),
        pad(web ? `${p.list_rate_usd}/req` : p.list_rate_usd, 13, true),
        pad(web ? `${p.rate_usd}/req` : p.rate_usd, 16, true),
        pad(p.cost_usd, 22, true),
      ];
      lines.push(`  ${row.join('  ')}`);
      lines.push(`      ${p.source}`);
    }
    lines.push('');
  }
  if (x.priced) {
    lines.push(`  total, exact                   ${x.exact_usd} USD`);
    lines.push(`  total, rounded                 ${x.cost_usd} USD   (${x.cost_nanousd} nUSD)`);
    lines.push(`  same tokens without cache      ${x.cost_without_cache_usd} USD`);
    lines.push(`  saved by caching               ${x.saved_by_cache_usd} USD`);
  } else {
    lines.push('  total                          UNPRICED (cost null: never guessed, never $0)');
  }
  if (x.flags.length > 0) {
    lines.push('');
    lines.push('Flags');
    const w = Math.max(...x.flags.map((f) => f.flag.length));
    for (const f of x.flags) lines.push(`  ${pad(f.flag, w)}  ${f.meaning}`);
  }
  lines.push('');
  lines.push(`Rounding: ${x.rounding}.`);
  return `${lines.join('\n')}\n`;
}
