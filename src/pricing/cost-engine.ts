/**
 * The cost engine: one call event in, its exact price out.
 *
 * Cost of a call (every amount an integer until the one rounding):
 *
 *   tokens = Σ parts  quantity × rate        (pUSD; rates chosen by model, time, tier, speed)
 *   cost   = tokens × batch × geo × regional × provider  +  web_search × 0.01 USD
 *   cost_nanousd = round_half_even(cost / 1000)
 *
 * Everything that can be decided before the first call (catalog parsing, overrides, alias
 * maps, per-model timelines, source texts) is decided in {@link createPricer}; `price()` does
 * a memoised model lookup, a few comparisons, and integer arithmetic on numbers (BigInt only
 * when a call is so large an intermediate could pass 2^53).
 */
import type { CallEvent, Provider, Usage } from '../event/types.js';
import { loadCatalog, parseCatalog, DEFAULT_STALE_AFTER_DAYS, type Catalog } from './catalog.js';
import { FLAG } from './flags.js';
import { ONE, PICO_PER_NANO, fractionText, mulFraction, roundHalfEven, roundHalfEvenBig, type Fraction } from './money.js';
import type { ParsedModelId } from './model-normalizer.js';
import { parseOverrides, type PricingOverrides } from './overrides.js';
import { DATES_UNVERIFIED, UNKNOWN, buildPriceTable, findPeriod, ratesFor, type Layer, type PriceTable, type PricedModel, type RateSet } from './price-table.js';
import type { CostPart, PriceDimension, PriceResult, Pricer } from './types.js';

/** Options of {@link createPricer}. */
export interface CreatePricerOptions {
  /** The `pricing:` block of the daemon configuration; validated here. Default: none. */
  overrides?: PricingOverrides | null;
  /** Clock for warnings and staleness, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** A replacement catalog object (tests); default the built-in `catalog.json`. */
  catalog?: unknown;
  /** How many distinct (model, reason) warnings to remember. Default 1000. */
  maxWarnings?: number;
}

/** Why a call could not be priced, for the daemon's log line and metric. */
export type PricingWarningReason =
  | 'unknown_model'
  | 'no_price'
  | 'fast_price_unknown'
  | 'fast_in_batch'
  | 'service_tier_unpriced'
  | 'unknown_speed'
  | 'unknown_inference_geo';

/** Reported once per (model, reason) for the lifetime of a pricer. */
export interface PricingWarning {
  /** Canonical (or cleaned) model id; `(none)` when the event names no model. */
  model: string;
  reason: PricingWarningReason;
  /** When the engine first saw it, epoch ms. */
  first_seen_ms: number;
  /** The event's time. */
  event_ts: number | null;
  /** A sentence for the log. */
  message: string;
}

/** Extra detail collected by {@link CostEngine.priceDetailed} for explanations. */
export interface PriceDetail {
  parsed: ParsedModelId | null;
  requestTimeMs: number;
  promptTokens: number;
  /** Multipliers on token parts, in the order applied. */
  multipliers: { name: string; value: Fraction }[];
  tokenMultiplier: Fraction;
  /** Per part: the rate before multipliers, pUSD per token (per request for web search). */
  baseRatesPico: number[];
  /** Exact cost and cost without cache in pUSD, as `num / den`. */
  exact: { num: bigint; den: bigint; numWithoutCache: bigint };
}

const NOT_BILLED_OPERATIONS: ReadonlySet<string> = new Set([
  'messages.count_tokens',
  'messages.batches.create',
  'messages.batches.retrieve',
  'messages.batches.list',
  'messages.batches.cancel',
  'messages.batches.delete',
]);
const RESULTS_DOWNLOAD_OPERATION = 'messages.batches.results';
const BATCH_RESULT_OPERATIONS: ReadonlySet<string> = new Set([RESULTS_DOWNLOAD_OPERATION, 'messages.batches.result']);
const NOT_BILLED_BATCH_RESULTS: ReadonlyMap<string, string> = new Map([
  ['errored', 'not_billed:batch_errored'],
  ['canceled', 'not_billed:batch_canceled'],
  ['expired', 'not_billed:batch_expired'],
]);
/**
 * What the emitter puts before the operation of a call made through `client.beta` (or with an
 * `anthropic-beta` header): `beta.messages.count_tokens`. Billing is the same as without it.
 */
