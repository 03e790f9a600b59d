/**
 * The compiled price table: the catalog and the overrides merged once, at construction, into
 * per-model timelines the engine walks with a few comparisons per call.
 */
import type { Provider } from '../event/types.js';
import { RATE_FIELDS, type Catalog, type ModelSpec, type PeriodSpec, type RatesSpec, type TierSpec } from './catalog.js';
import { PricingConfigError } from './errors.js';
import { ONE, type Fraction } from './money.js';
import { ModelIdParser, parseModelIdWith } from './model-normalizer.js';
import type { ModelOverrideSpec, OverridesSpec } from './overrides.js';

/** The bit of {@link RateSet.unverifiedMask} for an unverified `from` or `to` date. */
export const DATES_UNVERIFIED = 1 << RATE_FIELDS.length;

/** Unknown price marker inside a {@link RateSet} (numbers only, so the shape stays monomorphic). */
export const UNKNOWN = -1;

/** Where a rate set came from. */
export type RateLayer = 'catalog' | 'override' | 'provider_override';

/**
 * One set of token rates in integer pUSD per token, {@link UNKNOWN} when not known. Built once;
 * the engine only reads it.
 */
export interface RateSet {
  readonly input: number;
  readonly cache_write_5m: number;
  readonly cache_write_1h: number;
  readonly cache_read: number;
  readonly output: number;
  /**
   * Bit `i` set when `RATE_FIELDS[i]` is unverified in its sources; {@link DATES_UNVERIFIED}
   * when a date that decides whether these rates apply is.
   */
  readonly unverifiedMask: number;
  /** Whether the start (resp. end) of these rates is an unverified date that separates them from other prices. */
  readonly fromUnverified: boolean;
  readonly toUnverified: boolean;
  /** Human-readable origin, e.g. `catalog claude-opus-4-6 2026-02-05→ (pricing-page-2026-08)`. */
  readonly source: string;
  /** `tier:<name>` when this is a prompt-length tier, else null. */
  readonly tierFlag: string | null;
  readonly layer: RateLayer;
  /** Memo of `source` + modifier suffixes, keyed by the engine's modifier mask. */
  readonly sourceMemo: Map<number, string>;
}

export interface Tier {
  readonly over: number;
  readonly from: number;
  readonly to: number;
  readonly rates: RateSet;
  /**
   * The period's rates, flagged with {@link DATES_UNVERIFIED}, for a prompt over the threshold
   * before the tier's start or from its end when that date is unverified (the tier may still
   * have applied); null when neither is.
   */
  readonly outside: { readonly before: RateSet | null; readonly after: RateSet | null };
}

export interface Period {
  readonly from: number;
  readonly to: number;
  /** The `from` as written (the bottom layer's first period is extended back to -Infinity). */
  readonly declaredFrom: number;
  readonly rates: RateSet;
  /** Highest threshold first. */
  readonly tiers: readonly Tier[];
}

/** One source of prices for a model: a provider override, a model override, or the catalog. */
export interface Layer {
  readonly kind: RateLayer;
  readonly prices: readonly Period[];
  readonly fast: readonly Period[];
}

export interface PricedModel {
  readonly id: string;
  readonly geoUs: boolean;
  readonly regionalPremium: boolean;
  /** `geoUs` is the catalog's, and only implied by its sources (see {@link ModelSpec.unverified}). */
  readonly geoUsUnverified: boolean;
  /** `regionalPremium` is the catalog's, and only implied by its sources. */
  readonly regionalPremiumUnverified: boolean;
  /** Model override (if any) then catalog (if known). */
  readonly layers: readonly Layer[];
  /** Provider-specific layers, tried first for that provider's calls. */
  readonly providerLayers: ReadonlyMap<Provider, Layer>;
  /** Catalog facts for listings (null for a model only the overrides know). */
  readonly status: string;
}

export interface ProviderSettings {
  readonly multiplier: Fraction;
  readonly regionalPremium: Fraction;
}

export interface PriceTable {
  /** `pricing_version`: the catalog version, plus `+o.<hash>` with overrides. */
  readonly version: string;
  readonly catalog: Catalog;
  readonly models: ReadonlyMap<string, PricedModel>;
  readonly aliases: ReadonlyMap<string, string>;
  readonly parser: ModelIdParser;
  /** Multiplier per service tier; null = no price (the call is unpriced). */
  readonly serviceTiers: ReadonlyMap<string, Fraction | null>;
  readonly geo: ReadonlyMap<string, Fraction>;
  readonly providers: ReadonlyMap<Provider, ProviderSettings>;
  readonly defaultProvider: ProviderSettings;
  readonly unknownTtl: '5m' | '1h';
  /** pUSD per web search request. */
  readonly webSearchPerRequest: number;
}

function dateText(ms: number): string {
  if (!Number.isFinite(ms)) return '';
  const iso = new Date(ms).toISOString();
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
}

function rangeText(from: number, to: number): string {
  return `${dateText(from)}→${dateText(to)}`;
}

