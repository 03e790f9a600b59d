/**
 * The read side of the SQLite store: {@link QueryApi} queries turned into SQL.
 *
 * Aggregates read, for each window, the hourly rollups for its whole hours, the per-minute
 * rollups for the whole minutes at its edges and the call rows only for the partial minutes
 * at its ends, or a partial minute's rollup less the rows of the rest of it when those are
 * fewer (a series whose step is not a whole number of hours reads minutes throughout).
 * Of each period's levels it reads the smallest that holds every dimension the statement
 * filters or groups by: the outcome levels (status, error type), else the core levels (model,
 * feature, status, error type), else the levels keyed by every {@link CallDimension}. Sums and percentiles are
 * separate statements and choose separately (a `count_where` on status needs the status
 * dimension only for the sums). Percentiles merge log-scale histograms (from rollups, or built
 * from row values at the edges): nearest-rank, within 1 %. The coarse levels lag the per-minute
 * one by up to a fold (rollups.ts): every level is read together with the per-minute deltas
 * the batches appended since the last fold, so every answer equals the rows whatever was folded.
 */
import type Database from 'better-sqlite3';
import type {
  Aggregate, AggregateQuery, AggregateRow, CallDimension, CallFilter, RateLimitRow, RecentCallsQuery,
  SeriesQuery, SeriesRow, StoredCall, StoredCallDetail, TimeWindow,
} from './types.js';
import { DIMENSION_COLUMNS, SUM_COLUMNS } from './migrations.js';
import { CallLinesReader, lineColumns } from './call-lines.js';
import { LogHistogram, forEachBlobPair, forEachJsonPair, registerHistogramAggregate } from './histogram.js';
import { CORE_HOUR_LEVEL, DELTA_TABLE, HOUR_MS, LEVELS_BY_PERIOD, MINUTE_LEVEL, MINUTE_MS, withDeltas, type RollupLevel } from './rollups.js';

/** Where a span of a window is read from: call rows, or a rollup period. */
type Source = 'rows' | 'minute' | 'hour';
/**
 * `except`: a span of the (minute's) period whose rows are taken away from its rollup: the
 * period's rollup less those rows is the rest of it (see {@link QueryEngine.runExcept}).
 */
interface Segment { source: Source; start: number; end: number; except?: { start: number; end: number } }
interface Acc {
  group: Partial<Record<CallDimension, string | null>>;
  t: number;
  values: Record<string, number | null>;
  hists: Map<string, HistMerger>;
}

const DIMS = new Set<string>(DIMENSION_COLUMNS);
const FIELDS = new Set<string>(SUM_COLUMNS);
const NANO_FIELDS: Partial<Record<string, string>> = { cost_usd: 'cost_nanousd', cost_without_cache_usd: 'cost_without_cache_nanousd' };

/** A folded sum beyond 2^53 (never in practice): the grouped queries are run separately. */
class UnsafeFold extends Error {}

/** Typed error for a query the store cannot answer. */
export class QueryError extends Error {
  readonly code = 'E_QUERY_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'QueryError';
  }
}

/** A row of the recent calls' statements: a stored call and its row id (the cursor's tie-break). */
type RecentRow = StoredCall & { id: number };

const STORED_CALL_COLUMNS = `event_id, ts, model, feature, app, status, error_type, http_status, stop_reason, request_id,
  input_tokens, output_tokens, cache_read_input_tokens, cache_write_input_tokens, cost_usd, duration_ms, ttft_ms, attempts`;

/** SQL aggregate: the binary histogram ({@link histToBlob}) of a group's values. */
const VALUES_HIST_FUNCTION = 'claudescope_values_hist';
/** Statements a query engine keeps prepared (see QueryEngine.prepared). */
const MAX_CACHED_STATEMENTS = 128;

/**
 * Integer-valued fields (costs summed as nanodollars): their sums over a minute's rollup less
 * some of its rows are the sums of the rest exactly (durations are fractional, and a float sum
 * less a part is not the sum of the rest to the last bit).
 */
const INTEGER_FIELDS = new Set<string>([
  'cost_usd', 'cost_without_cache_usd', 'input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_write_5m_input_tokens',
  'cache_write_1h_input_tokens', 'cache_write_input_tokens', 'attempts', 'retries',
]);

/** An aggregate whose value over a rollup less some rows is exactly its value over the other rows. */
const subtracts = (a: Aggregate): boolean => a.op !== 'sum' || INTEGER_FIELDS.has(a.field);

