/**
 * Repricing history: every stored call in a window is priced again with the current catalog
 * and overrides; rows whose price changed are rewritten with their per-minute rollups, in
 * chunks of one transaction each, and the change of the totals is reported.
 *
 * The daemon runs it for `POST /api/reprice` (it owns the store); `claudescope reprice` runs
 * it directly on the store when no daemon runs (holding the data-folder lock).
 *
 * @example
 * const summary = await repriceStore(store, pricer, { since: Date.parse('2026-11-01'), until: Infinity, dryRun: false });
 * process.stdout.write(formatRepriceSummary(summary));
 */
import type { CallEvent } from '../event/types.js';
import type { Pricer } from '../pricing/types.js';
import { isoTimeOf } from './iso-time.js';
import type { SqliteStore } from '../store/sqlite-store.js';
import type { InfluxRepricer, RepriceInfluxSummary } from '../store/influx-reprice.js';

/** Rows per transaction: small enough that the pipeline's commits wait a few ms at most. */
export const REPRICE_CHUNK_ROWS = 2000;

export interface RepriceOptions {
  /** Calls from this time (epoch ms, inclusive). */
  since: number;
  /** Calls before this time (epoch ms, exclusive); `Infinity` for all. */
  until: number;
  /** Compute and report only; change nothing. */
  dryRun: boolean;
  /** Rows per transaction. Default {@link REPRICE_CHUNK_ROWS}. */
  chunkRows?: number;
  /**
   * Ends the reprice between two chunks (the daemon's stop): no chunk starts once it is
   * aborted, and {@link RepriceStoppedError} reports the chunks done, each committed whole.
   */
  signal?: AbortSignal;
}

/** Totals of one model (the canonical model after repricing). */
export interface RepriceModelTotals {
  model: string;
  calls: number;
  /** Calls whose cost changed (priced ↔ unpriced included). */
  price_changed: number;
  /** USD with 9 decimals (exact nanodollars); unpriced calls count for nothing. */
  before_usd: string;
  after_usd: string;
  difference_usd: string;
  unpriced_before: number;
  unpriced_after: number;
}

/** What `claudescope reprice` prints and `POST /api/reprice` answers. */
export interface RepriceSummary {
  /** ISO times of the window; `until` null = up to now. */
  since: string;
  until: string | null;
  dry_run: boolean;
  /** The pricing version the calls were priced with now. */
  pricing_version: string;
  /** Calls in the window. */
  calls: number;
  /** Rows rewritten (or that would be, on a dry run): price, parts, flags, version or model differ. */
  rows_changed: number;
  /** Calls whose cost changed, priced ↔ unpriced included. */
  price_changed: number;
  newly_priced: number;
  newly_unpriced: number;
  /** Calls whose canonical model changed (a new alias). */
  relabelled: number;
  before_usd: string;
  after_usd: string;
  difference_usd: string;
  unpriced_before: number;
  unpriced_after: number;
  by_model: RepriceModelTotals[];
  /** Pricing versions the calls carried before, with their counts. */
  versions_before: Record<string, number>;
  /** The calls' InfluxDB points, when InfluxDB is configured: rewritten to agree with the store. */
  influxdb?: RepriceInfluxSummary;
}

interface ModelAcc {
  calls: number;
  priceChanged: number;
  before: bigint;
  after: bigint;
  unpricedBefore: number;
  unpricedAfter: number;
}

/** A reprice's totals over every model. */
interface Totals {
  calls: number;
  rowsChanged: number;
  priceChanged: number;
  newlyPriced: number;
  newlyUnpriced: number;
  relabelled: number;
  before: bigint;
  after: bigint;
  unpricedBefore: number;
  unpricedAfter: number;
}

const NANO = 1_000_000_000n;

/**
 * A reprice its signal ended between two chunks. The chunks before it were committed whole
 * (each is one transaction), the calls after them left as they were: `summary` counts what
 * was done. Running the same reprice again finishes the window (rows already repriced are
 * found right and left alone).
 */
export class RepriceStoppedError extends Error {
  readonly code = 'E_REPRICE_STOPPED';
  constructor(readonly summary: RepriceSummary) {
    const done = summary.dry_run ? 'checked' : 'repriced';
    super(`${summary.calls} of the window's calls were ${done} (${summary.rows_changed} rows ${summary.dry_run ? 'to rewrite' : 'rewritten'}, in whole chunks), the calls after them were not; run the same reprice again to finish the window`);
    this.name = 'RepriceStoppedError';
  }
}

/** Exact nanodollars as USD with 9 decimals. */
export function usdOfNano(n: bigint): string {
  const neg = n < 0n;
  const a = neg ? -n : n;
  return `${neg ? '-' : ''}${a / NANO}.${(a % NANO).toString().padStart(9, '0')}`;
}

