/**
 * Bulk seed of the SQLite store for the benchmarks (bench-pipeline, bench-dashboard,
 * bench-rules): `calls` rows written straight into `calls` by one INSERT … SELECT per chunk
 * (a short `event_json`, no tailer, no pricer), the per-minute rollups built from those rows
 * by SQL (histograms by the store's own `LogHistogram`), the coarser levels from the
 * per-minute ones by the store's `rebuildCoarseRollups`, and the latest rate limits of each
 * model. No JavaScript runs per call (but the histogram step), so 10M calls take minutes.
 *
 * Every value is a function of the call's number (`n`), so two seeds of the same size are
 * the same data: models and features in weighted shares, ~2.5 % errors of four kinds and
 * 1 % aborted calls, stop reasons, token counts, cache reads on 40 % of calls, TTFT on
 * streamed calls (70 %), retries, a long latency tail; costs from each model's list rates.
 *
 * `topUpSeed` extends a seeded store up to a later time at the same density, so a store kept
 * between runs still has calls in its last hour.
 */
import { hostname } from 'node:os';
import type Database from 'better-sqlite3';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { LogHistogram } from '../src/store/histogram.js';
import { DIMENSION_COLUMNS } from '../src/store/migrations.js';
import { rebuildCoarseRollups } from '../src/store/rollups.js';

/** Values and their relative weights. */
export type Mix = readonly (readonly [value: string, weight: number])[];

/** A mix of equal weights. */
export const uniform = (values: readonly string[]): Mix => values.map((v) => [v, 1] as const);

/** Model shares of a typical app: mostly Sonnet, Haiku for the cheap paths, some Opus. */
export const MODEL_MIX: Mix = [['claude-sonnet-4-5', 50], ['claude-haiku-4-5', 30], ['claude-opus-4-5', 12], ['claude-sonnet-4', 8]];
export const FEATURE_MIX: Mix = [['chat', 40], ['search', 20], ['summarise', 15], ['classify', 15], ['agent', 10]];
/** USD per million input and output tokens (cache reads at a tenth of input); others at Sonnet's. */
const RATES: Readonly<Record<string, readonly [number, number]>> = {
  'claude-opus-4-5': [5, 25], 'claude-opus-4-1': [15, 75], 'claude-sonnet-4-5': [3, 15], 'claude-sonnet-4': [3, 15], 'claude-haiku-4-5': [1, 5],
};

export interface SeedOptions {
  /** Number of calls. */
  calls: number;
  /** Their times spread evenly over [from, to) (epoch ms). */
  from: number;
  to: number;
  models?: Mix;
  features?: Mix;
  /** Progress lines (e.g. to stderr). */
  log?: (line: string) => void;
}

export interface SeedResult {
  calls: number;
  seconds: number;
  /** Rows of `rollup_minute` after the seed. */
  minuteRollups: number;
}

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
const CHUNK = 500_000;

/** A pseudo-random integer in [0, m) from the call number, different for each `salt`. */
const hash = (salt: number, m: number): string => `((n * ${[2654435761, 2246822519, 3266489917, 668265263, 374761393, 1181783497][salt]} + ${salt * 7919}) % 1000003 % ${m})`;

/** SQL choosing a value of `mix` by a per-mille hash. */
function pick(mix: Mix, salt: number): string {
  const total = mix.reduce((a, [, w]) => a + w, 0);
  let acc = 0;
  const whens = mix.map(([v, w], i) => {
    acc += w;
    return i === mix.length - 1 ? `ELSE '${v}'` : `WHEN ${hash(salt, 1000)} < ${Math.round((acc / total) * 1000)} THEN '${v}'`;
  });
  return `CASE ${whens.join(' ')} END`;
}