/**
 * Rows a partial minute must save to be read as its rollup less the rest of the minute (two
 * statements and the rollup's rows instead of one): below it the rows are read, as cheap.
 */
const EXCEPT_MIN_SAVING = 100;
/** Aggregates {@link QueryEngine.runExcept} adds to a query's own (a leading space: names no query uses). */
const EXCEPT_COUNT = ' calls';
const EXCEPT_UNPRICED = ' unpriced';

export class QueryEngine {
  /** The coarse levels exist (schema 3+; a read-only open of an older database has only minutes). */
  private readonly coarse: boolean;

  /** The batches' per-minute deltas not yet folded exist (schema 4+; before it every level was written with the rows). */
  private readonly deltas: boolean;

  /**
   * Runs a query in one read transaction (a savepoint within an open one), so that all its
   * statements read the same snapshot: on a connection other than the daemon's (a CLI's), the
   * daemon may commit between two of them, and what {@link segmentsOf} checked must still hold
   * when the segments are read.
   */
  private readonly snapshot: <T>(read: () => T) => T;

  constructor(private readonly db: Database.Database) {
    const tx = db.transaction((read: () => unknown) => read());
    this.snapshot = <T>(read: () => T): T => tx(read) as T;
    const has = (table: string): boolean => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined;
    this.coarse = has(CORE_HOUR_LEVEL.table);
    this.deltas = has(DELTA_TABLE);
    // The histogram of a group's values, as a coarse level stores it (see runSegment).
    registerHistogramAggregate(db, VALUES_HIST_FUNCTION, 'values', 'blob');
  }

  /**
   * Statements by SQL text, the most recently used last. A query's statements are the same for
   * every query of its shape; preparing them again each time cost time, and native memory that
   * waits for the GC to finalize each one (V8 does not see it, so it does not hurry).
   */
  private readonly statements = new Map<string, Database.Statement>();

  private prepared(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (st) {
      this.statements.delete(sql);
    } else {
      st = this.db.prepare(sql);
      if (this.statements.size >= MAX_CACHED_STATEMENTS) this.statements.delete(this.statements.keys().next().value!);
    }
    this.statements.set(sql, st);
    return st;
  }

  /** The smallest level of a period holding `dims`. */
  private level(source: 'minute' | 'hour', dims: Set<string>): RollupLevel {
    if (!this.coarse) return MINUTE_LEVEL;
    const levels = LEVELS_BY_PERIOD[source];
    return levels.find((l) => [...dims].every((d) => (l.dims as readonly string[]).includes(d))) ?? levels[levels.length - 1]!;
  }

  /**
   * {@link segments}, with each partial minute at a window's edge read from its per-minute
   * rollup when that holds exactly the calls of the minute (the rollup counts as many calls as
   * the minute's rows are, which retention or anything else that left rows and rollups apart
   * would change): whole when no call of the minute is outside the window, else less the rows
   * of the rest of the minute when those are fewer (see {@link runExcept}). A dashboard's
   * window ends now, in the minute that is the busiest to read row by row: right after a
   * backlog read from several files at once, its calls lie scattered over the table, a page
   * read each; a window ending in the past (a zoom, a link) read up to a whole minute of them,
   * twice for the summary (its totals, and its calls and cost by model and feature). The counts
   * read the time index alone.
   */
  private segmentsOf(start: number, end: number, hours: boolean, stepMs: number | null, aggregates: Record<string, Aggregate>): Segment[] {
    const segs = segments(start, end, hours);
    // A window within one minute has no whole minute's rollup to read.
    if (segs.length < 2) return segs;
    // A series buckets the minute's rollup by its start, as each of its calls when steps are whole minutes.
    if (stepMs !== null && stepMs % MINUTE_MS !== 0) return segs;
    const subtractable = Object.values(aggregates).every(subtracts);
    return segs.map((seg) => (seg.source === 'rows' ? this.partialMinute(seg, subtractable) : seg));
  }

