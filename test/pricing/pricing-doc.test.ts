/**
 * The `pricing:` examples of docs/pricing.md and the README load as the daemon loads them and
 * price as their comments say; the documented error of a bad multiplier is the engine's.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDaemonConfig } from '../../src/daemon/config.js';
import { createDaemonPricer } from '../../src/daemon/pricer-loader.js';
import { createPricer } from '../../src/pricing/index.js';
import { call, tempHome } from '../helpers/event-files.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (file: string): string => readFileSync(join(root, file), 'utf8');

function pricingBlock(file: string): string {
  const block = [...read(file).matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]!).find((b) => /^pricing:$/m.test(b));
  if (!block) throw new Error(`${file} lost its pricing: example`);
  return block;
}

function pricerFor(text: string) {
  const h = tempHome();
  const file = join(h.home, 'config.yaml');
  writeFileSync(file, text);
  try {
    return createDaemonPricer(loadDaemonConfig({ flags: { config: file }, env: { CLAUDESCOPE_HOME: h.home } }));
  } finally {
    h.cleanup();
  }
}

const usage = (input: number, output: number, read = 0) => ({ ...call().usage!, input_tokens: input, output_tokens: output, cache_read_input_tokens: read });
const ts = Date.parse('2026-12-10T12:00:00Z');

test('the pricing: example of docs/pricing.md loads and prices as its comments say', (t) => {
  const pricer = pricerFor(pricingBlock('docs/pricing.md'));
  t.regex(pricer.version, /\+o\.[0-9a-f]{8}$/);
  // A model the catalog does not know, at its override, × the anthropic provider's 0.85:
  // (1000 × $10 + 100 × $50 + 1000 × $0.25) / 1e6 = $0.01525; × 0.85 = $0.0129625.
  const fable = pricer.price(call({ ts, model: 'claude-fable-5-2', model_requested: 'claude-fable-5-2', usage: usage(1000, 100, 1000) }));
  t.is(fable.cost_nanousd, 12_962_500);
  // The long form: an alias, in its period; 250,000 prompt tokens take the tier for every token.
  const gw = pricer.price(call({ ts, model: 'gw/claude', model_requested: 'gw/claude', usage: usage(250_000, 1000) }));
  t.is(gw.model, 'my-gateway-model');
  t.is(gw.cost_nanousd, Math.round((250_000 * 6 + 1000 * 22.5) * 0.85 * 1000));
  // A provider's own model price is taken as it is, without the provider's multiplier.
  const opus = pricer.price(call({ ts, model: 'claude-opus-5-5', model_requested: 'claude-opus-5-5', usage: usage(1000, 100) }));
  t.is(opus.cost_nanousd, (1000 * 3.2 + 100 * 16) * 1000);
  // Bedrock: list price (with its regional premium) × 0.9.
  const bedrock = call({ ts, provider: 'bedrock', model: 'anthropic.claude-sonnet-4-5-20250929-v1:0', usage: usage(1000, 100) });
  t.is(pricer.price(bedrock).cost_nanousd, Math.round(createPricer().price(bedrock).cost_nanousd! * 0.9));
});

test('the documented error of docs/pricing.md is what the daemon says of a bad multiplier', (t) => {
  const documented = /`(pricing\.providers\.bedrock\.multiplier: expected a multiplier .*?)`/.exec(read('docs/pricing.md'))?.[1];
  if (!documented) throw new Error('docs/pricing.md lost its example error');
  const bad = pricingBlock('docs/pricing.md').replace(/multiplier: 0\.9 /, 'multiplier: cheap');
  t.not(bad, pricingBlock('docs/pricing.md'));
  const err = t.throws(() => pricerFor(bad));
  t.true(err!.message.endsWith(documented), err!.message);
});

test('the pricing: example of the README loads and prices as it says', (t) => {
  const pricer = pricerFor(pricingBlock('README.md'));
  // (1000 × $10 + 100 × $50 + 1000 × $1) / 1e6 = $0.016, × the negotiated 0.85 = $0.0136.
  const fable = pricer.price(call({ ts, model: 'claude-fable-5-2', model_requested: 'claude-fable-5-2', usage: usage(1000, 100, 1000) }));
  t.is(fable.cost_nanousd, 13_600_000);
});
