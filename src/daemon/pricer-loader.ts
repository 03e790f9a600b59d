/**
 * Builds the daemon's pricer: the cost engine (src/pricing) with the configuration's
 * `pricing:` block as overrides. A bad block refuses start with the engine's message, located
 * in the config file:
 *
 * ```
 * invalid configuration:
 *   /etc/claudescope/config.yaml:14: pricing.models["claude-fable-5-2"][0].input: expected a price …
 * ```
 *
 * @example
 * const pricer = createDaemonPricer(config);        // throws ConfigError on a bad block
 * pricer.price(event).model;                        // always the canonical model when the event names one
 */
import { readFileSync } from 'node:fs';
import { createPricer, PricingConfigError, type CostEngine, type PricingWarning } from '../pricing/index.js';
import type { Pricer } from '../pricing/types.js';
import { ConfigError, parseConfigText, type DaemonConfig } from './config.js';
import type { ConfigProblem } from './config-schema.js';

/**
 * What the daemon needs of a pricer. The cost engine has every member; the optional ones let
 * tests hand in a stand-in that only prices.
 */
export interface DaemonPricer extends Pricer {
  /** New warnings (a model without a price, …), each (model, reason) once. */
  takeWarnings?(): Pick<PricingWarning, 'message' | 'model' | 'reason'>[];
  /** The canonical id of any spelling of a model. */
  normalizeModel?(id: string | null | undefined): string | null;
  /** Whether the catalog's prices are older than 60 days (at the pricer's clock). */
  isStale?(): boolean;
  /** The catalog's as-of date, `YYYY-MM-DD`. */
  readonly catalogAsOf?: string;
}

/** Options of {@link createDaemonPricer}. */
export interface DaemonPricerOptions {
  /** Clock for warnings and staleness, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/**
 * The cost engine for `config` (its `pricing:` block as overrides). Its results name the
 * canonical model (`normalizeModel`) whenever the event names one: the stored `model` and the
 * metric label never carry a raw platform spelling.
 *
 * @throws ConfigError naming the file, line and field of a bad `pricing:` block
 */
export function createDaemonPricer(config: Pick<DaemonConfig, 'pricing' | 'configFile'>, opts: DaemonPricerOptions = {}): CostEngine {
  let engine: CostEngine;
  try {
    engine = createPricer({ overrides: config.pricing as never, ...(opts.now ? { now: opts.now } : {}) });
  } catch (err: unknown) {
    if (err instanceof PricingConfigError) throw new ConfigError([locatePricingError(err, config.configFile)]);
    throw err;
  }
  return engine;
}

/** The engine's error as a config problem: `file:line`, the field path, the message. */
export function locatePricingError(err: PricingConfigError, configFile: string | null): ConfigProblem {
  const message = err.message.startsWith(`${err.path}: `) ? err.message.slice(err.path.length + 2) : err.message;
  if (configFile === null) return { where: 'configuration', field: err.path, message };
  let line = 1;
  try {
    const layer = parseConfigText(readFileSync(configFile, 'utf8'), configFile, []);
    if (layer) line = lineOfPath(layer.lines, enginePathToConfigPath(err.path));
  } catch {
    // The file was read when the configuration loaded; if it is gone now, line 1 still names it.
  }
  return { where: `${configFile}:${line}`, field: err.path, message };
}

/** `pricing.models["claude-x"][0].input` (the engine's spelling) → `pricing.models.claude-x[0].input` (the config loader's). */
export function enginePathToConfigPath(path: string): string {
  return path.replace(/\["((?:[^"\\]|\\.)*)"\]/g, (_m, key: string) => `.${JSON.parse(`"${key}"`) as string}`);
}

/** The line of a field, else of its nearest parent that has one, else 1. */
function lineOfPath(lines: ReadonlyMap<string, number>, path: string): number {
  for (let p = path; p !== '';) {
    const l = lines.get(p);
    if (l !== undefined) return l;
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    p = cut <= 0 ? '' : p.slice(0, cut);
  }
  return 1;
}