/**
 * Reprices the calls of `[since, until)` with `pricer`, chunk by chunk, yielding to the event
 * loop between chunks (the daemon keeps ingesting and serving meanwhile). With `influx`, each
 * chunk's calls then get their InfluxDB points rewritten (every call of the window, not only
 * the rows that changed now: a window repriced while InfluxDB was unreachable is completed by
 * running the same reprice again). An InfluxDB failure does not stop the store's reprice; it
 * is reported in the summary's `influxdb.error`.
 *
 * @throws RepriceStoppedError when `o.signal` aborts before the last chunk (with what was done)
 */
export async function repriceStore(store: SqliteStore, pricer: Pricer, o: RepriceOptions, influx?: InfluxRepricer): Promise<RepriceSummary> {
  const byModel = new Map<string, ModelAcc>();
  const versions: Record<string, number> = {};
  const t: Totals = { calls: 0, rowsChanged: 0, priceChanged: 0, newlyPriced: 0, newlyUnpriced: 0, relabelled: 0, before: 0n, after: 0n, unpricedBefore: 0, unpricedAfter: 0 };
  const until = Number.isFinite(o.until) ? o.until : Number.MAX_SAFE_INTEGER;
  const price = (e: CallEvent) => pricer.price(e);
  let afterId = 0;
  for (;;) {
    // Never on a store the stop is closing: each chunk runs whole, in one turn of the event loop.
    if (o.signal?.aborted) throw new RepriceStoppedError(summaryOf(o, pricer, t, byModel, versions, influx));
    const chunk = store.repriceChunk({ since: o.since, until, afterId, limit: o.chunkRows ?? REPRICE_CHUNK_ROWS, price, dryRun: o.dryRun });
    for (const r of chunk.rows) {
      t.calls++;
      const model = r.model_after ?? r.model_before ?? '(none)';
      let m = byModel.get(model);
      if (!m) byModel.set(model, (m = { calls: 0, priceChanged: 0, before: 0n, after: 0n, unpricedBefore: 0, unpricedAfter: 0 }));
      m.calls++;
      const vb = r.version_before ?? '(none)';
      versions[vb] = (versions[vb] ?? 0) + 1;
      if (r.changed) t.rowsChanged++;
      if (r.model_before !== r.model_after) t.relabelled++;
      if (r.nano_before !== r.nano_after) {
        t.priceChanged++;
        m.priceChanged++;
        if (r.nano_before === null) t.newlyPriced++;
        if (r.nano_after === null) t.newlyUnpriced++;
      }
      if (r.nano_before === null) {
        t.unpricedBefore++;
        m.unpricedBefore++;
      } else {
        t.before += BigInt(r.nano_before);
        m.before += BigInt(r.nano_before);
      }
      if (r.nano_after === null) {
        t.unpricedAfter++;
        m.unpricedAfter++;
      } else {
        t.after += BigInt(r.nano_after);
        m.after += BigInt(r.nano_after);
      }
    }
    await influx?.sync(chunk.rows);
    if (chunk.lastId === null) break;
    afterId = chunk.lastId;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return summaryOf(o, pricer, t, byModel, versions, influx);
}

/** The totals so far as a {@link RepriceSummary}. */
function summaryOf(o: RepriceOptions, pricer: Pricer, t: Totals, byModel: ReadonlyMap<string, ModelAcc>, versions: Record<string, number>, influx: InfluxRepricer | undefined): RepriceSummary {
  return {
    since: new Date(o.since).toISOString(),
    until: Number.isFinite(o.until) ? new Date(o.until).toISOString() : null,
    dry_run: o.dryRun,
    pricing_version: pricer.version,
    calls: t.calls,
    rows_changed: t.rowsChanged,
    price_changed: t.priceChanged,
    newly_priced: t.newlyPriced,
    newly_unpriced: t.newlyUnpriced,
    relabelled: t.relabelled,
    before_usd: usdOfNano(t.before),
    after_usd: usdOfNano(t.after),
    difference_usd: usdOfNano(t.after - t.before),
    unpriced_before: t.unpricedBefore,
    unpriced_after: t.unpricedAfter,
    by_model: [...byModel.entries()]
      .sort(([a, x], [b, y]) => (y.after > x.after ? 1 : y.after < x.after ? -1 : a.localeCompare(b)))
      .map(([model, m]) => ({
        model, calls: m.calls, price_changed: m.priceChanged,
        before_usd: usdOfNano(m.before), after_usd: usdOfNano(m.after), difference_usd: usdOfNano(m.after - m.before),
        unpriced_before: m.unpricedBefore, unpriced_after: m.unpricedAfter,
      })),
    versions_before: versions,
    ...(influx ? { influxdb: influx.summary() } : {}),
  };
}

/**
 * A time for `--since`/`--until` or the API: `YYYY-MM-DD` (UTC midnight) or an ISO time.
 * @throws Error naming the option
 */
export function parseRepriceTime(name: string, raw: string): number {
  return isoTimeOf(name, raw, 'a date (YYYY-MM-DD) or an ISO time with its zone');
}

/**
 * The options of a reprice request `{ since, until?, dry_run? }` (as the API receives it).
 * @throws Error naming the bad field
 */
export function repriceOptionsOf(body: unknown): RepriceOptions {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('expected a JSON object {since, until?, dry_run?}');
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!['since', 'until', 'dry_run'].includes(k)) throw new Error(`unknown field "${k}" (known: since, until, dry_run)`);
  if (typeof b['since'] !== 'string') throw new Error('since: expected a date (YYYY-MM-DD) or an ISO time');
  const since = parseRepriceTime('since', b['since']);
  let until = Infinity;
  if (b['until'] !== undefined && b['until'] !== null) {
    if (typeof b['until'] !== 'string') throw new Error('until: expected a date (YYYY-MM-DD) or an ISO time');
    until = parseRepriceTime('until', b['until']);
  }
  if (!(since < until)) throw new Error(`since (${new Date(since).toISOString()}) must be before until (${new Date(until).toISOString()})`);
  if (b['dry_run'] !== undefined && typeof b['dry_run'] !== 'boolean') throw new Error('dry_run: expected true or false');
  return { since, until, dryRun: b['dry_run'] === true };
}

