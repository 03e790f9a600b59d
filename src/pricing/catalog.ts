/**
 * The built-in price catalog (`catalog.json` beside this file): loading, validation and the
 * parsed form shared with overrides. Read once, on first use, and checked whole: a bad
 * entry fails at load with the path of the field, never per call.
 */
import { readFileSync } from 'node:fs';
import {
  PricingConfigError,
  childPath,
  expectArray,
  expectBoolean,
  expectDate,
  expectKeys,
  expectMultiplier,
  expectObject,
  expectRate,
  expectString,
  expectTokenCount,
} from './errors.js';
import type { Fraction } from './money.js';

/** Token price dimensions a catalog period carries. */
export const RATE_FIELDS = ['input', 'cache_write_5m', 'cache_write_1h', 'cache_read', 'output'] as const;
export type RateField = (typeof RATE_FIELDS)[number];

/** Rates in integer picodollars per token (= micro-USD per MTok); null = unknown. */
export type RatesSpec = Record<RateField, number | null>;

/** A prompt-length tier inside a period (long context, Haiku 5.5's > 100K). */
export interface TierSpec {
  name: string;
  /** The tier applies when prompt tokens are strictly greater than this. */
  over: number;
  /** Epoch ms, inclusive; -Infinity = from the start of the period. */
  from: number;
  /** Epoch ms, exclusive; +Infinity = to the end of the period. */
  to: number;
  rates: RatesSpec;
  unverified: readonly string[];
  source: string;
}

/** Prices in force over one date range. */
export interface PeriodSpec {
  /** Epoch ms, inclusive; -Infinity when the source gives no start. */
  from: number;
  /** Epoch ms, exclusive; +Infinity while in force. */
  to: number;
  rates: RatesSpec;
  tiers: TierSpec[];
  /** Fields its sources leave uncertain (rate fields, `from`, `to`). */
  unverified: readonly string[];
  /** Where these prices come from (a catalog source, or the override's path). */
  source: string;
  /** Fast-mode prices for the same dates (overrides only; the catalog lists them apart). */
  fast?: PeriodSpec;
}

/** The facts of a model its `unverified` list may name. */
export const MODEL_FACTS = ['inference_geo_us', 'bedrock_vertex_regional_premium'] as const;
export type ModelFact = (typeof MODEL_FACTS)[number];

/** A model as the catalog describes it. */
export interface ModelSpec {
  id: string;
  aliases: string[];
  /** Whether `inference_geo: "us"` adds the US-only multiplier (Opus 4.6, Sonnet 4.6 and later). */
  geoUs: boolean;
  /** Whether Bedrock/Vertex regional endpoints add their 10 % premium (Sonnet 4.5, Haiku 4.5 and later). */
  regionalPremium: boolean;
  /**
   * Which of the two above its sources only imply (`inference_geo_us`,
   * `bedrock_vertex_regional_premium`): derived from "and later", not stated for this model.
   */
  unverified: readonly ModelFact[];
  prices: PeriodSpec[];
  fast: PeriodSpec[];
  status: string;
  released: string | null;
  retires: string | null;
  notes: string;
}

/** Catalog-wide modifiers. */
export interface ModifiersSpec {
  batch: Fraction;
  geo: Map<string, Fraction>;
  regionalPremium: Fraction;
  /** pUSD per web search request. */
  webSearchPerRequest: number;
  unknownTtl: '5m' | '1h';
  unpricedServiceTiers: string[];
  /** What the sources leave uncertain about the geo multiplier and the regional premium (their `unverified` lists). */
  unverified: { geo: string[]; regionalPremium: string[] };
}

/** The validated catalog. */
export interface Catalog {
  name: string;
  version: string;
  /** The date the prices were last checked, `YYYY-MM-DD`. */
  asOf: string;
  asOfMs: number;
  models: ModelSpec[];
  /** Every known spelling (ids and aliases) → canonical id. */
  aliases: Map<string, string>;
  modifiers: ModifiersSpec;
  sources: Record<string, string>;
  /** The file as read (for `claudescope pricing --json`). */
  raw: unknown;
}

