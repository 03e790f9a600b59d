/**
 * The query interface over InfluxDB, in InfluxQL through `/query` (which InfluxDB 1.x, 2.x
 * with a DBRP mapping and 3.x accept), so every rule evaluates against InfluxDB as against
 * the embedded store, and one rules instance can watch a whole fleet.
 *
 * Same answers as the SQLite store for the same events: counts, sums (costs summed as
 * integer nanodollars, exactly), unpriced counts, groups (a missing tag is `null`), series
 * buckets aligned to the epoch. Aggregate percentiles are nearest-rank and exact: InfluxDB's
 * PERCENTILE takes the value at rank ⌊n·p/100 + ½⌋, so each group is asked for the
 * percentile p' = p + 49.999/n, whose rank is ⌈n·p/100⌉ (n from the same window's count).
 * Series percentiles use InfluxDB's rank as is (at most one rank apart).
 *
 * A query ends at the first of: InfluxDB's answer, the connection's `timeout_ms`, the caller's
 * `signal`, or {@link InfluxQueryApi.close}. Cancelled, it rejects with an
 * {@link InfluxQueryError} whose `cancelled` is true, and its connection is closed: an InfluxDB
 * that took the request but does not answer holds no one past a stop.
 *
 * @example
 * const q = new InfluxQueryApi({ connection });
 * await q.aggregate({ window: { start: now - 300_000, end: now }, groupBy: ['model'], aggregates: { calls: { op: 'count' } } });
 */
import type {
  Aggregate, AggregateQuery, AggregateRow, CallDimension, CallFilter, PipelineHealth, QueryApi, RateLimitRow,
  QueryOptions, RecentCallsQuery, SeriesQuery, SeriesRow, StoredCall, StoredCallDetail,
} from './types.js';
import { PIPELINE_HOST_COUNTERS, UNKNOWN_PIPELINE_HEALTH, type PipelineHostCounter } from './types.js';
import { CALL_MEASUREMENT, CALL_TAGS, HEALTH_MEASUREMENT } from './influx-point-schema.js';
import { authHeaders, type InfluxConnection } from './influx-writer.js';
import { InfluxRequests } from './influx-requests.js';

const MINUTE_MS = 60_000;
const TAGS = new Set<string>(CALL_TAGS);
const SUM_FIELDS: Record<string, { field: string; nano: boolean }> = {
  cost_usd: { field: 'cost_nanousd', nano: true },
  cost_without_cache_usd: { field: 'cost_without_cache_nanousd', nano: true },
  input_tokens: { field: 'input_tokens', nano: false },
  output_tokens: { field: 'output_tokens', nano: false },
  cache_read_input_tokens: { field: 'cache_read_input_tokens', nano: false },
  cache_write_5m_input_tokens: { field: 'cache_write_5m_input_tokens', nano: false },
  cache_write_1h_input_tokens: { field: 'cache_write_1h_input_tokens', nano: false },
  cache_write_input_tokens: { field: 'cache_write_input_tokens', nano: false },
  duration_ms: { field: 'duration_ms', nano: false },
  ttft_ms: { field: 'ttft_ms', nano: false },
  attempts: { field: 'attempts', nano: false },
  retries: { field: 'retries', nano: false },
};
const RATE_DIMS: RateLimitRow['dimension'][] = ['requests', 'tokens', 'input_tokens', 'output_tokens'];

export interface InfluxQueryOptions {
  connection: InfluxConnection;
  /** How far back `call(eventId)` looks (a field lookup scans the points). Default 30 days. */
  callLookbackMs?: number;
  /** Window of `pipelineHealth()`: hosts that reported within it are summed. Default 15 min. */
  healthWindowMs?: number;
}

