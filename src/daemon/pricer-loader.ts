/**
 * Loads the cost engine lazily (it reads the price catalog) and builds a pricer from the
 * configuration's `pricing:` block, which the engine validates.
 */
import type { CallEvent } from '../event/types.js';
import type { Pricer, PriceResult } from '../pricing/types.js';

/** A pricer that may report warnings (unknown models) once each. */
export interface DaemonPricer extends Pricer {
  takeWarnings?(): { message: string }[];
}

interface PricingModule {
  createPricer(options: { overrides?: unknown }): DaemonPricer;
}

/** Module candidates, public entry first. Computed at run time so a missing module is a fallback, not a build error. */
const CANDIDATES = ['../pricing/index.js', '../pricing/cost-engine.js'];

/**
 * The cost engine's pricer for `overrides`; when no cost engine is installed in this build,
 * a pricer that prices nothing (every call counted as unpriced, never $0) and `fallback: true`.
 * A bad `pricing:` block throws (the daemon refuses to start).
 */
export async function loadPricer(overrides: Record<string, unknown> | null): Promise<{ pricer: DaemonPricer; fallback: boolean }> {
  for (const spec of CANDIDATES) {
    let mod: Partial<PricingModule>;
    try {
      mod = (await import(new URL(spec, import.meta.url).href)) as Partial<PricingModule>;
    } catch (err: unknown) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') continue;
      throw err;
    }
    if (typeof mod.createPricer === 'function') return { pricer: mod.createPricer({ overrides }), fallback: false };
  }
  return { pricer: unpricedPricer(), fallback: true };
}

/** Prices nothing: every call is unpriced (counted as such), never guessed. */
export function unpricedPricer(): DaemonPricer {
  return {
    version: 'none',
    price(e: CallEvent): PriceResult {
      // Cast: the result type grows with the cost engine; every numeric field is null here.
      return {
        cost_usd: null, cost_nanousd: null, cost_without_cache_usd: null, cost_without_cache_nanousd: null, parts: [],
        pricing_version: 'none', priced: false, model: e.model ?? e.model_requested, provider: e.provider, flags: ['no_cost_engine'],
      } as unknown as PriceResult;
    },
  };
}
