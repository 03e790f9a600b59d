/**
 * Pricing: the price catalog and the cost engine.
 *
 * @example
 * import { createPricer, normalizeModel } from './pricing/index.js';
 * const pricer = createPricer({ overrides: config.pricing });
 * const result = pricer.price(event); // { cost_usd, cost_nanousd, parts, flags, pricing_version, … }
 * for (const w of pricer.takeWarnings()) log.warn(w.message);
 */
export type { CostPart, PriceDimension, PriceResult, Pricer } from './types.js';
export { CostEngine, createPricer } from './cost-engine.js';
export type { CreatePricerOptions, PriceDetail, PricingWarning, PricingWarningReason } from './cost-engine.js';
export { normalizeModel, parseModelId } from './model-normalizer.js';
export type { ParsedModelId, ModelIdPlatform } from './model-normalizer.js';
export { catalogAsOf, isCatalogStale, loadCatalog, DEFAULT_STALE_AFTER_DAYS } from './catalog.js';
export type { Catalog } from './catalog.js';
export { parseOverrides } from './overrides.js';
export type { ModelOverride, PriceOverride, PricingOverrides, ProviderOverride, RatesOverride, TierOverride } from './overrides.js';
export { PricingConfigError } from './errors.js';
export { FLAG, FLAG_MEANINGS, flagMeaning } from './flags.js';
export { formatNanoUsd, usdToNano, NANO_PER_USD } from './money.js';
export { explainPrice, formatExplanation } from './explain.js';
export type { PriceExplanation } from './explain.js';