function rateSet(
  rates: RatesSpec,
  unverified: readonly string[],
  dates: { from: boolean; to: boolean },
  source: string,
  tierFlag: string | null,
  layer: RateLayer,
): RateSet {
  let mask = dates.from || dates.to ? DATES_UNVERIFIED : 0;
  RATE_FIELDS.forEach((f, i) => {
    if (unverified.includes(f)) mask |= 1 << i;
  });
  const v = (x: number | null) => (x === null ? UNKNOWN : x);
  return {
    input: v(rates.input),
    cache_write_5m: v(rates.cache_write_5m),
    cache_write_1h: v(rates.cache_write_1h),
    cache_read: v(rates.cache_read),
    output: v(rates.output),
    unverifiedMask: mask,
    fromUnverified: dates.from,
    toUnverified: dates.to,
    source,
    tierFlag,
    layer,
    sourceMemo: new Map(),
  };
}

/**
 * Compiles one timeline. A date marked unverified matters where it separates two prices (or a
 * price from none): the rates on both sides of it are flagged, so a call near an uncertain
 * cut is never reported as certain. The first base period's start, extended back to the
 * model's first call, separates nothing.
 */
function compilePeriods(specs: readonly PeriodSpec[], label: string, layer: RateLayer, cite: (s: string) => string, extendBack: boolean): Period[] {
  const marked = (spec: { unverified: readonly string[] } | undefined, field: 'from' | 'to') => spec !== undefined && spec.unverified.includes(field);
  return specs.map((p, i) => {
    const from = extendBack && i === 0 ? -Infinity : p.from;
    const prev = specs[i - 1];
    const next = specs[i + 1];
    const dates = {
      from: Number.isFinite(from) && (marked(p, 'from') || (prev !== undefined && prev.to === p.from && marked(prev, 'to'))),
      to: Number.isFinite(p.to) && (marked(p, 'to') || (next !== undefined && next.from === p.to && marked(next, 'from'))),
    };
    const base = `${label} ${rangeText(p.from, p.to)}`;
    const rates = rateSet(p.rates, p.unverified, dates, `${base}${cite(p.source)}`, null, layer);
    /** `rates` for a prompt over tier `t`'s threshold on the far side of its unverified `date`. */
    const outside = (t: TierSpec, date: 'from' | 'to'): RateSet | null =>
      Number.isFinite(t[date]) && marked(t, date)
        ? {
            ...rates,
            unverifiedMask: rates.unverifiedMask | DATES_UNVERIFIED,
            source: `${rates.source}; prompt > ${t.over.toLocaleString('en-US')} tokens, tier ${t.name} ${date === 'from' ? 'not yet in force: it starts' : 'no longer in force: it ended'} ${dateText(t[date])} (unverified)`,
            sourceMemo: new Map(),
          }
        : null;
    const tiers = p.tiers.map((t: TierSpec) => ({
      over: t.over,
      from: t.from,
      to: t.to,
      outside: { before: outside(t, 'from'), after: outside(t, 'to') },
      rates: rateSet(
        t.rates,
        t.unverified,
        {
          from: (Number.isFinite(t.from) && marked(t, 'from')) || (t.from <= p.from && dates.from),
          to: (Number.isFinite(t.to) && marked(t, 'to')) || (t.to >= p.to && dates.to),
        },
        `${base}, tier ${t.name} (prompt > ${t.over.toLocaleString('en-US')} tokens${Number.isFinite(t.to) ? ` until ${dateText(t.to)}` : ''})${cite(t.source)}`,
        `tier:${t.name}`,
        layer,
      ),
    }));
    return {
      from,
      to: p.to,
      declaredFrom: p.from,
      rates,
      tiers,
    };
  });
}

function overrideLayer(id: string, spec: ModelOverrideSpec, kind: RateLayer, extendBack: boolean): Layer {
  const label = `${kind === 'provider_override' ? 'provider override' : 'override'} ${id}`;
  const cite = (s: string) => ` (${s.replace(/^override /, '')})`;
  const prices = compilePeriods(spec.prices, label, kind, cite, extendBack);
  const fastSpecs = spec.prices.flatMap((p) => (p.fast ? [p.fast] : []));
  const fast = compilePeriods(fastSpecs, `${label} fast`, kind, cite, false);
  return { kind, prices, fast };
}

/**
 * Merges the catalog and the overrides.
 * @throws PricingConfigError when an override names a model twice or an alias clashes
 */
