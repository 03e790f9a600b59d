/**
 * The read side of the SQLite store: {@link QueryApi} queries turned into SQL.
 *
 * Aggregates read the per-minute rollups for the whole minutes of a window and the call rows
 * only for the partial minutes at its edges, so a 24 h window reads ~1,440 rollup rows per
 * dimension combination instead of every call. The rollups carry every {@link CallDimension},
 * so every filter and group-by can use them. Percentiles merge log-scale histograms (from
 * rollups, or built from row values at the edges): nearest-rank, within 1 %.
 */
import type Database from 'better-sqlite3';
import type {
  AggregateQuery, AggregateRow, CallDimension, CallFilter, RateLimitRow, RecentCallsQuery,
  SeriesQuery, SeriesRow, StoredCall, StoredCallDetail,
} from './types.js';
import { DIMENSION_COLUMNS, SUM_COLUMNS } from './migrations.js';
import { LogHistogram } from './histogram.js';
import { MINUTE_MS } from './rollups.js';

type Source = 'rows' | 'rollups';
interface Segment { source: Source; start: number; end: number }
interface Acc {
  group: Partial<Record<CallDimension, string | null>>;
  t: number;
  values: Record<string, number | null>;
  hists: Map<string, LogHistogram>;
}

const DIMS = new Set<string>(DIMENSION_COLUMNS);
const FIELDS = new Set<string>(SUM_COLUMNS);
const NANO_FIELDS: Partial<Record<string, string>> = { cost_usd: 'cost_nanousd', cost_without_cache_usd: 'cost_without_cache_nanousd' };

/** Typed error for a query the store cannot answer. */
export class QueryError extends Error {
  readonly code = 'E_QUERY_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'QueryError';
  }
}

const STORED_CALL_COLUMNS = `event_id, ts, model, feature, app, status, error_type, http_status, stop_reason, request_id,
  input_tokens, output_tokens, cache_read_input_tokens, cache_write_input_tokens, cost_usd, duration_ms, ttft_ms, attempts`;

export class QueryEngine {
  constructor(private readonly db: Database.Database) {}

  aggregate(q: AggregateQuery): AggregateRow[] {
    const rows = this.run(q, null);
    if (rows.length === 0 && (q.groupBy?.length ?? 0) === 0) {
      // No groups asked and nothing matched: one row of zeros (counts) and nulls (sums, percentiles).
      return [{ group: {}, values: Object.fromEntries(Object.entries(q.aggregates).map(([n, a]) => [n, a.op === 'count' || a.op === 'count_where' || a.op === 'unpriced_count' ? 0 : null])) }];
    }
    return rows.map(({ group, values }) => ({ group, values }));
  }

  series(q: SeriesQuery): SeriesRow[] {
    if (!(q.stepMs >= MINUTE_MS) || q.stepMs % MINUTE_MS !== 0) throw new QueryError(`stepMs must be a positive multiple of 60000, got ${q.stepMs}`);
    return this.run(q, q.stepMs).map(({ group, values, t }) => ({ t, group, values }));
  }

