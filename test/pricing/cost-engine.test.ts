import test from 'ava';
import { createPricer } from '../../src/pricing/cost-engine.js';
import { explainPrice, formatExplanation } from '../../src/pricing/explain.js';
import { listPrices } from '../../src/pricing/listing.js';
import { apiUsage, callEvent } from './helpers.js';

const date = '2026-07-01T00:00:00Z';
const small = apiUsage({ input_tokens: 1000, output_tokens: 100 });

test('an unknown model is warned about once, with the model and the reason', (t) => {
  let now = 1000;
  const pricer = createPricer({ now: () => now });
  t.deepEqual(pricer.takeWarnings(), []);
  for (let i = 0; i < 5; i++) pricer.price(callEvent({ model: 'claude-opus-7', date, usage: small }));
  pricer.price(callEvent({ model: 'claude-fable-5-2', date: '2026-11-20T00:00:00Z', usage: small }));
  const w = pricer.takeWarnings();
  t.is(w.length, 2);
  t.like(w[0], { model: 'claude-opus-7', reason: 'unknown_model', first_seen_ms: 1000 });
  t.like(w[1], { model: 'claude-fable-5-2', reason: 'no_price' });
  t.regex(w[0]!.message, /claude-opus-7.*unpriced/);
  now = 2000;
  pricer.price(callEvent({ model: 'claude-opus-7', date, usage: small }));
  t.deepEqual(pricer.takeWarnings(), []);
});

test('the warnings set is bounded', (t) => {
  const pricer = createPricer({ maxWarnings: 3 });
  for (let i = 0; i < 10; i++) pricer.price(callEvent({ model: `claude-x-${i}`, date, usage: small }));
  t.is(pricer.takeWarnings().length, 3);
});

test('odd speed, geo and tier values are unpriced, not guessed', (t) => {
  const pricer = createPricer();
  const flags = (u: Record<string, unknown>, model = 'claude-opus-4-8') => {
    const r = pricer.price(callEvent({ model, date, usage: apiUsage({ input_tokens: 10, output_tokens: 10, ...u }) }));
    t.is(r.cost_usd, null);
    return r.flags;
  };
  t.true(flags({ speed: 'turbo' }).includes('unknown_speed'));
  t.true(flags({ inference_geo: 'mars' }).includes('unknown_inference_geo:mars'));
  t.true(flags({ service_tier: 'flex' }).includes('service_tier_unpriced:flex'));
  t.true(flags({ speed: 'fast', service_tier: 'batch' }).includes('fast_in_batch'));
  t.true(flags({ speed: 'fast' }, 'claude-sonnet-4-6').includes('fast_price_unknown'));
  const none = pricer.price(callEvent({ model: 'claude-opus-4-8', date: Number.NaN, usage: small }));
  t.true(none.flags.includes('no_timestamp'));
  const noModel = pricer.price(callEvent({ model: null, model_requested: null, date, usage: small }));
  t.is(noModel.cost_usd, null);
  t.true(noModel.flags.includes('unknown_model'));
});

test('a call dated before the first known price uses it and says so', (t) => {
  const r = createPricer().price(callEvent({ model: 'claude-opus-4-8', date: '2026-05-27T00:00:00Z', usage: small }));
  t.is(r.cost_nanousd, 7_500_000);
  t.true(r.flags.includes('before_first_price'));
});

test('geo and regional multipliers do not apply on Bedrock/Vertex for inference_geo; foundry keeps geo', (t) => {
  const pricer = createPricer();
  const u = apiUsage({ input_tokens: 1_000_000, output_tokens: 0, inference_geo: 'us' });
  t.is(pricer.price(callEvent({ model: 'global.anthropic.claude-opus-4-8-v1', provider: 'bedrock', date, usage: u })).cost_usd, 5);
  t.is(pricer.price(callEvent({ model: 'claude-opus-4-8', provider: 'foundry', date, usage: u })).cost_usd, 5.5);
  const v = pricer.price(callEvent({ model: 'claude-opus-4-8', provider: 'vertex', date, usage: u }));
  t.is(v.cost_usd, 5);
  t.is(v.provider, 'vertex');
});