/** Prices older than this many days make {@link isCatalogStale} true. */
export const DEFAULT_STALE_AFTER_DAYS = 60;
const DAY_MS = 86_400_000;

const PERIOD_KEYS = ['from', 'to', ...RATE_FIELDS, 'source', 'unverified', 'derived', 'notes', 'tiers'];
const TIER_KEYS = ['name', 'prompt_tokens_over', 'from', 'to', ...RATE_FIELDS, 'source', 'unverified', 'derived', 'notes'];

function optionalDate(value: unknown, path: string, missing: number): number {
  return value === null || value === undefined ? missing : expectDate(value, path);
}

function parseRates(obj: Record<string, unknown>, path: string, allowNull: boolean): RatesSpec {
  const out = {} as RatesSpec;
  for (const field of RATE_FIELDS) {
    const v = obj[field];
    if ((v === null || v === undefined) && allowNull) out[field] = null;
    else if (v === undefined) throw new PricingConfigError(childPath(path, field), 'missing');
    else out[field] = expectRate(v, childPath(path, field));
  }
  if (out.cache_read !== null && out.input !== null && out.cache_read > out.input) {
    throw new PricingConfigError(childPath(path, 'cache_read'), 'a cache read must not cost more than uncached input');
  }
  return out;
}

function parseStringList(value: unknown, path: string): string[] {
  if (value === undefined || value === null) return [];
  return expectArray(value, path).map((v, i) => expectString(v, childPath(path, i)));
}

/** Checks that periods are in order and do not overlap. */
export function checkTimeline(periods: readonly { from: number; to: number }[], path: string): void {
  for (let i = 0; i < periods.length; i++) {
    const p = periods[i]!;
    if (!(p.from < p.to)) throw new PricingConfigError(childPath(path, i), "'from' must be before 'to'");
    const prev = periods[i - 1];
    if (prev !== undefined && p.from < prev.to) {
      throw new PricingConfigError(childPath(path, i), 'overlaps the period before it (periods must be in date order, not overlapping)');
    }
  }
}

/** Parses a tier list (shared by the catalog and overrides). */
export function parseTiers(value: unknown, path: string, source: (p: string) => string, allowNull: boolean): TierSpec[] {
  if (value === undefined || value === null) return [];
  const tiers = expectArray(value, path).map((t, i) => {
    const tp = childPath(path, i);
    const obj = expectObject(t, tp);
    expectKeys(obj, TIER_KEYS, tp);
    const from = optionalDate(obj['from'], childPath(tp, 'from'), -Infinity);
    const to = optionalDate(obj['to'], childPath(tp, 'to'), Infinity);
    if (!(from < to)) throw new PricingConfigError(tp, "'from' must be before 'to'");
    return {
      name: obj['name'] === undefined ? `prompt_over_${String(obj['prompt_tokens_over'])}` : expectString(obj['name'], childPath(tp, 'name')),
      over: expectTokenCount(obj['prompt_tokens_over'], childPath(tp, 'prompt_tokens_over')),
      from,
      to,
      rates: parseRates(obj, tp, allowNull),
      unverified: parseStringList(obj['unverified'], childPath(tp, 'unverified')),
      source: source(typeof obj['source'] === 'string' ? obj['source'] : tp),
    };
  });
  // Highest threshold first: the engine takes the first tier the prompt exceeds.
  return tiers.sort((a, b) => b.over - a.over);
}

