/**
 * The price table as rows, for `claudescope pricing` (a terminal table or `--json`).
 */
import { RATE_FIELDS, type RateField } from './catalog.js';
import type { CostEngine } from './cost-engine.js';
import { exactDecimal } from './money.js';
import { UNKNOWN, type Period, type RateLayer, type RateSet } from './price-table.js';

/** One row: a model's prices over one date range (a tier or fast mode on its own row). */
export interface PriceRow {
  model: string;
  aliases: string[];
  status: string;
  /** Where these prices come from. */
  layer: RateLayer;
  /** Only for a `provider_override` row. */
  provider: string | null;
  speed: 'standard' | 'fast';
  /** Prompt-length tier name, null for the base prices. */
  tier: string | null;
  prompt_tokens_over: number | null;
  /** `YYYY-MM-DD` (or ISO time), inclusive; null = since the model existed. */
  from: string | null;
  /** Exclusive; null = in force. */
  to: string | null;
  /** USD per million tokens; null = unknown (calls using it are unpriced). */
  input: number | null;
  cache_write_5m: number | null;
  cache_write_1h: number | null;
  cache_read: number | null;
  output: number | null;
  /** Rate fields its sources leave uncertain, and `from`/`to` where a date is (a cut between two prices). */
  unverified: (RateField | 'from' | 'to')[];
  source: string;
}

function dateOrNull(ms: number): string | null {
  if (!Number.isFinite(ms)) return null;
  const iso = new Date(ms).toISOString();
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
}

function usdPerMTok(rate: number): number | null {
  return rate === UNKNOWN ? null : Number(exactDecimal(BigInt(rate), 1n, 1_000_000n));
}

/**
 * Every price period the pricer knows (catalog and overrides), newest models first as the
 * catalog lists them. `at` keeps the rows in force at that time; `model` keeps one model
 * (any spelling).
 */
export function listPrices(pricer: CostEngine, filter: { at?: number; model?: string } = {}): PriceRow[] {
  const rows: PriceRow[] = [];
  const aliasesOf = new Map<string, string[]>();
  for (const [alias, id] of pricer.table.aliases) {
    if (alias === id) continue;
    const list = aliasesOf.get(id) ?? [];
    list.push(alias);
    aliasesOf.set(id, list);
  }
  const only = filter.model === undefined ? null : pricer.normalizeModel(filter.model);
  const at = filter.at;
  const inForce = (from: number, to: number) => at === undefined || (at >= from && at < to);
  for (const m of pricer.table.models.values()) {
    if (only !== null && m.id !== only) continue;
    const push = (p: { from: number; to: number }, rs: RateSet, layer: RateLayer, provider: string | null, speed: 'standard' | 'fast', tier: string | null, over: number | null) => {
      const unverified: PriceRow['unverified'] = RATE_FIELDS.filter((_, i) => (rs.unverifiedMask & (1 << i)) !== 0);
      if (rs.fromUnverified) unverified.push('from');
      if (rs.toUnverified) unverified.push('to');
      rows.push({
        model: m.id,
        aliases: aliasesOf.get(m.id) ?? [],
        status: m.status,
        layer,
        provider,
        speed,
        tier,
        prompt_tokens_over: over,
        from: dateOrNull(p.from),
        to: dateOrNull(p.to),
        input: usdPerMTok(rs.input),
        cache_write_5m: usdPerMTok(rs.cache_write_5m),
        cache_write_1h: usdPerMTok(rs.cache_write_1h),
        cache_read: usdPerMTok(rs.cache_read),
        output: usdPerMTok(rs.output),
        unverified,
        source: rs.source,
      });
    };
    const periods = (list: readonly Period[], layer: RateLayer, provider: string | null, speed: 'standard' | 'fast') => {
      for (const p of list) {
        const shown = { from: p.declaredFrom, to: p.to };
        if (!inForce(p.from, p.to)) continue;
        push(shown, p.rates, layer, provider, speed, null, null);
        for (const t of p.tiers) {
          const from = Math.max(t.from, p.declaredFrom);
          const to = Math.min(t.to, p.to);
          if (inForce(Math.max(t.from, p.from), to)) push({ from, to }, t.rates, layer, provider, speed, t.rates.tierFlag?.slice(5) ?? null, t.over);
        }
      }
    };
    for (const [provider, layer] of m.providerLayers) {
      periods(layer.prices, layer.kind, provider, 'standard');
      periods(layer.fast, layer.kind, provider, 'fast');
    }
    for (const layer of m.layers) {
      periods(layer.prices, layer.kind, null, 'standard');
      periods(layer.fast, layer.kind, null, 'fast');
    }
  }
  return rows;
}
