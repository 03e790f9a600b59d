import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDaemonConfig } from '../../src/daemon/config.js';
import { createDaemonPricer } from '../../src/daemon/pricer-loader.js';
import { createPricer } from '../../src/pricing/index.js';
import { call, tempHome } from '../helpers/event-files.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The documented configuration: the YAML block of docs/pricing-ops.md that starts with its path. */
function documentedConfig(): string {
  const doc = readFileSync(join(root, 'docs', 'pricing-ops.md'), 'utf8');
  const m = /```yaml\n(# \/etc\/claudescope\/config\.yaml\n[\s\S]*?)```/.exec(doc);
  if (!m) throw new Error('docs/pricing-ops.md lost its configuration example');
  return m[1]!;
}

test('the configuration example of docs/pricing-ops.md loads and prices as the page says', (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const file = join(h.home, 'config.yaml');
  writeFileSync(file, documentedConfig());
  const config = loadDaemonConfig({ flags: { config: file }, env: { CLAUDESCOPE_HOME: h.home } });
  const pricer = createDaemonPricer(config);
  t.regex(pricer.version, /\+o\.[0-9a-f]{8}$/);

  const usage = (input: number, output: number, read: number) => ({ ...call().usage!, input_tokens: input, output_tokens: output, cache_read_input_tokens: read });
  const ts = Date.parse('2026-11-20T12:00:00Z');
  // A model the catalog does not know, priced by the block, at list × the negotiated 0.85:
  // (1000 × $10 + 100 × $50 + 1000 × $1) / 1e6 = $0.016; × 0.85 = $0.0136.
  const fable = pricer.price(call({ ts, model: 'claude-fable-5-2', model_requested: 'claude-fable-5-2', usage: usage(1000, 100, 1000) }));
  t.is(fable.cost_nanousd, 13_600_000);
  // The gateway alias is one model: (1000 × $3 + 100 × $15 + 1000 × $0.3) / 1e6 × 0.85 = $0.00408.
  const gw = pricer.price(call({ ts, model: 'gw/claude', model_requested: 'gw/claude', usage: usage(1000, 100, 1000) }));
  t.is(gw.model, 'my-gateway-model');
  t.is(gw.cost_nanousd, 4_080_000);
  // Bedrock: list price (with its regional premium) × 0.9.
  const bedrock = call({ ts, provider: 'bedrock', model: 'anthropic.claude-sonnet-4-5-20250929-v1:0', usage: usage(1000, 100, 0) });
  const list = createPricer().price(bedrock).cost_nanousd!;
  t.is(pricer.price(bedrock).cost_nanousd, Math.round(list * 0.9));
});

test('the documented error of a bad block is what the daemon says', (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  const file = join(h.home, 'config.yaml');
  writeFileSync(file, documentedConfig().replace('        input: 10\n', '        input: cheap\n'));
  const config = loadDaemonConfig({ flags: { config: file }, env: { CLAUDESCOPE_HOME: h.home } });
  const err = t.throws(() => createDaemonPricer(config));
  const doc = readFileSync(join(root, 'docs', 'pricing-ops.md'), 'utf8');
  const documented = /config\.yaml:\d+: (pricing\.models\["claude-fable-5-2"\]\[0\]\.input: .*)/.exec(doc)![1]!;
  t.true(err!.message.includes(`${file}:14: ${documented}`), err!.message);
});
