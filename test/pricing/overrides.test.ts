import test from 'ava';
import { createPricer } from '../../src/pricing/cost-engine.js';
import { PricingConfigError } from '../../src/pricing/errors.js';
import type { PricingOverrides } from '../../src/pricing/overrides.js';
import { apiUsage, callEvent } from './helpers.js';

function rejects(t: import('ava').ExecutionContext, overrides: unknown, path: string, message?: RegExp): void {
  const err = t.throws(() => createPricer({ overrides: overrides as PricingOverrides }), { instanceOf: PricingConfigError });
  t.is(err?.path, path);
  t.is(err?.code, 'E_PRICING_CONFIG');
  t.true(err?.message.startsWith(`${path}: `));
  if (message) t.regex(err?.message ?? '', message);
}

test('a bad pricing block fails at construction, naming the field', (t) => {
  rejects(t, { modles: {} }, 'pricing.modles', /unknown field/);
  rejects(t, { models: { 'claude-x': [{ input: 'cheap', output: 1 }] } }, 'pricing.models["claude-x"][0].input', /USD per million tokens/);
  rejects(t, { models: { 'claude-x': [{ input: 1 }] } }, 'pricing.models["claude-x"][0].output', /missing/);
  rejects(t, { models: { 'claude-x': [{ input: 1, output: 2, from: '2026-13-01' }] } }, 'pricing.models["claude-x"][0].from', /UTC date/);
  rejects(t, { models: { 'claude-x': [{ input: 1, output: 2, cache_read: 3 }] } }, 'pricing.models["claude-x"][0].cache_read', /must not cost more/);
  rejects(t, { models: { 'claude-x': [{ input: 0.0000001, output: 2 }] } }, 'pricing.models["claude-x"][0].input', /6 decimals/);
  rejects(t, { models: { 'claude-x': [{ from: '2026-02-01', input: 1, output: 2 }, { from: '2026-01-01', input: 1, output: 2 }] } }, 'pricing.models["claude-x"][1]', /overlaps/);
  rejects(t, { models: { 'claude-x': { prices: [] } } }, 'pricing.models["claude-x"].prices', /at least one/);
  rejects(t, { providers: { aws: { multiplier: 1 } } }, 'pricing.providers.aws', /unknown provider/);
  rejects(t, { providers: { bedrock: { multiplier: -0.1 } } }, 'pricing.providers.bedrock.multiplier', /multiplier/);
  rejects(t, { unknown_ttl: '10m' }, 'pricing.unknown_ttl');
  rejects(t, { service_tiers: { priority: 'yes' } }, 'pricing.service_tiers.priority');
  rejects(t, { models: { 'claude-x': [{ input: 1, output: 2, tiers: [{ prompt_tokens_over: -5, input: 1, output: 2 }] }] } }, 'pricing.models["claude-x"][0].tiers[0].prompt_tokens_over');
  rejects(t, { models: { 'claude-sonnet-4-5': [{ input: 1, output: 2 }], 'claude-sonnet-4-5-20250929': [{ input: 1, output: 2 }] } }, 'pricing.models["claude-sonnet-4-5-20250929"]', /same model/);
  rejects(t, { models: { 'my-model': { aliases: ['claude-haiku-4-5'], prices: [{ input: 1, output: 2 }] } } }, 'pricing.models["my-model"].aliases', /already means/);
  rejects(t, 'nonsense', 'pricing', /expected an object/);
});

const usage = apiUsage({ input_tokens: 1_000_000, output_tokens: 1_000_000, cache_read_input_tokens: 1_000_000 });

test('a negotiated model price applies in its dates only; the catalog before and after', (t) => {
  const pricer = createPricer({
    overrides: { models: { 'claude-opus-4-8': [{ from: '2026-07-01', to: '2026-08-01', input: 4, output: 20, cache_read: 0.4 }] } },
  });
  const at = (date: string) => pricer.price(callEvent({ model: 'claude-opus-4-8', date, usage }));
  t.is(at('2026-06-30T23:59:59Z').cost_usd, 5 + 25 + 0.5);
  const during = at('2026-07-15T00:00:00Z');
  t.is(during.cost_usd, 4 + 20 + 0.4);
  t.true(during.flags.includes('override'));
  t.is(during.parts[0]!.source, 'override claude-opus-4-8 2026-07-01→2026-08-01 (pricing.models["claude-opus-4-8"][0])');
  t.is(at('2026-08-01T00:00:00Z').cost_usd, 30.5);
});

