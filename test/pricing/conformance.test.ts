/**
 * Runs every case of conformance.json: raw API usage (or stream snapshots) through the same
 * fold the emitter uses, then the cost engine, compared exactly (to the nanodollar) with the
 * hand-worked expected USD.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import { UsageFolder, usageFromApi } from '../../src/event/usage.js';
import { createPricer } from '../../src/pricing/cost-engine.js';
import { usdToNano } from '../../src/pricing/money.js';
import type { PricingOverrides } from '../../src/pricing/overrides.js';
import type { CallEvent, Provider } from '../../src/event/types.js';
import { callEvent } from './helpers.js';

interface Case {
  id: string;
  rule: string;
  model: string;
  date: string;
  usage?: Record<string, unknown> | null;
  stream?: unknown[];
  provider?: Provider;
  model_requested?: string;
  operation?: string;
  status?: CallEvent['status'];
  http_status?: number | null;
  batch_result_type?: string;
  overrides?: PricingOverrides;
  expected_usd: string | null;
  expected_without_cache_usd?: string;
  expected_flags?: string[];
  absent_flags?: string[];
  why: string;
}

const table = JSON.parse(readFileSync(new URL('./conformance.json', import.meta.url), 'utf8')) as { cases: Case[] };
const basePricer = createPricer();

function eventOf(c: Case): CallEvent {
  let usage = null;
  let complete = true;
  if (c.stream !== undefined) {
    const folder = new UsageFolder();
    for (const s of c.stream) folder.add(s);
    usage = folder.usage();
    complete = folder.sawDelta;
  } else if (c.usage !== null && c.usage !== undefined) {
    usage = usageFromApi(c.usage);
  }
  return callEvent({
    model: c.model,
    date: c.date,
    usage,
    complete,
    stream: c.stream !== undefined,
    ...(c.provider === undefined ? {} : { provider: c.provider }),
    ...(c.model_requested === undefined ? {} : { model_requested: c.model_requested }),
    ...(c.operation === undefined ? {} : { operation: c.operation }),
    ...(c.status === undefined ? {} : { status: c.status }),
    ...(c.http_status === undefined ? {} : { http_status: c.http_status }),
    ...(c.batch_result_type === undefined ? {} : { batch_result_type: c.batch_result_type }),
  });
}

test('the table has at least 40 cases, unique ids, and the arithmetic of each', (t) => {
  t.true(table.cases.length >= 40, `${table.cases.length} cases`);
  t.is(new Set(table.cases.map((c) => c.id)).size, table.cases.length);
  for (const c of table.cases) t.true(c.why.length > 20, `${c.id} explains its arithmetic`);
});

test('the table covers every pricing rule and every listed accounting bug', (t) => {
  const rules = new Set(table.cases.map((c) => c.rule));
  const required = [
    'dimensions', 'cache_multipliers', 'effective_dates', 'long_context', 'haiku_5_5_tiers', 'fast_mode', 'batch',
    'inference_geo', 'server_tools', 'platforms', 'normalisation', 'unpriced', 'not_billed', 'rounding', 'overrides',
    'bug:langfuse-12306', 'bug:langsmith-2519', 'bug:rust-genai-279', 'bug:litellm-11789', 'bug:litellm-42663',
    'bug:helicone-5606', 'bug:litellm-37734', 'bug:litellm-37924', 'bug:opik-5720',
  ];
  for (const r of required) t.true(rules.has(r), `a case for ${r}`);
});

for (const c of table.cases) {
  test(`conformance: ${c.id}`, (t) => {
    const pricer = c.overrides === undefined ? basePricer : createPricer({ overrides: c.overrides });
    const r = pricer.price(eventOf(c));
    if (c.expected_usd === null) {
      t.is(r.cost_usd, null, `unpriced, got ${String(r.cost_usd)} (${r.flags.join(', ')})`);
      t.is(r.cost_nanousd, null);
      t.false(r.priced);
    } else {
      t.is(r.cost_nanousd, usdToNano(c.expected_usd), `${c.why}\nflags: ${r.flags.join(', ')}`);
      t.is(r.cost_usd, usdToNano(c.expected_usd)! / 1e9);
      t.true(r.priced);
    }
    if (c.expected_without_cache_usd !== undefined) t.is(r.cost_without_cache_nanousd, usdToNano(c.expected_without_cache_usd));
    for (const f of c.expected_flags ?? []) t.true(r.flags.includes(f), `flag ${f} in [${r.flags.join(', ')}]`);
    for (const f of c.absent_flags ?? []) t.false(r.flags.includes(f), `no flag ${f} in [${r.flags.join(', ')}]`);
    t.is(r.pricing_version.split('+')[0], '2026-11-26.2');
  });
}