test('advisor iterations are priced at their own model; mixed-model message entries are flagged', (t) => {
  const pricer = createPricer();
  const u = apiUsage({
    input_tokens: 1_000_000,
    output_tokens: 0,
    iterations: [
      { type: 'message', model: 'claude-sonnet-5-5', input_tokens: 1_000_000, output_tokens: 0 },
      { type: 'advisor_message', model: 'claude-opus-5-5', input_tokens: 1_000_000, output_tokens: 1_000_000 },
      { type: 'fallback_message', model: 'claude-haiku-5-5', input_tokens: 0, output_tokens: 0 },
    ],
  });
  const r = pricer.price(callEvent({ model: 'claude-sonnet-5-5', date: '2026-10-20T00:00:00Z', usage: u }));
  t.is(r.cost_usd, 2 + 4 + 20);
  const advisor = r.parts.filter((p) => p.iteration === 'advisor_message');
  t.is(advisor.length, 2);
  t.is(advisor[0]!.model, 'claude-opus-5-5');
  t.true(r.flags.includes('iterations_added'));
  t.true(r.flags.includes('iterations_mixed_models'));
  const unknownType = pricer.price(callEvent({ model: 'claude-sonnet-5-5', date, usage: apiUsage({ input_tokens: 1, output_tokens: 1, iterations: [{ type: 'future_thing', input_tokens: 5, output_tokens: 5 }] }) }));
  t.true(unknownType.flags.includes('iterations_unknown_type'));
});

test('an iteration priced at a model without a price is warned about under that model', (t) => {
  const pricer = createPricer();
  const advisedBy = (model: string) =>
    pricer.price(callEvent({ model: 'claude-sonnet-5-5', date: '2026-11-20T00:00:00Z', usage: apiUsage({ input_tokens: 10, output_tokens: 10, iterations: [{ type: 'advisor_message', model, input_tokens: 100, output_tokens: 100 }] }) }));
  const unknown = advisedBy('claude-opus-7');
  t.is(unknown.cost_nanousd, null);
  t.deepEqual(unknown.flags, ['unknown_model:claude-opus-7']);
  const unpriced = advisedBy('claude-fable-5-2');
  t.is(unpriced.cost_nanousd, null);
  t.deepEqual(unpriced.flags, ['no_price:advisor_message']);
  t.deepEqual(pricer.takeWarnings().map((w) => [w.model, w.reason]), [
    ['claude-opus-7', 'unknown_model'],
    ['claude-fable-5-2', 'no_price'],
  ]);
});

test('parts carry the rate after multipliers and name their source', (t) => {
  const r = createPricer().price(callEvent({ model: 'claude-opus-5', date: '2026-09-01T00:00:00Z', usage: apiUsage({ input_tokens: 1000, output_tokens: 10, service_tier: 'batch', inference_geo: 'us' }) }));
  t.deepEqual(
    r.parts.map((p) => [p.dimension, p.quantity, p.rate_usd, p.cost_usd]),
    [
      ['input', 1000, 2.75, 0.00275],
      ['output', 10, 13.75, 0.0001375],
    ],
  );
  t.is(r.parts[0]!.source, 'catalog claude-opus-5 2026-07-24→ (model-page-opus-5) × batch 0.5 × inference_geo us 1.1');
  t.is(r.cost_nanousd, 2_887_500);
});

test('explain shows every part with exact amounts, multipliers, flags and both totals', (t) => {
  const pricer = createPricer();
  const event = callEvent({ model: 'claude-haiku-5-5', date: '2026-10-20T00:00:00Z', usage: apiUsage({ input_tokens: 0, output_tokens: 1, cache_read_input_tokens: 1, service_tier: 'batch', inference_geo: 'us' }) });
  const x = explainPrice(pricer, event);
  t.is(x.exact_usd, '0.0000002805');
  t.is(x.cost_usd, '0.000000280');
  t.is(x.cost_nanousd, 280);
  t.deepEqual(x.multipliers, [{ name: 'batch', value: '0.5' }, { name: 'inference_geo us', value: '1.1' }]);
  t.deepEqual(x.parts.map((p) => [p.dimension, p.list_rate_usd, p.rate_usd, p.cost_usd]), [
    ['cache_read', '0.01', '0.0055', '0.0000000055'],
    ['output', '0.5', '0.275', '0.000000275'],
  ]);
  t.is(x.model, 'claude-haiku-5-5');
  t.is(x.request_time, '2026-10-20T00:00:00.000Z');
  const text = formatExplanation(x);
  for (const s of ['cache_read', 'output', '0.0000002805', '0.000000280 USD', 'batch ×0.5', 'inference_geo us ×1.1', 'unverified_price', 'half-to-even']) t.true(text.includes(s), s);
  // explain prices exactly as price() does
  t.is(pricer.price(event).cost_nanousd, x.cost_nanousd);
});

test('explain of an unpriced call says so', (t) => {
  const x = explainPrice(createPricer(), callEvent({ model: 'claude-opus-7', date, usage: small }));
  t.false(x.priced);
  t.is(x.cost_usd, null);
  t.regex(formatExplanation(x), /UNPRICED/);
});