test('an override without a cache price leaves calls that read the cache unpriced, never guessed', (t) => {
  const pricer = createPricer({ overrides: { models: { 'my-gateway-model': [{ input: 1, output: 2 }] } } });
  t.is(pricer.price(callEvent({ model: 'my-gateway-model', date: '2026-07-01T00:00:00Z', usage: apiUsage({ input_tokens: 1_000_000, output_tokens: 0 }) })).cost_usd, 1);
  const r = pricer.price(callEvent({ model: 'my-gateway-model', date: '2026-07-01T00:00:00Z', usage }));
  t.is(r.cost_usd, null);
  t.true(r.flags.includes('no_price:cache_read'));
});

test('provider prices beat model overrides, which beat the catalog; provider prices take no multiplier', (t) => {
  const pricer = createPricer({
    overrides: {
      models: { 'claude-sonnet-4-5': [{ input: 2, output: 10, cache_read: 0.2 }] },
      providers: {
        bedrock: { multiplier: 0.5, models: { 'claude-sonnet-4-5-20250929': [{ input: 1, output: 5, cache_read: 0.1 }] } },
        vertex: { multiplier: 0.5 },
      },
    },
  });
  const on = (provider: 'anthropic' | 'bedrock' | 'vertex', model = 'claude-sonnet-4-5-20250929') =>
    pricer.price(callEvent({ model, provider, date: '2026-05-01T00:00:00Z', usage }));
  t.is(on('anthropic').cost_usd, 12.2);
  const bedrock = on('bedrock', 'us.anthropic.claude-sonnet-4-5-20250929-v1:0');
  t.is(bedrock.cost_usd, 6.1); // no multiplier, no regional premium on a provider price
  t.true(bedrock.flags.includes('provider_override'));
  t.false(bedrock.flags.includes('regional_endpoint_premium'));
  t.is(on('vertex').cost_usd, 6.1); // 12.2 × 0.5
});