export function buildPriceTable(catalog: Catalog, overrides: OverridesSpec | null): PriceTable {
  const aliases = new Map(catalog.aliases);
  const resolveKey = (key: string) => parseModelIdWith(key, aliases).canonical;

  // Override aliases first, so override keys written with them resolve.
  const modelOverrides = new Map<string, ModelOverrideSpec>();
  const claim = (spec: ModelOverrideSpec, where: string, target: Map<string, ModelOverrideSpec>) => {
    const id = resolveKey(spec.key);
    if (target.has(id)) throw new PricingConfigError(`${where}[${JSON.stringify(spec.key)}]`, `names the same model as ${JSON.stringify(target.get(id)!.key)} (${id})`);
    target.set(id, spec);
    for (const a of spec.aliases) {
      const alias = a.trim().toLowerCase();
      const existing = aliases.get(alias);
      if (existing !== undefined && existing !== id) {
        throw new PricingConfigError(`${where}[${JSON.stringify(spec.key)}].aliases`, `${JSON.stringify(a)} already means ${existing}`);
      }
      aliases.set(alias, id);
    }
    if (!aliases.has(id)) aliases.set(id, id);
  };
  for (const spec of overrides?.models.values() ?? []) claim(spec, 'pricing.models', modelOverrides);
  const providerOverrides = new Map<Provider, Map<string, ModelOverrideSpec>>();
  for (const [provider, p] of overrides?.providers ?? []) {
    const target = new Map<string, ModelOverrideSpec>();
    for (const spec of p.models.values()) claim(spec, `pricing.providers.${provider}.models`, target);
    providerOverrides.set(provider, target);
  }

  const cite = (key: string) => (key in catalog.sources ? ` (${key})` : '');
  const models = new Map<string, PricedModel>();
  const ids = new Set<string>([...catalog.models.map((m) => m.id), ...modelOverrides.keys()]);
  for (const p of providerOverrides.values()) for (const id of p.keys()) ids.add(id);
  const catalogById = new Map(catalog.models.map((m) => [m.id, m]));
  for (const id of ids) {
    const cm = catalogById.get(id);
    const ov = modelOverrides.get(id);
    const layers: Layer[] = [];
    if (ov) layers.push(overrideLayer(id, ov, 'override', cm === undefined));
    if (cm) {
      layers.push({
        kind: 'catalog',
        prices: compilePeriods(cm.prices, `catalog ${id}`, 'catalog', cite, true),
        fast: compilePeriods(cm.fast, `catalog ${id} fast`, 'catalog', cite, false),
      });
    }
    const providerLayers = new Map<Provider, Layer>();
    for (const [provider, map] of providerOverrides) {
      const spec = map.get(id);
      if (spec) providerLayers.set(provider, overrideLayer(id, spec, 'provider_override', layers.length === 0));
    }
    models.set(id, {
      id,
      geoUs: ov?.geoUs ?? cm?.geoUs ?? true,
      regionalPremium: ov?.regionalPremium ?? cm?.regionalPremium ?? true,
      // A fact the configuration states is the configuration's: not the catalog's doubt.
      geoUsUnverified: (ov?.geoUs ?? null) === null && cm?.unverified.includes('inference_geo_us') === true,
      regionalPremiumUnverified: (ov?.regionalPremium ?? null) === null && cm?.unverified.includes('bedrock_vertex_regional_premium') === true,
      layers,
      providerLayers,
      status: cm?.status ?? 'override',
    });
  }

  const mods = catalog.modifiers;
  const serviceTiers = new Map<string, Fraction | null>([
    ['standard', ONE],
    ['batch', mods.batch],
  ]);
  for (const t of mods.unpricedServiceTiers) serviceTiers.set(t, null);
  for (const [t, m] of overrides?.serviceTiers ?? []) serviceTiers.set(t, m);
  const geo = new Map(mods.geo);
  for (const [g, m] of overrides?.geo ?? []) geo.set(g, m);
  const providers = new Map<Provider, ProviderSettings>();
  for (const [name, p] of overrides?.providers ?? []) {
    providers.set(name, { multiplier: p.multiplier ?? ONE, regionalPremium: p.regionalPremium ?? mods.regionalPremium });
  }
  return {
    version: overrides ? `${catalog.version}+o.${overrides.fingerprint}` : catalog.version,
    catalog,
    models,
    aliases,
    parser: new ModelIdParser(aliases),
    serviceTiers,
    geo,
    providers,
    defaultProvider: { multiplier: ONE, regionalPremium: mods.regionalPremium },
    unknownTtl: overrides?.unknownTtl ?? mods.unknownTtl,
    webSearchPerRequest: overrides?.webSearchPerRequest ?? mods.webSearchPerRequest,
  };
}

/** The period of `periods` containing `t`, or null. Periods are few and sorted. */
export function findPeriod(periods: readonly Period[], t: number): Period | null {
  for (let i = 0; i < periods.length; i++) {
    const p = periods[i]!;
    if (t < p.from) return null;
    if (t < p.to) return p;
  }
  return null;
}

/** The rates of `period` for a prompt of `prompt` tokens at `t`: a tier's, else the base. */
export function ratesFor(period: Period, t: number, prompt: number): RateSet {
  const tiers = period.tiers;
  let outside: RateSet | null = null;
  for (let i = 0; i < tiers.length; i++) {
    const tier = tiers[i]!;
    if (prompt <= tier.over) continue;
    if (t >= tier.from && t < tier.to) return tier.rates;
    // Out of the tier's dates: the base rates, flagged when the date that put it out is unverified.
    outside ??= t < tier.from ? tier.outside.before : tier.outside.after;
  }
  return outside ?? period.rates;
}