  /** How a partial minute at a window's edge is read (see {@link segmentsOf}). */
  private partialMinute(seg: Segment, subtractable: boolean): Segment {
    const minute = Math.floor(seg.start / MINUTE_MS) * MINUTE_MS;
    const whole = { source: 'minute' as const, start: minute, end: minute + MINUTE_MS };
    // Only a part at one end of its minute has the rest of the minute in one span.
    if (seg.start !== minute && seg.end !== whole.end) return seg;
    // The rest of the minute: after the window's end, or before its start.
    const rest = seg.start === minute ? { start: seg.end, end: whole.end } : { start: minute, end: seg.start };
    const count = (a: number, b: number): number => (this.prepared('SELECT COUNT(*) AS n FROM calls WHERE ts >= ? AND ts < ?').get(a, b) as { n: number }).n;
    const inRest = this.prepared('SELECT 1 FROM calls WHERE ts >= ? AND ts < ? LIMIT 1').get(rest.start, rest.end) === undefined ? 0 : count(rest.start, rest.end);
    if (inRest > 0 && !subtractable) return seg;
    const inPart = count(seg.start, seg.end);
    if (inPart === 0 || (inRest > 0 && inPart - inRest < EXCEPT_MIN_SAVING)) return seg;
    const l = this.level('minute', new Set());
    const [table, tcol] = this.deltas ? [withDeltas(l), 'period'] : [l.table, l.timeColumn];
    const counted = (this.prepared(`SELECT COALESCE(SUM(count), 0) AS n FROM ${table} WHERE ${tcol} = ?`).get(minute) as { n: number }).n;
    if (counted !== inPart + inRest) return seg;
    return inRest === 0 ? whole : { ...whole, except: rest };
  }

  aggregate(q: AggregateQuery): AggregateRow[] {
    const rows = this.snapshot(() => this.run(q, null));
    if (rows.length === 0 && (q.groupBy?.length ?? 0) === 0) {
      // No groups asked and nothing matched: one row of zeros (counts) and nulls (sums, percentiles).
      return [{ group: {}, values: Object.fromEntries(Object.entries(q.aggregates).map(([n, a]) => [n, a.op === 'count' || a.op === 'count_where' || a.op === 'unpriced_count' ? 0 : null])) }];
    }
    return rows.map(({ group, values }) => ({ group, values }));
  }

  /**
   * One window's aggregates under several groupings (e.g. by model and by feature), read in one
   * statement per segment grouped by every dimension they name and folded per grouping. The
   * answers are those of separate {@link aggregate} calls, exactly: counts are integers and
   * costs are folded as integer nanodollars before the division, segment by segment; sums of
   * other fields and percentiles would not fold exactly, and run as separate queries.
   */
  aggregateEach(q: AggregateQuery, groupings: CallDimension[][]): AggregateRow[][] {
    return this.snapshot(() => this.eachOf(q, groupings));
  }

