/**
 * User price overrides: the `pricing:` block of the daemon's YAML configuration, validated
 * once when the pricer is built. Use them for negotiated prices (per model, or per provider
 * such as Bedrock or Vertex) and for models the catalog does not know.
 *
 * @example
 * ```yaml
 * pricing:
 *   models:
 *     claude-fable-5-2:               # any spelling; normalised like event model ids
 *       - from: 2026-11-09            # UTC date (or ISO time), inclusive; omit = always
 *         input: 10                   # USD per million tokens
 *         output: 50
 *         cache_write_5m: 12.5        # omit a cache price and calls that use it stay unpriced
 *         cache_write_1h: 20
 *         cache_read: 0.25
 *   providers:
 *     bedrock:
 *       multiplier: 0.9               # a 10 % discount on list prices for every Bedrock call
 *     anthropic:
 *       models:
 *         claude-opus-5-5:            # a negotiated price, taken as it is (no provider multiplier)
 *           - { from: 2026-12-01, input: 3.2, output: 16, cache_write_5m: 4, cache_write_1h: 6.4, cache_read: 0.16 }
 *   service_tiers: { priority: 1 }    # price Priority Tier calls at list price instead of leaving them unpriced
 *   inference_geo: { eu: 1.1 }        # a geo multiplier the catalog does not know
 *   unknown_ttl: 5m                   # how cache writes of unknown TTL are priced (5m or 1h)
 * ```
 */
import { createHash } from 'node:crypto';
import type { Provider } from '../event/types.js';
import { RATE_FIELDS, checkTimeline, parsePeriod, type PeriodSpec } from './catalog.js';
import {
  PricingConfigError,
  childPath,
  expectArray,
  expectBoolean,
  expectKeys,
  expectMultiplier,
  expectObject,
  expectRate,
  expectString,
} from './errors.js';
import type { Fraction } from './money.js';

/** Rates in USD per million tokens (at most 6 decimals). A missing cache price is unknown. */
export interface RatesOverride {
  input: number;
  output: number;
  cache_write_5m?: number | null;
  cache_write_1h?: number | null;
  cache_read?: number | null;
}

/** A prompt-length tier: every token of a call whose prompt exceeds `prompt_tokens_over`. */
export interface TierOverride extends RatesOverride {
  name?: string;
  prompt_tokens_over: number;
  from?: string | Date | null;
  to?: string | Date | null;
}

/** Prices in force from `from` (inclusive) to `to` (exclusive), UTC. */
export interface PriceOverride extends RatesOverride {
  /** `YYYY-MM-DD` (UTC midnight) or an ISO time with a zone; default: since always. */
  from?: string | Date | null;
  /** Exclusive; default: still in force. */
  to?: string | Date | null;
  tiers?: TierOverride[];
  /** Prices when `usage.speed` is `fast`; without them a fast call in this period is unpriced. */
  fast?: RatesOverride & { tiers?: TierOverride[] };
  notes?: string;
}

/** A model's override: its price periods, plus what the catalog would otherwise say. */
export interface ModelOverride {
  /** Other spellings of this model found in events. */
  aliases?: string[];
  /** Apply the US-only inference multiplier? Default: the catalog's value, else true. */
  inference_geo_us?: boolean;
  /** Apply the Bedrock/Vertex regional-endpoint premium? Default: the catalog's value, else true. */
  bedrock_vertex_regional_premium?: boolean;
  prices: PriceOverride[];
}

/** Per-provider settings. */
export interface ProviderOverride {
  /** Scales list prices (catalog and `pricing.models`) for this provider's calls. Default 1. */
  multiplier?: number;
  /** Premium for regional Bedrock/Vertex endpoints. Default: the catalog's 1.1. */
  regional_premium?: number;
  /** Prices that apply to this provider's calls only, taken as they are. */
  models?: Record<string, PriceOverride[] | ModelOverride>;
}