test('explain of an unpriced call still shows its time and its prompt', (t) => {
  const pricer = createPricer();
  const usage = apiUsage({ input_tokens: 1000, output_tokens: 100, cache_read_input_tokens: 5000, cache_creation_input_tokens: 250 });
  for (const [model, u, flag] of [
    ['claude-opus-7', usage, 'unknown_model'],
    ['claude-opus-4-8', { ...usage, service_tier: 'priority' }, 'service_tier_unpriced:priority'],
    ['claude-opus-4-8', { ...usage, speed: 'turbo' }, 'unknown_speed'],
  ] as const) {
    const x = explainPrice(pricer, callEvent({ model, date, usage: u }));
    t.false(x.priced);
    t.true(x.flags.some((f) => f.flag === flag), flag);
    t.is(x.request_time, '2026-07-01T00:00:00.000Z', flag);
    t.is(x.prompt_tokens, 6250, flag);
    t.regex(formatExplanation(x), /2026-07-01T00:00:00\.000Z[\s\S]*Prompt {7}6,250 tokens/);
  }
  const counted = explainPrice(pricer, callEvent({ model: 'claude-opus-4-8', date, usage: null, operation: 'messages.count_tokens' }));
  t.is(counted.cost_nanousd, 0);
  t.is(counted.request_time, '2026-07-01T00:00:00.000Z');
});

test('listPrices filters by date and model spelling', (t) => {
  const pricer = createPricer();
  const rows = listPrices(pricer, { at: Date.parse('2026-03-01T00:00:00Z'), model: 'claude-opus-4-6[1m]' });
  t.deepEqual(
    rows.map((r) => [r.speed, r.tier, r.input, r.output]),
    [
      ['standard', null, 5, 25],
      ['standard', 'long_context_over_200k', 10, 37.5],
      ['fast', null, 30, 150],
      ['fast', 'long_context_over_200k', 60, 225],
    ],
  );
  t.true(listPrices(pricer).length > 30);
  t.deepEqual(listPrices(pricer, { model: 'claude-sonnet-5-5', at: Date.parse('2026-10-08T00:00:00Z') }).map((r) => [r.cache_read, r.unverified]), [[0.1, ['cache_read', 'from']]]);
  // The 2026-10-07 cut is unverified on both of its sides; the model's first start separates nothing.
  t.deepEqual(listPrices(pricer, { model: 'claude-sonnet-5-5' }).map((r) => [r.from, r.to, r.unverified]), [
    ['2026-09-29', '2026-10-07', ['to']],
    ['2026-10-07', null, ['cache_read', 'from']],
  ]);
});

test('an unverified date flags the calls it may misprice: those on either side of a cut, and fast calls at an uncertain start, not a model’s first start', (t) => {
  const pricer = createPricer();
  const flagged = (model: string, at: string, u: Record<string, unknown>) => pricer.price(callEvent({ model, date: at, usage: apiUsage(u) })).flags.includes('unverified_price');
  // claude-fable-5-2's only period starts on an unverified date, which separates no prices.
  t.false(flagged('claude-fable-5-2', '2026-11-20T00:00:00Z', { input_tokens: 1000, output_tokens: 100 }));
  // claude-sonnet-5-5's input price is the same on both sides of its unverified 2026-10-07 cut, but
  // which side a call is on is uncertain.
  t.true(flagged('claude-sonnet-5-5', '2026-10-01T00:00:00Z', { input_tokens: 1000, output_tokens: 100 }));
  t.true(flagged('claude-sonnet-5-5', '2026-10-20T00:00:00Z', { input_tokens: 1000, output_tokens: 100 }));
  // claude-opus-4-8: fast mode from an unverified start; standard calls are not concerned.
  t.true(flagged('claude-opus-4-8', '2026-07-01T00:00:00Z', { input_tokens: 1000, output_tokens: 100, speed: 'fast' }));
  t.false(flagged('claude-opus-4-8', '2026-07-01T00:00:00Z', { input_tokens: 1000, output_tokens: 100 }));
  // A call with no tokens priced at those rates costs nothing uncertain.
  t.false(flagged('claude-sonnet-5-5', '2026-10-01T00:00:00Z', { input_tokens: 0, output_tokens: 0 }));
});