/** Inserts `o.calls` calls numbered from `first`, with their per-minute and coarser rollups. */
function seedInto(db: Database.Database, first: number, o: SeedOptions): void {
  const models = o.models ?? MODEL_MIX;
  const host = hostname().replaceAll("'", "''");
  const dimValues: Partial<Record<(typeof DIMENSION_COLUMNS)[number], string>> = {
    model: 'model', feature: 'feature', app: "'bench'", host: `'${host}'`, status: 'status', error_type: 'error_type',
    stop_reason: 'stop_reason', service_tier: "'standard'", provider: "'anthropic'", operation: "'messages.create'",
  };
  const rate = (k: 0 | 1): string => `CASE model ${models.map(([m]) => `WHEN '${m}' THEN ${(RATES[m] ?? [3, 15])[k]}`).join(' ')} ELSE ${[3, 15][k]} END`;
  // Outcome per 1000: 10 overloaded, 8 rate limited, 5 API errors, 2 invalid requests, 10 aborted.
  const o1000 = hash(2, 1000);
  const rows = db.prepare(`WITH RECURSIVE s(n) AS (SELECT CAST(? AS INTEGER) UNION ALL SELECT n + 1 FROM s WHERE n + 1 < ?),
    c AS (SELECT n, ${pick(models, 0)} AS model, ${pick(o.features ?? FEATURE_MIX, 1)} AS feature,
        CASE WHEN ${o1000} < 25 THEN 'error' WHEN ${o1000} < 35 THEN 'aborted' ELSE 'ok' END AS status,
        CASE WHEN ${o1000} < 10 THEN 'overloaded_error' WHEN ${o1000} < 18 THEN 'rate_limit_error' WHEN ${o1000} < 23 THEN 'api_error'
          WHEN ${o1000} < 25 THEN 'invalid_request_error' END AS error_type,
        CASE WHEN ${o1000} < 10 THEN 529 WHEN ${o1000} < 18 THEN 429 WHEN ${o1000} < 23 THEN 500 WHEN ${o1000} < 25 THEN 400 ELSE 200 END AS http_status,
        CASE WHEN ${o1000} < 35 THEN NULL WHEN ${hash(3, 100)} < 15 THEN 'tool_use' WHEN ${hash(3, 100)} < 17 THEN 'max_tokens' ELSE 'end_turn' END AS stop_reason,
        CASE WHEN ${o1000} < 25 THEN 0 ELSE 200 + ${hash(4, 6000)} END AS input_tokens,
        CASE WHEN ${o1000} < 25 THEN 0 WHEN ${o1000} < 35 THEN ${hash(5, 200)} ELSE 20 + ${hash(5, 1200)} END AS output_tokens,
        CASE WHEN ${o1000} >= 25 AND ${hash(1, 10)} < 4 THEN 2000 + ${hash(3, 20000)} ELSE 0 END AS cache_read,
        CASE WHEN ${o1000} < 10 THEN 3 WHEN ${hash(4, 100)} < 3 THEN 2 ELSE 1 END AS attempts,
        CASE WHEN ${hash(5, 100)} = 0 THEN 15000 + ${hash(0, 30000)} ELSE 300 + ${hash(5, 6000)} END AS duration_ms,
        CASE WHEN ${hash(2, 10)} < 7 THEN 120 + ${hash(4, 1500)} END AS ttft_ms
      FROM s),
    p AS (SELECT *, input_tokens * ${rate(0)} * 1000 + output_tokens * ${rate(1)} * 1000 + cache_read * ${rate(0)} * 100 AS nano,
        (input_tokens + cache_read) * ${rate(0)} * 1000 + output_tokens * ${rate(1)} * 1000 AS nano_nc, ${rate(0)} AS rin, ${rate(1)} AS rout FROM c)
    INSERT INTO calls (event_id, ts, ${DIMENSION_COLUMNS.join(', ')}, http_status, request_id,
      input_tokens, output_tokens, cache_read_input_tokens, cache_write_5m_input_tokens, cache_write_1h_input_tokens, cache_write_input_tokens,
      web_search_requests, cost_usd, cost_without_cache_usd, cost_nanousd, cost_without_cache_nanousd, cost_input_usd, cost_output_usd, cost_cache_read_usd,
      pricing_version, duration_ms, ttft_ms, attempts, retries, event_json)
    SELECT printf('seed-%012d', n), CAST(? AS INTEGER) + ((n - CAST(? AS INTEGER)) * CAST(? AS INTEGER)) / CAST(? AS INTEGER),
      ${DIMENSION_COLUMNS.map((d) => dimValues[d] ?? 'NULL').join(', ')}, http_status, printf('req_seed%012d', n), input_tokens, output_tokens, cache_read, 0, 0, 0, 0,
      nano / 1e9, nano_nc / 1e9, CAST(nano AS INTEGER), CAST(nano_nc AS INTEGER), input_tokens * rin / 1e6, output_tokens * rout / 1e6, cache_read * rin / 1e7,
      'bench', duration_ms, ttft_ms, attempts, attempts - 1,
      json_object('t', 'call', 'v', 1, 'event_id', printf('seed-%012d', n), 'model', model, 'status', status, 'error_type', error_type,
        'attempts', attempts, 'duration_ms', duration_ms, 'ttft_ms', ttft_ms, 'seeded', json('true'),
        'usage', json_object('input_tokens', input_tokens, 'output_tokens', output_tokens, 'cache_read_input_tokens', cache_read))
    FROM p`);
  const dims = DIMENSION_COLUMNS.join(', ');
  const rollups = db.prepare(`INSERT INTO rollup_minute (minute, gkey, ${dims}, count, unpriced_count, ttft_count, cost_nanousd, cost_without_cache_nanousd,
      input_tokens, output_tokens, cache_read_input_tokens, cache_write_5m_input_tokens, cache_write_1h_input_tokens, cache_write_input_tokens,
      duration_ms, ttft_ms, attempts, retries, hist_duration, hist_ttft)
    SELECT (ts / 60000) * 60000 AS m, json_array(${dims}), ${dims}, COUNT(*), SUM(cost_nanousd IS NULL), COUNT(ttft_ms), SUM(cost_nanousd),
      SUM(cost_without_cache_nanousd), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_input_tokens), SUM(cache_write_5m_input_tokens),
      SUM(cache_write_1h_input_tokens), SUM(cache_write_input_tokens), SUM(duration_ms), SUM(ttft_ms), SUM(attempts), SUM(retries),
      bench_hist(duration_ms), bench_hist(ttft_ms)
    FROM calls WHERE ts >= ? AND ts < ? GROUP BY m, ${dims}`);
  const span = o.to - o.from;
  for (let i = 0; i < o.calls; i += CHUNK) {
    db.transaction(() => rows.run(first + i, first + Math.min(o.calls, i + CHUNK), o.from, first, span, o.calls)).immediate();
    o.log?.(`  rows ${(Math.min(o.calls, i + CHUNK)).toLocaleString('en-US')}`);
  }
  // An hour per statement, cut at whole hours, so no minute is split between two statements
  // (`from` and `to` are the ends of the seeded span: nothing is stored past them).
  for (let h = Math.floor(o.from / HOUR_MS) * HOUR_MS; h < o.to; h += HOUR_MS) {
    db.transaction(() => rollups.run(Math.max(h, o.from), Math.min(h + HOUR_MS, o.to))).immediate();
  }
  o.log?.('  per-minute rollups built');
  rebuildCoarseRollups(db, { from: o.from, to: o.to });
}

