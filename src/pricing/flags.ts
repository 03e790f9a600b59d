/**
 * Every flag the cost engine puts on a {@link PriceResult}, with what it means. Flags with a
 * `:` carry a value after it (`tier:<name>`, `provider_list_price:<provider>` …).
 */

/** Flags of priced calls: how the price was made. */
export const FLAG = {
  batch: 'batch',
  fastMode: 'fast_mode',
  geoUs: 'inference_geo_us',
  geoIgnored: 'inference_geo_not_eligible',
  regionalPremium: 'regional_endpoint_premium',
  ttlUnknown5m: 'ttl_unknown_priced_as_5m',
  ttlUnknown1h: 'ttl_unknown_priced_as_1h',
  webSearch: 'web_search',
  codeExecutionNotPriced: 'code_execution_not_priced',
  incomplete: 'incomplete',
  unverifiedPrice: 'unverified_price',
  override: 'override',
  providerOverride: 'provider_override',
  beforeFirstPrice: 'before_first_price',
  iterationsAdded: 'iterations_added',
  iterationsMixedModels: 'iterations_mixed_models',
  iterationsUnknownType: 'iterations_unknown_type',
  notBilledOperation: 'not_billed:operation',
  notBilledError: 'not_billed:error',
  // unpriced (cost null)
  unknownModel: 'unknown_model',
  noPrice: 'no_price',
  fastPriceUnknown: 'fast_price_unknown',
  fastInBatch: 'fast_in_batch',
  serviceTierUnpriced: 'service_tier_unpriced',
  unknownSpeed: 'unknown_speed',
  unknownInferenceGeo: 'unknown_inference_geo',
  usageUnknown: 'usage_unknown',
  noTimestamp: 'no_timestamp',
} as const;

/** What each flag means (the prefix before `:` for flags that carry a value). */
export const FLAG_MEANINGS: Readonly<Record<string, string>> = {
  batch: 'Message Batches API (service_tier batch): every token at 50 %',
  fast_mode: 'usage.speed was fast: fast-mode prices',
  inference_geo_us: 'US-only inference (inference_geo us): every token × 1.1',
  inference_geo_not_eligible: 'inference_geo us reported for a model without the US multiplier: not applied',
  regional_endpoint_premium: 'Bedrock regional or in-region endpoint (model id without global.): every token × 1.1',
  ttl_unknown_priced_as_5m: 'cache writes whose TTL is not known were priced at the 5-minute write price (pricing.unknown_ttl)',
  ttl_unknown_priced_as_1h: 'cache writes whose TTL is not known were priced at the 1-hour write price (pricing.unknown_ttl)',
  web_search: 'web search requests at USD 0.01 each, on top of tokens',
  code_execution_not_priced: 'code execution container time is not in usage and is not priced here; see the cost report',
  incomplete: 'usage may not be final (a stream ended before its message_stop): a lower bound, still billed',
  unverified_price: 'a rate or multiplier used, or a date that decides which rates apply, is marked unverified in the catalog',
  override: 'a price from pricing.models',
  provider_override: 'a price from pricing.providers.<provider>.models',
  before_first_price: "the call is dated before the model's first known price; that first price was used",
  iterations_added: 'compaction or advisor iterations, not in the top-level usage, were priced on top',
  iterations_mixed_models: 'usage.iterations name another model for tokens in the top-level usage; priced at the served model',
  iterations_unknown_type: 'usage.iterations has an entry type the engine does not know; not priced on top',
  provider_list_price: "a Bedrock/Vertex/Foundry call priced at Anthropic's list prices (override per provider)",
  provider_multiplier: 'pricing.providers.<provider>.multiplier applied',
  tier: 'a prompt-length tier: every token of the call at the tier price',
  'not_billed:operation': 'this operation is not billed (count_tokens, batch management, a batch results download)',
  'not_billed:error': 'the call failed with an HTTP error and returned no usage: not billed',
  not_billed: 'not billed',
  service_tier_multiplier: 'a service-tier multiplier from pricing.service_tiers applied',
  inference_geo: 'an inference_geo multiplier from pricing.inference_geo applied',
  unknown_model: 'no price: the catalog and overrides do not know this model',
  no_price: 'no price: the model is known but has no price in force at the call time (or for a dimension it used)',
  fast_price_unknown: 'no price: usage.speed was fast and no fast-mode price is in force',
  fast_in_batch: 'no price: fast mode reported on a batch call, which Anthropic does not offer',
  service_tier_unpriced: 'no price: this service tier has no list price (configure pricing.service_tiers)',
  unknown_speed: 'no price: usage.speed has a value the engine does not know',
  unknown_inference_geo: 'no price: usage.inference_geo has a value without a multiplier (configure pricing.inference_geo)',
  usage_unknown: 'no price: the call has no usage and may have been billed (timeout, abort, mid-stream failure)',
  no_timestamp: 'no price: the event has no usable time',
};

/** The meaning of a flag, looked up by its full text then by its prefix. */
export function flagMeaning(flag: string): string {
  const exact = FLAG_MEANINGS[flag];
  if (exact !== undefined) return exact;
  const colon = flag.indexOf(':');
  return (colon > 0 ? FLAG_MEANINGS[flag.slice(0, colon)] : undefined) ?? '';
}