/** Typed error for a query InfluxDB refused or the interface cannot express, or one cancelled. */
export class InfluxQueryError extends Error {
  readonly code = 'E_QUERY_INFLUX';
  /** Ended by the caller's signal or by `close()`, not by InfluxDB: nothing to report as a failure. */
  readonly cancelled: boolean;
  constructor(message: string, options?: { cause?: unknown; cancelled?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'InfluxQueryError';
    this.cancelled = options?.cancelled ?? false;
  }
}

interface Series {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values?: unknown[][];
}
interface Result {
  statement_id: number;
  series?: Series[];
  error?: string;
}

/** An InfluxQL identifier, double-quoted. */
export const ident = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
/** Each fleet-wide figure of {@link PipelineHealth}: the sum over hosts of this field's latest value in their health points. */
const HEALTH_SUMS = [
  ['tailLagBytes', 'lag_bytes'],
  ['deadLettersTotal', 'dead_letters_total'],
  ['emitterDroppedEventsTotal', 'emitter_dropped_events_total'],
  ['unreadableEventFiles', 'unreadable_files'],
  ['descriptorShortagesTotal', 'descriptor_shortages_total'],
] as const satisfies readonly (readonly [Exclude<keyof PipelineHealth, 'byHost' | 'influxAuthFailed'>, string])[];
/** An InfluxQL string literal, single-quoted. */
export const literal = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

interface Acc {
  t: number;
  group: Partial<Record<CallDimension, string | null>>;
  values: Record<string, number | null>;
  n: Record<string, number>;
}

export class InfluxQueryApi implements QueryApi {
  private readonly endpoint: string;
  private readonly headers: Record<string, string>;
  private readonly base: Record<string, string>;
  /** The queries in progress, ended by their timeout, the caller's signal or {@link close}. */
  private readonly requests: InfluxRequests;

  constructor(private readonly o: InfluxQueryOptions) {
    const c = o.connection;
    this.endpoint = `${c.url.replace(/\/+$/, '')}/query`;
    this.headers = { 'content-type': 'application/x-www-form-urlencoded', ...authHeaders(c) };
    this.base = { db: c.database, ...(c.retentionPolicy ? { rp: c.retentionPolicy } : {}) };
    this.requests = new InfluxRequests(c.timeoutMs);
  }

  /**
   * Ends the queries in progress (they reject, `cancelled`) and refuses later ones: for a stop,
   * whose dashboard requests and start-up reads would otherwise wait out `timeout_ms`.
   */
  close(): void {
    this.requests.close();
  }

  /** Runs InfluxQL statements in one request; a failed statement throws. */
  async influxql(statements: readonly string[], epoch?: 'ms', o: QueryOptions = {}): Promise<Result[]> {
    if (statements.length === 0) return [];
    const body = new URLSearchParams({ ...this.base, q: statements.join(';\n'), ...(epoch ? { epoch } : {}) });
    const { ok, status, text } = await this.post(body, o.signal);
    if (!ok) throw new InfluxQueryError(`InfluxDB answered ${status} to a query: ${text.slice(0, 300)}`);
    const json = JSON.parse(text) as { results?: Result[]; error?: string };
    if (json.error) throw new InfluxQueryError(`InfluxDB refused a query: ${json.error}`);
    const out = json.results ?? [];
    for (const r of out) if (r.error) throw new InfluxQueryError(`InfluxDB refused statement ${r.statement_id}: ${r.error}`);
    return out;
  }

  /** One request and its answer's text, ended by its timeout, the caller's signal or close(). */
  private post(body: URLSearchParams, signal: AbortSignal | undefined): Promise<{ ok: boolean; status: number; text: string }> {
    const cancelledError = (cause: unknown): InfluxQueryError => new InfluxQueryError('the query was cancelled before InfluxDB answered', { cancelled: true, cause });
    return this.requests.run(async (requestSignal, cancelled) => {
      let res: Response;
      try {
        res = await fetch(this.endpoint, { method: 'POST', headers: this.headers, body, signal: requestSignal });
      } catch (err: unknown) {
        if (cancelled()) throw cancelledError(err);
        throw new InfluxQueryError(`InfluxDB unreachable: ${String((err as Error).message ?? err)}`, { cause: err });
      }
      // The answer's body is under the same signal: InfluxDB may send the headers and stall.
      try {
        return { ok: res.ok, status: res.status, text: await res.text() };
      } catch (err: unknown) {
        if (cancelled()) throw cancelledError(err);
        throw new InfluxQueryError(`InfluxDB's answer to a query broke off: ${String((err as Error).message ?? err)}`, { cause: err });
      }
    }, signal);
  }