  private eachOf(q: AggregateQuery, groupings: CallDimension[][]): AggregateRow[][] {
    const separate = (): AggregateRow[][] => groupings.map((g) => this.aggregate({ ...q, groupBy: g }));
    const foldable = Object.values(q.aggregates).every((a) => a.op === 'count' || a.op === 'count_where' || a.op === 'unpriced_count'
      || (a.op === 'sum' && NANO_FIELDS[a.field] !== undefined));
    if (!foldable || groupings.length < 2 || groupings.some((g) => g.length === 0)) return separate();
    const union = [...new Set(groupings.flat())];
    for (const d of union) if (!DIMS.has(d)) throw new QueryError(`unknown dimension ${d}`);
    const accs = groupings.map(() => new Map<string, Acc>());
    try {
      this.foldSegments(q, groupings, union, accs);
    } catch (e) {
      if (e instanceof UnsafeFold) return separate();
      throw e;
    }
    return accs.map((m) => [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, { group, values }]) => ({ group, values })));
  }

  private foldSegments(q: AggregateQuery, groupings: CallDimension[][], union: CallDimension[], accs: Map<string, Acc>[]): void {
    const names = Object.entries(q.aggregates);
    for (const seg of this.segmentsOf(q.window.start, q.window.end, this.coarse, null, q.aggregates)) {
      const parts = new Map<string, Acc>();
      this.runSegment({ ...q, groupBy: union }, seg, union, null, parts, true);
      groupings.forEach((groupBy, gi) => {
        // This segment's values per group of the grouping: integer sums (exact below 2^53).
        const folded = new Map<string, { group: Acc['group']; values: Record<string, number | null> }>();
        for (const part of parts.values()) {
          const group: Acc['group'] = {};
          for (const d of groupBy) group[d] = part.group[d] ?? null;
          const key = JSON.stringify([0, ...groupBy.map((d) => group[d] ?? null)]);
          let f = folded.get(key);
          if (!f) folded.set(key, (f = { group, values: {} }));
          for (const [name] of names) {
            const v = part.values[name] ?? null;
            const prev = f.values[name] ?? null;
            f.values[name] = v === null ? prev : (prev ?? 0) + v;
          }
        }
        const into = accs[gi]!;
        for (const [key, f] of folded) {
          let acc = into.get(key);
          if (!acc) into.set(key, (acc = { group: f.group, t: 0, values: {}, hists: new Map() }));
          for (const [name, agg] of names) {
            const raw = f.values[name] ?? null;
            if (raw !== null && !Number.isSafeInteger(raw)) throw new UnsafeFold();
            // As runSegment accumulates a statement's value (costs: nanodollars to USD).
            const v = raw === null ? null : agg.op === 'sum' ? raw / 1e9 : raw;
            const prev = acc.values[name] ?? null;
            acc.values[name] = v === null ? (prev ?? (agg.op !== 'sum' ? 0 : null)) : (prev ?? 0) + v;
          }
        }
      });
    }
  }

  series(q: SeriesQuery): SeriesRow[] {
    if (!(q.stepMs >= MINUTE_MS) || q.stepMs % MINUTE_MS !== 0) throw new QueryError(`stepMs must be a positive multiple of 60000, got ${q.stepMs}`);
    return this.snapshot(() => this.run(q, q.stepMs)).map(({ group, values, t }) => ({ t, group, values }));
  }

  private run(q: AggregateQuery, stepMs: number | null): Acc[] {
    const groupBy = q.groupBy ?? [];
    for (const d of groupBy) if (!DIMS.has(d)) throw new QueryError(`unknown dimension ${d}`);
    const accs = new Map<string, Acc>();
    // Whole hours can be read from hourly rollups when each falls within one bucket.
    const hours = this.coarse && (stepMs === null || stepMs % HOUR_MS === 0);
    for (const seg of this.segmentsOf(q.window.start, q.window.end, hours, stepMs, q.aggregates)) {
      this.runSegment(q, seg, groupBy, stepMs, accs);
    }
    return [...accs.entries()].sort((a, b) => (a[1].t - b[1].t) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, acc]) => {
      for (const [name, agg] of Object.entries(q.aggregates)) {
        if (agg.op === 'percentile') acc.values[name] = acc.hists.get(agg.field)?.percentile(agg.p) ?? null;
      }
      return acc;
    });
  }

  /** `rawCosts`: costs summed as integer nanodollars, not turned into USD (for {@link aggregateEach}). */
  private runSegment(q: AggregateQuery, seg: Segment, groupBy: CallDimension[], stepMs: number | null, accs: Map<string, Acc>, rawCosts = false): void {
    if (seg.except) {
      this.runExcept(q, { ...seg, except: seg.except }, groupBy, stepMs, accs, rawCosts);
      return;
    }
    // Dimensions each statement needs of its table: filter and group-by (percentiles); those
    // plus every count_where filter (sums).
    const pctlDims = new Set<string>([...Object.keys(q.filter ?? {}), ...groupBy]);
    const sumDims = new Set<string>(pctlDims);
    for (const agg of Object.values(q.aggregates)) if (agg.op === 'count_where') for (const d of Object.keys(agg.filter)) sumDims.add(d);
    const from = (dims: Set<string>): { table: string; tcol: string; rollup: boolean } => {
      if (seg.source === 'rows') return { table: 'calls', tcol: 'ts', rollup: false };
      const l = this.level(seg.source, dims);
      // The level as last folded, and what the batches added since (see rollups.ts).
      return this.deltas ? { table: withDeltas(l), tcol: 'period', rollup: true } : { table: l.table, tcol: l.timeColumn, rollup: true };
    };
    const sumsFrom = from(sumDims);
    const pctlFrom = from(pctlDims);
    const timeSql = (tcol: string): { where: string[]; params: unknown[]; keyCols: string[] } => {
      const params: unknown[] = [seg.start, seg.end];
      // Rows are read only for partial minutes: calls_ts is always the index to use (an index
      // led by a filtered dimension, e.g. model, would walk every call of that model).
      const where = [`${tcol} >= ? AND ${tcol} < ?`, ...filterSql(q.filter, params, seg.source === 'rows' ? DIMS : undefined)];
      const keyCols = [...groupBy.map((d) => `${d} AS g_${d}`), stepMs === null ? '0 AS t' : `CAST(${tcol} / ${stepMs} AS INTEGER) * ${stepMs} AS t`];
      return { where, params, keyCols };
    };
    const { rollup } = sumsFrom;
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
          if (nano) selects.push(rawCosts ? `SUM(${nano}) AS ${col}` : `SUM(${nano}) / 1e9 AS ${col}`);
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
    const fields = [...new Set(pctl.map(([, f]) => f))];
    // Rows (the partial minutes at a window's edges) are read once: the statement that sums them
    // builds their histograms too. After a backlog read from several files at once, a minute's
    // calls lie scattered over the table, and each row read is a page read.
    const histInSums = seg.source === 'rows' && fields.length > 0;
    const mergeHists = (acc: Acc, r: Record<string, unknown>): void => {
      // One histogram per field, whatever the number of percentiles asked of it: each stored
      // histogram is parsed and merged once (p50, p95 and p99 share it).
      for (const field of fields) {
        let h = acc.hists.get(field);
        if (!h) acc.hists.set(field, (h = new HistMerger()));
        const v = r[`f_${field}`];
        // Binary histograms (coarse levels, and the rows' statement) or JSON text (per minute, deltas).
        if (v instanceof Uint8Array) h.mergeBlob(v);
        else if (typeof v === 'string') h.mergeText(v);
      }
    };
    if (selects.length > 0 || histInSums) {
      const { where, params, keyCols } = timeSql(sumsFrom.tcol);
      const hists = histInSums ? fields.map((f) => `${VALUES_HIST_FUNCTION}(${f}) AS f_${f}`) : [];
      const sql = `SELECT ${[...keyCols, ...selects, ...hists].join(', ')} FROM ${sumsFrom.table} WHERE ${where.join(' AND ')} ${groupSql}`;
      for (const r of this.prepared(sql).all(...selectParams, ...params) as Record<string, unknown>[]) {
        const acc = accFor(r);
        for (const [name, agg] of Object.entries(q.aggregates)) {
          if (agg.op === 'percentile') continue;
          const v = r[`v_${name}`] as number | null;
          const prev = acc.values[name] ?? null;
          const zeroBased = agg.op !== 'sum';
          acc.values[name] = v === null ? (prev ?? (zeroBased ? 0 : null)) : (prev ?? 0) + v;
        }
        if (histInSums) mergeHists(acc, r);
      }
    }
    if (fields.length > 0 && !histInSums) {
      // A rollup level's stored histograms (rows have theirs built above).
      const { where, params, keyCols } = timeSql(pctlFrom.tcol);
      const cols = fields.map((f) => `hist_${f === 'duration_ms' ? 'duration' : 'ttft'} AS f_${f}`);
      const sql = `SELECT ${[...keyCols, ...cols].join(', ')} FROM ${pctlFrom.table} WHERE ${where.join(' AND ')}`;
      for (const r of this.prepared(sql).iterate(...params) as Iterable<Record<string, unknown>>) {
        const acc = accFor(r);
        mergeHists(acc, r);
        // Groups seen only through percentiles still report their other values.
        for (const [name, agg] of Object.entries(q.aggregates)) {
          if (agg.op !== 'percentile' && !(name in acc.values)) acc.values[name] = agg.op === 'sum' ? null : 0;
        }
      }
    }
  }

  /**
   * A period's rollup less the rows of `seg.except`, group by group, accumulated into `accs` as
   * {@link runSegment} accumulates the rows of the rest of the period. Exact: only aggregates
   * that {@link subtracts} allows are asked, counts and integer sums are subtracted as integers
   * (costs in nanodollars, turned into USD after), histograms bucket by bucket (those of the
   * rollup and of the rows bucket the same values alike). A group left with no call is no
   * group, and a cost sum of no priced call is null, as the rows' statement has them.
   */
  private runExcept(q: AggregateQuery, seg: Segment & { except: { start: number; end: number } }, groupBy: CallDimension[], stepMs: number | null, accs: Map<string, Acc>, rawCosts: boolean): void {
    const aggregates: Record<string, Aggregate> = { ...q.aggregates, [EXCEPT_COUNT]: { op: 'count' }, [EXCEPT_UNPRICED]: { op: 'unpriced_count' } };
    const all = new Map<string, Acc>();
    const taken = new Map<string, Acc>();
    this.runSegment({ ...q, aggregates }, { source: seg.source, start: seg.start, end: seg.end }, groupBy, stepMs, all, true);
    this.runSegment({ ...q, aggregates }, { source: 'rows', ...seg.except }, groupBy, stepMs, taken, true);
    for (const [key, a] of all) {
      const b = taken.get(key);
      const diff = (name: string): number | null => {
        const v = a.values[name] ?? null;
        return v === null ? null : v - (b?.values[name] ?? 0);
      };
      const calls = diff(EXCEPT_COUNT) ?? 0;
      if (calls === 0) continue;
      const priced = calls - (diff(EXCEPT_UNPRICED) ?? 0);
      let acc = accs.get(key);
      if (!acc) accs.set(key, (acc = { group: a.group, t: a.t, values: {}, hists: new Map() }));
      for (const [name, agg] of Object.entries(q.aggregates)) {
        if (agg.op === 'percentile') continue;
        let v = diff(name);
        if (agg.op === 'sum' && NANO_FIELDS[agg.field] !== undefined && v !== null) v = priced === 0 ? null : rawCosts ? v : v / 1e9;
        const prev = acc.values[name] ?? null;
        acc.values[name] = v === null ? (prev ?? (agg.op !== 'sum' ? 0 : null)) : (prev ?? 0) + v;
      }
      for (const [field, h] of a.hists) {
        let into = acc.hists.get(field);
        if (!into) acc.hists.set(field, (into = new HistMerger()));
        into.add(h, 1);
        const out = b?.hists.get(field);
        if (out) into.add(out, -1);
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
    const filter = q.filter ?? {};
    // Rows are walked newest first through calls_ts, filtered on the way: a common value is met
    // within a few hundred rows. Rare ones have partial indexes: unsuccessful calls by status
    // (the literal condition lets SQLite use calls_unsuccessful_ts) and calls with an error type.
    const status = filter.status;
    const unsuccessful = typeof status === 'string' ? status !== 'ok' : Array.isArray(status) && status.length > 0 && !status.includes('ok');
    if (unsuccessful) where.push("status <> 'ok'");
    const indexed = unsuccessful || (filter.error_type !== undefined && filter.error_type !== null);
    where.push(...filterSql(q.filter, params));
    let cursor: [number, number] | undefined;
    if (q.cursor !== undefined) {
      cursor = decodeCursor(q.cursor);
      where.push('(ts < ? OR (ts = ? AND id < ?))');
      params.push(cursor[0], cursor[0], cursor[1]);
    }
    const limit = Math.max(1, Math.min(q.limit, 10_000));
    let rows: RecentRow[];
    if (!indexed && q.window && Object.keys(filter).length > 0) {
      const window = q.window;
      rows = this.snapshot(() => this.recentByMinutes(window, filter, cursor, limit + 1));
    } else {
      const sql = `SELECT id, ${STORED_CALL_COLUMNS} FROM calls ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ts DESC, id DESC LIMIT ${limit + 1}`;
      rows = this.prepared(sql).all(...params) as RecentRow[];
    }
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const last = page[page.length - 1];
    return {
      calls: page.map(({ id: _id, ...call }) => call),
      nextCursor: more && last ? Buffer.from(JSON.stringify([last.ts, last.id])).toString('base64url') : null,
    };
  }

  /**
   * The newest `need` calls of a window matching a filter no index serves (app, host, feature,
   * a model with successful calls…), read only in the minutes whose rollups count a match.
   * Walking calls_ts and filtering on the way read every row of the window when the value is
   * rare (2.2M rows, ~0.7 s, for an app with 20 calls in a day); an index per dimension would
   * cost every insert. The hourly level (one row per combination of values and hour) says which
   * hours hold a match, the per-minute level which of their minutes, newest first, until enough
   * rows are read: a rare value reads the minutes holding it, a common one its newest minute.
   * Rollups equal the rows, deltas included, read in the same snapshot; only where rollups may
   * be gone while rows are kept (before the oldest per-minute rollup: a retention of rollups
   * shorter than that of rows) is every row walked as before.
   */
  private recentByMinutes(w: TimeWindow, filter: CallFilter, cursor: [number, number] | undefined, need: number): RecentRow[] {
    const out: RecentRow[] = [];
    const end = cursor ? Math.min(w.end, cursor[0] + 1) : w.end;
    const oldestRow = this.prepared('SELECT MIN(ts) FROM calls').pluck().get() as number | null;
    if (oldestRow === null) return out;
    const start = Math.max(w.start, oldestRow);
    if (!(end > start)) return out;
    const read = (a: number, b: number): boolean => {
      const params: unknown[] = [a, b];
      // `+dim`: calls_ts, the range, is the index to walk.
      const where = ['ts >= ? AND ts < ?', ...filterSql(filter, params, DIMS)];
      if (cursor) {
        where.push('(ts < ? OR (ts = ? AND id < ?))');
        params.push(cursor[0], cursor[0], cursor[1]);
      }
      const sql = `SELECT id, ${STORED_CALL_COLUMNS} FROM calls WHERE ${where.join(' AND ')} ORDER BY ts DESC, id DESC LIMIT ?`;
      out.push(...(this.prepared(sql).all(...params, need - out.length) as RecentRow[]));
      return out.length >= need;
    };
    const oldestRollup = this.prepared(this.deltas
      ? `SELECT MIN(m) FROM (SELECT MIN(minute) AS m FROM ${MINUTE_LEVEL.table} UNION ALL SELECT MIN(minute) AS m FROM ${DELTA_TABLE})`
      : `SELECT MIN(minute) FROM ${MINUTE_LEVEL.table}`).pluck().get() as number | null;
    const lo = oldestRollup === null ? end : Math.max(start, oldestRollup);
    if (lo < end) {
      const dims = new Set(Object.keys(filter));
      // Periods of a level in [a, b) with a matching call, newest first.
      const matching = (source: 'minute' | 'hour', a: number, b: number): number[] => {
        const l = this.level(source, dims);
        const [table, tcol] = this.deltas ? [withDeltas(l), 'period'] : [l.table, l.timeColumn];
        const params: unknown[] = [a, b];
        const where = [`${tcol} >= ? AND ${tcol} < ?`, ...filterSql(filter, params)];
        // A delta row's period is its minute, also within an hourly level.
        const sql = `SELECT CAST(${tcol} / ${l.periodMs} AS INTEGER) * ${l.periodMs} AS p FROM ${table} WHERE ${where.join(' AND ')} GROUP BY p HAVING SUM(count) > 0 ORDER BY p DESC`;
        return (this.prepared(sql).all(...params) as { p: number }[]).map((r) => r.p);
      };
      const firstMinute = Math.floor(lo / MINUTE_MS) * MINUTE_MS;
      // Without the coarse levels (a read-only open of an older schema), the minutes of the whole span.
      const hours = this.coarse ? matching('hour', Math.floor(lo / HOUR_MS) * HOUR_MS, end) : [null];
      for (const h of hours) {
        const minutes = h === null ? matching('minute', firstMinute, end) : matching('minute', Math.max(firstMinute, h), Math.min(end, h + HOUR_MS));
        // Runs of consecutive minutes, each read in one statement.
        for (let i = 0; i < minutes.length;) {
          const b = minutes[i]! + MINUTE_MS;
          let a = minutes[i]!;
          while (i + 1 < minutes.length && minutes[i + 1] === a - MINUTE_MS) a = minutes[++i]!;
          i++;
          if (read(Math.max(a, lo), Math.min(b, end))) return out;
        }
      }
    }
    if (start < lo) read(start, Math.min(lo, end));
    return out;
  }

  call(eventId: string): StoredCallDetail | null {
    // The row and its batch of lines from one snapshot: on a CLI's connection, the daemon's
    // retention could otherwise delete both between the two statements.
    return this.snapshot(() => this.callIn(eventId));
  }

  private callIn(eventId: string): StoredCallDetail | null {
    const r = this.db.prepare(`SELECT ${STORED_CALL_COLUMNS}, cost_without_cache_usd, cost_input_usd, cost_output_usd, cost_cache_read_usd,
      cost_cache_write_5m_usd, cost_cache_write_1h_usd, cost_cache_write_unknown_ttl_usd, cost_web_search_usd, pricing_version, price_flags, ${lineColumns(this.db)}
      FROM calls WHERE event_id = ?`).get(eventId) as (StoredCall & Record<string, unknown>) | undefined;
    if (!r) return null;
    const line = new CallLinesReader(this.db).lineOf(r);
    const { event_json, line_batch, line_index, cost_without_cache_usd, pricing_version, price_flags, cost_input_usd, cost_output_usd, cost_cache_read_usd,
      cost_cache_write_5m_usd, cost_cache_write_1h_usd, cost_cache_write_unknown_ttl_usd, cost_web_search_usd, ...call } = r;
    return {
      ...(call as StoredCall),
      event: JSON.parse(line) as unknown,
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

/**
 * Bucket counts merged from many stored histograms. A 24 h window merges ~1,440 rollup
 * histograms per group: counts go into a dense array over the buckets latencies fall in (a map
 * beyond it) and the stored `{"<bucket>":count,…}` text is scanned directly, instead of a
 * JSON.parse and a Map update per bucket per row. The result is the same {@link LogHistogram}.
 */
class HistMerger {
  /** Bucket of the first dense slot: values from ~3.5e-5 ms up to ~1e13 ms fall in the array. */
  private static readonly LOW = -512;
  private static readonly SIZE = 2048;
  private readonly dense = new Float64Array(HistMerger.SIZE);
  private readonly sparse = new Map<number, number>();

  /** Merges one stored histogram; text it cannot scan goes through JSON.parse. */
  mergeText(s: string): void {
    forEachJsonPair(s, this.addPair);
  }

  /** Merges one binary histogram (see histToBlob): a coarse level's, or built from rows by the query. */
  mergeBlob(b: Uint8Array): void {
    forEachBlobPair(b, this.addPair);
  }

  private readonly addPair = (b: number, c: number): void => this.addBucket(b, c);

  /** Adds (`sign` 1) or takes away (−1) another merger's counts. */
  add(other: HistMerger, sign: 1 | -1): void {
    for (let i = 0; i < HistMerger.SIZE; i++) {
      const c = other.dense[i]!;
      if (c !== 0) this.addBucket(i + HistMerger.LOW, sign * c);
    }
    for (const [b, c] of other.sparse) this.addBucket(b, sign * c);
  }

  toHistogram(): LogHistogram {
    const h = new LogHistogram();
    const add = (b: number, c: number): void => {
      if (c === 0) return;
      h.counts.set(b, (h.counts.get(b) ?? 0) + c);
      h.total += c;
    };
    for (let i = 0; i < HistMerger.SIZE; i++) add(i + HistMerger.LOW, this.dense[i]!);
    for (const [b, c] of this.sparse) add(b, c);
    return h;
  }

  /** The merged histogram, built once for all the percentiles asked of it. */
  private merged: LogHistogram | null = null;

  percentile(p: number): number | null {
    this.merged ??= this.toHistogram();
    return this.merged.percentile(p);
  }

  private addBucket(b: number, c: number): void {
    this.merged = null;
    const i = b - HistMerger.LOW;
    if (i >= 0 && i < HistMerger.SIZE) this.dense[i]! += c;
    else this.sparse.set(b, (this.sparse.get(b) ?? 0) + c);
  }
}

/**
 * Splits a window into whole hours (when `hours`), the whole minutes at their edges and the
 * partial minutes at the window's ends (read from rows).
 */
export function segments(start: number, end: number, hours: boolean): Segment[] {
  if (!(end > start)) return [];
  const a = Math.ceil(start / MINUTE_MS) * MINUTE_MS;
  const b = Math.floor(end / MINUTE_MS) * MINUTE_MS;
  if (a >= b) return [{ source: 'rows', start, end }];
  const out: Segment[] = [];
  const ha = Math.ceil(a / HOUR_MS) * HOUR_MS;
  const hb = Math.floor(b / HOUR_MS) * HOUR_MS;
  if (hours && ha < hb) {
    out.push({ source: 'hour', start: ha, end: hb });
    if (a < ha) out.push({ source: 'minute', start: a, end: ha });
    if (hb < b) out.push({ source: 'minute', start: hb, end: b });
  } else {
    out.push({ source: 'minute', start: a, end: b });
  }
  if (start < a) out.push({ source: 'rows', start, end: a });
  if (b < end) out.push({ source: 'rows', start: b, end });
  return out;
}

/**
 * SQL conditions for a filter (its values pushed onto `params`); dimensions in `noIndex` are
 * written `+dim` so SQLite does not pick an index for them.
 */
function filterSql(filter: CallFilter | undefined, params: unknown[], noIndex?: Set<string>): string[] {
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
      out.push(`${noIndex?.has(dim) ? '+' : ''}${dim} IN (${v.map(() => '?').join(', ')})`);
      params.push(...v);
    } else {
      out.push(`${noIndex?.has(dim) ? '+' : ''}${dim} = ?`);
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
