/**
 * The `reconcile:` block of the daemon configuration, turned into settings. The Admin API key
 * comes from `ANTHROPIC_ADMIN_KEY` (which wins) or `reconcile.admin_key`; it is kept out of
 * every message, log line and stored row.
 *
 * ```yaml
 * reconcile:
 *   schedule: "17 6 * * *"     # node-cron, daily at 06:17; omit or null: no scheduled runs
 *   api: analytics             # or legacy (usage_report / cost_report)
 *   tolerance: 0.02            # flag cells whose tokens or cost differ by more than 2 %
 *   lookback_days: 3           # each run compares the last N UTC days
 *   bucket: 1d                 # or 1h
 *   split_by: [workspace]      # and/or api_key
 *   api_keys: { checkout: apikey_01abc }   # emitter aliases → billed key ids
 * ```
 */
import cron from 'node-cron';
import type { FieldSpec } from '../daemon/config-schema.js';
import type { BucketWidth, CellDimension, ReportApi } from './types.js';

/** The schema of the `reconcile:` block (validated with the rest of the file). */
export const RECONCILE_SCHEMA: FieldSpec = {
  kind: 'object',
  nullable: true,
  fields: {
    // Checked here, with the file and line, as every other field: the daemon would refuse it at start.
    schedule: { kind: 'string', nonEmpty: true, nullable: true, check: (v) => (cron.validate(v) ? null : 'expected a cron expression such as "17 6 * * *" (minute hour day month weekday)') },
    admin_key: { kind: 'string', nonEmpty: true, nullable: true },
    api: { kind: 'enum', values: ['analytics', 'legacy'] },
    // A fraction: 2 would be 200 %, flagging nothing; it almost always means 2 % (0.02).
    tolerance: { kind: 'number', min: 0, below: { value: 1, why: 'a fraction: 0.02 is 2 %' } },
    lookback_days: { kind: 'int', min: 1, max: 365 },
    bucket: { kind: 'enum', values: ['1d', '1h'] },
    // A typo (workspaces) would otherwise be dropped silently, splitting nothing.
    split_by: { kind: 'string_list', values: ['workspace', 'api_key'] },
    api_keys: { kind: 'map', values: { kind: 'string', nonEmpty: true } },
    base_url: { kind: 'string', nonEmpty: true, check: (v) => (isHttpUrl(v) ? null : 'expected an http(s) URL such as https://api.anthropic.com') },
  },
};

/** Whether `v` is an absolute http or https URL (the Admin API's base). */
export function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

export interface ReconcileSettings {
  /** node-cron expression of scheduled runs in the daemon; null: none. */
  schedule: string | null;
  /** The Admin API key, or null when none is configured. Never printed. */
  adminKey: string | null;
  api: ReportApi;
  tolerance: number;
  lookbackDays: number;
  bucket: BucketWidth;
  split: CellDimension[];
  apiKeys: Record<string, string>;
  baseUrl: string;
}

export const DEFAULT_RECONCILE: Omit<ReconcileSettings, 'adminKey'> = {
  schedule: null, api: 'analytics', tolerance: 0.02, lookbackDays: 3, bucket: '1d', split: [], apiKeys: {}, baseUrl: 'https://api.anthropic.com',
};

/** Settings from the merged `reconcile` value and the environment. */
export function reconcileSettings(raw: unknown, env: NodeJS.ProcessEnv = process.env): ReconcileSettings {
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const envKey = env['ANTHROPIC_ADMIN_KEY'];
  const split = Array.isArray(r['split_by']) ? (r['split_by'] as string[]).filter((s): s is CellDimension => s === 'workspace' || s === 'api_key') : [];
  return {
    schedule: typeof r['schedule'] === 'string' ? r['schedule'] : null,
    adminKey: envKey !== undefined && envKey.trim() !== '' ? envKey.trim() : typeof r['admin_key'] === 'string' ? r['admin_key'] : null,
    api: r['api'] === 'legacy' ? 'legacy' : 'analytics',
    tolerance: typeof r['tolerance'] === 'number' ? r['tolerance'] : DEFAULT_RECONCILE.tolerance,
    lookbackDays: typeof r['lookback_days'] === 'number' ? r['lookback_days'] : DEFAULT_RECONCILE.lookbackDays,
    bucket: r['bucket'] === '1h' ? '1h' : '1d',
    split,
    apiKeys: (typeof r['api_keys'] === 'object' && r['api_keys'] !== null ? r['api_keys'] : {}) as Record<string, string>,
    baseUrl: typeof r['base_url'] === 'string' ? r['base_url'] : env['ANTHROPIC_ADMIN_BASE_URL'] ?? DEFAULT_RECONCILE.baseUrl,
  };
}

/** `2%` or `0.02` → 0.02. */
export function parseTolerance(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(v);
  if (!m) throw new Error(`--tolerance: expected a fraction such as 0.02 or a percentage such as 2%, got ${JSON.stringify(v)}`);
  if (m[2] === '%') return Number(m[1]) / 100;
  const n = Number(m[1]);
  // A bare 2 would be 200 %: every cell passes and nothing is flagged, silently. It almost
  // always means 2 %, so it is refused, saying both forms.
  if (n >= 1) throw new Error(`--tolerance: ${m[1]} is a fraction of ${n * 100}%; write ${m[1]}% for ${m[1]} percent, or a fraction below 1 such as ${n / 100}`);
  return n;
}