  private run(q: AggregateQuery, stepMs: number | null): Acc[] {
    const groupBy = q.groupBy ?? [];
    for (const d of groupBy) if (!DIMS.has(d)) throw new QueryError(`unknown dimension ${d}`);
    const accs = new Map<string, Acc>();
    for (const seg of segments(q.window.start, q.window.end)) {
      this.runSegment(q, seg, groupBy, stepMs, accs);
    }
    return [...accs.entries()].sort((a, b) => (a[1].t - b[1].t) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, acc]) => {
      for (const [name, agg] of Object.entries(q.aggregates)) {
        if (agg.op === 'percentile') acc.values[name] = acc.hists.get(agg.field)?.percentile(agg.p) ?? null;
      }
      return acc;
    });
  }

  private runSegment(q: AggregateQuery, seg: Segment, groupBy: CallDimension[], stepMs: number | null, accs: Map<string, Acc>): void {
    const rollup = seg.source === 'rollups';
    const tcol = rollup ? 'minute' : 'ts';
    const params: unknown[] = [seg.start, seg.end];
    const where = [`${tcol} >= ? AND ${tcol} < ?`, ...filterSql(q.filter, params)];
    const keyCols = [...groupBy.map((d) => `${d} AS g_${d}`), stepMs === null ? '0 AS t' : `CAST(${tcol} / ${stepMs} AS INTEGER) * ${stepMs} AS t`];
    const groupSql = `GROUP BY ${['t', ...groupBy.map((d) => `g_${d}`)].join(', ')}`;
    const selects: string[] = [];
    const pctl: [string, 'duration_ms' | 'ttft_ms'][] = [];
    const selectParams: unknown[] = [];
    for (const [name, agg] of Object.entries(q.aggregates)) {
      const col = `"v_${name.replaceAll('"', '""')}"`;
      switch (agg.op) {
        case 'count':
          selects.push(`${rollup ? 'SUM(count)' : 'COUNT(*)'} AS ${col}`);
          break;
        case 'count_where': {
          const cond = filterSql(agg.filter, selectParams);
          selects.push(`SUM(CASE WHEN ${cond.length ? cond.join(' AND ') : '1'} THEN ${rollup ? 'count' : '1'} ELSE 0 END) AS ${col}`);
          break;
        }
        case 'sum': {
          // Costs are summed as integer nanodollars (exact), then turned into USD.
          const nano = NANO_FIELDS[agg.field];
          if (nano) selects.push(`SUM(${nano}) / 1e9 AS ${col}`);
          else if (FIELDS.has(agg.field)) selects.push(`SUM(${agg.field}) AS ${col}`);
          else throw new QueryError(`unknown field ${agg.field}`);
          break;
        }
        case 'unpriced_count':
          selects.push(`${rollup ? 'SUM(unpriced_count)' : 'SUM(cost_nanousd IS NULL)'} AS ${col}`);
          break;
        case 'percentile':
          if (agg.field !== 'duration_ms' && agg.field !== 'ttft_ms') throw new QueryError(`no percentile of ${String(agg.field)}`);
          pctl.push([name, agg.field]);
          break;
        default: {
          const never: never = agg;
          throw new QueryError(`unknown aggregate ${JSON.stringify(never)}`);
        }
      }
    }
    const table = rollup ? 'rollup_minute' : 'calls';
    const whereSql = `WHERE ${where.join(' AND ')}`;
    const accFor = (r: Record<string, unknown>): Acc => {
      const group: Partial<Record<CallDimension, string | null>> = {};
      for (const d of groupBy) group[d] = (r[`g_${d}`] as string | null) ?? null;
      const t = Number(r['t'] ?? 0);
      const key = JSON.stringify([t, ...groupBy.map((d) => group[d] ?? null)]);
      let acc = accs.get(key);
      if (!acc) {
        acc = { group, t, values: {}, hists: new Map() };
        accs.set(key, acc);
      }
      return acc;
    };
    if (selects.length > 0) {
      const sql = `SELECT ${[...keyCols, ...selects].join(', ')} FROM ${table} ${whereSql} ${groupSql}`;
      for (const r of this.db.prepare(sql).all(...selectParams, ...params) as Record<string, unknown>[]) {
        const acc = accFor(r);
        for (const [name, agg] of Object.entries(q.aggregates)) {
          if (agg.op === 'percentile') continue;
          const v = r[`v_${name}`] as number | null;
          const prev = acc.values[name] ?? null;
          const zeroBased = agg.op !== 'sum';
          acc.values[name] = v === null ? (prev ?? (zeroBased ? 0 : null)) : (prev ?? 0) + v;
        }
      }
    }
    if (pctl.length > 0) {
      const fields = [...new Set(pctl.map(([, f]) => f))];
      const cols = rollup ? fields.map((f) => `hist_${f === 'duration_ms' ? 'duration' : 'ttft'} AS f_${f}`) : fields.map((f) => `${f} AS f_${f}`);
      const sql = `SELECT ${[...keyCols, ...cols].join(', ')} FROM ${table} ${whereSql}`;
      for (const r of this.db.prepare(sql).iterate(...params) as Iterable<Record<string, unknown>>) {
        const acc = accFor(r);
        // One histogram per field, whatever the number of percentiles asked of it: each
        // stored histogram is parsed and merged once (p50, p95 and p99 share it).
        for (const field of fields) {
          let h = acc.hists.get(field);
          if (!h) acc.hists.set(field, (h = new LogHistogram()));
          const v = r[`f_${field}`];
          if (rollup) h.mergeJson(v as string | null);
          else if (typeof v === 'number') h.add(v);
        }
        // Groups seen only through percentiles still report their other values.
        for (const [name, agg] of Object.entries(q.aggregates)) {
          if (agg.op !== 'percentile' && !(name in acc.values)) acc.values[name] = agg.op === 'sum' ? null : 0;
        }
      }
    }
  }

  latestRateLimits(filter?: { model?: string }): RateLimitRow[] {
    const rows = (filter?.model !== undefined
      ? this.db.prepare('SELECT * FROM rate_limits WHERE model = ? ORDER BY model, dimension').all(filter.model)
      : this.db.prepare('SELECT * FROM rate_limits ORDER BY model, dimension').all()) as {
      model: string; dimension: RateLimitRow['dimension']; limit: number | null; remaining: number | null; reset: string | null; ts: number;
    }[];
    return rows.map((r) => ({ model: r.model, dimension: r.dimension, limit: r.limit, remaining: r.remaining, reset: r.reset, ts: r.ts }));
  }

  recentCalls(q: RecentCallsQuery): { calls: StoredCall[]; nextCursor: string | null } {
    const params: unknown[] = [];
    const where: string[] = [];
    if (q.window) {
      where.push('ts >= ? AND ts < ?');
      params.push(q.window.start, q.window.end);
    }
    where.push(...filterSql(q.filter, params));
    if (q.cursor !== undefined) {
      const [ts, id] = decodeCursor(q.cursor);
      where.push('(ts < ? OR (ts = ? AND id < ?))');
      params.push(ts, ts, id);
    }
    const limit = Math.max(1, Math.min(q.limit, 10_000));
    const sql = `SELECT id, ${STORED_CALL_COLUMNS} FROM calls ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ts DESC, id DESC LIMIT ${limit + 1}`;
    const rows = this.db.prepare(sql).all(...params) as (StoredCall & { id: number })[];
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const last = page[page.length - 1];
    return {
      calls: page.map(({ id: _id, ...call }) => call),
      nextCursor: more && last ? Buffer.from(JSON.stringify([last.ts, last.id])).toString('base64url') : null,
    };
  }

  call(eventId: string): StoredCallDetail | null {
    const r = this.db.prepare(`SELECT ${STORED_CALL_COLUMNS}, cost_without_cache_usd, cost_input_usd, cost_output_usd, cost_cache_read_usd,
      cost_cache_write_5m_usd, cost_cache_write_1h_usd, cost_cache_write_unknown_ttl_usd, cost_web_search_usd, pricing_version, price_flags, event_json
      FROM calls WHERE event_id = ?`).get(eventId) as (StoredCall & Record<string, unknown>) | undefined;
    if (!r) return null;
    const { event_json, cost_without_cache_usd, pricing_version, price_flags, cost_input_usd, cost_output_usd, cost_cache_read_usd,
      cost_cache_write_5m_usd, cost_cache_write_1h_usd, cost_cache_write_unknown_ttl_usd, cost_web_search_usd, ...call } = r;
    return {
      ...(call as StoredCall),
      event: JSON.parse(event_json as string) as unknown,
      price: {
        cost_usd: call.cost_usd,
        cost_without_cache_usd,
        priced: call.cost_usd !== null,
        pricing_version,
        flags: typeof price_flags === 'string' ? price_flags.split(',') : [],
        parts: {
          input: cost_input_usd, output: cost_output_usd, cache_read: cost_cache_read_usd,
          cache_write_5m: cost_cache_write_5m_usd, cache_write_1h: cost_cache_write_1h_usd,
          cache_write_unknown_ttl: cost_cache_write_unknown_ttl_usd, web_search: cost_web_search_usd,
        },
      },
    };
  }
}