  async aggregate(q: AggregateQuery, o: QueryOptions = {}): Promise<AggregateRow[]> {
    const accs = await this.run(q, null, o);
    if (accs.length === 0 && (q.groupBy?.length ?? 0) === 0) {
      return [{ group: {}, values: Object.fromEntries(Object.entries(q.aggregates).map(([n, a]) => [n, a.op === 'count' || a.op === 'count_where' || a.op === 'unpriced_count' ? 0 : null])) }];
    }
    return accs.map(({ group, values }) => ({ group, values }));
  }

  async series(q: SeriesQuery, o: QueryOptions = {}): Promise<SeriesRow[]> {
    if (!(q.stepMs >= MINUTE_MS) || q.stepMs % MINUTE_MS !== 0) throw new InfluxQueryError(`stepMs must be a positive multiple of 60000, got ${q.stepMs}`);
    return (await this.run(q, q.stepMs, o)).map(({ t, group, values }) => ({ t, group, values }));
  }

  private async run(q: AggregateQuery, stepMs: number | null, o: QueryOptions): Promise<Acc[]> {
    const groupBy = q.groupBy ?? [];
    for (const d of groupBy) if (!TAGS.has(d)) throw new InfluxQueryError(`unknown dimension ${d}`);
    if (!(q.window.end > q.window.start)) return [];
    const where = whereOf(q.window, q.filter);
    if (where === null) return [];
    const groupSql = [...groupBy.map(ident), ...(stepMs !== null ? [`time(${stepMs}ms)`] : [])];
    const tail = `${groupSql.length ? ` GROUP BY ${groupSql.join(', ')}` : ''}${stepMs !== null ? ' fill(none)' : ''}`;
    const from = ` FROM ${ident(CALL_MEASUREMENT)} WHERE ${where}`;

    // Statement 0: counts, sums, unpriced counts, and the n behind each percentile.
    const sel = ['COUNT("duration_ms") AS "__calls"'];
    const pctlFields = new Set<string>();
    const named: [string, Aggregate][] = Object.entries(q.aggregates);
    for (const [name, a] of named) {
      switch (a.op) {
        case 'count':
        case 'count_where':
          break;
        case 'sum': {
          const f = SUM_FIELDS[a.field];
          if (!f) throw new InfluxQueryError(`unknown field ${a.field}`);
          sel.push(`SUM(${ident(f.field)}) AS ${ident(`s_${name}`)}`);
          break;
        }
        case 'unpriced_count':
          sel.push(`SUM("unpriced") AS ${ident(`u_${name}`)}`);
          break;
        case 'percentile':
          if (a.field !== 'duration_ms' && a.field !== 'ttft_ms') throw new InfluxQueryError(`no percentile of ${String(a.field)}`);
          pctlFields.add(a.field);
          break;
        default: {
          const never: never = a;
          throw new InfluxQueryError(`unknown aggregate ${JSON.stringify(never)}`);
        }
      }
    }
    for (const f of pctlFields) sel.push(`COUNT(${ident(f)}) AS ${ident(`n_${f}`)}`);
    const statements = [`SELECT ${sel.join(', ')}${from}${tail}`];
    // One statement per count_where (InfluxQL has no conditional count).
    const cw: [string, number][] = [];
    for (const [name, a] of named) {
      if (a.op !== 'count_where') continue;
      const extra = filterSql(a.filter);
      if (extra === null) continue; // an empty list matches nothing: 0
      cw.push([name, statements.length]);
      statements.push(`SELECT COUNT("duration_ms") AS "c" FROM ${ident(CALL_MEASUREMENT)} WHERE ${where}${extra.length ? ` AND ${extra.join(' AND ')}` : ''}${tail}`);
    }
    // Series percentiles: InfluxDB's own rank, one statement per percentile.
    const seriesPctl: [string, number][] = [];
    if (stepMs !== null) {
      for (const [name, a] of named) {
        if (a.op !== 'percentile') continue;
        seriesPctl.push([name, statements.length]);
        statements.push(`SELECT PERCENTILE(${ident(a.field)}, ${a.p}) AS "p"${from}${tail}`);
      }
    }
    const results = await this.influxql(statements, 'ms', o);

    const accs = new Map<string, Acc>();
    const keyOf = (t: number, s: Series): { key: string; group: Acc['group'] } => {
      const group: Acc['group'] = {};
      for (const d of groupBy) {
        const v = s.tags?.[d];
        group[d] = v === undefined || v === '' ? null : v;
      }
      return { key: JSON.stringify([t, ...groupBy.map((d) => group[d] ?? null)]), group };
    };
    const rowsOf = function* (r: Result | undefined): Generator<{ key: string; group: Acc['group']; t: number; row: Record<string, unknown> }> {
      for (const s of r?.series ?? []) {
        for (const v of s.values ?? []) {
          const row: Record<string, unknown> = {};
          s.columns.forEach((c, i) => { row[c] = v[i]; });
          const t = stepMs === null ? 0 : Number(row['time']);
          yield { ...keyOf(t, s), t, row };
        }
      }
    };
    for (const { key, group, t, row } of rowsOf(results[0])) {
      const calls = Number(row['__calls'] ?? 0);
      if (calls === 0) continue;
      const acc: Acc = { t, group, values: {}, n: {} };
      for (const f of pctlFields) acc.n[f] = Number(row[`n_${f}`] ?? 0);
      for (const [name, a] of named) {
        switch (a.op) {
          case 'count': acc.values[name] = calls; break;
          case 'count_where': acc.values[name] = 0; break;
          case 'unpriced_count': acc.values[name] = Number(row[`u_${name}`] ?? 0); break;
          case 'sum': {
            const v = row[`s_${name}`];
            acc.values[name] = typeof v === 'number' ? (SUM_FIELDS[a.field]?.nano ? v / 1e9 : v) : null;
            break;
          }
          case 'percentile': acc.values[name] = null; break;
        }
      }
      accs.set(key, acc);
    }
    for (const [name, idx] of cw) {
      for (const { key, row } of rowsOf(results[idx])) {
        const acc = accs.get(key);
        if (acc) acc.values[name] = Number(row['c'] ?? 0);
      }
    }
    for (const [name, idx] of seriesPctl) {
      for (const { key, row } of rowsOf(results[idx])) {
        const acc = accs.get(key);
        const v = row['p'];
        if (acc) acc.values[name] = typeof v === 'number' ? v : null;
      }
    }
    if (stepMs === null && pctlFields.size > 0) await this.exactPercentiles(named, [...accs.values()], where, groupBy, o);
    return [...accs.entries()].sort((a, b) => (a[1].t - b[1].t) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, acc]) => acc);
  }

  /** Nearest-rank percentiles per group: PERCENTILE at p' = p + 49.999/n (see the file comment). */
  private async exactPercentiles(named: [string, Aggregate][], accs: Acc[], where: string, groupBy: CallDimension[], o: QueryOptions): Promise<void> {
    const statements: string[] = [];
    const targets: [Acc, string][] = [];
    for (const acc of accs) {
      const groupCond = groupBy.map((d) => `${ident(d)} = ${literal(acc.group[d] ?? '')}`);
      for (const [name, a] of named) {
        if (a.op !== 'percentile') continue;
        const n = acc.n[a.field] ?? 0;
        if (n === 0) continue;
        const p = Math.min(100, Math.max(0, a.p) + 49.999 / n);
        targets.push([acc, name]);
        statements.push(`SELECT PERCENTILE(${ident(a.field)}, ${p}) AS "p" FROM ${ident(CALL_MEASUREMENT)} WHERE ${[where, ...groupCond].join(' AND ')}`);
      }
    }
    const CHUNK = 200;
    for (let i = 0; i < statements.length; i += CHUNK) {
      const res = await this.influxql(statements.slice(i, i + CHUNK), 'ms', o);
      res.forEach((r, j) => {
        const target = targets[i + j];
        const v = r.series?.[0]?.values?.[0]?.[1];
        if (target) target[0].values[target[1]] = typeof v === 'number' ? v : null;
      });
    }
  }

  async latestRateLimits(filter?: { model?: string }, o: QueryOptions = {}): Promise<RateLimitRow[]> {
    const where = filter?.model !== undefined ? ` WHERE "model" = ${literal(filter.model)}` : '';
    const statements = RATE_DIMS.map((d) => `SELECT "rl_${d}_limit", "rl_${d}_remaining", "rl_${d}_reset" FROM ${ident(CALL_MEASUREMENT)}${where} GROUP BY "model" ORDER BY time DESC LIMIT 1`);
    const results = await this.influxql(statements, 'ms', o);
    const out: RateLimitRow[] = [];
    results.forEach((r, i) => {
      const dimension = RATE_DIMS[i]!;
      for (const s of r.series ?? []) {
        const model = s.tags?.['model'];
        const v = s.values?.[0];
        if (!model || !v) continue;
        const at = (c: string): unknown => v[s.columns.indexOf(c)];
        const num = (x: unknown): number | null => (typeof x === 'number' ? x : null);
        const reset = at(`rl_${dimension}_reset`);
        out.push({ model, dimension, limit: num(at(`rl_${dimension}_limit`)), remaining: num(at(`rl_${dimension}_remaining`)), reset: typeof reset === 'string' ? reset : null, ts: Number(at('time')) });
      }
    });
    return out.sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : a.dimension < b.dimension ? -1 : a.dimension > b.dimension ? 1 : 0));
  }

  async recentCalls(q: RecentCallsQuery, o: QueryOptions = {}): Promise<{ calls: StoredCall[]; nextCursor: string | null }> {
    const conds: string[] = [];
    if (q.window) conds.push(`time >= ${Math.floor(q.window.start)}ms AND time < ${Math.ceil(q.window.end)}ms`);
    const f = filterSql(q.filter);
    if (f === null) return { calls: [], nextCursor: null };
    conds.push(...f);
    if (q.cursor !== undefined) {
      const c = decodeCursor(q.cursor);
      conds.push(`time < ${literal(c)}`);
    }
    const limit = Math.max(1, Math.min(q.limit, 10_000));
    // RFC 3339 times keep every nanosecond (epoch numbers would not fit a double).
    const res = await this.influxql([`SELECT * FROM ${ident(CALL_MEASUREMENT)}${conds.length ? ` WHERE ${conds.join(' AND ')}` : ''} ORDER BY time DESC LIMIT ${limit + 1}`], undefined, o);
    const rows = rowsOfSeries(res[0]);
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const last = page[page.length - 1];
    return {
      calls: page.map(storedCallOf),
      nextCursor: more && last ? Buffer.from(String(last['time'])).toString('base64url') : null,
    };
  }

  async call(eventId: string, o: QueryOptions = {}): Promise<StoredCallDetail | null> {
    const lookback = this.o.callLookbackMs ?? 30 * 86_400_000;
    const res = await this.influxql([`SELECT * FROM ${ident(CALL_MEASUREMENT)} WHERE "event_id" = ${literal(eventId)} AND time >= ${Date.now() - lookback}ms LIMIT 1`], undefined, o);
    const row = rowsOfSeries(res[0])[0];
    if (!row) return null;
    const call = storedCallOf(row);
    const num = (k: string): number | null => (typeof row[k] === 'number' ? row[k] : null);
    return {
      ...call,
      // InfluxDB keeps the point, not the event's full text.
      event: { source: 'influxdb', point: row },
      price: {
        cost_usd: call.cost_usd,
        cost_without_cache_usd: num('cost_without_cache_usd'),
        priced: call.cost_usd !== null,
        pricing_version: typeof row['pricing_version'] === 'string' ? row['pricing_version'] : null,
        flags: [],
        parts: {
          input: num('cost_input_usd'), output: num('cost_output_usd'), cache_read: num('cost_cache_read_usd'),
          cache_write_5m: num('cost_cache_write_5m_usd'), cache_write_1h: num('cost_cache_write_1h_usd'),
          cache_write_unknown_ttl: num('cost_cache_write_unknown_ttl_usd'), web_search: num('cost_web_search_usd'),
        },
      },
    };
  }

  /**
   * Fleet-wide pipeline health: the latest sample of every host that reported recently, summed,
   * with each host's own counters (`byHost`, so counter increases survive one host restarting).
   */
  async pipelineHealth(o: QueryOptions = {}): Promise<PipelineHealth> {
    const w = this.o.healthWindowMs ?? 15 * MINUTE_MS;
    const select = HEALTH_SUMS.map(([key, field]) => `LAST(${ident(field)}) AS ${ident(key)}`).join(', ');
    const res = await this.influxql([`SELECT ${select} FROM ${ident(HEALTH_MEASUREMENT)} WHERE time >= ${Date.now() - w}ms GROUP BY "host"`], 'ms', o);
    const series = res[0]?.series ?? [];
    // A host InfluxDB refuses cannot report here, so the fleet's view never knows of it.
    if (series.length === 0) return { ...UNKNOWN_PIPELINE_HEALTH };
    const sum = (a: number | null, b: number | null): number | null => (b === null ? a : (a ?? 0) + b);
    const health: PipelineHealth = { ...UNKNOWN_PIPELINE_HEALTH, byHost: {} };
    for (const s of series) {
      const v = s.values?.[0];
      if (!v) continue;
      const at = (c: string): number | null => {
        const x = v[s.columns.indexOf(c)];
        return typeof x === 'number' ? x : null;
      };
      for (const [key] of HEALTH_SUMS) health[key] = sum(health[key], at(key));
      health.byHost![s.tags?.['host'] ?? ''] = Object.fromEntries(PIPELINE_HOST_COUNTERS.map((k) => [k, at(k)])) as Pick<PipelineHealth, PipelineHostCounter>;
    }
    return health;
  }
}

