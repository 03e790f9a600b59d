/**
 * One run as the CLI and the daemon's schedule make it: settings → Admin client → compare
 * against the store → results stored (when a writable database is given).
 */
import type { Pricer } from '../pricing/types.js';
import type { SqliteStore } from '../store/sqlite-store.js';
import type { QueryApi } from '../store/types.js';
import { AdminClient, type AdminClientOptions } from './admin-client.js';
import { ratesFromPricer } from './local-rates.js';
import { DAY_MS } from './range.js';
import { reconcile } from './reconcile.js';
import { saveResult } from './results-store.js';
import type { ReconcileSettings } from './settings.js';
import type { ReconciliationResult } from './types.js';

export interface RunOptions {
  settings: ReconcileSettings;
  query: QueryApi;
  /** The writable store the results go to (through `exclusive`, clear of staged batches); omitted: not stored. */
  resultsStore?: Pick<SqliteStore, 'exclusive'>;
  /** Local prices, to name stale prices by token type (and, by default, model ids' canonical spelling). */
  pricer?: Pricer;
  /** A reported model id as the store spells it. Default: the pricer's (as reported without one). */
  canonicalModel?: (model: string) => string;
  /** Default: the last `lookbackDays` UTC days up to now. */
  range?: { start: number; end: number };
  onProgress?: AdminClientOptions['onProgress'];
  onRetry?: AdminClientOptions['onRetry'];
  now?: () => number;
}

/** The pricer's own spelling of a model id (the cost engine's canonical id), when it has one. */
export function canonicalModelOf(pricer: Pricer): (model: string) => string {
  const normalize = (pricer as Partial<{ normalizeModel(id: string): string | null }>).normalizeModel?.bind(pricer);
  return (model) => {
    try {
      return normalize?.(model) ?? model;
    } catch {
      return model;
    }
  };
}

export async function runReconciliation(o: RunOptions): Promise<ReconciliationResult> {
  const s = o.settings;
  if (s.adminKey === null) throw new Error('no Admin API key: set ANTHROPIC_ADMIN_KEY (or reconcile.admin_key in the configuration)');
  const now = (o.now ?? Date.now)();
  const range = o.range ?? { start: now - s.lookbackDays * DAY_MS, end: now };
  const client = new AdminClient({
    adminKey: s.adminKey, api: s.api, baseUrl: s.baseUrl,
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(o.onRetry ? { onRetry: o.onRetry } : {}),
  });
  const result = await reconcile({
    query: o.query, client, range, bucket: s.bucket, split: s.split, tolerance: s.tolerance, apiKeys: s.apiKeys,
    ...(o.pricer ? { rates: ratesFromPricer(o.pricer) } : {}),
    ...(o.canonicalModel ? { canonicalModel: o.canonicalModel } : o.pricer ? { canonicalModel: canonicalModelOf(o.pricer) } : {}),
    ...(o.now ? { now: o.now } : {}),
  });
  o.resultsStore?.exclusive((db) => saveResult(db, result));
  return result;
}