function openForSeed(dbPath: string): SqliteStore {
  const store = SqliteStore.open({ path: dbPath });
  store.db.aggregate('bench_hist', {
    start: () => new LogHistogram(),
    step: (h: LogHistogram, v: unknown) => {
      if (typeof v === 'number') h.add(v);
      return h;
    },
    result: (h: LogHistogram) => h.toJson(),
  });
  return store;
}

function finish(store: SqliteStore, models: Mix, ts: number): number {
  const db = store.db;
  // The latest rate-limit headers of each model: 60 % of the requests and 75 % of the tokens left.
  const rl = db.prepare(`INSERT INTO rate_limits (model, dimension, "limit", remaining, reset, ts) VALUES (?, ?, ?, ?, NULL, ?)
    ON CONFLICT (model, dimension) DO UPDATE SET "limit" = excluded."limit", remaining = excluded.remaining, ts = excluded.ts WHERE excluded.ts >= rate_limits.ts`);
  db.transaction(() => {
    for (const [m] of models) {
      rl.run(m, 'requests', 4000, 2400, ts);
      rl.run(m, 'tokens', 400_000, 300_000, ts);
    }
  }).immediate();
  const minuteRollups = (db.prepare('SELECT COUNT(*) FROM rollup_minute').pluck().get() as number);
  db.pragma('wal_checkpoint(TRUNCATE)');
  store.close();
  return minuteRollups;
}

/** Seeds an empty (or new) store at `dbPath` with `o.calls` calls over [o.from, o.to). */
export function bulkSeed(dbPath: string, o: SeedOptions): SeedResult {
  const t0 = performance.now();
  const store = openForSeed(dbPath);
  if (store.db.prepare('SELECT 1 FROM calls LIMIT 1').get() !== undefined) {
    store.close();
    throw new Error(`bulkSeed: ${dbPath} already holds calls (topUpSeed extends a seeded store)`);
  }
  seedInto(store.db, 0, o);
  const minuteRollups = finish(store, o.models ?? MODEL_MIX, o.to);
  return { calls: o.calls, seconds: (performance.now() - t0) / 1000, minuteRollups };
}

/**
 * Extends a store seeded by {@link bulkSeed} up to `to` at the density of its calls so far,
 * starting at the minute after its newest call (so no minute's rollup is written twice).
 */
export function topUpSeed(dbPath: string, to: number, o: Pick<SeedOptions, 'models' | 'features' | 'log'> = {}): SeedResult {
  const t0 = performance.now();
  const store = openForSeed(dbPath);
  const r = store.db.prepare('SELECT MIN(ts) AS lo, MAX(ts) AS hi, MAX(id) AS n FROM calls').get() as { lo: number | null; hi: number | null; n: number | null };
  const from = r.hi === null ? to : Math.floor(r.hi / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  const calls = r.lo === null || r.hi === null || r.n === null || r.hi <= r.lo ? 0 : Math.floor(((to - from) * r.n) / (r.hi - r.lo));
  if (calls > 0) seedInto(store.db, r.n ?? 0, { calls, from, to, ...o });
  const minuteRollups = finish(store, o.models ?? MODEL_MIX, to);
  return { calls, seconds: (performance.now() - t0) / 1000, minuteRollups };
}