/** Parses one period (shared by the catalog and overrides; overrides add `fast`). */
export function parsePeriod(
  value: unknown,
  path: string,
  opts: { allowNull: boolean; extraKeys?: readonly string[]; source: (p: string) => string },
): PeriodSpec {
  const obj = expectObject(value, path);
  expectKeys(obj, [...PERIOD_KEYS, ...(opts.extraKeys ?? [])], path);
  return {
    from: optionalDate(obj['from'], childPath(path, 'from'), -Infinity),
    to: optionalDate(obj['to'], childPath(path, 'to'), Infinity),
    rates: parseRates(obj, path, opts.allowNull),
    tiers: parseTiers(obj['tiers'], childPath(path, 'tiers'), opts.source, opts.allowNull),
    unverified: parseStringList(obj['unverified'], childPath(path, 'unverified')),
    source: opts.source(typeof obj['source'] === 'string' ? obj['source'] : path),
  };
}

function parseModifiers(value: unknown, path: string): ModifiersSpec {
  const m = expectObject(value, path);
  const batch = expectObject(m['batch'], childPath(path, 'batch'));
  const geoSpec = expectObject(m['inference_geo'], childPath(path, 'inference_geo'));
  const geoObj = expectObject(geoSpec['multipliers'], childPath(childPath(path, 'inference_geo'), 'multipliers'));
  const geo = new Map<string, Fraction>();
  for (const [k, v] of Object.entries(geoObj)) geo.set(k, expectMultiplier(v, childPath(path, `inference_geo.multipliers.${k}`)));
  const regional = expectObject(m['bedrock_vertex_regional_premium'], childPath(path, 'bedrock_vertex_regional_premium'));
  const web = expectObject(m['web_search'], childPath(path, 'web_search'));
  const ttl = expectObject(m['unknown_ttl'], childPath(path, 'unknown_ttl'));
  const ttlDefault = ttl['default'];
  if (ttlDefault !== '5m' && ttlDefault !== '1h') throw new PricingConfigError(childPath(path, 'unknown_ttl.default'), "expected '5m' or '1h'");
  const unpriced = expectObject(m['unpriced_service_tiers'], childPath(path, 'unpriced_service_tiers'));
  return {
    batch: expectMultiplier(batch['multiplier'], childPath(path, 'batch.multiplier')),
    geo,
    regionalPremium: expectMultiplier(regional['multiplier'], childPath(path, 'bedrock_vertex_regional_premium.multiplier')),
    // USD per request → pUSD: the same six-decimal parse, scaled by a further 1e6.
    webSearchPerRequest: expectRate(web['usd_per_request'], childPath(path, 'web_search.usd_per_request')) * 1_000_000,
    unknownTtl: ttlDefault,
    unpricedServiceTiers: parseStringList(unpriced['tiers'], childPath(path, 'unpriced_service_tiers.tiers')),
    unverified: {
      geo: parseStringList(geoSpec['unverified'] ?? [], childPath(path, 'inference_geo.unverified')),
      regionalPremium: parseStringList(regional['unverified'] ?? [], childPath(path, 'bedrock_vertex_regional_premium.unverified')),
    },
  };
}

const MODEL_ID_RE = /^[a-z0-9][a-z0-9._-]*$/;

/**
 * Validates a catalog object (the parsed `catalog.json`, or a replacement in tests).
 * @throws PricingConfigError naming the first bad field
 */
