/**
 * `claudescope pricing`: the price catalog (with the configuration's overrides) as a table
 * or JSON; `claudescope pricing explain --event FILE`: the price of one call event, part by
 * part (tokens, rate, source, multipliers, flags, total); `pricing explain --id EVENT_ID`: the
 * same for a stored call (read-only), with the price stored for it and, when the current
 * catalog says otherwise, the difference.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import type { CallEvent } from '../../event/types.js';
import { usageFromApi } from '../../event/usage.js';
import { createPricer, type CostEngine } from '../../pricing/cost-engine.js';
import { PricingConfigError } from '../../pricing/index.js';
import { locatePricingError } from '../../daemon/pricer-loader.js';
import type { ConfigProblem } from '../../daemon/config-schema.js';
import { explainPrice, formatExplanation } from '../../pricing/explain.js';
import { formatNanoUsd, fractionText } from '../../pricing/money.js';
import { ConfigError, checkConfigText, configFileFor, defaultHome } from '../../daemon/config.js';
import { listPrices, type PriceRow } from '../../pricing/listing.js';
import { valuesRequired } from '../values-required.js';
import { whyUnreadable } from '../../fs-errors.js';

interface PricingArgs {
  json: boolean;
  home?: string | undefined;
  at?: string | undefined;
  model?: string | undefined;
  config?: string | undefined;
}

interface ExplainArgs {
  event?: string | undefined;
  id?: string | undefined;
  home?: string | undefined;
  json: boolean;
  config?: string | undefined;
}

/** What the store holds for one call's price. */
interface StoredPrice {
  model: string | null;
  cost_nanousd: number | null;
  pricing_version: string | null;
  flags: string[];
}

/**
 * The `pricing:` block of a YAML (or JSON) configuration file, or null without one. A syntax
 * error or an unknown field is refused as the daemon refuses it, with its file and line.
 */
function readOverrides(file: string | undefined): unknown {
  if (file === undefined) return null;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err: unknown) {
    throw new Error(`cannot read configuration ${file}: ${whyUnreadable(err)}`, { cause: err });
  }
  // The whole file, as the daemon checks it: a misspelt `pricng:` would otherwise show the
  // catalog's prices as if they were the configuration's.
  const problems: ConfigProblem[] = [];
  const layer = checkConfigText(text, file, problems);
  if (layer === undefined || problems.length > 0) throw new ConfigError(problems);
  return layer.value['pricing'] ?? null;
}

/** The cost engine with the file's overrides; a bad `pricing:` block is named by file, line and field, as the daemon names it. */
function makePricer(config: string | undefined): CostEngine {
  try {
    return createPricer({ overrides: readOverrides(config) as never });
  } catch (err: unknown) {
    if (err instanceof PricingConfigError) throw new ConfigError([locatePricingError(err, config ?? null)]);
    throw err;
  }
}