/** WHERE of a window and a filter; null when the filter can match nothing. */
function whereOf(w: { start: number; end: number }, filter: CallFilter | undefined): string | null {
  const f = filterSql(filter);
  if (f === null) return null;
  return [`time >= ${Math.floor(w.start)}ms AND time < ${Math.ceil(w.end)}ms`, ...f].join(' AND ');
}

/** Conditions of a filter; null when it can match nothing (an empty list). */
export function filterSql(filter: CallFilter | undefined): string[] | null {
  if (!filter) return [];
  const out: string[] = [];
  for (const [dim, v] of Object.entries(filter)) {
    if (!TAGS.has(dim)) throw new InfluxQueryError(`unknown dimension ${dim}`);
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      if (v.length === 0) return null;
      out.push(v.length === 1 ? `${ident(dim)} = ${literal(v[0]!)}` : `(${v.map((x) => `${ident(dim)} = ${literal(x)}`).join(' OR ')})`);
    } else {
      out.push(`${ident(dim)} = ${literal(v)}`);
    }
  }
  return out;
}

function rowsOfSeries(r: Result | undefined): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const s of r?.series ?? []) {
    for (const v of s.values ?? []) {
      const row: Record<string, unknown> = { ...(s.tags ?? {}) };
      s.columns.forEach((c, i) => { row[c] = v[i]; });
      out.push(row);
    }
  }
  return out;
}