test('the regional premium can be overridden per provider', (t) => {
  const pricer = createPricer({ overrides: { providers: { bedrock: { regional_premium: 1 } } } });
  const r = pricer.price(callEvent({ model: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', provider: 'bedrock', date: '2026-05-01T00:00:00Z', usage }));
  t.is(r.cost_usd, 3 + 15 + 0.3);
  t.false(r.flags.includes('regional_endpoint_premium'));
});

test('overrides can price priority tier, new geos, unknown-TTL writes as 1h, web search, and aliases', (t) => {
  const pricer = createPricer({
    overrides: {
      service_tiers: { priority: 1.25 },
      inference_geo: { eu: 1.2 },
      unknown_ttl: '1h',
      web_search_usd_per_request: 0.02,
      models: { 'claude-fable-5-2': { aliases: ['gw/fable'], prices: [{ from: '2026-11-09', input: 10, output: 50, cache_write_5m: 12.5, cache_write_1h: 20, cache_read: 0.25 }] } },
    },
  });
  const date = '2026-11-20T00:00:00Z';
  t.is(pricer.price(callEvent({ model: 'claude-opus-4-8', date, usage: apiUsage({ input_tokens: 1_000_000, output_tokens: 0, service_tier: 'priority' }) })).cost_usd, 6.25);
  t.is(pricer.price(callEvent({ model: 'claude-opus-4-8', date, usage: apiUsage({ input_tokens: 1_000_000, output_tokens: 0, inference_geo: 'eu' }) })).cost_usd, 6);
  const ttl = pricer.price(callEvent({ model: 'claude-opus-4-8', date, usage: apiUsage({ input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 1_000_000 }) }));
  t.is(ttl.cost_usd, 10);
  t.true(ttl.flags.includes('ttl_unknown_priced_as_1h'));
  t.is(pricer.price(callEvent({ model: 'claude-opus-4-8', date, usage: apiUsage({ input_tokens: 0, output_tokens: 0, server_tool_use: { web_search_requests: 5 } }) })).cost_usd, 0.1);
  const alias = pricer.price(callEvent({ model: 'gw/fable', date, usage: apiUsage({ input_tokens: 1_000_000, output_tokens: 0 }) }));
  t.is(alias.model, 'claude-fable-5-2');
  t.is(alias.cost_usd, 10);
  t.is(pricer.normalizeModel('GW/Fable'), 'claude-fable-5-2');
});

test('a configured us multiplier applies to the models the US multiplier is for, flagged as configured, and not to older ones', (t) => {
  const date = '2026-11-20T00:00:00Z';
  const us = apiUsage({ input_tokens: 1_000_000, output_tokens: 0, inference_geo: 'us' });
  const pricer = createPricer({ overrides: { inference_geo: { us: 1.2 } } });
  const eligible = pricer.price(callEvent({ model: 'claude-opus-4-8', date, usage: us }));
  t.is(eligible.cost_usd, 6); // $5 × 1.2
  t.true(eligible.flags.includes('inference_geo:us'));
  t.false(eligible.flags.includes('inference_geo_us'), 'inference_geo_us means the catalog’s × 1.1');
  const older = pricer.price(callEvent({ model: 'claude-opus-4-5-20251101', date, usage: us }));
  t.is(older.cost_usd, 5);
  t.deepEqual(older.flags.filter((f) => f.startsWith('inference_geo')), ['inference_geo_not_eligible']);
  // A model made eligible by configuration takes it.
  const opted = createPricer({ overrides: { inference_geo: { us: 1.2 }, models: { 'claude-opus-4-5-20251101': { inference_geo_us: true, prices: [{ input: 5, output: 25 }] } } } });
  t.is(opted.price(callEvent({ model: 'claude-opus-4-5-20251101', date, usage: us })).cost_usd, 6);
});

test('fast and tier prices in an override', (t) => {
  const pricer = createPricer({
    overrides: {
      models: {
        'claude-new': [{ input: 1, output: 2, cache_read: 0.1, tiers: [{ name: 'big', prompt_tokens_over: 1000, input: 2, output: 4, cache_read: 0.2 }], fast: { input: 3, output: 6 } }],
      },
    },
  });
  const p = (u: Record<string, unknown>) => pricer.price(callEvent({ model: 'claude-new', date: '2026-07-01T00:00:00Z', usage: apiUsage(u) }));
  t.is(p({ input_tokens: 1000, output_tokens: 1000 }).cost_nanousd, 3_000_000);
  const big = p({ input_tokens: 1001, output_tokens: 1000 });
  t.is(big.cost_nanousd, (2002 + 4000) * 1000);
  t.true(big.flags.includes('tier:big'));
  t.is(p({ input_tokens: 1000, output_tokens: 1000, speed: "fast" }).cost_nanousd, 9_000_000);
  t.is(p({ input_tokens: 1000, output_tokens: 0, cache_read_input_tokens: 10, speed: 'fast' }).cost_usd, null);
});

test('pricing_version names the catalog and a stable fingerprint of the overrides', (t) => {
  const a = createPricer({ overrides: { providers: { bedrock: { multiplier: 0.9 } }, unknown_ttl: '5m' } });
  const b = createPricer({ overrides: { unknown_ttl: '5m', providers: { bedrock: { multiplier: 0.9 } } } });
  const c = createPricer({ overrides: { providers: { bedrock: { multiplier: 0.8 } } } });
  t.regex(a.version, /^2026-11-26\.2\+o\.[0-9a-f]{8}$/);
  t.is(a.version, b.version);
  t.not(a.version, c.version);
  t.is(createPricer().version, '2026-11-26.2');
  t.is(createPricer({ overrides: null }).version, '2026-11-26.2');
});

test('YAML 1.1 dates (Date objects) are accepted', (t) => {
  const pricer = createPricer({ overrides: { models: { 'claude-new': [{ from: new Date('2026-07-01T00:00:00Z'), input: 1, output: 2 }] } } });
  t.is(pricer.price(callEvent({ model: 'claude-new', date: '2026-07-02T00:00:00Z', usage: apiUsage({ input_tokens: 1_000_000, output_tokens: 0 }) })).cost_usd, 1);
});