/** Splits a window into rollup-covered whole minutes and row-covered partial edges. */
function segments(start: number, end: number): Segment[] {
  if (!(end > start)) return [];
  const a = Math.ceil(start / MINUTE_MS) * MINUTE_MS;
  const b = Math.floor(end / MINUTE_MS) * MINUTE_MS;
  if (a >= b) return [{ source: 'rows', start, end }];
  const out: Segment[] = [{ source: 'rollups', start: a, end: b }];
  if (start < a) out.push({ source: 'rows', start, end: a });
  if (b < end) out.push({ source: 'rows', start: b, end });
  return out;
}

/** SQL conditions for a filter (its values pushed onto `params`). */
function filterSql(filter: CallFilter | undefined, params: unknown[]): string[] {
  if (!filter) return [];
  const out: string[] = [];
  for (const [dim, v] of Object.entries(filter)) {
    if (!DIMS.has(dim)) throw new QueryError(`unknown dimension ${dim}`);
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      if (v.length === 0) {
        out.push('0');
        continue;
      }
      out.push(`${dim} IN (${v.map(() => '?').join(', ')})`);
      params.push(...v);
    } else {
      out.push(`${dim} = ?`);
      params.push(v);
    }
  }
  return out;
}

function decodeCursor(cursor: string): [number, number] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && typeof v[0] === 'number' && typeof v[1] === 'number') return [v[0], v[1]];
  } catch {
    // fall through
  }
  throw new QueryError('invalid cursor');
}