test('a long prompt priced at the base rates after a long-context tier’s unverified end is flagged, and its source names that end; a short one is not', (t) => {
  const pricer = createPricer();
  const price = (at: string, input: number) => pricer.price(callEvent({ model: 'claude-sonnet-4-5-20250929', date: at, usage: apiUsage({ input_tokens: input, output_tokens: 100 }) }));
  // The catalog ends the tier on 2026-03-31, a date it marks unverified: the premium may have
  // lasted longer, and a prompt over 200K priced at the base rates after it may be under-priced.
  const after = price('2026-04-05T00:00:00Z', 300_000);
  t.true(after.flags.includes('unverified_price'), after.flags.join(', '));
  t.false(after.flags.some((f) => f.startsWith('tier:')), after.flags.join(', '));
  t.regex(after.parts[0]!.source, /tier long_context_over_200k no longer in force: it ended 2026-03-31 \(unverified\)/);
  // The same prompt the day before the end: the tier's rates, flagged for the same date.
  const before = price('2026-03-30T00:00:00Z', 300_000);
  t.true(before.flags.includes('tier:long_context_over_200k'), before.flags.join(', '));
  t.true(before.flags.includes('unverified_price'), before.flags.join(', '));
  t.true(before.cost_usd! > after.cost_usd!);
  // A prompt under the threshold never depended on the tier's dates.
  const short = price('2026-04-05T00:00:00Z', 150_000);
  t.false(short.flags.includes('unverified_price'), short.flags.join(', '));
  t.false(short.parts[0]!.source.includes('long_context'), short.parts[0]!.source);
  t.is(after.parts[0]!.rate_usd, short.parts[0]!.rate_usd, 'the base rate');
});

test('a multiplier applied on facts the catalog marks unverified flags the price unverified: the US geo (its start), the regional premium of models after Sonnet 4.5 / Haiku 4.5', (t) => {
  const usage = apiUsage({ input_tokens: 1000, output_tokens: 100 });
  const pricer = createPricer();
  const on = (model: string, provider: 'anthropic' | 'bedrock', u = usage) => pricer.price(callEvent({ model, provider, date: '2026-07-01T00:00:00Z', usage: u }));
  // The catalog's US multiplier: no verified start.
  const geo = on('claude-sonnet-4-6', 'anthropic', apiUsage({ input_tokens: 1000, output_tokens: 100, inference_geo: 'us' }));
  t.true(geo.flags.includes('inference_geo_us'));
  t.true(geo.flags.includes('unverified_price'), geo.flags.join(', '));
  // The same model without the multiplier: its rates are verified.
  t.false(on('claude-sonnet-4-6', 'anthropic').flags.includes('unverified_price'));
  // The regional premium: stated for Sonnet 4.5, implied for Opus 4.7.
  const stated = on('us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'bedrock');
  t.true(stated.flags.includes('regional_endpoint_premium'));
  t.false(stated.flags.includes('unverified_price'), stated.flags.join(', '));
  const implied = on('us.anthropic.claude-opus-4-7-v1:0', 'bedrock');
  t.true(implied.flags.includes('regional_endpoint_premium'));
  t.true(implied.flags.includes('unverified_price'), implied.flags.join(', '));
  // A global endpoint takes no premium: nothing unverified is applied.
  t.false(on('global.anthropic.claude-opus-4-7-v1:0', 'bedrock').flags.includes('unverified_price'));
});

test('a model fact the configuration states is no longer the catalog\'s doubt; a configured US multiplier still rests on the catalog\'s list of models', (t) => {
  const usage = apiUsage({ input_tokens: 1000, output_tokens: 100 });
  const stated = createPricer({ overrides: { models: { 'claude-opus-4-7': { bedrock_vertex_regional_premium: true, prices: [{ input: 5, output: 25 }] } } } });
  const r = stated.price(callEvent({ model: 'us.anthropic.claude-opus-4-7-v1:0', provider: 'bedrock', date: '2026-07-01T00:00:00Z', usage }));
  t.true(r.flags.includes('regional_endpoint_premium'));
  t.false(r.flags.includes('unverified_price'), r.flags.join(', '));
  // pricing.inference_geo.us set: the value is the configuration's, whether Opus 4.8 takes it is the catalog's (implied).
  const configured = createPricer({ overrides: { inference_geo: { us: 1.2 } } });
  const later = configured.price(callEvent({ model: 'claude-opus-4-8', date: '2026-07-01T00:00:00Z', usage: apiUsage({ input_tokens: 1000, output_tokens: 100, inference_geo: 'us' }) }));
  t.true(later.flags.includes('unverified_price'), later.flags.join(', '));
  const named = configured.price(callEvent({ model: 'claude-opus-4-6', date: '2026-07-01T00:00:00Z', usage: apiUsage({ input_tokens: 1000, output_tokens: 100, inference_geo: 'us' }) }));
  t.false(named.flags.includes('unverified_price'), named.flags.join(', '));
});