/** The `pricing:` block of the daemon configuration. Every field is optional. */
export interface PricingOverrides {
  models?: Record<string, PriceOverride[] | ModelOverride>;
  providers?: Partial<Record<Provider, ProviderOverride>>;
  /** Multipliers for service tiers, e.g. `{ priority: 1 }`; they replace the catalog's (batch 0.5). */
  service_tiers?: Record<string, number>;
  /** Multipliers for `usage.inference_geo` values, added to the catalog's (`us` 1.1). */
  inference_geo?: Record<string, number>;
  /** How cache writes of unknown TTL are priced. Default `5m`. */
  unknown_ttl?: '5m' | '1h';
  /** USD per web search request. Default 0.01. */
  web_search_usd_per_request?: number;
}

/** A validated model override. */
export interface ModelOverrideSpec {
  /** The key as written. */
  key: string;
  aliases: string[];
  geoUs: boolean | null;
  regionalPremium: boolean | null;
  prices: PeriodSpec[];
}

export interface ProviderOverrideSpec {
  multiplier: Fraction | null;
  regionalPremium: Fraction | null;
  models: Map<string, ModelOverrideSpec>;
}

/** The validated overrides. Model keys are still spellings; the price table resolves them. */
export interface OverridesSpec {
  models: Map<string, ModelOverrideSpec>;
  providers: Map<Provider, ProviderOverrideSpec>;
  serviceTiers: Map<string, Fraction>;
  geo: Map<string, Fraction>;
  unknownTtl: '5m' | '1h' | null;
  /** pUSD per request, or null for the catalog's. */
  webSearchPerRequest: number | null;
  /** Short hash of the overrides, part of `pricing_version`. */
  fingerprint: string;
}

const PROVIDERS: readonly Provider[] = ['anthropic', 'bedrock', 'vertex', 'foundry', 'unknown'];
const ROOT_KEYS = ['models', 'providers', 'service_tiers', 'inference_geo', 'unknown_ttl', 'web_search_usd_per_request'];
const MODEL_KEYS = ['aliases', 'inference_geo_us', 'bedrock_vertex_regional_premium', 'prices'];
const PROVIDER_KEYS = ['multiplier', 'regional_premium', 'models'];
const FAST_KEYS = [...RATE_FIELDS, 'tiers'];

function requireInputOutput(spec: PeriodSpec, path: string): void {
  if (spec.rates.input === null) throw new PricingConfigError(childPath(path, 'input'), 'missing: an override must give input and output prices');
  if (spec.rates.output === null) throw new PricingConfigError(childPath(path, 'output'), 'missing: an override must give input and output prices');
}

function parsePriceOverride(value: unknown, path: string): PeriodSpec {
  const source = () => `override ${path}`;
  const spec = parsePeriod(value, path, { allowNull: true, extraKeys: ['fast'], source });
  requireInputOutput(spec, path);
  for (let i = 0; i < spec.tiers.length; i++) requireInputOutput(spec.tiers[i]! as unknown as PeriodSpec, childPath(childPath(path, 'tiers'), i));
  const fast = (value as Record<string, unknown>)['fast'];
  if (fast !== undefined && fast !== null) {
    const fp = childPath(path, 'fast');
    expectKeys(expectObject(fast, fp), FAST_KEYS, fp);
    const fastSpec = parsePeriod(fast, fp, { allowNull: true, source: () => `override ${fp}` });
    requireInputOutput(fastSpec, fp);
    spec.fast = { ...fastSpec, from: spec.from, to: spec.to };
  }
  return spec;
}