const BETA_PREFIX = 'beta.';
/** Inference-geo values that mean "no geo premium". */
const NEUTRAL_GEOS: ReadonlySet<string> = new Set(['', 'global', 'not_available']);

// Modifier bits for the memoised part source text.
const M_BATCH = 1;
const M_GEO = 2;
const M_REGIONAL = 4;
const M_PROVIDER = 8;
const M_TIER_CUSTOM = 16;
const M_GEO_CUSTOM = 32;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const PROVIDER_ORDER: readonly Provider[] = ['anthropic', 'bedrock', 'vertex', 'foundry', 'unknown'];

function count(x: unknown): number {
  return typeof x === 'number' && x > 0 && Number.isFinite(x) ? Math.floor(x) : 0;
}

/**
 * The operation as billing sees it: a beta count_tokens is as free, and a beta batch result as
 * discounted, as the plain one. Null when the event names no operation.
 */
function billedOperation(operation: unknown): string | null {
  if (typeof operation !== 'string') return null;
  return operation.startsWith(BETA_PREFIX) ? operation.slice(BETA_PREFIX.length) : operation;
}

/**
 * Whether the event is the download of a batch's results file (`batches.results()`), not one of
 * its results: the download reports no usage of its own, and each result line is an event of its
 * own, billed at the batch tier. Read as a call without usage, it would count as one that may
 * have been billed.
 */
function isResultsDownload(op: string, event: CallEvent): boolean {
  return op === RESULTS_DOWNLOAD_OPERATION && (event.usage === null || event.usage === undefined) && event.batch?.result_type === undefined;
}

/** The time prices are taken at: the call's start, else its end; NaN when the event has neither. */
function requestTime(event: CallEvent): number {
  const start = event.ts_start;
  if (typeof start === 'number' && Number.isFinite(start)) return start;
  const end = event.ts;
  return typeof end === 'number' && Number.isFinite(end) ? end : NaN;
}


/**
 * Prices call events with the built-in catalog and the configured overrides. Create one per
 * configuration with {@link createPricer}; it is safe to call from one thread at a time
 * (Node's), and keeps only bounded state (the model-id memo and the warnings set).
 */
export class CostEngine implements Pricer {
  /** `pricing_version` stamped on every result. */
  readonly version: string;
  readonly table: PriceTable;
  readonly #now: () => number;
  readonly #maxWarnings: number;
  readonly #warned = new Set<string>();
  #pending: PricingWarning[] = [];
  readonly #flagMemo = new Map<string, Map<string, string>>();
  readonly #tierIndex = new Map<string, number>();
  readonly #geoIndex = new Map<string, number>();
  readonly #suffixMemo = new Map<number, string>();
  /** The catalog's US geo multiplier has no verified start (its `unverified` lists `from`). */
  readonly #builtInGeoUsStartUnverified: boolean;
  // Scratch state of one price() call (single-threaded, not re-entrant).
  #q: number[] = [];
  #r: number[] = [];
  #rnc: number[] = [];
  #web: boolean[] = [];
  #n = 0;
  #S = 0;
  #Snc = 0;
  #unverified = 0;
  #beforeFirst = false;
  #why: string = FLAG.noPrice;

  constructor(table: PriceTable, now: () => number, maxWarnings: number) {
    this.table = table;
    this.version = table.version;
    this.#now = now;
    this.#maxWarnings = maxWarnings;
    this.#builtInGeoUsStartUnverified = table.catalog.modifiers.unverified.geo.includes('from');
    let i = 1;
    for (const t of table.serviceTiers.keys()) this.#tierIndex.set(t, i++);
    i = 1;
    for (const g of table.geo.keys()) this.#geoIndex.set(g, i++);
  }

  /** The catalog's as-of date, `YYYY-MM-DD`. */
  get catalogAsOf(): string {
    return this.table.catalog.asOf;
  }

  /** Whether the catalog's prices are older than `maxAgeDays` (default 60) at `now`. */
  isStale(now: number = this.#now(), maxAgeDays: number = DEFAULT_STALE_AFTER_DAYS): boolean {
    return now - this.table.catalog.asOfMs > maxAgeDays * 86_400_000;
  }