/** The summary as a terminal table. */
export function formatRepriceSummary(s: RepriceSummary): string {
  const lines: string[] = [];
  lines.push(`${s.dry_run ? 'Dry run (nothing changed): would reprice' : 'Repriced'} ${s.calls} calls from ${s.since} to ${s.until ?? 'now'} with prices ${s.pricing_version}.`);
  lines.push('');
  const head = ['model', 'calls', 'changed', 'before USD', 'after USD', 'difference USD', 'unpriced before→after'];
  const rows = s.by_model.map((m) => [m.model, String(m.calls), String(m.price_changed), m.before_usd, m.after_usd, signed(m.difference_usd), `${m.unpriced_before}→${m.unpriced_after}`]);
  rows.push(['total', String(s.calls), String(s.price_changed), s.before_usd, s.after_usd, signed(s.difference_usd), `${s.unpriced_before}→${s.unpriced_after}`]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ').trimEnd();
  lines.push(fmt(head));
  lines.push(fmt(widths.map((w) => '-'.repeat(w))));
  for (const r of rows.slice(0, -1)) lines.push(fmt(r));
  lines.push(fmt(widths.map((w) => '-'.repeat(w))));
  lines.push(fmt(rows[rows.length - 1]!));
  lines.push('');
  lines.push(`Total: ${s.before_usd} USD → ${s.after_usd} USD (${signed(s.difference_usd)} USD).`);
  lines.push(`Calls whose price changed: ${s.price_changed}; newly priced: ${s.newly_priced}; newly unpriced: ${s.newly_unpriced}; model relabelled: ${s.relabelled}; rows ${s.dry_run ? 'to rewrite' : 'rewritten'}: ${s.rows_changed}.`);
  const versions = Object.entries(s.versions_before).sort(([, a], [, b]) => b - a).map(([v, n]) => `${v} ×${n}`).join(', ');
  if (versions) lines.push(`Priced before with: ${versions}.`);
  if (s.unpriced_after > 0) lines.push(`${s.unpriced_after} calls stay unpriced (cost unknown, never $0): add their models under pricing.models, then reprice again.`);
  if (s.influxdb) lines.push(influxLine(s, s.influxdb));
  return `${lines.join('\n')}\n`;
}

/** What happened to the InfluxDB points, in one line (the first words say whether InfluxDB agrees with the store now). */
function influxLine(s: RepriceSummary, i: RepriceInfluxSummary): string {
  if (i.error !== null) {
    return s.dry_run
      ? `InfluxDB could not be checked: ${i.error}.`
      : `InfluxDB NOT updated: ${i.error}. The store is repriced, but InfluxDB may keep the old costs of ${s.calls - i.checked} calls of this window: once InfluxDB answers, run the same reprice again (it rewrites the points that still differ).`;
  }
  const missing = i.missing > 0 ? `; ${i.missing} calls have no point there (older than its retention policy, or never written)` : '';
  return `InfluxDB: ${i.rewritten} points ${s.dry_run ? 'to rewrite' : 'rewritten'}${i.deleted > 0 ? ` (${i.deleted} old ${s.dry_run ? 'to delete' : 'deleted'}: another model or a cost no longer known)` : ''}, ${i.checked - i.missing - i.rewritten} already right${missing}.`;
}

function signed(usd: string): string {
  return usd.startsWith('-') ? usd : `+${usd}`;
}