function parseModelOverride(key: string, value: unknown, path: string): ModelOverrideSpec {
  let obj: Record<string, unknown>;
  let pricesPath: string;
  if (Array.isArray(value)) {
    obj = { prices: value };
    pricesPath = path;
  } else {
    obj = expectObject(value, path);
    expectKeys(obj, MODEL_KEYS, path);
    pricesPath = childPath(path, 'prices');
  }
  const list = expectArray(obj['prices'], pricesPath);
  if (list.length === 0) throw new PricingConfigError(pricesPath, 'at least one price period is needed');
  const prices = list.map((p, i) => parsePriceOverride(p, childPath(pricesPath, i)));
  checkTimeline(prices, pricesPath);
  const aliases =
    obj['aliases'] === undefined ? [] : expectArray(obj['aliases'], childPath(path, 'aliases')).map((a, i) => expectString(a, childPath(childPath(path, 'aliases'), i)));
  return {
    key,
    aliases,
    geoUs: obj['inference_geo_us'] === undefined ? null : expectBoolean(obj['inference_geo_us'], childPath(path, 'inference_geo_us')),
    regionalPremium:
      obj['bedrock_vertex_regional_premium'] === undefined
        ? null
        : expectBoolean(obj['bedrock_vertex_regional_premium'], childPath(path, 'bedrock_vertex_regional_premium')),
    prices,
  };
}

function parseModels(value: unknown, path: string): Map<string, ModelOverrideSpec> {
  const out = new Map<string, ModelOverrideSpec>();
  if (value === undefined || value === null) return out;
  for (const [key, v] of Object.entries(expectObject(value, path))) {
    out.set(key, parseModelOverride(key, v, childPath(path, key)));
  }
  return out;
}

function parseMultiplierMap(value: unknown, path: string): Map<string, Fraction> {
  const out = new Map<string, Fraction>();
  if (value === undefined || value === null) return out;
  for (const [key, v] of Object.entries(expectObject(value, path))) out.set(key, expectMultiplier(v, childPath(path, key)));
  return out;
}

/** A stable text of any JSON-like value (sorted keys, dates as ISO) for the fingerprint. */
function stableJson(value: unknown): string {
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(obj[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Validates a `pricing:` block. `null`/`undefined` means no overrides.
 *
 * @param path how to name the block in errors (default `pricing`)
 * @throws PricingConfigError naming the first bad field, e.g.
 *   `pricing.providers.bedrock.multiplier: expected a multiplier …`
 */
export function parseOverrides(value: unknown, path = 'pricing'): OverridesSpec | null {
  if (value === undefined || value === null) return null;
  const root = expectObject(value, path);
  expectKeys(root, ROOT_KEYS, path);
  const providers = new Map<Provider, ProviderOverrideSpec>();
  if (root['providers'] !== undefined && root['providers'] !== null) {
    const pp = childPath(path, 'providers');
    for (const [name, v] of Object.entries(expectObject(root['providers'], pp))) {
      const p = childPath(pp, name);
      if (!PROVIDERS.includes(name as Provider)) throw new PricingConfigError(p, `unknown provider; expected one of ${PROVIDERS.join(', ')}`);
      const obj = expectObject(v, p);
      expectKeys(obj, PROVIDER_KEYS, p);
      providers.set(name as Provider, {
        multiplier: obj['multiplier'] === undefined ? null : expectMultiplier(obj['multiplier'], childPath(p, 'multiplier')),
        regionalPremium: obj['regional_premium'] === undefined ? null : expectMultiplier(obj['regional_premium'], childPath(p, 'regional_premium')),
        models: parseModels(obj['models'], childPath(p, 'models')),
      });
    }
  }
  const ttl = root['unknown_ttl'];
  if (ttl !== undefined && ttl !== '5m' && ttl !== '1h') throw new PricingConfigError(childPath(path, 'unknown_ttl'), "expected '5m' or '1h'");
  const web = root['web_search_usd_per_request'];
  return {
    models: parseModels(root['models'], childPath(path, 'models')),
    providers,
    serviceTiers: parseMultiplierMap(root['service_tiers'], childPath(path, 'service_tiers')),
    geo: parseMultiplierMap(root['inference_geo'], childPath(path, 'inference_geo')),
    unknownTtl: ttl === undefined ? null : ttl,
    webSearchPerRequest: web === undefined ? null : expectRate(web, childPath(path, 'web_search_usd_per_request')) * 1_000_000,
    fingerprint: createHash('sha256').update(stableJson(value)).digest('hex').slice(0, 8),
  };
}
