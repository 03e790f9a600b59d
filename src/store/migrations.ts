/**
 * Versioned schema migrations of the SQLite store, applied in order from the first release.
 *
 * The applied version is SQLite's `PRAGMA user_version`; each migration runs in its own
 * transaction with the version bump, so a crash leaves the database at a whole version.
 * Never edit a released migration: append a new one.
 */
import type Database from 'better-sqlite3';
import { buildFromMinutes } from './rollup-build.js';

export interface Migration {
  version: number;
  description: string;
  sql: string;
  /** Runs after `sql`, in the same transaction (e.g. filling new tables from existing ones). */
  up?: (db: Database.Database) => void;
}

/** The dimension columns of migration 1 (frozen: a released migration never changes). */
const V1_DIMENSION_COLUMNS = [
  'model', 'feature', 'app', 'host', 'status', 'error_type',
  'stop_reason', 'service_tier', 'provider', 'operation',
] as const;

/**
 * Dimension columns shared by `calls` and `rollup_minute`, in this order (migration 2 added
 * `workspace_id` and `api_key_alias`, so reconciliation can compare per workspace and key).
 */
export const DIMENSION_COLUMNS = [...V1_DIMENSION_COLUMNS, 'workspace_id', 'api_key_alias'] as const;

/** Summable numeric columns shared by `calls` and `rollup_minute`. */
export const SUM_COLUMNS = [
  'cost_nanousd', 'cost_without_cache_nanousd', 'input_tokens', 'output_tokens',
  'cache_read_input_tokens', 'cache_write_5m_input_tokens', 'cache_write_1h_input_tokens',
  'cache_write_input_tokens', 'duration_ms', 'ttft_ms', 'attempts', 'retries',
] as const;

const dims = V1_DIMENSION_COLUMNS.map((c) => `${c} TEXT`).join(', ');

/** Frozen for migration 3: the dimension and summable columns as they were then. */
const V3_DIMENSION_COLUMNS = [...V1_DIMENSION_COLUMNS, 'workspace_id', 'api_key_alias'] as const;
const V3_CORE_DIMENSION_COLUMNS = ['model', 'feature', 'status', 'error_type'] as const;
const V3_OUTCOME_DIMENSION_COLUMNS = ['status', 'error_type'] as const;
const V3_SUM_COLUMNS = [
  'cost_nanousd', 'cost_without_cache_nanousd', 'input_tokens', 'output_tokens',
  'cache_read_input_tokens', 'cache_write_5m_input_tokens', 'cache_write_1h_input_tokens',
  'cache_write_input_tokens', 'duration_ms', 'ttft_ms', 'attempts', 'retries',
] as const;
const V3_LEVELS = [
  { table: 'rollup_hour', timeColumn: 'hour', periodMs: 3_600_000, dims: V3_DIMENSION_COLUMNS },
  { table: 'rollup_core_minute', timeColumn: 'minute', periodMs: 60_000, dims: V3_CORE_DIMENSION_COLUMNS },
  { table: 'rollup_core_hour', timeColumn: 'hour', periodMs: 3_600_000, dims: V3_CORE_DIMENSION_COLUMNS },
  { table: 'rollup_outcome_minute', timeColumn: 'minute', periodMs: 60_000, dims: V3_OUTCOME_DIMENSION_COLUMNS },
  { table: 'rollup_outcome_hour', timeColumn: 'hour', periodMs: 3_600_000, dims: V3_OUTCOME_DIMENSION_COLUMNS },
] as const;
const v3Table = (l: (typeof V3_LEVELS)[number]): string => `
      CREATE TABLE ${l.table} (
        ${l.timeColumn} INTEGER NOT NULL,
        gkey TEXT NOT NULL,
        ${l.dims.map((c) => `${c} TEXT`).join(', ')},
        count INTEGER NOT NULL,
        unpriced_count INTEGER NOT NULL,
        ttft_count INTEGER NOT NULL,
        ${V3_SUM_COLUMNS.map((c) => `${c} ${c.endsWith('_nanousd') ? 'INTEGER' : 'REAL'}`).join(', ')},
        hist_duration BLOB,
        hist_ttft BLOB,
        PRIMARY KEY (${l.timeColumn}, gkey)
      ) WITHOUT ROWID;`;