/** Reads a call event: a JSON object, `{ event }` (a stored call), or an NDJSON line. */
function readEvent(file: string): CallEvent {
  let text: string;
  try {
    text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (err: unknown) {
    throw new Error(`--event: cannot read ${file === '-' ? 'stdin' : file}: ${whyUnreadable(err)}`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    // An NDJSON file: the first call line.
    const line = text.split('\n').find((l) => l.includes('"t":"call"') || l.includes('"t": "call"'));
    if (line === undefined) throw new Error(`${file === '-' ? 'stdin' : file}: expected a call event as JSON`);
    value = JSON.parse(line) as unknown;
  }
  const source = file === '-' ? 'stdin' : file;
  if (typeof value !== 'object' || value === null) throw new Error(`${source}: expected a call event object`);
  let event = value as Record<string, unknown>;
  if (typeof event['event'] === 'object' && event['event'] !== null) event = event['event'] as Record<string, unknown>;
  // A file's header, stats or footer line (`tail -n1` of a sealed file is its footer) is no call:
  // explained, it would read as an unpriced call without usage.
  if (typeof event['t'] === 'string' && event['t'] !== 'call') throw new Error(`${source}: a "${event['t']}" line, not a call event (give a line whose "t" is "call")`);
  // A hand-written event may give usage as the API returns it (cache_creation, server_tool_use…).
  const usage = event['usage'];
  if (typeof usage === 'object' && usage !== null && !('cache_write_5m_input_tokens' in usage)) {
    event = { ...event, usage: usageFromApi(usage) };
  }
  if (typeof event['ts'] === 'string') event = { ...event, ts: Date.parse(event['ts']) };
  if (typeof event['ts_start'] === 'string') event = { ...event, ts_start: Date.parse(event['ts_start']) };
  return { provider: 'anthropic', complete: true, ...event } as unknown as CallEvent;
}

/**
 * A stored call's event and price, read-only from `<home>/data/claudescope.db` (safe while the
 * daemon writes: WAL readers never block it).
 */
async function readStoredCall(home: string, id: string): Promise<{ event: CallEvent; stored: StoredPrice }> {
  const path = join(home, 'data', 'claudescope.db');
  if (!existsSync(path)) throw new Error(`no store at ${path} (pass --home)`);
  const { SqliteStore } = await import('../../store/sqlite-store.js');
  const store = SqliteStore.open({ path, readonly: true });
  try {
    const detail = await store.call(id);
    if (!detail) throw new Error(`no stored call with event_id ${JSON.stringify(id)} in ${path}`);
    const row = store.db.prepare('SELECT model, cost_nanousd, pricing_version, price_flags FROM calls WHERE event_id = ?').get(id) as
      { model: string | null; cost_nanousd: number | null; pricing_version: string | null; price_flags: string | null };
    return {
      event: detail.event as CallEvent,
      stored: { model: row.model, cost_nanousd: row.cost_nanousd, pricing_version: row.pricing_version, flags: row.price_flags ? row.price_flags.split(',') : [] },
    };
  } finally {
    store.close();
  }
}

/**
 * The configuration whose `pricing:` block applies, found as the daemon, `reprice` and every
 * other command find it: `--config`, else `$CLAUDESCOPE_CONFIG`, else `<home>/config.yaml`.
 */
function configFor(home: string, config: string | undefined): string | undefined {
  return configFileFor(home, config)?.path;
}

/** The stored price against the current one, as lines under the explanation. */
export function formatStoredComparison(stored: StoredPrice, current: { cost_nanousd: number | null; pricing_version: string; model: string | null }): string {
  const cost = (n: number | null) => (n === null ? 'UNPRICED' : `${formatNanoUsd(n)} USD`);
  const lines = ['', `Stored       ${cost(stored.cost_nanousd)} · prices ${stored.pricing_version ?? '(none)'} · model ${stored.model ?? 'unknown'}`];
  if (stored.cost_nanousd === current.cost_nanousd && stored.pricing_version === current.pricing_version && stored.model === current.model) {
    lines.push('Current      the same: the stored price is what the current catalog says');
  } else {
    const diff = stored.cost_nanousd !== null && current.cost_nanousd !== null ? ` (${current.cost_nanousd >= stored.cost_nanousd ? '+' : ''}${formatNanoUsd(current.cost_nanousd - stored.cost_nanousd)} USD)` : '';
    lines.push(`Current      ${cost(current.cost_nanousd)}${diff} · prices ${current.pricing_version} · model ${current.model ?? 'unknown'}`);
    lines.push('             the current catalog differs from what was stored: `claudescope reprice --since DAY` stores the current price');
  }
  return `${lines.join('\n')}\n`;
}

function money(v: number | null): string {
  return v === null ? '?' : String(v);
}

/** The rows as a fixed-width table; `*` marks a price or date its sources leave unverified. */
export function formatPriceTable(rows: readonly PriceRow[]): string {
  const header = ['model', 'speed/tier', 'from', 'to', 'input', '5m write', '1h write', 'cache read', 'output', 'source'];
  const cells = rows.map((r) => {
    const mark = (field: PriceRow['unverified'][number], v: number | null) => `${money(v)}${r.unverified.includes(field) ? '*' : ''}`;
    const kind = [r.speed === 'fast' ? 'fast' : '', r.tier === null ? '' : `>${(r.prompt_tokens_over ?? 0) / 1000}K`].filter(Boolean).join(' ') || 'standard';
    return [
      r.model,
      kind,
      `${r.from ?? '…'}${r.unverified.includes('from') ? '*' : ''}`,
      `${r.to ?? '…'}${r.unverified.includes('to') ? '*' : ''}`,
      mark('input', r.input),
      mark('cache_write_5m', r.cache_write_5m),
      mark('cache_write_1h', r.cache_write_1h),
      mark('cache_read', r.cache_read),
      mark('output', r.output),
      r.layer === 'catalog' ? 'catalog' : r.provider === null ? 'override' : `override (${r.provider})`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const numeric = new Set([4, 5, 6, 7, 8]);
  const line = (c: string[]) => c.map((v, i) => (numeric.has(i) ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n') + '\n';
}

/**
 * The catalog's modifiers as the table's second line, each marked `*` where the sources leave
 * part of it uncertain, with what is (a start date, which models it covers), and each provider
 * multiplier the configuration sets.
 */
function modifiersLine(pricer: CostEngine): string {
  const m = pricer.table.catalog.modifiers;
  const star = (list: readonly string[]): string => (list.length > 0 ? '*' : '');
  const us = m.geo.get('us');
  const parts = [
    `batch ×${fractionText(m.batch)}`,
    ...(us === undefined ? [] : [`inference_geo us ×${fractionText(us)} (Opus 4.6, Sonnet 4.6 and later)${star(m.unverified.geo)}`]),
    `Bedrock regional endpoints ×${fractionText(m.regionalPremium)} (Sonnet 4.5, Haiku 4.5 and later)${star(m.unverified.regionalPremium)}`,
    `web search $${m.webSearchPerRequest / 1e12}/request`,
  ];
  // The catalog names the uncertain field (`from`, or the model flag the list is derived into).
  const said = (u: string): string => (u === 'from' ? 'its start date' : u.replace(/^(inference_geo_us|bedrock_vertex_regional_premium)( for models)?\b/, 'which models'));
  const uncertain = ([['inference_geo us', m.unverified.geo], ['Bedrock regional', m.unverified.regionalPremium]] as const)
    .filter(([, list]) => list.length > 0)
    .map(([name, list]) => `${name}: ${list.map(said).join(', ')}`);
  return `Modifiers: ${parts.join('; ')}${configuredMultipliers(pricer)}.${uncertain.length > 0 ? `\nUnverified (*): ${uncertain.join('; ')}; calls they apply to are priced all the same.` : ''}`;
}

/** The catalog's `unverified` lists of the modifiers, as `pricing --json` gives them. */
function unverifiedModifiers(pricer: CostEngine): { inference_geo: string[]; bedrock_vertex_regional_premium: string[] } {
  const { geo, regionalPremium } = pricer.table.catalog.modifiers.unverified;
  return { inference_geo: geo, bedrock_vertex_regional_premium: regionalPremium };
}

/**
 * The configuration's provider multipliers (a negotiated discount), which scale every price of
 * the table: the table lists prices before them, so without this line a configured discount
 * would show nowhere but in the version's `+o.` suffix.
 */
function configuredMultipliers(pricer: CostEngine): string {
  return Object.entries(providerMultipliers(pricer)).map(([provider, m]) => `; ${provider} calls ×${m} (pricing.providers.${provider}.multiplier)`).join('');
}

/** Each provider's configured multiplier other than 1, by provider. */
function providerMultipliers(pricer: CostEngine): Record<string, number> {
  const set = [...pricer.table.providers].filter(([, s]) => s.multiplier.num !== s.multiplier.den);
  return Object.fromEntries(set.map(([provider, s]) => [provider, Number(fractionText(s.multiplier))]));
}

function parseAt(at: string | undefined): number | undefined {
  if (at === undefined) return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(at) ? Date.parse(`${at}T00:00:00Z`) : Date.parse(at);
  if (!Number.isFinite(ms)) throw new Error(`--at must be a date (YYYY-MM-DD) or an ISO time, got ${at}`);
  return ms;
}

const explain: CommandModule<object, ExplainArgs> = {
  command: 'explain',
  describe: 'Show the price of one call event part by part: tokens, rate, source, flags, total',
  builder: (y: Argv) =>
    valuesRequired(y
      .option('event', { type: 'string', nargs: 1, describe: "A call event as JSON (a file, or '-' for stdin)" })
      .option('id', { type: 'string', nargs: 1, describe: 'The event_id of a stored call (read from the store, read-only)' })
      .option('home', { type: 'string', describe: 'Folder with config.yaml and, for --id, data/ (env CLAUDESCOPE_HOME)', defaultDescription: '~/.claudescope' })
      .conflicts('event', 'id')
      .check((a) => {
        if (a['event'] === undefined && a['id'] === undefined) throw new Error('give --event FILE or --id EVENT_ID');
        return true;
      })
      .option('json', { type: 'boolean', default: false, describe: 'Print the explanation as JSON' })
      .option('config', { type: 'string', describe: "A YAML configuration whose 'pricing:' block overrides prices (env CLAUDESCOPE_CONFIG)", defaultDescription: '$CLAUDESCOPE_HOME/config.yaml if present' })
      .example('$0 pricing explain --event call.json', '')
      .example("tail -n1 events/app.ndjson | $0 pricing explain --event -", '')
      .example('$0 pricing explain --id 0193a…', 'a stored call, with its stored price')) as unknown as Argv<ExplainArgs>,
  handler: async (argv) => {
    const home = argv.home ?? defaultHome();
    if (argv.id !== undefined) {
      const { event, stored } = await readStoredCall(home, argv.id);
      const pricer = makePricer(configFor(home, argv.config));
      const x = explainPrice(pricer, event);
      const current = { cost_nanousd: x.cost_nanousd, pricing_version: x.pricing_version, model: x.model };
      const same = stored.cost_nanousd === current.cost_nanousd && stored.pricing_version === current.pricing_version && stored.model === current.model;
      process.stdout.write(argv.json ? `${JSON.stringify({ ...x, stored, current_differs: !same }, null, 2)}\n` : formatExplanation(x) + formatStoredComparison(stored, current));
      return;
    }
    const pricer = makePricer(configFor(home, argv.config));
    const x = explainPrice(pricer, readEvent(argv.event ?? '-'));
    process.stdout.write(argv.json ? `${JSON.stringify(x, null, 2)}\n` : formatExplanation(x));
  },
};

const command: CommandModule<object, PricingArgs> = {
  command: 'pricing',
  describe: 'List the price catalog; `pricing explain` shows the price of one call part by part',
  builder: (y: Argv) =>
    y
      .command(explain as unknown as CommandModule)
      .option('json', { type: 'boolean', default: false, describe: 'Print the catalog as JSON' })
      // The listing's filters only: `pricing explain` prices the event's own model at its own time.
      .option('at', { type: 'string', global: false, describe: 'Only the prices in force at this date (YYYY-MM-DD) or time' })
      .option('model', { type: 'string', global: false, describe: 'Only this model (any spelling: alias, Bedrock or Vertex id)' })
      .option('config', { type: 'string', describe: "A YAML configuration whose 'pricing:' block overrides prices (env CLAUDESCOPE_CONFIG)", defaultDescription: '$CLAUDESCOPE_HOME/config.yaml if present' })
      // As every other command takes it: the daemon's home, whose config.yaml holds its prices.
      .option('home', { type: 'string', global: false, describe: 'Folder with config.yaml (env CLAUDESCOPE_HOME)', defaultDescription: '~/.claudescope' })
      .example('$0 pricing --at 2026-03-01 --model claude-opus-4-6', '') as unknown as Argv<PricingArgs>,
  handler: (argv) => {
    const configFile = configFor(argv.home ?? defaultHome(), argv.config);
    const pricer = makePricer(configFile);
    const at = parseAt(argv.at);
    // A model no price names (a typo, or one released after the catalog) is not "no prices at that date".
    if (argv.model !== undefined && listPrices(pricer, { model: argv.model }).length === 0) {
      throw new Error(`--model: no prices for ${JSON.stringify(argv.model)} in the catalog${configFile === undefined ? '' : ` or the pricing: block of ${configFile}`}: its calls are stored unpriced (add it under pricing.models; 'claudescope pricing' lists the models)`);
    }
    const rows = listPrices(pricer, { ...(at === undefined ? {} : { at }), ...(argv.model === undefined ? {} : { model: argv.model }) });
    if (argv.json) {
      const out = { pricing_version: pricer.version, as_of: pricer.catalogAsOf, stale: pricer.isStale(), currency: 'USD', unit: 'USD per million tokens', provider_multipliers: providerMultipliers(pricer), unverified_modifiers: unverifiedModifiers(pricer), rows };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return;
    }
    process.stdout.write(`Prices ${pricer.version}, checked ${pricer.catalogAsOf}${pricer.isStale() ? ' (STALE: older than 60 days, check for new prices)' : ''}; USD per million tokens, '?' = unknown (unpriced), '*' = unverified (a date marked so may be a few days off; calls on either side are flagged unverified_price).\n`);
    process.stdout.write(`${modifiersLine(pricer)}\n\n`);
    process.stdout.write(rows.length === 0 ? 'No prices match.\n' : formatPriceTable(rows));
  },
};

export default command;
