import type { CallEvent } from '../event/types.js';

/** Usage dimensions a price applies to. */
export type PriceDimension =
  | 'input'
  | 'output'
  | 'cache_read'
  | 'cache_write_5m'
  | 'cache_write_1h'
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
}

/** What the cost engine says about one call. */
export interface PriceResult {
  /** USD, rounded once per call; null when the call could not be priced (never guessed). */
  cost_usd: number | null;
  /** The same tokens at uncached input prices; null when unpriced. */
  cost_without_cache_usd: number | null;
  parts: CostPart[];
  /** Version of the catalog (and overrides) that priced it. */
  pricing_version: string;
  priced: boolean;
  /** Canonical model id used for the price (aliases and platform spellings normalised). */
  model: string | null;
  /** Notes such as `ttl_unknown_priced_as_5m`, `long_context`, `batch`, `unknown_model`. */
  flags: string[];
}

/** The pricing interface every consumer (daemon, reprice, reports) calls. */
export interface Pricer {
  price(event: CallEvent): PriceResult;
  readonly version: string;
}