/**
 * Which reconciliation run is the latest (an `ORDER BY` of `reconciliation_runs`): the one
 * whose window ends last, the one that finished last among those. Not simply the last to
 * finish: a backfill of an older window run by hand would stand for the present in the capture
 * metric, the rule and the dashboard until the next scheduled run.
 */
export const LATEST_RUN_FIRST = 'range_end DESC, finished_at DESC';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'calls, per-minute rollups, rate limits, checkpoints, emitter stats',
    sql: `
      CREATE TABLE calls (
        id INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        ts INTEGER NOT NULL,
        ${dims},
        http_status INTEGER, request_id TEXT,
        input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
        cache_read_input_tokens INTEGER NOT NULL,
        cache_write_5m_input_tokens INTEGER NOT NULL, cache_write_1h_input_tokens INTEGER NOT NULL,
        cache_write_input_tokens INTEGER NOT NULL,
        web_search_requests INTEGER NOT NULL,
        cost_usd REAL, cost_without_cache_usd REAL,
        cost_nanousd INTEGER, cost_without_cache_nanousd INTEGER,
        cost_input_usd REAL, cost_output_usd REAL, cost_cache_read_usd REAL,
        cost_cache_write_5m_usd REAL, cost_cache_write_1h_usd REAL, cost_cache_write_unknown_ttl_usd REAL, cost_web_search_usd REAL,
        pricing_version TEXT, price_flags TEXT,
        duration_ms REAL NOT NULL, ttft_ms REAL, attempts INTEGER NOT NULL, retries INTEGER NOT NULL,
        event_json TEXT NOT NULL
      );
      CREATE INDEX calls_ts ON calls(ts);

      CREATE TABLE rollup_minute (
        minute INTEGER NOT NULL,
        gkey TEXT NOT NULL,
        ${dims},
        count INTEGER NOT NULL,
        unpriced_count INTEGER NOT NULL,
        ttft_count INTEGER NOT NULL,
        ${SUM_COLUMNS.map((c) => `${c} ${c.endsWith('_nanousd') ? 'INTEGER' : 'REAL'}`).join(', ')},
        hist_duration TEXT,
        hist_ttft TEXT,
        PRIMARY KEY (minute, gkey)
      ) WITHOUT ROWID;

      CREATE TABLE rate_limits (
        model TEXT NOT NULL, dimension TEXT NOT NULL,
        "limit" REAL, remaining REAL, reset TEXT, ts INTEGER NOT NULL,
        PRIMARY KEY (model, dimension)
      ) WITHOUT ROWID;

      CREATE TABLE checkpoints (
        file_key TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        offset INTEGER NOT NULL,
        check_hash TEXT NOT NULL,
        sealed INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE emitter_stats (
        writer TEXT PRIMARY KEY,
        app TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
        file_id TEXT NOT NULL, ts INTEGER NOT NULL, final INTEGER NOT NULL,
        stats_json TEXT NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    description: 'workspace and API key alias dimensions; reconciliation results',
    sql: `
      ALTER TABLE calls ADD COLUMN workspace_id TEXT;
      ALTER TABLE calls ADD COLUMN api_key_alias TEXT;
      ALTER TABLE rollup_minute ADD COLUMN workspace_id TEXT;
      ALTER TABLE rollup_minute ADD COLUMN api_key_alias TEXT;

      CREATE TABLE reconciliation_runs (
        run_id TEXT PRIMARY KEY,
        started_at INTEGER NOT NULL,
        finished_at INTEGER NOT NULL,
        range_start INTEGER NOT NULL,
        range_end INTEGER NOT NULL,
        api TEXT NOT NULL,
        bucket TEXT NOT NULL,
        tolerance REAL NOT NULL,
        data_refreshed_at TEXT,
        summary_json TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX reconciliation_runs_finished ON reconciliation_runs(finished_at);

      CREATE TABLE reconciliation (
        run_id TEXT NOT NULL,
        bucket_start INTEGER NOT NULL,
        bucket_end INTEGER NOT NULL,
        model TEXT,
        workspace_id TEXT,
        api_key TEXT,
        local_tokens INTEGER NOT NULL,
        billed_tokens INTEGER NOT NULL,
        local_cost_nanousd INTEGER,
        billed_cost_nanousd INTEGER,
        token_capture_ratio REAL,
        cost_capture_ratio REAL,
        flagged INTEGER NOT NULL,
        causes TEXT NOT NULL,
        cell_json TEXT NOT NULL
      );
      CREATE INDEX reconciliation_run ON reconciliation(run_id);
      CREATE INDEX reconciliation_bucket ON reconciliation(bucket_start, model);
    `,
  },
  {
    version: 3,
    description: 'coarse rollups (per hour by every dimension; per minute and hour by model, feature, status, error type, and by status, error type) built from the per-minute rollups; indexes for filtered recent calls',
    sql: `
      ${V3_LEVELS.map(v3Table).join('\n')}
      CREATE INDEX calls_model_status_ts ON calls(model, status, ts);
      CREATE INDEX calls_status_ts ON calls(status, ts);
      CREATE INDEX calls_feature_ts ON calls(feature, ts);
      CREATE INDEX calls_error_type_ts ON calls(error_type, ts) WHERE error_type IS NOT NULL;
    `,
    up: (db) => {
      for (const l of V3_LEVELS) buildFromMinutes(db, { ...l, sums: V3_SUM_COLUMNS });
    },
  },
  {
    version: 4,
    description: 'per-minute rollups of new calls appended to a delta table and minutes pending, folded into rollup_minute and the coarse levels later; recent calls by status through a partial index of the unsuccessful calls only',
    // Each index on (dimension, ts) took an entry per call at a random place once times
    // interleave (a backlog, several writers): 2-3.5 µs a row of the ~12 µs a row costs in all.
    // Common values are met within a few hundred rows of calls_ts; errors and aborts are rare,
    // so their index is small and cheap. A filter that nothing in the window matches is
    // answered from the rollups (query-sql.ts).
    sql: `
      CREATE TABLE rollup_pending (minute INTEGER PRIMARY KEY);
      CREATE TABLE rollup_minute_delta (
        minute INTEGER NOT NULL,
        gkey TEXT NOT NULL,
        ${V3_DIMENSION_COLUMNS.map((c) => `${c} TEXT`).join(', ')},
        count INTEGER NOT NULL,
        unpriced_count INTEGER NOT NULL,
        ttft_count INTEGER NOT NULL,
        ${V3_SUM_COLUMNS.map((c) => `${c} ${c.endsWith('_nanousd') ? 'INTEGER' : 'REAL'}`).join(', ')},
        hist_duration TEXT,
        hist_ttft TEXT
      );
      CREATE INDEX rollup_minute_delta_minute ON rollup_minute_delta(minute);
      DROP INDEX calls_model_status_ts;
      DROP INDEX calls_status_ts;
      DROP INDEX calls_feature_ts;
      CREATE INDEX calls_unsuccessful_ts ON calls(status, ts) WHERE status <> 'ok';
    `,
  },
  {
    version: 5,
    description: "new calls' lines stored compressed a batch at a time in call_lines (the row names its batch and place; its event_json is empty); rows stored before keep theirs",
    // See call-lines.ts: 4× less space for a stored call, and fewer bytes for each commit to write.
    sql: `
      CREATE TABLE call_lines (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        max_ts INTEGER NOT NULL,
        lines BLOB NOT NULL
      );
      CREATE INDEX call_lines_max_ts ON call_lines(max_ts);
      ALTER TABLE calls ADD COLUMN line_batch INTEGER;
      ALTER TABLE calls ADD COLUMN line_index INTEGER;
    `,
  },
];

/** Typed error of the store. */
export class StoreError extends Error {
  constructor(readonly code: 'E_STORE_SCHEMA_TOO_NEW' | 'E_STORE_READONLY' | 'E_STORE_CLOSED' | 'E_STORE_STAGED_LOST' | 'E_STORE_LINE_MISSING', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/** Applies pending migrations; refuses a database written by a newer release. */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations[migrations.length - 1]?.version ?? 0;
  if (current > latest) {
    throw new StoreError('E_STORE_SCHEMA_TOO_NEW', `database schema version ${current} is newer than this release knows (${latest})`);
  }
  for (const m of migrations) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      m.up?.(db);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return latest;
}
