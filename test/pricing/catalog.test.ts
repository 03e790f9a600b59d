/**
 * The catalog against the price table it was started from (a reviewed snapshot kept in
 * test/fixtures/anthropic-prices-source.json), and its own invariants. Every entry carried over must match; what
 * the source marks unverified must stay marked.
 */
import { existsSync, readFileSync } from 'node:fs';
import test from 'ava';
import { RATE_FIELDS, catalogAsOf, isCatalogStale, loadCatalog, parseCatalog } from '../../src/pricing/catalog.js';
import { PricingConfigError } from '../../src/pricing/errors.js';
import { rateFromUsdPerMTok } from '../../src/pricing/money.js';

const sourceUrl = new URL('../fixtures/anthropic-prices-source.json', import.meta.url);
const catalog = loadCatalog();
const byId = new Map(catalog.models.map((m) => [m.id, m]));
const day = (s: string | null) => (s === null ? null : Date.parse(`${s}T00:00:00Z`));

interface SourceModel {
  model: string;
  aliases: string[];
  effective_from: string | null;
  effective_to: string | null;
  usd_per_mtok: Record<string, number | null>;
  unverified_fields?: string[];
  tiers?: { name: string; when: { prompt_tokens_gt: number }; effective_to: string | null; usd_per_mtok: Record<string, number | null>; unverified_fields?: string[] }[];
}
interface Source {
  as_of: string;
  models: SourceModel[];
  modifiers: { fast_mode: { prices: { model: string; effective_from: string; effective_to: string | null; input: number; output: number; verified: boolean }[] }; inference_geo: { eligible_models: string[] } };
}

const haveSource = existsSync(sourceUrl);
if (!haveSource) throw new Error(`missing ${sourceUrl.pathname}`);
const source = haveSource ? (JSON.parse(readFileSync(sourceUrl, 'utf8')) as Source) : null;
const withSource = haveSource ? test : test.skip;

withSource('every model and price of the source table is carried over unchanged', (t) => {
  for (const s of source!.models) {
    const m = byId.get(s.model);
    if (m === undefined) {
      t.fail(`${s.model} missing`);
      continue;
    }
    for (const a of s.aliases) t.true(m.aliases.includes(a), `${s.model} alias ${a}`);
    const from = day(s.effective_from) ?? -Infinity;
    const period = m.prices.find((p) => (from === -Infinity ? p === m.prices[0] : p.from <= from && from < p.to));
    if (period === undefined) {
      t.fail(`${s.model}: no period at ${s.effective_from}`);
      continue;
    }
    t.is(period.from, from, `${s.model} from`);
    t.is(period.to, day(s.effective_to) ?? Infinity, `${s.model} to`);
    for (const f of RATE_FIELDS) {
      const v = s.usd_per_mtok[f];
      t.is(period.rates[f], v === null || v === undefined ? null : rateFromUsdPerMTok(v), `${s.model} ${f}`);
    }
    for (const f of s.unverified_fields ?? []) {
      if (f === 'effective_from') t.true(period.unverified.includes('from'), `${s.model} 'from' stays unverified`);
      else t.true(period.unverified.includes(f), `${s.model} ${f} stays unverified`);
    }
    for (const st of s.tiers ?? []) {
      const tier = period.tiers.find((x) => x.name === st.name);
      if (tier === undefined) {
        t.fail(`${s.model} tier ${st.name} missing`);
        continue;
      }
      t.is(tier.over, st.when.prompt_tokens_gt);
      t.is(tier.to, day(st.effective_to) ?? Infinity, `${s.model} ${st.name} to`);
      for (const f of RATE_FIELDS) t.is(tier.rates[f], rateFromUsdPerMTok(st.usd_per_mtok[f]), `${s.model} ${st.name} ${f}`);
      for (const f of st.unverified_fields ?? []) t.true(tier.unverified.includes(f), `${s.model} ${st.name} ${f} unverified`);
    }
  }
});

withSource('fast-mode prices and the US-geo models match the source', (t) => {
  for (const f of source!.modifiers.fast_mode.prices) {
    const m = byId.get(f.model)!;
    const p = m.fast.find((x) => x.from === day(f.effective_from));
    if (p === undefined) {
      t.fail(`${f.model} fast from ${f.effective_from}`);
      continue;
    }
    t.is(p.rates.input, rateFromUsdPerMTok(f.input));
    t.is(p.rates.output, rateFromUsdPerMTok(f.output));
    if (f.effective_to !== null) t.is(p.to, day(f.effective_to)!);
    if (!f.verified) t.true(p.unverified.includes('input') && p.unverified.includes('output'), `${f.model} fast unverified`);
  }
  const geo = new Set(source!.modifiers.inference_geo.eligible_models);
  for (const m of catalog.models) t.is(m.geoUs, geo.has(m.id), `${m.id} inference_geo_us`);
});

withSource('the catalog is as of the source date or later', (t) => {
  t.true(catalog.asOf >= source!.as_of);
});

test('cache writes are 1.25× (5m) and 2× (1h) input everywhere but Haiku 3; reads never above input', (t) => {
  for (const m of catalog.models) {
    for (const p of [...m.prices, ...m.fast, ...m.prices.flatMap((x) => x.tiers), ...m.fast.flatMap((x) => x.tiers)]) {
      const r = p.rates;
      if (r.input === null) continue;
      if (r.cache_write_1h !== null) t.is(r.cache_write_1h, r.input * 2, `${m.id} 1h`);
      if (r.cache_write_5m !== null) t.is(r.cache_write_5m, m.id === 'claude-3-haiku-20240307' ? r.input * 1.2 : r.input * 1.25, `${m.id} 5m`);
      if (r.cache_read !== null) t.true(r.cache_read <= r.input, `${m.id} read`);
    }
  }
});

test('every Claude model id of the SDK is in the catalog', (t) => {
  // The SDK's Model type (1.14.0) and its deprecated list; new ids must be added (priced or not).
  const sdk = readFileSync(new URL('../../node_modules/@anthropic-ai/sdk/resources/messages/messages.d.ts', import.meta.url), 'utf8');
  const block = /export type Model =([\s\S]*?);/.exec(sdk)?.[1] ?? '';
  const ids = [...block.matchAll(/'(claude-[a-z0-9-]+)'/g)].map((m) => m[1]!);
  t.true(ids.length > 5, 'read the SDK Model type');
  for (const id of ids) t.true(catalog.aliases.has(id), `${id} is known`);
});

test('as-of date and staleness', (t) => {
  t.is(catalogAsOf(), '2026-11-26');
  const asOf = Date.parse('2026-11-26T00:00:00Z');
  t.false(isCatalogStale(asOf + 59 * 86_400_000));
  t.true(isCatalogStale(asOf + 61 * 86_400_000));
  t.false(isCatalogStale(asOf + 61 * 86_400_000, 90));
});

test('a broken catalog fails to load with the path of the field', (t) => {
  const raw = JSON.parse(readFileSync(new URL('../../src/pricing/catalog.json', import.meta.url), 'utf8')) as { models: { prices: { input: unknown }[] }[] };
  raw.models[2]!.prices[0]!.input = 'ten';
  const err = t.throws(() => parseCatalog(raw), { instanceOf: PricingConfigError });
  t.is(err?.path, 'catalog.models[2](claude-haiku-5-5).prices[0].input');
});