/** Epoch ms of an RFC 3339 time with up to nine fractional digits. */
export function rfc3339ToMs(s: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(s);
  if (!m) return Date.parse(s);
  const frac = (m[2] ?? '').padEnd(3, '0').slice(0, 3);
  return Date.parse(`${m[1]}Z`) + Number(frac);
}

function storedCallOf(row: Record<string, unknown>): StoredCall {
  const str = (k: string): string | null => (typeof row[k] === 'string' && row[k] !== '' ? row[k] : null);
  const num = (k: string): number | null => (typeof row[k] === 'number' ? row[k] : null);
  return {
    event_id: str('event_id') ?? '',
    ts: rfc3339ToMs(String(row['time'])),
    model: str('model'),
    feature: str('feature'),
    app: str('app') ?? '',
    status: str('status') ?? '',
    error_type: str('error_type'),
    http_status: num('http_status'),
    stop_reason: str('stop_reason'),
    request_id: str('request_id'),
    input_tokens: num('input_tokens') ?? 0,
    output_tokens: num('output_tokens') ?? 0,
    cache_read_input_tokens: num('cache_read_input_tokens') ?? 0,
    cache_write_input_tokens: num('cache_write_input_tokens') ?? 0,
    cost_usd: typeof row['cost_nanousd'] === 'number' ? row['cost_nanousd'] / 1e9 : null,
    duration_ms: num('duration_ms') ?? 0,
    ttft_ms: num('ttft_ms'),
    attempts: num('attempts') ?? 1,
  };
}

function decodeCursor(cursor: string): string {
  const s = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(s)) throw new InfluxQueryError('invalid cursor');
  return s;
}
