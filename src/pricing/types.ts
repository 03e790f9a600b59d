import type { CallEvent, Provider } from '../event/types.js';

/** Usage dimensions a price applies to. */
export type PriceDimension =
  | 'input'
  | 'output'
  | 'cache_read'
  | 'cache_write_5m'
  | 'cache_write_1h'
  /** Cache writes whose TTL is not known, priced by the `unknown_ttl` rule (default 5m). */
  | 'cache_write_unknown_ttl'
  | 'web_search';

/** One priced part of a call: quantity × rate, with where the rate came from. */
export interface CostPart {
  dimension: PriceDimension;
  /** Tokens (or requests for web_search). */
  quantity: number;
  /** USD per million tokens (USD per request for web_search), after every multiplier. */
  rate_usd: number;
  /** This part's cost before the call's single rounding, USD. */
  cost_usd: number;
  /** Where the rate came from: catalog entry and modifiers, or an override. */
  source: string;
  /** For parts of beta `usage.iterations` entries priced on top of the call: the entry type. */
  iteration?: string;
  /** The canonical model this part was priced at, when not the call's (advisor iterations). */
  model?: string;
}

/** What the cost engine says about one call. */
export interface PriceResult {
  /** USD, rounded once per call; null when the call could not be priced (never guessed). */
  cost_usd: number | null;
  /**
   * The same cost as a whole number of nanodollars (1e-9 USD), rounded half-to-even once per
   * call: the exact figure; `cost_usd` is this divided by 1e9. Sum these, not `cost_usd`.
   */
  cost_nanousd: number | null;
  /** The same tokens at uncached input prices; null when unpriced. */
  cost_without_cache_usd: number | null;
  /** {@link cost_without_cache_usd} in nanodollars. */
  cost_without_cache_nanousd: number | null;
  parts: CostPart[];
  /** Version of the catalog (and overrides) that priced it. */
  pricing_version: string;
  priced: boolean;
  /** Canonical model id used for the price (aliases and platform spellings normalised). */
  model: string | null;
  /** The provider the call went through (the event's), so prices can be overridden per provider. */
  provider: Provider;
  /** Notes such as `ttl_unknown_priced_as_5m`, `tier:long_context_over_200k`, `batch`, `unknown_model`. */
  flags: string[];
}

/** The pricing interface every consumer (daemon, reprice, reports) calls. */
export interface Pricer {
  price(event: CallEvent): PriceResult;
  readonly version: string;
}