export function parseCatalog(raw: unknown, path = 'catalog'): Catalog {
  const root = expectObject(raw, path);
  const version = expectString(root['version'], childPath(path, 'version'));
  const asOf = expectString(root['as_of'], childPath(path, 'as_of'));
  const asOfMs = expectDate(asOf, childPath(path, 'as_of'));
  const sources = expectObject(root['sources'] ?? {}, childPath(path, 'sources')) as Record<string, string>;
  const sourceOf = (p: string) => (key: string) => {
    if (key === p) return p;
    if (!(key in sources)) throw new PricingConfigError(childPath(p, 'source'), `unknown source key ${JSON.stringify(key)}`);
    return key;
  };
  const aliases = new Map<string, string>();
  const models = expectArray(root['models'], childPath(path, 'models')).map((value, i): ModelSpec => {
    const ip = childPath(childPath(path, 'models'), i);
    const obj = expectObject(value, ip);
    const id = expectString(obj['id'], childPath(ip, 'id'));
    if (!MODEL_ID_RE.test(id)) throw new PricingConfigError(childPath(ip, 'id'), 'expected a lower-case model id');
    const mp = `${ip}(${id})`;
    const names = [id, ...parseStringList(obj['aliases'], childPath(mp, 'aliases'))];
    for (const name of names) {
      if (aliases.has(name)) throw new PricingConfigError(mp, `${JSON.stringify(name)} is already the id or alias of ${aliases.get(name)}`);
      aliases.set(name, id);
    }
    const parseList = (key: string) => {
      const lp = childPath(mp, key);
      const list = obj[key] === undefined ? [] : expectArray(obj[key], lp);
      const periods = list.map((p, j) => parsePeriod(p, childPath(lp, j), { allowNull: true, source: sourceOf(childPath(lp, j)) }));
      checkTimeline(periods, lp);
      return periods;
    };
    const prices = parseList('prices');
    if (prices.length === 0) throw new PricingConfigError(childPath(mp, 'prices'), 'at least one period is needed (null prices mark a known but unpriced model)');
    return {
      id,
      aliases: names.slice(1),
      geoUs: expectBoolean(obj['inference_geo_us'], childPath(mp, 'inference_geo_us')),
      regionalPremium: expectBoolean(obj['bedrock_vertex_regional_premium'], childPath(mp, 'bedrock_vertex_regional_premium')),
      unverified: parseModelFacts(obj['unverified'], childPath(mp, 'unverified')),
      prices,
      fast: parseList('fast'),
      status: typeof obj['status'] === 'string' ? obj['status'] : 'unknown',
      released: typeof obj['released'] === 'string' ? obj['released'] : null,
      retires: typeof obj['retires'] === 'string' ? obj['retires'] : null,
      notes: typeof obj['notes'] === 'string' ? obj['notes'] : '',
    };
  });
  return {
    name: typeof root['name'] === 'string' ? root['name'] : 'price catalog',
    version,
    asOf,
    asOfMs,
    models,
    aliases,
    modifiers: parseModifiers(root['modifiers'], childPath(path, 'modifiers')),
    sources,
    raw,
  };
}

let cached: Catalog | null = null;

/** The built-in catalog, read and validated on first use. */
export function loadCatalog(): Catalog {
  if (cached === null) {
    const text = readFileSync(new URL('./catalog.json', import.meta.url), 'utf8');
    cached = parseCatalog(JSON.parse(text) as unknown);
  }
  return cached;
}

/** The built-in catalog's as-of date (`YYYY-MM-DD`): when its prices were last checked. */
export function catalogAsOf(): string {
  return loadCatalog().asOf;
}

/**
 * Whether the built-in catalog is older than `maxAgeDays` at `now`: its prices may have been
 * changed or new models released since. The daemon reports it (metric and log line); a
 * model the catalog does not know is reported separately, per model.
 *
 * @param now epoch ms (default: the current time)
 * @param maxAgeDays default {@link DEFAULT_STALE_AFTER_DAYS}
 */
export function isCatalogStale(now: number = Date.now(), maxAgeDays: number = DEFAULT_STALE_AFTER_DAYS): boolean {
  return now - loadCatalog().asOfMs > maxAgeDays * DAY_MS;
}

/** A model's `unverified` list: facts of {@link MODEL_FACTS}, none when absent. */
function parseModelFacts(value: unknown, path: string): ModelFact[] {
  if (value === undefined) return [];
  const list = parseStringList(value, path);
  list.forEach((fact, i) => {
    if (!(MODEL_FACTS as readonly string[]).includes(fact)) throw new PricingConfigError(childPath(path, i), `expected one of ${MODEL_FACTS.join(', ')}`);
  });
  return list as ModelFact[];
}