  /** Takes a model id apart, with the overrides' aliases. Memoised. */
  parseModel(id: string): ParsedModelId {
    return this.table.parser.parse(id);
  }

  /** The canonical id of any spelling, with the overrides' aliases (for the `model` label). */
  normalizeModel(id: string | null | undefined): string | null {
    if (typeof id !== 'string' || id.trim() === '') return null;
    return this.table.parser.parse(id).canonical;
  }

  /**
   * Warnings not yet taken, each (model, reason) once for the life of this pricer: the
   * daemon logs them and counts them. Empties the queue.
   */
  takeWarnings(): PricingWarning[] {
    const out = this.#pending;
    this.#pending = [];
    return out;
  }

  /** Prices one call. Never throws on a well-typed event; an unpriceable call gets `cost_usd: null`. */
  price(event: CallEvent): PriceResult {
    return this.#compute(event, null);
  }

  /** Prices one call and collects the detail an explanation shows. */
  priceDetailed(event: CallEvent): { result: PriceResult; detail: PriceDetail } {
    const detail: PriceDetail = {
      parsed: null,
      requestTimeMs: NaN,
      promptTokens: 0,
      multipliers: [],
      tokenMultiplier: ONE,
      baseRatesPico: [],
      exact: { num: 0n, den: 1n, numWithoutCache: 0n },
    };
    const result = this.#compute(event, detail);
    return { result, detail };
  }

  #result(event: CallEvent, model: string | null, flags: string[], nano: number | null, nanoNc: number | null, parts: CostPart[]): PriceResult {
    return {
      cost_usd: nano === null ? null : nano / 1e9,
      cost_nanousd: nano,
      cost_without_cache_usd: nanoNc === null ? null : nanoNc / 1e9,
      cost_without_cache_nanousd: nanoNc,
      parts,
      pricing_version: this.version,
      priced: nano !== null,
      model,
      provider: event.provider ?? 'unknown',
      flags,
    };
  }

  #unpriced(event: CallEvent, model: string | null, flags: string[] | null, reason: string, warn: PricingWarningReason | null): PriceResult {
    const f = flags ?? [];
    f.push(reason);
    if (warn !== null) this.#warn(model ?? '(none)', warn, event);
    return this.#result(event, model, f, null, null, []);
  }

  #warn(model: string, reason: PricingWarningReason, event: CallEvent): void {
    const key = `${model}\u0000${reason}`;
    if (this.#warned.has(key) || this.#warned.size >= this.#maxWarnings) return;
    this.#warned.add(key);
    const what: Record<PricingWarningReason, string> = {
      unknown_model: 'the price catalog does not know this model; add it under pricing.models',
      no_price: 'the catalog has no price for this model at the call time (or for a usage dimension it used)',
      fast_price_unknown: 'usage.speed is fast but no fast-mode price is in force',
      fast_in_batch: 'usage reports fast mode on a batch call',
      service_tier_unpriced: 'this service tier has no list price; set pricing.service_tiers',
      unknown_speed: 'usage.speed has a value the engine does not know',
      unknown_inference_geo: 'usage.inference_geo has a value without a multiplier; set pricing.inference_geo',
    };
    this.#pending.push({
      model,
      reason,
      first_seen_ms: this.#now(),
      event_ts: typeof event.ts === 'number' ? event.ts : null,
      message: `calls to ${model} are unpriced (cost null, counted in claude_unpriced_requests_total): ${what[reason]}`,
    });
  }

  /**
   * The rate set for a model at `t`: provider layer, then override, then catalog; the fast
   * prices of the same layer when `fast`. Null when none (reason in `#why`).
   */
  #select(model: PricedModel, provider: Provider, t: number, prompt: number, fast: boolean): RateSet | null {
    this.#beforeFirst = false;
    let layer: Layer | undefined = model.providerLayers.size > 0 ? model.providerLayers.get(provider) : undefined;
    let period = layer === undefined ? null : findPeriod(layer.prices, t);
    if (period === null) {
      const layers = model.layers;
      for (let i = 0; i < layers.length; i++) {
        layer = layers[i]!;
        period = findPeriod(layer.prices, t);
        if (period !== null) break;
      }
    }
    if (period === null || layer === undefined) {
      this.#why = FLAG.noPrice;
      return null;
    }
    if (t < period.declaredFrom) this.#beforeFirst = true;
    if (fast) {
      const fp = findPeriod(layer.fast, t);
      if (fp === null) {
        this.#why = FLAG.fastPriceUnknown;
        return null;
      }
      period = fp;
    }
    return ratesFor(period, t, prompt);
  }

  #sourceText(rs: RateSet, mask: number, tierName: string | null, tierMult: Fraction, geoName: string | null, geoMult: Fraction, regional: Fraction, provider: Provider, providerMult: Fraction): string {
    if (mask === 0) return rs.source;
    const key = mask | ((tierName === null ? 0 : (this.#tierIndex.get(tierName) ?? 0)) << 8) | ((geoName === null ? 0 : (this.#geoIndex.get(geoName) ?? 0)) << 16) | ((PROVIDER_ORDER.indexOf(provider) + 1) << 24);
    let memo = rs.sourceMemo.get(key);
    if (memo === undefined) {
      let suffix = this.#suffixMemo.get(key);
      if (suffix === undefined) {
        suffix = '';
        if (mask & M_BATCH) suffix += ` × batch ${fractionText(tierMult)}`;
        if (mask & M_TIER_CUSTOM) suffix += ` × service tier ${tierName} ${fractionText(tierMult)} (pricing.service_tiers)`;
        if (mask & M_GEO) suffix += ` × inference_geo ${geoName} ${fractionText(geoMult)}`;
        if (mask & M_GEO_CUSTOM) suffix += ` × inference_geo ${geoName} ${fractionText(geoMult)} (pricing.inference_geo)`;
        if (mask & M_REGIONAL) suffix += ` × ${provider} regional endpoint ${fractionText(regional)}`;
        if (mask & M_PROVIDER) suffix += ` × pricing.providers.${provider}.multiplier ${fractionText(providerMult)}`;
        this.#suffixMemo.set(key, suffix);
      }
      memo = rs.source + suffix;
      rs.sourceMemo.set(key, memo);
    }
    return memo;
  }

  /**
   * Adds one token part (when `qty > 0`); returns the dimension when its price is unknown,
   * else null. Accumulates into `#S`, `#Snc`, `#unverified`.
   */
  #part(parts: CostPart[], dim: PriceDimension, qty: number, rate: number, rs: RateSet, bit: number, N: number, D: number, source: string): PriceDimension | null {
    if (qty === 0) return null;
    const inRate = rs.input;
    if (rate === UNKNOWN || inRate === UNKNOWN) return dim;
    this.#unverified |= rs.unverifiedMask & bit;
    const rateNc = dim === 'output' ? rate : inRate;
    this.#S += qty * rate;
    this.#Snc += qty * rateNc;
    this.#addPart(qty, rate, rateNc, false);
    // One division of exact integers: the closest double to the exact value.
    parts.push({ dimension: dim, quantity: qty, rate_usd: (rate * N) / (D * 1e6), cost_usd: (qty * rate * N) / (D * 1e12), source });
    return null;
  }

  /** `prefix:value`, built once per pair (values come from bounded configuration maps). */
  #flag(prefix: string, value: string): string {
    let byValue = this.#flagMemo.get(prefix);
    if (byValue === undefined) this.#flagMemo.set(prefix, (byValue = new Map()));
    let flag = byValue.get(value);
    if (flag === undefined) byValue.set(value, (flag = `${prefix}:${value}`));
    return flag;
  }

  #addPart(qty: number, rate: number, rateNc: number, web: boolean): void {
    const n = this.#n++;
    this.#q[n] = qty;
    this.#r[n] = rate;
    this.#rnc[n] = rateNc;
    this.#web[n] = web;
  }

  #compute(event: CallEvent, detail: PriceDetail | null): PriceResult {
    const provider: Provider = event.provider ?? 'unknown';
    // The time is taken before any way out, and the tokens as soon as there is usage, so the
    // explanation of an unpriced or unbilled call shows its time and prompt, not "no time" and 0.
    const t = requestTime(event);
    if (detail !== null) detail.requestTimeMs = t;
    const op = billedOperation(event.operation);
    if (op !== null && (NOT_BILLED_OPERATIONS.has(op) || isResultsDownload(op, event))) return this.#result(event, this.normalizeModel(event.model ?? event.model_requested), [FLAG.notBilledOperation], 0, 0, []);
    const resultType = event.batch?.result_type;
    if (resultType !== undefined) {
      const notBilled = NOT_BILLED_BATCH_RESULTS.get(resultType);
      if (notBilled !== undefined) return this.#result(event, this.normalizeModel(event.model ?? event.model_requested), [notBilled], 0, 0, []);
    }
    const u: Usage | null | undefined = event.usage;
    const rawModel = event.model ?? event.model_requested ?? null;
    const parsed = typeof rawModel === 'string' && rawModel.trim() !== '' ? this.table.parser.parse(rawModel) : null;
    if (detail !== null) detail.parsed = parsed;
    const label = parsed === null ? null : parsed.canonical;
    if (u === null || u === undefined) {
      if (typeof event.http_status === 'number' && event.http_status >= 400) return this.#result(event, label, [FLAG.notBilledError], 0, 0, []);
      return this.#unpriced(event, label, null, FLAG.usageUnknown, null);
    }
    // Tokens. The split fields are what is priced; a total above them is TTL-unknown.
    const input = count(u.input_tokens);
    const output = count(u.output_tokens);
    const read = count(u.cache_read_input_tokens);
    const w5 = count(u.cache_write_5m_input_tokens);
    const w1 = count(u.cache_write_1h_input_tokens);
    let wu = count(u.cache_write_unknown_ttl_input_tokens);
    const wTotal = count(u.cache_creation_input_tokens);
    if (wTotal > w5 + w1 + wu) wu = wTotal - w5 - w1;
    const prompt = input + read + w5 + w1 + wu;
    if (detail !== null) detail.promptTokens = prompt;

    let flags: string[] | null = null;
    if (event.complete === false) (flags ??= []).push(FLAG.incomplete);
    if (parsed === null) return this.#unpriced(event, null, flags, FLAG.unknownModel, 'unknown_model');
    const model = this.table.models.get(parsed.canonical);
    if (model === undefined) return this.#unpriced(event, label, flags, FLAG.unknownModel, 'unknown_model');

    // Service tier → multiplier.
    let mask = 0;
    const tierRaw = u.service_tier;
    let tierName: string | null = tierRaw === null || tierRaw === undefined || tierRaw === '' ? null : tierRaw;
    if (tierName === null && op !== null && BATCH_RESULT_OPERATIONS.has(op)) tierName = 'batch';
    let tierMult: Fraction = ONE;
    if (tierName !== null && tierName !== 'standard') {
      const m = this.table.serviceTiers.get(tierName);
      if (m === undefined || m === null) return this.#unpriced(event, model.id, flags, `${FLAG.serviceTierUnpriced}:${tierName}`, 'service_tier_unpriced');
      tierMult = m;
      if (tierName === 'batch' && m === this.table.catalog.modifiers.batch) {
        mask |= M_BATCH;
        (flags ??= []).push(FLAG.batch);
      } else {
        mask |= M_TIER_CUSTOM;
        (flags ??= []).push(this.#flag('service_tier_multiplier', tierName));
      }
    }

    // Speed.
    const speed = u.speed;
    let fast = false;
    if (speed === 'fast') {
      if (tierName === 'batch') return this.#unpriced(event, model.id, flags, FLAG.fastInBatch, 'fast_in_batch');
      fast = true;
      (flags ??= []).push(FLAG.fastMode);
    } else if (speed !== null && speed !== undefined && speed !== 'standard' && speed !== '') {
      return this.#unpriced(event, model.id, flags, FLAG.unknownSpeed, 'unknown_speed');
    }

    // Rates.
    if (Number.isNaN(t)) return this.#unpriced(event, model.id, flags, FLAG.noTimestamp, null);
    const rs = this.#select(model, provider, t, prompt, fast);
    if (rs === null) {
      const why = this.#why;
      return this.#unpriced(event, model.id, flags, why, why === FLAG.fastPriceUnknown ? 'fast_price_unknown' : 'no_price');
    }
    if (this.#beforeFirst) (flags ??= []).push(FLAG.beforeFirstPrice);
    if (rs.tierFlag !== null) (flags ??= []).push(rs.tierFlag);
    if (rs.layer === 'override') (flags ??= []).push(FLAG.override);
    else if (rs.layer === 'provider_override') (flags ??= []).push(FLAG.providerOverride);

    // Inference geo (not on Bedrock/Vertex, which price regions their own way).
    let geoMult: Fraction = ONE;
    let geoName: string | null = null;
    // A multiplier applied on facts the catalog marks unverified (its start, the models it covers).
    let modifierUnverified = false;
    const geo = u.inference_geo;
    if (provider !== 'bedrock' && provider !== 'vertex' && typeof geo === 'string' && !NEUTRAL_GEOS.has(geo)) {
      const m = this.table.geo.get(geo);
      if (m === undefined) return this.#unpriced(event, model.id, flags, `${FLAG.unknownInferenceGeo}:${geo}`, 'unknown_inference_geo');
      const builtIn = this.table.catalog.modifiers.geo.get(geo) === m;
      // The US multiplier is the model's to take (inference_geo_us), whether its value is the
      // catalog's or pricing.inference_geo.us; a configured value is flagged as configured.
      if (geo === 'us' && !model.geoUs) {
        (flags ??= []).push(FLAG.geoIgnored);
      } else if (m.num !== m.den) {
        geoMult = m;
        geoName = geo;
        mask |= builtIn ? M_GEO : M_GEO_CUSTOM;
        (flags ??= []).push(geo === 'us' && builtIn ? FLAG.geoUs : this.#flag('inference_geo', geo));
        // The catalog's US multiplier has no verified start; which models take it is the
        // catalog's to say for later models too, whatever the multiplier's value.
        if (geo === 'us' && ((builtIn && this.#builtInGeoUsStartUnverified) || model.geoUsUnverified)) modifierUnverified = true;
      }
    }

    // Provider: list-price flag, regional-endpoint premium and multiplier, on list prices only
    // (a pricing.providers.<p>.models price is what that provider charges, taken as it is).
    let regional: Fraction = ONE;
    let providerMult: Fraction = ONE;
    if (rs.layer !== 'provider_override') {
      const settings = this.table.providers.get(provider) ?? this.table.defaultProvider;
      if (provider === 'bedrock' || provider === 'vertex' || provider === 'foundry') {
        (flags ??= []).push(this.#flag('provider_list_price', provider));
      }
      if (provider === 'bedrock' && model.regionalPremium) {
        let endpoint = parsed.bedrockEndpoint;
        if (endpoint === null && typeof event.model_requested === 'string' && event.model_requested !== rawModel) {
          endpoint = this.table.parser.parse(event.model_requested).bedrockEndpoint;
        }
        if (endpoint === 'regional' && settings.regionalPremium.num !== settings.regionalPremium.den) {
          regional = settings.regionalPremium;
          mask |= M_REGIONAL;
          (flags ??= []).push(FLAG.regionalPremium);
          if (model.regionalPremiumUnverified) modifierUnverified = true;
        }
      }
      if (settings.multiplier.num !== settings.multiplier.den) {
        providerMult = settings.multiplier;
        mask |= M_PROVIDER;
        (flags ??= []).push(this.#flag('provider_multiplier', provider));
      }
    }

    // The token multiplier N/D: a product of small reduced fractions, reduced at each step.
    const mult = mulFraction(mulFraction(tierMult, geoMult), mulFraction(regional, providerMult));
    const N = mult.num;
    const D = mult.den;
    if (detail !== null) {
      if (tierMult !== ONE) detail.multipliers.push({ name: tierName === 'batch' ? 'batch' : `service tier ${tierName}`, value: tierMult });
      if (geoMult !== ONE) detail.multipliers.push({ name: `inference_geo ${geoName}`, value: geoMult });
      if (regional !== ONE) detail.multipliers.push({ name: `${provider} regional endpoint`, value: regional });
      if (providerMult !== ONE) detail.multipliers.push({ name: `pricing.providers.${provider}.multiplier`, value: providerMult });
      detail.tokenMultiplier = mult;
    }
    const source = this.#sourceText(rs, mask, tierName, tierMult, geoName, geoMult, regional, provider, providerMult);

    // Parts. A rate UNKNOWN on a used dimension means no price.
    this.#n = 0;
    this.#S = 0;
    this.#Snc = 0;
    this.#unverified = 0;
    const parts: CostPart[] = [];
    const unknownTtl1h = this.table.unknownTtl === '1h';
    const wuRate = unknownTtl1h ? rs.cache_write_1h : rs.cache_write_5m;
    const bad =
      this.#part(parts, 'input', input, rs.input, rs, 1, N, D, source) ||
      this.#part(parts, 'cache_read', read, rs.cache_read, rs, 8, N, D, source) ||
      this.#part(parts, 'cache_write_5m', w5, rs.cache_write_5m, rs, 2, N, D, source) ||
      this.#part(parts, 'cache_write_1h', w1, rs.cache_write_1h, rs, 4, N, D, source) ||
      this.#part(parts, 'cache_write_unknown_ttl', wu, wuRate, rs, unknownTtl1h ? 4 : 2, N, D, source) ||
      this.#part(parts, 'output', output, rs.output, rs, 16, N, D, source);
    if (bad !== null) return this.#unpriced(event, model.id, flags, rs.input === UNKNOWN ? FLAG.noPrice : `${FLAG.noPrice}:${bad}`, 'no_price');
    let S = this.#S;
    let Snc = this.#Snc;
    // A price whose dates are unverified: flagged once any token was priced at it.
    let unverified = this.#unverified | (parts.length > 0 ? rs.unverifiedMask & DATES_UNVERIFIED : 0);
    if (wu > 0) (flags ??= []).push(unknownTtl1h ? FLAG.ttlUnknown1h : FLAG.ttlUnknown5m);

    // Beta iterations: compaction and advisor entries are not in the top-level usage.
    const its = u.iterations;
    if (its !== undefined && its !== null && its.length > 0) {
      let added = false;
      for (let k = 0; k < its.length; k++) {
        const it = its[k]!;
        const type = it.type;
        if (type === 'compaction' || type === 'advisor_message') {
          let itModel: PricedModel = model;
          if (type === 'advisor_message' && typeof it.model === 'string' && it.model !== '') {
            const p2 = this.table.parser.parse(it.model);
            const m2 = this.table.models.get(p2.canonical);
            if (m2 === undefined) {
              // Warned under the advisor's own id: the call's model is known, and the log line
              // must name the model to add.
              this.#warn(p2.canonical, 'unknown_model', event);
              return this.#unpriced(event, model.id, flags, `${FLAG.unknownModel}:${p2.canonical}`, null);
            }
            itModel = m2;
          }
          const iIn = count(it.input_tokens);
          const iOut = count(it.output_tokens);
          const iRead = count(it.cache_read_input_tokens);
          const iW = count(it.cache_creation_input_tokens);
          const rs2 = this.#select(itModel, provider, t, iIn + iRead + iW, type === 'compaction' && fast);
          if (rs2 === null) {
            const why = this.#why;
            this.#warn(itModel.id, why === FLAG.fastPriceUnknown ? 'fast_price_unknown' : 'no_price', event);
            return this.#unpriced(event, model.id, flags, `${why}:${type}`, null);
          }
          const src2 = `${this.#sourceText(rs2, mask, tierName, tierMult, geoName, geoMult, regional, provider, providerMult)}; usage.iterations ${type}`;
          const itDims: readonly [PriceDimension, number, number][] = [
            ['input', iIn, rs2.input],
            ['cache_read', iRead, rs2.cache_read],
            ['cache_write_unknown_ttl', iW, unknownTtl1h ? rs2.cache_write_1h : rs2.cache_write_5m],
            ['output', iOut, rs2.output],
          ];
          for (const [dim, qty, rate] of itDims) {
            if (qty === 0) continue;
            if (rate === UNKNOWN || rs2.input === UNKNOWN) {
              this.#warn(itModel.id, 'no_price', event);
              return this.#unpriced(event, model.id, flags, `${FLAG.noPrice}:${type}`, null);
            }
            const rateNc = dim === 'output' ? rate : rs2.input;
            S += qty * rate;
            Snc += qty * rateNc;
            this.#addPart(qty, rate, rateNc, false);
            const part: CostPart = { dimension: dim, quantity: qty, rate_usd: (rate * N) / (D * 1e6), cost_usd: (qty * rate * N) / (D * 1e12), source: src2, iteration: type };
            if (itModel !== model) part.model = itModel.id;
            parts.push(part);
          }
          if (iW > 0 && wu === 0) (flags ??= []).push(unknownTtl1h ? FLAG.ttlUnknown1h : FLAG.ttlUnknown5m);
          if (rs2.unverifiedMask !== 0) unverified |= rs2.unverifiedMask;
          added = true;
        } else if (type === 'message' || type === 'fallback_message') {
          if (typeof it.model === 'string' && it.model !== '' && this.table.parser.parse(it.model).canonical !== model.id) {
            if (flags === null || !flags.includes(FLAG.iterationsMixedModels)) (flags ??= []).push(FLAG.iterationsMixedModels);
          }
        } else if (flags === null || !flags.includes(FLAG.iterationsUnknownType)) {
          (flags ??= []).push(FLAG.iterationsUnknownType);
        }
      }
      if (added) (flags ??= []).push(FLAG.iterationsAdded);
    }
    if (unverified !== 0 || modifierUnverified) (flags ??= []).push(FLAG.unverifiedPrice);

    // Server tools: web search per request (no token multipliers); code execution not in usage.
    const searches = count(u.web_search_requests);
    let W = 0;
    if (searches > 0) {
      const wr = this.table.webSearchPerRequest;
      W = searches * wr;
      this.#addPart(searches, wr, wr, true);
      parts.push({ dimension: 'web_search', quantity: searches, rate_usd: wr / 1e12, cost_usd: W / 1e12, source: 'catalog modifiers.web_search' });
      (flags ??= []).push(FLAG.webSearch);
    }
    if (count(u.code_execution_requests) > 0) (flags ??= []).push(FLAG.codeExecutionNotPriced);

    // Exact total in pUSD is (S·N + W·D) / D; round once to nUSD.
    let nano: number;
    let nanoNc: number;
    const num = S * N + W * D;
    const numNc = Snc * N + W * D;
    if (num <= MAX_SAFE && numNc <= MAX_SAFE && detail === null) {
      const den = D * PICO_PER_NANO;
      nano = roundHalfEven(num, den);
      nanoNc = roundHalfEven(numNc, den);
    } else {
      // Too large for exact doubles (or an explanation): redo the sums in BigInt.
      let sB = 0n;
      let sNcB = 0n;
      let wB = 0n;
      for (let i = 0; i < this.#n; i++) {
        const q = BigInt(this.#q[i]!);
        if (this.#web[i]) wB += q * BigInt(this.#r[i]!);
        else {
          sB += q * BigInt(this.#r[i]!);
          sNcB += q * BigInt(this.#rnc[i]!);
        }
      }
      const nB = BigInt(N);
      const dB = BigInt(D);
      const numB = sB * nB + wB * dB;
      const numNcB = sNcB * nB + wB * dB;
      const denB = dB * BigInt(PICO_PER_NANO);
      nano = Number(roundHalfEvenBig(numB, denB));
      nanoNc = Number(roundHalfEvenBig(numNcB, denB));
      if (detail !== null) {
        detail.exact = { num: numB, den: dB, numWithoutCache: numNcB };
        for (let i = 0; i < this.#n; i++) detail.baseRatesPico.push(this.#r[i]!);
      }
    }
    return this.#result(event, model.id, flags ?? [], nano, nanoNc, parts);
  }
}

/**
 * Builds a pricer from the built-in catalog and the `pricing:` overrides.
 *
 * @throws PricingConfigError naming the first bad field of the overrides (or catalog)
 * @example
 * const pricer = createPricer({ overrides: config.pricing });
 * const { cost_usd, flags } = pricer.price(event);
 */
export function createPricer(options: CreatePricerOptions = {}): CostEngine {
  const catalog: Catalog = options.catalog === undefined ? loadCatalog() : parseCatalog(options.catalog);
  const overrides = parseOverrides(options.overrides ?? null);
  const table = buildPriceTable(catalog, overrides);
  return new CostEngine(table, options.now ?? Date.now, options.maxWarnings ?? 1000);
}
